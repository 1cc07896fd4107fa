package enduser_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// sqlitePlan is SQLite's EXPLAIN QUERY PLAN of query, one step a line.
func sqlitePlan(t *testing.T, d *db.DB, query string) string {
	t.Helper()
	rows, err := d.Bun.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &notused, &detail))
		out = append(out, detail)
	}
	require.NoError(t, rows.Err())
	return strings.Join(out, "\n")
}

// TestSQLiteGridPlans: SQLite (which has no statistics here) walks an index
// in the order of each descending sort by a nullable column, NULLs last
// (migration 0024), of the sorts by mobile, source and locked (0025) and
// by email (0026),
// instead of sorting the tenant's end users; and a count
// or bulk update of one customer's end users reads them through an index
// that leads with the customer, not the tenant's.
func TestSQLiteGridPlans(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t, db.SQLite)
	now := time.Now()
	for _, tc := range []struct {
		f     enduser.Filter
		index string
	}{
		{enduser.Filter{Status: "registered", Sort: "expires", Desc: true}, "end_users_tenant_expires_desc_idx"},
		{enduser.Filter{Sort: "access", Desc: true}, "end_users_tenant_access_desc_idx"},
		{enduser.Filter{CustomerID: "c1", Sort: "expires", Desc: true}, "end_users_customer_expires_desc_idx"},
		{enduser.Filter{Status: "registered", Sort: "expires"}, "end_users_tenant_expires_sort_idx"},
		{enduser.Filter{Sort: "mobile"}, "end_users_tenant_mobile_idx"},
		{enduser.Filter{Locked: "no", Sort: "source", Desc: true}, "end_users_tenant_source_idx"},
		{enduser.Filter{Sort: "locked"}, "end_users_tenant_locked_idx"},
		{enduser.Filter{Sort: "email"}, "end_users_tenant_email_idx"},
		{enduser.Filter{SelfServe: "off", Sort: "email", Desc: true}, "end_users_tenant_email_idx"},
	} {
		plan := sqlitePlan(t, d, enduser.GridSQL(d.Bun, "t1", tc.f, now, false))
		require.Contains(t, plan, "USING INDEX "+tc.index, "%+v:\n%s", tc.f, plan)
		require.NotContains(t, plan, "TEMP B-TREE", "%+v: the page is read in order, not sorted:\n%s", tc.f, plan)
	}

	// A customer's grid sorted by a column no tenant index keeps in order
	// reads the customer's end users, not the tenant's.
	for _, sort := range []string{"selfserve", "customer"} {
		f := enduser.Filter{CustomerID: "c1", Sort: sort}
		plan := sqlitePlan(t, d, enduser.GridSQL(d.Bun, "t1", f, now, true))
		require.Contains(t, plan, "SEARCH eu USING INDEX end_users_customer_", "%+v:\n%s", f, plan)
		require.NotContains(t, plan, "SEARCH eu USING INDEX end_users_tenant_", "%+v:\n%s", f, plan)
	}
	// One that a tenant index keeps in order walks it.
	for sort, index := range map[string]string{"username": "end_users_tenant_username_idx", "email": "end_users_tenant_email_idx", "access": "end_users_tenant_access_sort_idx", "status": "end_users_tenant_status_idx",
		"mobile": "end_users_tenant_mobile_idx", "source": "end_users_tenant_source_idx", "locked": "end_users_tenant_locked_idx"} {
		f := enduser.Filter{CustomerID: "c1", Sort: sort}
		plan := sqlitePlan(t, d, enduser.GridSQL(d.Bun, "t1", f, now, true))
		require.Contains(t, plan, "SEARCH eu USING INDEX "+index, "%+v:\n%s", f, plan)
		require.NotContains(t, plan, "TEMP B-TREE FOR ORDER BY", "%+v:\n%s", f, plan)
	}

	// The tenant's grid sorted by customer reads the customers in order and
	// sorts only each customer's end users by id.
	for _, f := range []enduser.Filter{{Sort: "customer"}, {Sort: "customer", Desc: true, Status: "registered", Locked: "no"}, {Sort: "customer", Query: "smith"}} {
		plan := sqlitePlan(t, d, enduser.GridSQL(d.Bun, "t1", f, now, true))
		require.Contains(t, plan, "SEARCH c USING INDEX customers_tenant_name_idx (tenant_id=?)", "%+v:\n%s", f, plan)
		require.NotContains(t, plan, "TEMP B-TREE FOR ORDER BY", "%+v:\n%s", f, plan)
	}
	for _, f := range []enduser.Filter{{CustomerID: "c1"}, {CustomerID: "c1", SelfServe: "off", Locked: "no"}} {
		q := d.Bun.NewUpdate().Model((*enduser.EndUser)(nil)).ModelTableExpr("end_users AS eu").Set("self_serve_enabled = ?", true)
		plan := sqlitePlan(t, d, f.WhereUpdate(q, "t1", now).String())
		require.Contains(t, plan, "(customer_id=?", "%+v:\n%s", f, plan)
		require.NotContains(t, plan, "(tenant_id=?", "%+v:\n%s", f, plan)
	}
	// Within 7 days for one customer: the customer's expiry index answers both.
	q := d.Bun.NewUpdate().Model((*enduser.EndUser)(nil)).ModelTableExpr("end_users AS eu").Set("self_serve_enabled = ?", true)
	plan := sqlitePlan(t, d, enduser.Filter{CustomerID: "c1", Expiring: 7}.WhereUpdate(q, "t1", now).String())
	require.Contains(t, plan, "(customer_id=? AND password_expires_at>? AND password_expires_at<?)", plan)
}

// postgresPlan is PostgreSQL's EXPLAIN of query with sorting and sequential
// scans priced out of reach (SET LOCAL enable_sort, enable_incremental_sort
// and enable_seqscan off): the planner then sorts only when no index can
// give the rows in the statement's order.
func postgresPlan(t *testing.T, d *db.DB, query string) string {
	t.Helper()
	ctx := context.Background()
	tx, err := d.Bun.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	for _, s := range []string{"enable_sort", "enable_incremental_sort", "enable_seqscan"} {
		_, err := tx.ExecContext(ctx, "SET LOCAL "+s+" = off")
		require.NoError(t, err)
	}
	rows, err := tx.QueryContext(ctx, "EXPLAIN (COSTS OFF) "+query)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		out = append(out, line)
	}
	require.NoError(t, rows.Err())
	return strings.Join(out, "\n")
}

// TestPostgresGridPlans: on PostgreSQL an index gives the grid's rows in the
// order of every sort but self-serve and customer (migrations 0008, 0019,
// 0024, 0025 and 0026), ascending and descending, tenant-wide and for a customer,
// with and without a filter. The planner's choice with real statistics is
// BenchmarkGrid's to show; this pins that an index matching the ORDER BY
// exists (an ORDER BY changed without its index, or an index dropped, makes
// the planner sort).
func TestPostgresGridPlans(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t, db.Postgres)
	now := time.Now()
	for _, sort := range []string{"name", "username", "email", "status", "expires", "access", "mobile", "source", "locked"} {
		for _, desc := range []bool{false, true} {
			for _, f := range []enduser.Filter{
				{Sort: sort, Desc: desc},
				{Sort: sort, Desc: desc, Status: "registered", Locked: "no"},
				{Sort: sort, Desc: desc, CustomerID: "c1"},
				{Sort: sort, Desc: desc, CustomerID: "c1", SelfServe: "off"},
			} {
				plan := postgresPlan(t, d, enduser.GridSQL(d.Bun, "t1", f, now, true))
				assert.NotContains(t, plan, "Sort", "%+v: the page is read in order, not sorted:\n%s", f, plan)
			}
		}
	}
	// The expiry sort's index also carries the status the figure's view
	// filters on, so that no row is fetched to check it.
	plan := postgresPlan(t, d, enduser.GridSQL(d.Bun, "t1", enduser.Filter{Status: "registered", Sort: "expires"}, now, false))
	require.Contains(t, plan, "end_users_tenant_expires_sort_idx", plan)
	plan = postgresPlan(t, d, enduser.GridSQL(d.Bun, "t1", enduser.Filter{Status: "registered", Sort: "expires", Desc: true}, now, false))
	require.Contains(t, plan, "end_users_tenant_expires_desc_idx", plan)
}
