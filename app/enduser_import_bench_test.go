package app_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// importRows is the size of the benchmarked file (the speed target: 10,000
// rows in at most 5 s, validation included).
const importRows = 10_000

// importCSV is a file of n end users with all five columns; variant changes
// every email and mobile, so that importing it over the first is all updates.
func importCSV(n, variant int) []byte {
	var b strings.Builder
	b.WriteString("Username,First Name,Last Name,Email,Mobile\n")
	for i := range n {
		fmt.Fprintf(&b, "user%05d,First%d,Last%d,user%05d.%d@globex.example,+64 21 %03d %04d\n", i, i, i, i, variant, variant, i)
	}
	return []byte(b.String())
}

// BenchmarkEndUserImport times the preview and the apply of a 10,000-row
// end-user CSV on SQLite and PostgreSQL: first into an empty customer (all
// creates), then a changed file (all updates), then the same file again (all
// unchanged). Run: go test -run '^$' -bench EndUserImport -benchtime 1x ./app/
func BenchmarkEndUserImport(b *testing.B) {
	for _, dia := range dbtest.Dialects {
		b.Run(string(dia), func(b *testing.B) {
			d := dbtest.New(b, dia)
			ctx := context.Background()
			q, err := db.NewQueue(d, &river.Config{})
			require.NoError(b, err)
			key, err := secret.GenerateKey()
			require.NoError(b, err)
			keys, err := secret.ParseKeys(key)
			require.NoError(b, err)
			svc := enduser.NewOnboarding(enduser.OnboardingDeps{DB: d, Jobs: q, Mail: notify.NewQueue(q, keys, time.Now),
				Link: func(p string) string { return "http://latchkey.test" + p }})
			now := time.Now().UTC()
			t := tenant.New(now)
			require.NoError(b, tenant.Insert(ctx, d.Bun, t))
			l := &login.Login{ID: db.NewID(), TenantID: t.ID, Email: "tess@acme.example", Role: login.RoleTechnician,
				Status: login.StatusActive, SessionsValidAfter: now, CreatedAt: now, UpdatedAt: now}
			_, err = d.Bun.NewInsert().Model(l).Exec(ctx)
			require.NoError(b, err)
			a := audit.Actor{TenantID: t.ID, LoginID: l.ID, Name: "Tess"}
			first, second := importCSV(importRows, 1), importCSV(importRows, 2)

			step := func(name string, cu *customer.Customer, data []byte, want func(enduser.ImportResult) int) {
				start := time.Now()
				p, err := svc.PreviewImport(ctx, a, cu.ID, bytes.NewReader(data))
				require.NoError(b, err)
				require.Zero(b, p.Rejected)
				preview := time.Since(start)
				start = time.Now()
				res, err := svc.ApplyImport(ctx, a, cu.ID, data, false)
				require.NoError(b, err)
				apply := time.Since(start)
				require.Equal(b, importRows, want(res), "%+v", res)
				fmt.Printf("end-user import %s, %d rows, %s: preview %s, apply %s, total %s\n",
					dia, importRows, name, preview.Round(time.Millisecond), apply.Round(time.Millisecond), (preview + apply).Round(time.Millisecond))
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cu := &customer.Customer{ID: db.NewID(), TenantID: t.ID, Name: fmt.Sprintf("Globex %d", i), Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
				_, err := d.Bun.NewInsert().Model(cu).Exec(ctx)
				require.NoError(b, err)
				step("all new", cu, first, func(r enduser.ImportResult) int { return r.Created })
				step("all updated", cu, second, func(r enduser.ImportResult) int { return r.Updated })
				step("all unchanged", cu, second, func(r enduser.ImportResult) int { return r.Unchanged })
			}
		})
	}
}
