package enduser_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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

// TestGridStatusSQLMatchesGo checks StatusSQL against Status for every
// combination of the fields the status depends on.
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
			require.NoError(t, d.Bun.NewSelect().TableExpr("end_users AS eu").ColumnExpr(enduser.StatusSQL("eu.")).
				Where("eu.id = ?", u.ID).Scan(ctx, &st))
			require.Equal(t, int(u.Status()), st, "%s: email %q mobile %q access %v", u.Username, u.Email, u.Mobile, u.FirstAccessAt != nil)
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
		opts, err := enduser.CustomerOptions(ctx, d.Bun, f.tenant.ID)
		require.NoError(t, err)
		require.Equal(t, []enduser.CustomerOption{{ID: f.custA.ID, Name: "Globex"}, {ID: f.custB.ID, Name: "initech"}}, opts)

		r, err := enduser.VisibleRow(ctx, d.Bun, f.tenant.ID, f.users[0].ID)
		require.NoError(t, err)
		require.Equal(t, f.names[f.users[0].CustomerID], r.CustomerName)
		for _, id := range []string{f.hidden[0].ID, f.outsider[0].ID, "nope"} {
			_, err := enduser.VisibleRow(ctx, d.Bun, f.tenant.ID, id)
			require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
		}
	})
}

// TestGridPageCachesTotals checks GridService.Page: the same rows and totals
// as Grid; a total kept between pages; a write through this process shows at
// once; a total the rows contradict is counted again.
func TestGridPageCachesTotals(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := gridSetup(t, d, 130)
		ctx := context.Background()
		flt := enduser.Filter{PerPage: 20, Sort: "username"}
		check := func(msg string) {
			t.Helper()
			for page := 1; page <= 8; page++ {
				flt.Page = page
				want, wantTotal, err := enduser.Grid(ctx, d.Bun, f.tenant.ID, flt, f.now)
				require.NoError(t, err)
				got, total, err := f.svc.Page(ctx, f.tenant.ID, flt, f.now)
				require.NoError(t, err)
				require.Equal(t, want, got, "%s: page %d", msg, page)
				require.Equal(t, wantTotal, total, "%s: page %d", msg, page)
			}
		}
		check("fresh")
		time.Sleep(2100 * time.Millisecond) // the setup's writes have settled: totals are kept now
		check("cached")

		// A write by this process (through bun) is seen at once.
		u := &enduser.EndUser{ID: db.NewID(), TenantID: f.tenant.ID, CustomerID: f.custA.ID, Username: "aaa-new",
			Source: enduser.SourceManual, CreatedAt: f.now, UpdatedAt: f.now}
		_, err := d.Bun.NewInsert().Model(u).Exec(ctx)
		require.NoError(t, err)
		check("after an insert")
		_, err = d.Bun.NewUpdate().Table("customers").Set("archived_at = ?", f.now).Where("id = ?", f.custB.ID).Exec(ctx)
		require.NoError(t, err)
		check("after archiving a customer")

		// A write the process did not see (another process): the kept total
		// stays for a while, but never contradicts the rows it comes with.
		time.Sleep(2100 * time.Millisecond)
		flt.Page = 1
		_, before, err := f.svc.Page(ctx, f.tenant.ID, flt, f.now)
		require.NoError(t, err)
		_, err = d.SQL.ExecContext(ctx, d.Bun.NewUpdate().Table("customers").Set("archived_at = NULL").Where("id = ?", f.custB.ID).String())
		require.NoError(t, err)
		_, total, err := f.svc.Page(ctx, f.tenant.ID, flt, f.now)
		require.NoError(t, err)
		require.Equal(t, before, total, "kept (countTTL bounds this)")
		last := enduser.Filter{PerPage: 20, Sort: "username", Page: 100}
		n, err := enduser.Count(ctx, d.Bun, f.tenant.ID, last, f.now)
		require.NoError(t, err)
		require.Greater(t, n, before)
		last.Page = (n + 19) / 20
		rows, total, err := f.svc.Page(ctx, f.tenant.ID, last, f.now)
		require.NoError(t, err)
		require.Equal(t, n, total, "the last page's rows give the exact total")
		require.Len(t, rows, n-(last.Page-1)*20)
	})
}
