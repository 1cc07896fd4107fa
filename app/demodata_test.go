package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app"
	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// between checks that n is within [lo%, hi%] of total.
func between(t *testing.T, what string, n, total int, lo, hi float64) {
	t.Helper()
	p := 100 * float64(n) / float64(total)
	require.True(t, p >= lo && p <= hi, "%s: %d of %d (%.1f %%), want %.0f–%.0f %%", what, n, total, p, lo, hi)
}

func TestDemoDataSmallRun(t *testing.T) {
	t.Parallel()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			env := apptest.New(t, dia, apptest.Options{NoWorkers: true})
			f := env.Setup("Acme IT")
			ctx := context.Background()
			var out bytes.Buffer
			res, err := app.DemoData(ctx, env.App, app.DemoOptions{Customers: 5, EndUsers: 500, Seed: 7}, &out)
			require.NoError(t, err)
			require.Equal(t, f.Tenant.ID, res.TenantID, "the installation's tenant")
			require.False(t, res.CreatedTenant)
			require.Equal(t, 5, res.Customers)
			require.Equal(t, 500, res.EndUsers)
			require.Contains(t, out.String(), "5 customers and 500 end users")

			var cs []*customer.Customer
			require.NoError(t, env.App.DB.Bun.NewSelect().Model(&cs).Where("tenant_id = ?", f.Tenant.ID).Scan(ctx))
			require.Len(t, cs, 5)
			byID := map[string]*customer.Customer{}
			for _, c := range cs {
				byID[c.ID] = c
				ds, msg := customer.ParseDomains(c.Domains)
				require.Empty(t, msg, c.Domains)
				require.NotEmpty(t, ds)
			}
			var us []*enduser.EndUser
			require.NoError(t, env.App.DB.Bun.NewSelect().Model(&us).Where("tenant_id = ?", f.Tenant.ID).Scan(ctx))
			require.Len(t, us, 500)

			now := time.Now()
			var email, mobile, selfServe, locked, accessed, registered int
			sources := map[string]int{}
			perCustomer := map[string]int{}
			usernames := map[string]bool{}
			for _, u := range us {
				c := byID[u.CustomerID]
				require.NotNil(t, c, "end user of a new customer")
				perCustomer[u.CustomerID]++
				key := u.CustomerID + "/" + strings.ToLower(u.Username)
				require.False(t, usernames[key], "username %s repeated in a customer", u.Username)
				usernames[key] = true
				require.Regexp(t, `^[a-z]+\.[a-z]+\d*$`, u.Username)
				if u.Email != "" {
					email++
					require.Equal(t, u.Username+"@"+c.DomainList()[0], u.Email)
				}
				if u.Mobile != "" {
					mobile++
					require.Regexp(t, `^\+[1-9]\d{9,13}$`, u.Mobile)
				}
				if u.SelfServeEnabled {
					selfServe++
				}
				if u.Locked {
					locked++
				}
				switch u.Status() {
				case enduser.StatusAccessed:
					accessed++
					require.NotEmpty(t, u.Email)
					require.NotEmpty(t, u.Mobile)
				case enduser.StatusRegistered:
					registered++
				}
				sources[u.Source]++
				require.NotNil(t, u.PasswordExpiresAt)
				days := u.PasswordExpiresAt.Sub(now).Hours() / 24
				require.True(t, days >= -10.1 && days <= 90.1, "password expiry %.1f days away", days)
			}
			between(t, "email", email, 500, 84, 96)
			between(t, "mobile", mobile, 500, 62, 78)
			between(t, "self-serve", selfServe, 500, 42, 58)
			between(t, "locked", locked, 500, 0, 5)
			between(t, "accessed", accessed, 500, 13, 27)
			for _, s := range []string{enduser.SourceManual, enduser.SourceCSV, enduser.SourceAD, enduser.SourceM365} {
				require.Positive(t, sources[s], "source %s", s)
			}
			require.Len(t, perCustomer, 5, "every customer has end users")
			most, least := 0, 500
			for _, n := range perCustomer {
				most, least = max(most, n), min(least, n)
			}
			require.Greater(t, most, least, "an uneven distribution")
			require.Equal(t, most, res.Largest)

			// The list counts agree with the rows.
			a := audit.Actor{TenantID: f.Tenant.ID, LoginID: f.Primary.ID, Role: string(login.RolePrimary)}
			rows, total, err := customer.NewService(env.App.DB, time.Now).List(ctx, a, customer.ListFilter{Sort: customer.SortEndUsers, Desc: true})
			require.NoError(t, err)
			require.Equal(t, 5, total)
			sum := customer.Counts{}
			for _, r := range rows {
				sum.EndUsers += r.EndUsers
				sum.SelfServe += r.SelfServe
				sum.Registered += r.Registered
				sum.Accessed += r.Accessed
				sum.Locked += r.Locked
			}
			require.Equal(t, customer.Counts{EndUsers: 500, SelfServe: selfServe, Registered: registered, Accessed: accessed, Locked: locked}, sum)
			require.Equal(t, most, rows[0].EndUsers)

			// A second run adds more; the same seed gives the same names, numbered.
			res, err = app.DemoData(ctx, env.App, app.DemoOptions{Customers: 5, EndUsers: 100, Seed: 7}, io.Discard)
			require.NoError(t, err)
			require.Equal(t, 100, res.EndUsers)
			_, total, err = customer.NewService(env.App.DB, time.Now).List(ctx, a, customer.ListFilter{})
			require.NoError(t, err)
			require.Equal(t, 10, total)
			n, err := env.App.DB.Bun.NewSelect().Model((*enduser.EndUser)(nil)).Where("tenant_id = ?", f.Tenant.ID).Count(ctx)
			require.NoError(t, err)
			require.EqualValues(t, 600, n)
			require.Equal(t, 2, auditCount(t, env.App.DB, f.Tenant.ID, "demo.data"))
			v, err := audit.Verify(ctx, env.App.DB.Bun, f.Tenant.ID)
			require.NoError(t, err)
			require.True(t, v.OK, v.Reason)
		})
	}
}

func auditCount(t *testing.T, d *db.DB, tenantID, action string) int {
	t.Helper()
	n, err := d.Bun.NewSelect().Model((*audit.Event)(nil)).Where("tenant_id = ? AND action = ?", tenantID, action).Count(context.Background())
	require.NoError(t, err)
	return int(n)
}

// TestDemoDataBigCustomer checks that one customer gets 10,000 end users when
// the total allows (the benchmarks select 10,000 inside one customer).
func TestDemoDataBigCustomer(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite, apptest.Options{NoWorkers: true})
	env.Setup("Acme IT")
	res, err := app.DemoData(context.Background(), env.App, app.DemoOptions{Customers: 4, EndUsers: 12_000}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 12_000, res.EndUsers)
	require.Equal(t, app.DemoBigCustomer, res.Largest)
	var sizes []int
	require.NoError(t, env.App.DB.Bun.NewSelect().Table("end_users").ColumnExpr("COUNT(*)").Group("customer_id").Scan(context.Background(), &sizes))
	require.Len(t, sizes, 4, "the others share the rest")
}

// TestDemoDataCommand runs `latchkey demo-data` on an empty installation: it
// creates the Demo MSP tenant and prints its Primary's password once.
func TestDemoDataCommand(t *testing.T) {
	t.Parallel()
	key, err := secret.GenerateKey()
	require.NoError(t, err)
	dir := t.TempDir()
	env := map[string]string{"LATCHKEY_DATA_DIR": dir, "LATCHKEY_MASTER_KEY": key, "LATCHKEY_LOG_LEVEL": "warn"}
	var out, errOut bytes.Buffer
	err = app.Run(context.Background(), []string{"demo-data", "--customers", "3", "--end-users=40", "--seed", "1"},
		func(k string) string { return env[k] }, &out, &errOut)
	require.NoError(t, err, errOut.String())
	require.Contains(t, out.String(), `created the tenant "Demo MSP" with the Primary login demo@latchkey.example`)
	require.Contains(t, out.String(), "3 customers and 40 end users")
	require.Regexp(t, `password \(shown once, change it after signing in\): [a-z2-7]{24}\n`, out.String())

	d, err := db.Open(context.Background(), db.Options{DataDir: dir})
	require.NoError(t, err)
	defer d.Close()
	l, err := login.ByEmail(context.Background(), d.Bun, app.DemoPrimaryEmail)
	require.NoError(t, err)
	require.Equal(t, login.RolePrimary, l.Role)
	n, err := d.Bun.NewSelect().Table("end_users").Count(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 40, n)

	for _, bad := range [][]string{{"demo-data", "--customers", "x"}, {"demo-data", "--end-users"}, {"demo-data", "--customers", "0"}} {
		require.Error(t, app.Run(context.Background(), bad, func(k string) string { return env[k] }, io.Discard, io.Discard), bad)
	}
}

// BenchmarkDemoData times `latchkey demo-data --customers 100 --end-users
// 100000` per database and prints it. Run:
//
//	go test -run '^$' -bench DemoData -benchtime 1x ./app/
func BenchmarkDemoData(b *testing.B) {
	for _, dia := range dbtest.Dialects {
		b.Run(string(dia), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				env := apptest.New(b, dia, apptest.Options{NoWorkers: true})
				env.Setup("Acme IT")
				b.StartTimer()
				res, err := app.DemoData(context.Background(), env.App, app.DemoOptions{}, io.Discard)
				require.NoError(b, err)
				require.Equal(b, 100_000, res.EndUsers)
				fmt.Printf("demo-data on %s: %d customers, %d end users (largest %d) in %s (%.0f end users/s)\n",
					dia, res.Customers, res.EndUsers, res.Largest, res.Elapsed.Round(time.Millisecond), float64(res.EndUsers)/res.Elapsed.Seconds())
			}
		})
	}
}
