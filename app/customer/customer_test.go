package customer_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// bundle is a customer service on a fresh database with one tenant.
type bundle struct {
	d    *db.DB
	svc  *customer.Service
	tech audit.Actor // a Technician of the tenant
}

func setup(t testing.TB, d *db.DB) *bundle {
	t.Helper()
	return &bundle{d: d, svc: customer.NewService(d, time.Now), tech: mustTenant(t, d, "Acme IT")}
}

// mustTenant inserts a tenant and returns a Technician actor of it.
func mustTenant(t testing.TB, d *db.DB, name string) audit.Actor {
	t.Helper()
	tn := tenant.New(time.Now().UTC())
	tn.Name = name
	require.NoError(t, tenant.Insert(context.Background(), d.Bun, tn))
	return audit.Actor{TenantID: tn.ID, LoginID: db.NewID(), Name: "Tess Tech", Role: string(login.RoleTechnician), IP: "127.0.0.1"}
}

func (b *bundle) mustCreate(t testing.TB, name, domains string) *customer.Customer {
	t.Helper()
	c, err := b.svc.Create(context.Background(), b.tech, customer.Input{Name: name, Domains: domains})
	require.NoError(t, err)
	return c
}

// endUser is the part of an end_users row the tests fill (app/enduser imports
// this package, so its model is not used here).
type endUser struct {
	bun.BaseModel `bun:"table:end_users"`

	ID               string     `bun:"id,pk"`
	TenantID         string     `bun:"tenant_id"`
	CustomerID       string     `bun:"customer_id"`
	Username         string     `bun:"username"`
	FirstName        string     `bun:"first_name"`
	LastName         string     `bun:"last_name"`
	Email            string     `bun:"email"`
	Mobile           string     `bun:"mobile"`
	Source           string     `bun:"source"`
	SelfServeEnabled bool       `bun:"self_serve_enabled"`
	Locked           bool       `bun:"locked"`
	FirstAccessAt    *time.Time `bun:"first_access_at"`
	CreatedAt        time.Time  `bun:"created_at"`
	UpdatedAt        time.Time  `bun:"updated_at"`
}

// userSpec is one end user to insert: its status inputs and switches.
type userSpec struct {
	email, mobile, accessed, selfServe, locked bool
}

// mustEndUsers inserts end users of customer c directly.
func mustEndUsers(t testing.TB, d *db.DB, c *customer.Customer, specs ...userSpec) {
	t.Helper()
	if len(specs) == 0 {
		return
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	var us []*endUser
	for i, s := range specs {
		u := &endUser{
			ID: db.NewID(), TenantID: c.TenantID, CustomerID: c.ID, Username: fmt.Sprintf("user%d.%s", i, db.NewID()[:6]),
			FirstName: "User", LastName: fmt.Sprint(i), Source: "manual",
			SelfServeEnabled: s.selfServe, Locked: s.locked, CreatedAt: now, UpdatedAt: now,
		}
		if s.email {
			u.Email = fmt.Sprintf("user%d@example.com", i)
		}
		if s.mobile {
			u.Mobile = "+14155550100"
		}
		if s.accessed {
			u.FirstAccessAt = &now
		}
		us = append(us, u)
	}
	_, err := d.Bun.NewInsert().Model(&us).Exec(context.Background())
	require.NoError(t, err)
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		long := strings.Repeat("a", 64) + ".example.com"
		for _, tc := range []struct {
			name  string
			in    customer.Input
			field string // "" = valid
		}{
			{"ok", customer.Input{Name: "Contoso Ltd", Domains: "contoso.com"}, ""},
			{"empty name", customer.Input{Name: "  "}, "name"},
			{"long name", customer.Input{Name: strings.Repeat("x", 201)}, "name"},
			{"name at limit", customer.Input{Name: strings.Repeat("é", 200)}, ""},
			{"control char", customer.Input{Name: "Bad\x00Name"}, "name"},
			{"no dot", customer.Input{Name: "A1", Domains: "localhost"}, "domains"},
			{"scheme", customer.Input{Name: "A2", Domains: "https://fabrikam.com"}, "domains"},
			{"path", customer.Input{Name: "A3", Domains: "fabrikam.com/login"}, "domains"},
			{"port", customer.Input{Name: "A4", Domains: "fabrikam.com:443"}, "domains"},
			{"email", customer.Input{Name: "A5", Domains: "bob@fabrikam.com"}, "domains"},
			{"long label", customer.Input{Name: "A6", Domains: long}, "domains"},
			{"long name total", customer.Input{Name: "A7", Domains: strings.Repeat("abcdefghi.", 26) + "com"}, "domains"},
			{"hyphen edge", customer.Input{Name: "A8", Domains: "-fabrikam.com"}, "domains"},
			{"ip", customer.Input{Name: "A9", Domains: "10.0.0.1"}, "domains"},
			{"bad char", customer.Input{Name: "A10", Domains: "fab rikam.com,fab*rikam.com"}, "domains"},
			{"empty label", customer.Input{Name: "A11", Domains: "fabrikam..com"}, "domains"},
			{"too many", customer.Input{Name: "A12", Domains: manyDomains(21)}, "domains"},
			{"twenty", customer.Input{Name: "A13", Domains: manyDomains(20)}, ""},
			{"time zone", customer.Input{Name: "A14", TimeZone: "Mars/Olympus"}, "time_zone"},
			{"time zone ok", customer.Input{Name: "A15", TimeZone: "Europe/Paris"}, ""},
			{"notes", customer.Input{Name: "A16", Notes: strings.Repeat("n", 2001)}, "notes"},
			{"notes ok", customer.Input{Name: "A17", Notes: strings.Repeat("n", 2000)}, ""},
			{"notes with lines", customer.Input{Name: "A18", Notes: "Site: Leeds\n\tSmith St"}, ""},
			{"notes with a NUL", customer.Input{Name: "A19", Notes: "Site\x00"}, "notes"},
			{"notes with an escape", customer.Input{Name: "A20", Notes: "Site\x1b[31m"}, "notes"},
		} {
			_, err := b.svc.Create(ctx, b.tech, tc.in)
			if tc.field == "" {
				require.NoError(t, err, tc.name)
				continue
			}
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err), tc.name)
			require.Contains(t, apperr.FieldsOf(err), tc.field, tc.name)
		}
	})
}

func manyDomains(n int) string {
	var ds []string
	for i := range n {
		ds = append(ds, fmt.Sprintf("d%d.example.com", i))
	}
	return strings.Join(ds, "\n")
}

func TestParseDomains(t *testing.T) {
	t.Parallel()
	got, msg := customer.ParseDomains(" Contoso.COM, contoso.com;\nmail.contoso.com  fabrikam.co.uk. contoso.com")
	require.Empty(t, msg)
	require.Equal(t, []string{"contoso.com", "mail.contoso.com", "fabrikam.co.uk"}, got)
	got, msg = customer.ParseDomains("")
	require.Empty(t, msg)
	require.Empty(t, got)
	_, msg = customer.ParseDomains("contoso.com http://x.com")
	require.Contains(t, msg, "x.com")
}

func TestCreateStoresNormalisedAndAudits(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		c, err := b.svc.Create(ctx, b.tech, customer.Input{Name: "  Contoso   Ltd ", Domains: "Contoso.com contoso.com, corp.contoso.com", TimeZone: "Europe/Paris", Notes: " VIP \r\n"})
		require.NoError(t, err)
		require.Equal(t, "Contoso Ltd", c.Name)
		require.Equal(t, "contoso.com,corp.contoso.com", c.Domains)
		require.Equal(t, []string{"contoso.com", "corp.contoso.com"}, c.DomainList())
		require.Equal(t, customer.SourceManual, c.Source)
		got, err := customer.Get(ctx, d.Bun, b.tech.TenantID, c.ID)
		require.NoError(t, err)
		require.Equal(t, "Europe/Paris", got.TimeZone)
		require.Equal(t, "VIP", got.Notes)
		var actions []string
		require.NoError(t, d.Bun.NewSelect().Table("audit_events").Column("action").Where("tenant_id = ?", b.tech.TenantID).
			Where("target_id = ?", c.ID).Scan(ctx, &actions))
		require.Equal(t, []string{"customer.create"}, actions)
	})
}

func TestUniqueNameCaseInsensitiveIgnoringArchived(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		first := b.mustCreate(t, "Contoso", "")
		_, err := b.svc.Create(ctx, b.tech, customer.Input{Name: "CONTOSO"})
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
		require.Equal(t, "A customer with this name already exists.", apperr.FieldsOf(err)["name"])

		// Another tenant may use the name.
		other := mustTenant(t, d, "Other MSP")
		_, err = b.svc.Create(ctx, other, customer.Input{Name: "Contoso"})
		require.NoError(t, err)

		// Renaming onto a taken name is refused; changing one's own case is fine.
		second := b.mustCreate(t, "Fabrikam", "")
		_, err = b.svc.Update(ctx, b.tech, second.ID, customer.Input{Name: "contoso"})
		require.Equal(t, "A customer with this name already exists.", apperr.FieldsOf(err)["name"])
		_, err = b.svc.Update(ctx, b.tech, first.ID, customer.Input{Name: "CONTOSO"})
		require.NoError(t, err)

		// An archived customer's name is free again; restoring it then conflicts.
		require.NoError(t, b.svc.Archive(ctx, b.tech, first.ID))
		again := b.mustCreate(t, "contoso", "")
		require.Equal(t, apperr.Conflict, apperr.CodeOf(b.svc.Unarchive(ctx, b.tech, first.ID)))
		require.NoError(t, b.svc.Delete(ctx, b.tech, again.ID))
		require.NoError(t, b.svc.Unarchive(ctx, b.tech, first.ID))
	})
}

// TestUniqueDomainAmongActiveCustomers: a domain recognises one customer's
// end users, so another active customer of the tenant may not list it (on
// create, edit and restore); the message names that customer.
func TestUniqueDomainAmongActiveCustomers(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		globex := b.mustCreate(t, "Globex", "globex.example, globex-corp.example")
		const taken = "globex.example is already a domain of Globex. A domain recognises one customer's end users: remove it from Globex first, or leave it out here."

		_, err := b.svc.Create(ctx, b.tech, customer.Input{Name: "Zed2", Domains: "zed.example GLOBEX.example."})
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
		require.Equal(t, taken, apperr.FieldsOf(err)["domains"])
		// A longer or shorter name that contains it is another domain.
		zed := b.mustCreate(t, "Zed2", "zed.example, sub.globex.example, lobex.example")

		// Editing: adding a domain of another customer is refused; keeping
		// one's own, or changing other fields, is fine.
		_, err = b.svc.Update(ctx, b.tech, zed.ID, customer.Input{Name: "Zed2", Domains: "zed.example globex-corp.example"})
		require.Equal(t, "globex-corp.example is already a domain of Globex. A domain recognises one customer's end users: remove it from Globex first, or leave it out here.",
			apperr.FieldsOf(err)["domains"])
		_, err = b.svc.Update(ctx, b.tech, globex.ID, customer.Input{Name: "Globex Corp", Domains: "globex.example, globex-corp.example", Notes: "x"})
		require.NoError(t, err)

		// Another tenant may list the domain.
		other := mustTenant(t, d, "Other MSP")
		_, err = b.svc.Create(ctx, other, customer.Input{Name: "Globex", Domains: "globex.example"})
		require.NoError(t, err)

		// An archived customer's domains are free; restoring it then
		// conflicts, naming the domain and the customer that has it.
		require.NoError(t, b.svc.Archive(ctx, b.tech, globex.ID))
		succ := b.mustCreate(t, "Globex Successor", "globex.example")
		err = b.svc.Unarchive(ctx, b.tech, globex.ID)
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
		require.Equal(t, "globex.example is now a domain of Globex Successor. Remove it from one of them before restoring Globex Corp.", apperr.MessageOf(err))
		_, err = b.svc.Update(ctx, b.tech, succ.ID, customer.Input{Name: "Globex Successor", Domains: "globex-successor.example"})
		require.NoError(t, err)
		require.NoError(t, b.svc.Unarchive(ctx, b.tech, globex.ID))
	})
}

// TestUniqueDomainConcurrentCreates: customers created at the same moment
// with the same domain: exactly one gets it.
func TestUniqueDomainConcurrentCreates(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		const n = 8
		errs := make(chan error, n)
		start := make(chan struct{})
		for i := range n {
			go func() {
				<-start
				_, err := b.svc.Create(context.Background(), b.tech, customer.Input{Name: fmt.Sprintf("Racer %d", i), Domains: "race.example"})
				errs <- err
			}()
		}
		close(start)
		ok := 0
		for range n {
			err := <-errs
			if err == nil {
				ok++
				continue
			}
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "%v", err)
			require.Contains(t, apperr.FieldsOf(err)["domains"], "race.example is already a domain of Racer ")
		}
		require.Equal(t, 1, ok)
	})
}

func TestUpdateArchiveDeleteAndAudit(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		c := b.mustCreate(t, "Contoso", "contoso.com")
		u, err := b.svc.Update(ctx, b.tech, c.ID, customer.Input{Name: "Contoso Ltd", Domains: "contoso.com, contoso.net", Notes: "Hybrid AD"})
		require.NoError(t, err)
		require.Equal(t, "contoso.com,contoso.net", u.Domains)
		// Nothing changed: nothing audited.
		_, err = b.svc.Update(ctx, b.tech, c.ID, customer.Input{Name: "Contoso Ltd", Domains: "contoso.com contoso.net", Notes: "Hybrid AD"})
		require.NoError(t, err)
		_, err = b.svc.Update(ctx, b.tech, c.ID, customer.Input{Name: "", Domains: "nope"})
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
		require.Len(t, apperr.FieldsOf(err), 2)

		require.NoError(t, b.svc.Archive(ctx, b.tech, c.ID))
		require.Equal(t, apperr.Conflict, apperr.CodeOf(b.svc.Archive(ctx, b.tech, c.ID)))
		require.NoError(t, b.svc.Unarchive(ctx, b.tech, c.ID))
		require.Equal(t, apperr.Conflict, apperr.CodeOf(b.svc.Unarchive(ctx, b.tech, c.ID)))

		// Delete is refused while the customer has end users.
		mustEndUsers(t, d, c, userSpec{}, userSpec{email: true})
		err = b.svc.Delete(ctx, b.tech, c.ID)
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
		require.Equal(t, "Contoso Ltd has 2 end users, so it cannot be deleted: only a customer without end users can be. Archive it instead: it and its end users leave the lists, and you can restore it later.", apperr.MessageOf(err))
		require.NoError(t, b.svc.Archive(ctx, b.tech, c.ID))
		err = b.svc.Delete(ctx, b.tech, c.ID)
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
		require.Equal(t, "Contoso Ltd has 2 end users, so it cannot be deleted: only a customer without end users can be. It stays archived, out of the lists.", apperr.MessageOf(err),
			"an archived customer is not told to archive")
		_, err = d.Bun.NewDelete().Table("end_users").Where("customer_id = ?", c.ID).Exec(ctx)
		require.NoError(t, err)
		require.NoError(t, b.svc.Delete(ctx, b.tech, c.ID))
		_, err = customer.Get(ctx, d.Bun, b.tech.TenantID, c.ID)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
		require.Equal(t, apperr.NotFound, apperr.CodeOf(b.svc.Delete(ctx, b.tech, c.ID)))

		var actions []string
		require.NoError(t, d.Bun.NewSelect().Table("audit_events").Column("action").Where("target_id = ?", c.ID).
			OrderExpr("seq").Scan(ctx, &actions))
		require.Equal(t, []string{"customer.create", "customer.update", "customer.archive", "customer.unarchive", "customer.archive", "customer.delete"}, actions)
		ok, err := audit.Verify(ctx, d.Bun, b.tech.TenantID)
		require.NoError(t, err)
		require.True(t, ok.OK)
	})
}

func TestRolesAndTenants(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		c := b.mustCreate(t, "Contoso", "")
		help := b.tech
		help.Role = string(login.RoleHelpDesk)
		_, err := b.svc.Create(ctx, help, customer.Input{Name: "Fabrikam"})
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(err))
		_, err = b.svc.Update(ctx, help, c.ID, customer.Input{Name: "X"})
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(err))
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(b.svc.Archive(ctx, help, c.ID)))
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(b.svc.Unarchive(ctx, help, c.ID)))
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(b.svc.Delete(ctx, help, c.ID)))
		// Help desk views.
		rows, total, err := b.svc.List(ctx, help, customer.ListFilter{})
		require.NoError(t, err)
		require.Equal(t, 1, total)
		require.Len(t, rows, 1)
		_, err = b.svc.Get(ctx, help, c.ID)
		require.NoError(t, err)
		for _, r := range []login.Role{login.RolePrimary, login.RoleSuper} {
			a := b.tech
			a.Role = string(r)
			_, err := b.svc.Create(ctx, a, customer.Input{Name: "By " + string(r)})
			require.NoError(t, err)
		}

		// Another tenant's customer does not exist for this one.
		other := mustTenant(t, d, "Other MSP")
		_, err = b.svc.Get(ctx, other, c.ID)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
		_, err = b.svc.Update(ctx, other, c.ID, customer.Input{Name: "Mine"})
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
		require.Equal(t, apperr.NotFound, apperr.CodeOf(b.svc.Archive(ctx, other, c.ID)))
		require.Equal(t, apperr.NotFound, apperr.CodeOf(b.svc.Unarchive(ctx, other, c.ID)))
		require.Equal(t, apperr.NotFound, apperr.CodeOf(b.svc.Delete(ctx, other, c.ID)))
		rows, total, err = b.svc.List(ctx, other, customer.ListFilter{})
		require.NoError(t, err)
		require.Zero(t, total)
		require.Empty(t, rows)
	})
}

func TestListCounts(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		a := b.mustCreate(t, "Alpha", "alpha.com")
		z := b.mustCreate(t, "Zulu", "")
		empty := b.mustCreate(t, "Empty", "")
		// Every combination of email, mobile, accessed, self-serve and locked for Alpha.
		var specs []userSpec
		want := customer.Counts{}
		for m := range 32 {
			s := userSpec{email: m&1 != 0, mobile: m&2 != 0, accessed: m&4 != 0, selfServe: m&8 != 0, locked: m&16 != 0}
			specs = append(specs, s)
			want.EndUsers++
			if s.selfServe {
				want.SelfServe++
			}
			switch {
			case s.accessed:
				want.Accessed++
			case s.email && s.mobile:
				want.Registered++
			}
			if s.locked {
				want.Locked++
			}
		}
		mustEndUsers(t, d, a, specs...)
		mustEndUsers(t, d, z, userSpec{email: true, mobile: true, selfServe: true})
		// Another tenant's end users never count.
		other := mustTenant(t, d, "Other MSP")
		oc, err := b.svc.Create(ctx, other, customer.Input{Name: "Alpha"})
		require.NoError(t, err)
		mustEndUsers(t, d, oc, userSpec{locked: true}, userSpec{accessed: true})

		rows, total, err := b.svc.List(ctx, b.tech, customer.ListFilter{})
		require.NoError(t, err)
		require.Equal(t, 3, total)
		require.Equal(t, []string{"Alpha", "Empty", "Zulu"}, names(rows))
		require.Equal(t, customer.Counts{EndUsers: 32, SelfServe: 16, Registered: 4, Accessed: 16, Locked: 16}, want)
		require.Equal(t, want, rows[0].Counts)
		require.Equal(t, customer.Counts{}, rows[1].Counts)
		require.Equal(t, customer.Counts{EndUsers: 1, SelfServe: 1, Registered: 1}, rows[2].Counts)

		// The same counts when sorted by a count (the other query shape) and on the customer's page.
		rows, _, err = b.svc.List(ctx, b.tech, customer.ListFilter{Sort: customer.SortEndUsers, Desc: true})
		require.NoError(t, err)
		require.Equal(t, []string{"Alpha", "Zulu", "Empty"}, names(rows), "end users desc")
		rows, _, err = b.svc.List(ctx, b.tech, customer.ListFilter{Sort: customer.SortLocked, Desc: true})
		require.NoError(t, err)
		require.Equal(t, []string{"Alpha", "Empty", "Zulu"}, names(rows), "locked desc, then name")
		require.Equal(t, want, rows[0].Counts)
		one, err := b.svc.Get(ctx, b.tech, a.ID)
		require.NoError(t, err)
		require.Equal(t, want, one.Counts)
		one, err = b.svc.Get(ctx, b.tech, empty.ID)
		require.NoError(t, err)
		require.Equal(t, customer.Counts{}, one.Counts)
	})
}

func names(rows []customer.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Name
	}
	return out
}

func TestListSearchSortPagingArchived(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		// 25 customers; several share counts so that ties need the tie-break.
		var all []*customer.Customer
		for i := range 25 {
			c := b.mustCreate(t, fmt.Sprintf("Customer %02d", i), fmt.Sprintf("c%02d.example.com", i))
			all = append(all, c)
			specs := make([]userSpec, i%3)
			mustEndUsers(t, d, c, specs...)
		}
		b.mustCreate(t, "100% Widgets_Inc", "widgets.example.org")

		rows, total, err := b.svc.List(ctx, b.tech, customer.ListFilter{Query: "widgets"})
		require.NoError(t, err)
		require.Equal(t, 1, total)
		require.Equal(t, "100% Widgets_Inc", rows[0].Name)
		// Wildcards are literal.
		_, total, err = b.svc.List(ctx, b.tech, customer.ListFilter{Query: "%"})
		require.NoError(t, err)
		require.Equal(t, 1, total)
		_, total, err = b.svc.List(ctx, b.tech, customer.ListFilter{Query: "s_i"})
		require.NoError(t, err)
		require.Equal(t, 1, total, "only Widgets_Inc has s_i")
		// Non-ASCII names are found as typed (case folds for ASCII letters
		// everywhere, for others where the database knows their case).
		eq := b.mustCreate(t, "Équipe Médicale", "")
		for _, q := range []string{"Équipe", "médicale", "QUIPE M"} {
			rows, _, err = b.svc.List(ctx, b.tech, customer.ListFilter{Query: q})
			require.NoError(t, err)
			require.Equal(t, []string{eq.Name}, names(rows), q)
		}
		require.NoError(t, b.svc.Delete(ctx, b.tech, eq.ID))
		// Search on domains.
		rows, total, err = b.svc.List(ctx, b.tech, customer.ListFilter{Query: "C07.EXAMPLE"})
		require.NoError(t, err)
		require.Equal(t, 1, total)
		require.Equal(t, "Customer 07", rows[0].Name)

		// Every sort pages through all customers exactly once, in a stable order.
		for _, sort := range customer.SortKeys {
			for _, desc := range []bool{false, true} {
				seen := map[string]bool{}
				var order []string
				for page := 1; ; page++ {
					rows, total, err := b.svc.List(ctx, b.tech, customer.ListFilter{Sort: sort, Desc: desc, Page: page, PerPage: 7})
					require.NoError(t, err)
					if len(rows) == 0 {
						require.Equal(t, 26, total, "past the end still says how many")
						break
					}
					require.Equal(t, 26, total)
					for _, r := range rows {
						require.False(t, seen[r.ID], "%s desc=%v: %s twice", sort, desc, r.Name)
						seen[r.ID] = true
						order = append(order, r.ID)
					}
				}
				require.Len(t, seen, 26, sort)
				again, _, err := b.svc.List(ctx, b.tech, customer.ListFilter{Sort: sort, Desc: desc, PerPage: 26})
				require.NoError(t, err)
				require.Equal(t, order, ids(again), "%s desc=%v is stable", sort, desc)
			}
		}
		rows, _, err = b.svc.List(ctx, b.tech, customer.ListFilter{Sort: customer.SortEndUsers, Desc: true, PerPage: 3})
		require.NoError(t, err)
		require.Equal(t, []string{"Customer 02", "Customer 05", "Customer 08"}, names(rows), "most end users first, then by name")

		// Archived customers leave the list and appear in the archived one.
		require.NoError(t, b.svc.Archive(ctx, b.tech, all[3].ID))
		_, total, err = b.svc.List(ctx, b.tech, customer.ListFilter{})
		require.NoError(t, err)
		require.Equal(t, 25, total)
		rows, total, err = b.svc.List(ctx, b.tech, customer.ListFilter{Archived: true})
		require.NoError(t, err)
		require.Equal(t, 1, total)
		require.Equal(t, "Customer 03", rows[0].Name)
		require.NotNil(t, rows[0].ArchivedAt)
		require.NoError(t, b.svc.Unarchive(ctx, b.tech, all[3].ID))
		_, total, err = b.svc.List(ctx, b.tech, customer.ListFilter{})
		require.NoError(t, err)
		require.Equal(t, 26, total)

		ok, err := customer.Exists(ctx, d.Bun, b.tech.TenantID)
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = customer.Exists(ctx, d.Bun, mustTenant(t, d, "Empty MSP").TenantID)
		require.NoError(t, err)
		require.False(t, ok)
	})
}

func ids(rows []customer.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

// The grid's customer picker list is cached for OptionsTTL; changes made
// through the service show at once, a row written behind the service's back
// shows after the cache is forgotten (or the TTL).
func TestOptionsCachedAndForgottenOnChange(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		b := setup(t, d)
		names := func() []string {
			opts, err := customer.Options(ctx, d.Bun, b.tech.TenantID)
			require.NoError(t, err)
			var out []string
			for _, o := range opts {
				out = append(out, o.Name)
			}
			return out
		}
		require.Empty(t, names())
		zed := b.mustCreate(t, "Zed Co", "")
		require.Equal(t, []string{"Zed Co"}, names(), "created: seen at once")
		acme := b.mustCreate(t, "acme", "")
		require.Equal(t, []string{"acme", "Zed Co"}, names(), "by name, case-insensitive")
		_, err := b.svc.Update(ctx, b.tech, acme.ID, customer.Input{Name: "Beta"})
		require.NoError(t, err)
		require.Equal(t, []string{"Beta", "Zed Co"}, names(), "renamed")
		require.NoError(t, b.svc.Archive(ctx, b.tech, zed.ID))
		require.Equal(t, []string{"Beta"}, names(), "archived")
		require.NoError(t, b.svc.Unarchive(ctx, b.tech, zed.ID))
		require.Equal(t, []string{"Beta", "Zed Co"}, names(), "restored")
		require.NoError(t, b.svc.Delete(ctx, b.tech, acme.ID))
		require.Equal(t, []string{"Zed Co"}, names(), "deleted")

		// Written by another process (here: straight into the table): the
		// cached list stands until it is forgotten or OptionsTTL passes.
		now := time.Now().UTC()
		_, err = d.Bun.NewInsert().Model(&customer.Customer{ID: db.NewID(), TenantID: b.tech.TenantID, Name: "Alpha",
			Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}).Exec(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"Zed Co"}, names(), "cached")
		loaded, err := customer.LoadOptions(ctx, d.Bun, b.tech.TenantID)
		require.NoError(t, err)
		require.Len(t, loaded, 2, "the database has both")
		customer.ForgetOptions(b.tech.TenantID)
		require.Equal(t, []string{"Alpha", "Zed Co"}, names())

		// Another tenant's list is its own.
		other := mustTenant(t, d, "Other MSP")
		opts, err := customer.Options(ctx, d.Bun, other.TenantID)
		require.NoError(t, err)
		require.Empty(t, opts)
	})
}
