package enduser_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// gridFixture is a tenant with two customers, an archived one, and another
// tenant, each with end users; svc works at the fixed time now.
type gridFixture struct {
	d        *db.DB
	svc      *enduser.GridService
	now      time.Time
	tenant   *tenant.Tenant
	other    *tenant.Tenant
	actor    audit.Actor
	custA    *customer.Customer
	custB    *customer.Customer
	archived *customer.Customer
	foreign  *customer.Customer // the other tenant's
	users    []*enduser.EndUser // the tenant's, of A and B
	hidden   []*enduser.EndUser // of the archived customer
	outsider []*enduser.EndUser // the other tenant's
	names    map[string]string  // customer id → name
}

func gridSetup(t *testing.T, d *db.DB, n int) *gridFixture {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 11, 20, 15, 30, 0, 0, time.UTC)
	f := &gridFixture{d: d, now: now, names: map[string]string{}}
	f.svc = enduser.NewGridService(d, func() time.Time { return f.now })
	f.tenant = tenant.New(now)
	f.tenant.Name = "Acme IT"
	require.NoError(t, tenant.Insert(ctx, d.Bun, f.tenant))
	f.other = tenant.New(now)
	f.other.Name = "Other MSP"
	require.NoError(t, tenant.Insert(ctx, d.Bun, f.other))
	f.actor = audit.Actor{TenantID: f.tenant.ID, LoginID: "tech", Name: "Tess Tech", Role: "technician", IP: "192.0.2.1"}
	f.custA = gridCustomer(t, d, f.tenant.ID, "Globex", false)
	f.custB = gridCustomer(t, d, f.tenant.ID, "initech", false)
	f.archived = gridCustomer(t, d, f.tenant.ID, "Old Co", true)
	f.foreign = gridCustomer(t, d, f.other.ID, "Umbrella", false)
	for _, c := range []*customer.Customer{f.custA, f.custB, f.archived, f.foreign} {
		f.names[c.ID] = c.Name
	}
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	for i := range n {
		c := f.custA
		if i%3 == 0 {
			c = f.custB
		}
		f.users = append(f.users, gridUser(t, d, rng, c, i, now))
	}
	for i := range 7 {
		f.hidden = append(f.hidden, gridUser(t, d, rng, f.archived, 1000+i, now))
		f.outsider = append(f.outsider, gridUser(t, d, rng, f.foreign, 2000+i, now))
	}
	return f
}

func gridCustomer(t *testing.T, d *db.DB, tenantID, name string, archived bool) *customer.Customer {
	t.Helper()
	now := time.Now().UTC()
	c := &customer.Customer{ID: db.NewID(), TenantID: tenantID, Name: name, Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
	if archived {
		c.ArchivedAt = &now
	}
	_, err := d.Bun.NewInsert().Model(c).Exec(context.Background())
	require.NoError(t, err)
	return c
}

var (
	gridFirst = []string{"Ann", "ann", "Bob", "Cleo", "Dev", "", "Eve"}
	gridLast  = []string{"Smith", "smith", "Jones", "Able", "Zed", ""}
	gridSrc   = []string{enduser.SourceManual, enduser.SourceCSV, enduser.SourceAD, enduser.SourceM365, enduser.SourceLocal}
)

// gridUser stores a pseudo-random end user; ties in every sort column are
// frequent on purpose (pagination must stay stable through them).
func gridUser(t *testing.T, d *db.DB, rng *rand.Rand, c *customer.Customer, i int, now time.Time) *enduser.EndUser {
	t.Helper()
	ts := func(days int) *time.Time {
		v := now.Add(time.Duration(days)*24*time.Hour + time.Duration(rng.IntN(20))*time.Hour)
		return &v
	}
	u := &enduser.EndUser{
		ID: db.NewID(), TenantID: c.TenantID, CustomerID: c.ID, Username: fmt.Sprintf("user%03d", i),
		FirstName: gridFirst[rng.IntN(len(gridFirst))], LastName: gridLast[rng.IntN(len(gridLast))],
		Source: gridSrc[rng.IntN(len(gridSrc))], SelfServeEnabled: rng.IntN(2) == 0, Locked: rng.IntN(8) == 0,
		Privileged: rng.IntN(12) == 0, CreatedAt: now, UpdatedAt: now,
	}
	if rng.IntN(4) > 0 {
		u.Email, u.EmailSource = fmt.Sprintf("%s%03d@example.com", strings.ToLower(cmp.Or(u.FirstName, "x")), rng.IntN(40)), enduser.ValueDirectory
	}
	if rng.IntN(4) > 0 {
		u.Mobile, u.MobileSource = fmt.Sprintf("+4477009%05d", rng.IntN(50)), enduser.ValueImport
	}
	if rng.IntN(5) == 0 {
		u.FirstAccessAt = ts(-rng.IntN(90))
		u.LastAccessAt = ts(-rng.IntN(3))
	}
	if rng.IntN(5) > 0 {
		u.PasswordExpiresAt = ts(rng.IntN(70) - 10)
	}
	_, err := d.Bun.NewInsert().Model(u).Exec(context.Background())
	require.NoError(t, err)
	return u
}

// gridMatch is the Go reference of Filter.Where.
func gridMatch(u *enduser.EndUser, f enduser.Filter, now time.Time) bool {
	if f.CustomerID != "" && u.CustomerID != f.CustomerID {
		return false
	}
	if q := strings.ToLower(f.Query); q != "" && !strings.Contains(strings.ToLower(u.FirstName+" "+u.LastName), q) &&
		!strings.Contains(strings.ToLower(u.Username), q) && !strings.Contains(strings.ToLower(u.Email), q) {
		return false
	}
	if f.Status != "" && u.Status().Key() != f.Status {
		return false
	}
	if f.SelfServe != "" && u.SelfServeEnabled != (f.SelfServe == "on") {
		return false
	}
	if f.Source != "" && u.Source != f.Source {
		return false
	}
	if f.Locked != "" && u.Locked != (f.Locked == "yes") {
		return false
	}
	if f.Expiring > 0 && (u.PasswordExpiresAt == nil || u.PasswordExpiresAt.Before(now) || !u.PasswordExpiresAt.Before(now.AddDate(0, 0, f.Expiring))) {
		return false
	}
	return true
}

// gridCompare is the Go reference of Filter.OrderBy (ascending; NULLs last).
func gridCompare(sort string, names map[string]string) func(a, b *enduser.EndUser) int {
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	tm := func(a, b *time.Time) int {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return 2 // NULLs last in both directions: marked for the caller
		case b == nil:
			return -2
		}
		return a.Compare(*b)
	}
	return func(a, b *enduser.EndUser) int {
		switch sort {
		case "username":
			return strings.Compare(strings.ToLower(a.Username), strings.ToLower(b.Username))
		case "email":
			return strings.Compare(strings.ToLower(a.Email), strings.ToLower(b.Email))
		case "mobile":
			return strings.Compare(a.Mobile, b.Mobile)
		case "source":
			return strings.Compare(a.Source, b.Source)
		case "status":
			return cmp.Compare(a.Status(), b.Status())
		case "selfserve":
			return cmp.Compare(b2i(a.SelfServeEnabled), b2i(b.SelfServeEnabled))
		case "expires":
			return tm(a.PasswordExpiresAt, b.PasswordExpiresAt)
		case "locked":
			return cmp.Compare(b2i(a.Locked), b2i(b.Locked))
		case "access":
			return tm(a.LastAccessAt, b.LastAccessAt)
		case "customer":
			return strings.Compare(strings.ToLower(names[a.CustomerID]), strings.ToLower(names[b.CustomerID]))
		}
		return cmp.Or(strings.Compare(strings.ToLower(a.LastName), strings.ToLower(b.LastName)),
			strings.Compare(strings.ToLower(a.FirstName), strings.ToLower(b.FirstName)))
	}
}

// gridExpected returns the ids the grid must show for f, in order.
func (f *gridFixture) gridExpected(flt enduser.Filter) []string {
	var match []*enduser.EndUser
	for _, u := range f.users {
		if gridMatch(u, flt, f.now) {
			match = append(match, u)
		}
	}
	c := gridCompare(cmp.Or(flt.Sort, "name"), f.names)
	slices.SortFunc(match, func(a, b *enduser.EndUser) int {
		r := c(a, b)
		if r == 2 || r == -2 {
			return r // NULLs stay last whatever the direction
		}
		r = cmp.Or(r, strings.Compare(a.ID, b.ID))
		if flt.Desc {
			return -r
		}
		return r
	})
	var ids []string
	for _, u := range match {
		ids = append(ids, u.ID)
	}
	return ids
}

// gridAllPages pages through the grid and returns the ids in order.
func (f *gridFixture) gridAllPages(t *testing.T, flt enduser.Filter) ([]string, int) {
	t.Helper()
	var ids []string
	total := -1
	for page := 1; ; page++ {
		flt.Page = page
		rows, n, err := enduser.Grid(context.Background(), f.d.Bun, f.tenant.ID, flt, f.now)
		require.NoError(t, err)
		if total == -1 {
			total = n
		}
		require.Equal(t, total, n, "the total is the same on every page")
		for _, r := range rows {
			ids = append(ids, r.ID)
			require.Equal(t, f.names[r.CustomerID], r.CustomerName)
		}
		if len(rows) < flt.PerPage {
			return ids, total
		}
		require.LessOrEqual(t, page, 100)
	}
}

func TestGridFilterSortAndStablePaging(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := gridSetup(t, d, 140)
		filters := []enduser.Filter{
			{},
			{Query: "ann"},
			{Query: "USER01"},
			{Query: "Smith"},
			{Query: "ann smith"},
			{Query: "@example"},
			{Query: "50%"}, // LIKE wildcards are literal
			{Status: "not_registered"},
			{Status: "registered"},
			{Status: "accessed"},
			{SelfServe: "on"},
			{SelfServe: "off"},
			{Source: enduser.SourceAD},
			{Locked: "yes"},
			{Locked: "no"},
			{Expiring: 7},
			{Expiring: 14},
			{Expiring: 30},
			{CustomerID: f.custB.ID},
			{CustomerID: f.archived.ID},
			{CustomerID: f.foreign.ID},
			{Status: "registered", SelfServe: "off", Source: enduser.SourceCSV},
		}
		for _, flt := range filters {
			flt.PerPage = 17
			want := f.gridExpected(flt)
			got, total := f.gridAllPages(t, flt)
			require.Equal(t, want, got, "filter %+v", flt)
			require.Equal(t, len(want), total, "filter %+v", flt)
		}
		for col := range enduser.SortColumns {
			for _, desc := range []bool{false, true} {
				flt := enduser.Filter{Sort: col, Desc: desc, PerPage: 13}
				got, total := f.gridAllPages(t, flt)
				require.Equal(t, len(f.users), total)
				require.Equal(t, f.gridExpected(flt), got, "sort %s desc=%v: every row once, in order, across pages", col, desc)
				flt.SelfServe = "on"
				got, _ = f.gridAllPages(t, flt)
				require.Equal(t, f.gridExpected(flt), got, "sort %s desc=%v with a filter", col, desc)
			}
		}

		// A page past the end is empty but still knows the total.
		rows, total, err := enduser.Grid(context.Background(), d.Bun, f.tenant.ID, enduser.Filter{Page: 99, PerPage: 50}, f.now)
		require.NoError(t, err)
		require.Empty(t, rows)
		require.Equal(t, len(f.users), total)
		n, err := enduser.Count(context.Background(), d.Bun, f.tenant.ID, enduser.Filter{}, f.now)
		require.NoError(t, err)
		require.Equal(t, len(f.users), n, "archived customers' and other tenants' end users are never counted")
	})
}

// TestGridStatusSQLMatchesGo checks StatusSQL and the generated column
// end_users.status against Status for every combination of the fields the
// status depends on.
func TestGridStatusSQLMatchesGo(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := gridSetup(t, d, 0)
		ctx := context.Background()
		at := f.now.Add(-time.Hour)
		var users []*enduser.EndUser
		for i, email := range []string{"", "a@example.com"} {
			for j, mobile := range []string{"", "+447700900123"} {
				for k, access := range []*time.Time{nil, &at} {
					u := &enduser.EndUser{ID: db.NewID(), TenantID: f.tenant.ID, CustomerID: f.custA.ID, Username: fmt.Sprintf("s%d%d%d", i, j, k),
						Email: email, Mobile: mobile, FirstAccessAt: access, Source: enduser.SourceManual, CreatedAt: f.now, UpdatedAt: f.now}
					_, err := d.Bun.NewInsert().Model(u).Exec(ctx)
					require.NoError(t, err)
					users = append(users, u)
				}
			}
		}
		for _, u := range users {
			var st int
			require.NoError(t, d.Bun.NewSelect().TableExpr("end_users AS eu").ColumnExpr(enduser.StatusCASE("eu.")).
				Where("eu.id = ?", u.ID).Scan(ctx, &st))
			require.Equal(t, int(u.Status()), st, "%s: email %q mobile %q access %v", u.Username, u.Email, u.Mobile, u.FirstAccessAt != nil)
			require.NoError(t, d.Bun.NewSelect().Table("end_users").Column("status").Where("id = ?", u.ID).Scan(ctx, &st))
			require.Equal(t, int(u.Status()), st, "%s: the generated column status", u.Username)
			rows, _, err := enduser.Grid(ctx, d.Bun, f.tenant.ID, enduser.Filter{Status: u.Status().Key(), Query: u.Username}, f.now)
			require.NoError(t, err)
			require.Len(t, rows, 1, "the status filter finds %s", u.Username)
		}
	})
}

func TestGridCustomerOptionsAndVisibleRow(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := gridSetup(t, d, 3)
		ctx := context.Background()
		opts, err := customer.LoadOptions(ctx, d.Bun, f.tenant.ID)
		require.NoError(t, err)
		require.Equal(t, []customer.Option{{ID: f.custA.ID, Name: "Globex"}, {ID: f.custB.ID, Name: "initech"}}, opts)
		opts, err = customer.LoadOptions(ctx, d.Bun, "no-such-tenant")
		require.NoError(t, err)
		require.Empty(t, opts)

		r, err := enduser.VisibleRow(ctx, d.Bun, f.tenant.ID, f.users[0].ID)
		require.NoError(t, err)
		require.Equal(t, f.names[f.users[0].CustomerID], r.CustomerName)
		for _, id := range []string{f.hidden[0].ID, f.outsider[0].ID, "nope"} {
			_, err := enduser.VisibleRow(ctx, d.Bun, f.tenant.ID, id)
			require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
		}
	})
}

// gridCountFilters are the filters whose totals come from end_user_counts.
func (f *gridFixture) gridCountFilters() []enduser.Filter {
	out := []enduser.Filter{{}, {CustomerID: f.custA.ID}, {CustomerID: f.custB.ID}, {CustomerID: f.archived.ID}, {CustomerID: f.foreign.ID},
		{Status: "registered", SelfServe: "off", Source: enduser.SourceCSV}, {CustomerID: f.custA.ID, Status: "accessed", Locked: "no"}}
	for _, st := range []string{"not_registered", "registered", "accessed"} {
		out = append(out, enduser.Filter{Status: st})
	}
	for _, ss := range []string{"on", "off"} {
		out = append(out, enduser.Filter{SelfServe: ss}, enduser.Filter{SelfServe: ss, CustomerID: f.custB.ID})
	}
	for _, src := range gridSrc {
		out = append(out, enduser.Filter{Source: src})
	}
	return append(out, enduser.Filter{Locked: "yes"}, enduser.Filter{Locked: "no", Status: "not_registered"})
}

// gridCheckCounts compares the totals the grid adds up from end_user_counts
// with end users counted one by one, for the tenant and the other one.
func (f *gridFixture) gridCheckCounts(t *testing.T, msg string) {
	t.Helper()
	ctx := context.Background()
	for _, tenantID := range []string{f.tenant.ID, f.other.ID} {
		for _, flt := range f.gridCountFilters() {
			want, err := enduser.CountEndUsers(ctx, f.d.Bun, tenantID, flt, f.now)
			require.NoError(t, err)
			got, err := enduser.Count(ctx, f.d.Bun, tenantID, flt, f.now)
			require.NoError(t, err)
			require.Equal(t, want, got, "%s: filter %+v", msg, flt)
			_, total, err := enduser.Grid(ctx, f.d.Bun, tenantID, flt, f.now)
			require.NoError(t, err)
			require.Equal(t, want, total, "%s: the grid's total, filter %+v", msg, flt)
		}
	}
}

// TestGridCountsStayExact checks that the totals kept in end_user_counts
// (triggers of migration 0010) follow every kind of write to end_users, by
// any statement of anyone: inserts, updates of each column they depend on,
// many rows at once, deletes, rolled-back transactions, archived customers.
func TestGridCountsStayExact(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := gridSetup(t, d, 90)
		ctx := context.Background()
		for _, flt := range f.gridCountFilters()[:3] {
			n, err := enduser.Count(ctx, d.Bun, f.tenant.ID, flt, f.now)
			require.NoError(t, err)
			require.Equal(t, len(f.gridExpected(flt)), n, "filter %+v", flt)
		}
		f.gridCheckCounts(t, "fresh")
		exec := func(q string, args ...any) {
			t.Helper()
			_, err := d.Bun.NewRaw(q, args...).Exec(ctx)
			require.NoError(t, err, q)
		}

		u := &enduser.EndUser{ID: db.NewID(), TenantID: f.tenant.ID, CustomerID: f.custA.ID, Username: "new-one",
			Source: enduser.SourceLocal, CreatedAt: f.now, UpdatedAt: f.now}
		_, err := d.Bun.NewInsert().Model(u).Exec(ctx)
		require.NoError(t, err)
		f.gridCheckCounts(t, "after an insert")

		_, err = f.svc.UpdateContact(ctx, f.actor, u.ID, "email", "new.one@example.com")
		require.NoError(t, err)
		_, err = f.svc.UpdateContact(ctx, f.actor, u.ID, "mobile", "+447700900999")
		require.NoError(t, err)
		f.gridCheckCounts(t, "after contact edits (registration complete)")

		// Statements that bypass the services, as another process would send.
		_, err = d.SQL.ExecContext(ctx, d.Bun.NewUpdate().Table("end_users").Set("first_access_at = ?", f.now).
			Where("id = ?", u.ID).String())
		require.NoError(t, err)
		f.gridCheckCounts(t, "after a first self-serve access")
		exec("UPDATE end_users SET locked = ? WHERE customer_id = ? AND username LIKE ?", true, f.custB.ID, "user0%")
		exec("UPDATE end_users SET source = ?, email = ? WHERE tenant_id = ? AND username LIKE ?", enduser.SourceM365, "", f.tenant.ID, "user%5")
		exec("UPDATE end_users SET first_name = ? WHERE tenant_id = ?", "Renamed", f.tenant.ID) // no count changes
		f.gridCheckCounts(t, "after updates of many rows")

		n, err := f.svc.BulkSetSelfServe(ctx, f.actor, enduser.Selection{All: true, Filter: enduser.Filter{Status: "registered"}}, true, f.now)
		require.NoError(t, err)
		require.Positive(t, n.Changed)
		f.gridCheckCounts(t, "after a bulk enable")
		_, err = f.svc.BulkSetSelfServe(ctx, f.actor, enduser.Selection{All: true}, false, f.now)
		require.NoError(t, err)
		f.gridCheckCounts(t, "after a bulk disable")

		exec("UPDATE end_users SET customer_id = ? WHERE id = ?", f.custB.ID, f.users[1].ID)
		exec("DELETE FROM end_users WHERE id IN (?)", bun.In([]string{f.users[2].ID, f.users[3].ID, f.hidden[0].ID}))
		f.gridCheckCounts(t, "after a move and deletes")

		var more []*enduser.EndUser
		for i := range 25 {
			more = append(more, &enduser.EndUser{ID: db.NewID(), TenantID: f.tenant.ID, CustomerID: []string{f.custA.ID, f.custB.ID}[i%2],
				Username: fmt.Sprintf("batch%02d", i), Email: "b@example.com", Mobile: []string{"", "+447700900111"}[i%2],
				Source: gridSrc[i%len(gridSrc)], Locked: i%3 == 0, CreatedAt: f.now, UpdatedAt: f.now})
		}
		_, err = d.Bun.NewInsert().Model(&more).Exec(ctx)
		require.NoError(t, err)
		f.gridCheckCounts(t, "after a multi-row insert")

		err = d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			if _, err := tx.NewRaw("UPDATE end_users SET locked = NOT locked WHERE tenant_id = ?", f.tenant.ID).Exec(ctx); err != nil {
				return err
			}
			return errors.New("roll back")
		})
		require.Error(t, err)
		f.gridCheckCounts(t, "after a rolled-back update")

		exec("UPDATE customers SET archived_at = ? WHERE id = ?", f.now, f.custB.ID)
		f.gridCheckCounts(t, "with a customer archived")
		exec("UPDATE customers SET archived_at = NULL WHERE id IN (?)", bun.In([]string{f.custB.ID, f.archived.ID}))
		f.gridCheckCounts(t, "with customers unarchived")

		// Deleting a customer (once empty) takes its count rows with it.
		exec("DELETE FROM end_users WHERE customer_id = ?", f.foreign.ID)
		exec("DELETE FROM customers WHERE id = ?", f.foreign.ID)
		f.gridCheckCounts(t, "after deleting a customer")
		var left int
		require.NoError(t, d.Bun.NewSelect().Table("end_user_counts").ColumnExpr("count(*)").Where("customer_id = ?", f.foreign.ID).Scan(ctx, &left))
		require.Zero(t, left)

		// Deleting a tenant takes its end users and count rows with it.
		exec("DELETE FROM tenants WHERE id = ?", f.other.ID)
		for _, table := range []string{"end_user_counts", "end_user_totals"} {
			require.NoError(t, d.Bun.NewSelect().Table(table).ColumnExpr("count(*)").Where("tenant_id = ?", f.other.ID).Scan(ctx, &left))
			require.Zero(t, left, table)
		}
		f.gridCheckCounts(t, "after deleting the other tenant")
	})
}

// TestGridSearch checks the search's edge cases on both databases: terms of
// one and two characters (no trigram index), LIKE wildcards, quotes,
// backslashes, FTS5 syntax taken literally, non-ASCII text, a term that runs
// across two fields (no match), and the index following renames and deletes.
func TestGridSearch(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := gridSetup(t, d, 0)
		ctx := context.Background()
		add := func(first, last, username, email string) *enduser.EndUser {
			u := &enduser.EndUser{ID: db.NewID(), TenantID: f.tenant.ID, CustomerID: f.custA.ID, Username: username,
				FirstName: first, LastName: last, Email: email, Source: enduser.SourceManual, CreatedAt: f.now, UpdatedAt: f.now}
			_, err := d.Bun.NewInsert().Model(u).Exec(ctx)
			require.NoError(t, err)
			return u
		}
		add("Zoë", "Ångström", "zoe.a", "zoe@example.com")
		add("Seán", "O'Brien", "sobrien", "sean.o'brien@example.ie")
		add(`Dwayne "The Rock"`, "Johnson", "rock", "dj@example.com")
		add("Fifty", "Percent", "50%off", "fifty_percent@example.com")
		add("Back", `Sl\ash`, `dom\user`, "back@example.com")
		add("张", "伟", "zhang.wei", "wei@example.cn")
		add("NEAR", "AND OR", "ops*", "x^y@example.com")
		add("Ann", "Lee", "annlee", "ann.lee@example.com")
		bob := add("Bob", "Smith", "BSMITH", "Bob.Smith@Example.COM")

		search := func(term string) []string {
			t.Helper()
			rows, total, err := enduser.Grid(ctx, d.Bun, f.tenant.ID, enduser.Filter{Query: term, Sort: "username"}, f.now)
			require.NoError(t, err)
			out := []string{}
			for _, r := range rows {
				out = append(out, r.Username)
			}
			require.Equal(t, len(out), total, "term %q: the total counts the same rows", term)
			return out
		}
		for _, tc := range []struct {
			term string
			want []string
		}{
			{"z", []string{"zhang.wei", "zoe.a"}},
			{"ë", []string{"zoe.a"}},
			{"Zoë", []string{"zoe.a"}},
			{"zoË", []string{}}, // non-ASCII letters compare as written (lower() folds ASCII)
			{"Ångström", []string{"zoe.a"}},
			{"ngstr", []string{"zoe.a"}},
			{"o'b", []string{"sobrien"}},
			{"'", []string{"sobrien"}},
			{`"the rock"`, []string{"rock"}},
			{`"`, []string{"rock"}},
			{`k"`, []string{"rock"}},
			{"%", []string{"50%off"}},
			{"50%", []string{"50%off"}},
			{"%o%", []string{}},
			{"_", []string{"50%off"}},
			{"y_p", []string{"50%off"}},
			{"t_p", []string{}},
			{`\`, []string{`dom\user`}},
			{`l\a`, []string{`dom\user`}},
			{"张 伟", []string{"zhang.wei"}},
			{"伟", []string{"zhang.wei"}},
			{"near", []string{"ops*"}},
			{"and or", []string{"ops*"}},
			{"ops*", []string{"ops*"}},
			{"x^y", []string{"ops*"}},
			{"NEAR(", []string{}},
			{"ann lee", []string{"annlee"}},
			{"lee annlee", []string{}}, // name then username: two fields
			{"smith", []string{"BSMITH"}},
			{"SMITH@", []string{"BSMITH"}}, // email Bob.Smith@Example.COM
			{"bob.smith@example.com", []string{"BSMITH"}},
			{"sm", []string{"BSMITH"}},
			{"xyz", []string{}},
		} {
			require.Equal(t, tc.want, search(tc.term), "term %q", tc.term)
		}

		// Bulk actions select the same end users as the search.
		for _, term := range []string{"o'b", "z", "example.c"} {
			n, err := f.svc.BulkSetSelfServe(ctx, f.actor, enduser.Selection{All: true, Filter: enduser.Filter{Query: term}}, true, f.now)
			require.NoError(t, err)
			rows, _, err := enduser.Grid(ctx, d.Bun, f.tenant.ID, enduser.Filter{Query: term, SelfServe: "on"}, f.now)
			require.NoError(t, err)
			require.Len(t, rows, len(search(term)), "term %q: every match is on", term)
			require.LessOrEqual(t, n.Changed, len(rows))
		}

		// The index follows renames, new values and deletes.
		_, err := f.svc.UpdateContact(ctx, f.actor, bob.ID, "email", "robert@example.org")
		require.NoError(t, err)
		require.Equal(t, []string{"BSMITH"}, search("robert@"))
		require.Equal(t, []string{}, search("bob.smith@"))
		_, err = d.Bun.NewUpdate().Table("end_users").Set("last_name = ?", "Smythe").Where("id = ?", bob.ID).Exec(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"BSMITH"}, search("bob smythe"))
		_, err = d.Bun.NewDelete().Table("end_users").Where("id = ?", bob.ID).Exec(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{}, search("smythe"))

		if d.Dialect == db.SQLite {
			// VACUUM keeps the rowids the FTS5 index refers to.
			_, err := d.SQL.ExecContext(ctx, "VACUUM")
			require.NoError(t, err)
			require.Equal(t, []string{"zoe.a"}, search("ngstr"))
			require.Equal(t, []string{"annlee"}, search("ann lee"))
		}
	})
}

// The grid scans its columns by position: every field it shows equals what
// bun reads from the row (times, NULL or not; switches; status; the
// customer's name), and the total is the count.
func TestGridRowsMatchTheStoredEndUsers(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := gridSetup(t, d, 40)
		ctx := context.Background()
		at := time.Date(2026, 12, 1, 8, 15, 30, 123456000, time.UTC)
		_, err := d.Bun.NewUpdate().Table("end_users").Set("last_access_at = ?", at).Set("first_access_at = ?", at.Add(-time.Hour)).
			Where("id = ?", f.users[0].ID).Exec(ctx)
		require.NoError(t, err)
		for _, flt := range []enduser.Filter{{PerPage: 100}, {Sort: "access", Desc: true, PerPage: 100}, {Sort: "expires", PerPage: 7, Page: 2}} {
			rows, total, err := enduser.Grid(ctx, d.Bun, f.tenant.ID, flt, f.now)
			require.NoError(t, err)
			want, err := enduser.Count(ctx, d.Bun, f.tenant.ID, flt, f.now)
			require.NoError(t, err)
			require.Equal(t, want, total)
			require.NotEmpty(t, rows)
			for _, r := range rows {
				var u enduser.EndUser
				require.NoError(t, d.Bun.NewSelect().Model(&u).Where("id = ?", r.ID).Scan(ctx))
				g := r.EndUser
				require.Equal(t, [11]string{u.ID, u.TenantID, u.CustomerID, u.Username, u.FirstName, u.LastName, u.Email, u.EmailSource, u.Mobile, u.MobileSource, u.Source},
					[11]string{g.ID, g.TenantID, g.CustomerID, g.Username, g.FirstName, g.LastName, g.Email, g.EmailSource, g.Mobile, g.MobileSource, g.Source})
				require.Equal(t, [3]bool{u.SelfServeEnabled, u.Privileged, u.Locked}, [3]bool{g.SelfServeEnabled, g.Privileged, g.Locked})
				require.Equal(t, u.Status(), g.Status())
				require.Equal(t, f.names[u.CustomerID], r.CustomerName)
				for i, pair := range [][2]*time.Time{{u.PasswordExpiresAt, g.PasswordExpiresAt}, {u.FirstAccessAt, g.FirstAccessAt}, {u.LastAccessAt, g.LastAccessAt}} {
					if pair[0] == nil {
						require.Nil(t, pair[1], "time %d of %s", i, u.Username)
						continue
					}
					require.NotNil(t, pair[1], "time %d of %s", i, u.Username)
					require.True(t, pair[0].Equal(*pair[1]), "time %d of %s: %s vs %s", i, u.Username, pair[0], pair[1])
				}
				if u.ID == f.users[0].ID {
					require.True(t, g.LastAccessAt.Equal(at), "%s", g.LastAccessAt)
				}
			}
		}
	})
}
