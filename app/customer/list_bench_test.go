package customer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// benchUser is the part of an end_users row the benchmark fills (app/enduser
// imports this package, so its model cannot be used here).
type benchUser struct {
	bun.BaseModel `bun:"table:end_users"`

	ID               string     `bun:"id,pk"`
	TenantID         string     `bun:"tenant_id"`
	CustomerID       string     `bun:"customer_id"`
	Username         string     `bun:"username"`
	Email            string     `bun:"email"`
	Mobile           string     `bun:"mobile"`
	Source           string     `bun:"source"`
	SelfServeEnabled bool       `bun:"self_serve_enabled"`
	Locked           bool       `bun:"locked"`
	FirstAccessAt    *time.Time `bun:"first_access_at"`
	CreatedAt        time.Time  `bun:"created_at"`
	UpdatedAt        time.Time  `bun:"updated_at"`
}

// benchFixture fills a tenant with nc customers of per end users each.
func benchFixture(b *testing.B, d *db.DB, nc, per int) audit.Actor {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	tn := tenant.New(now)
	tn.Name = "Bench MSP"
	require.NoError(b, tenant.Insert(ctx, d.Bun, tn))
	r := rand.New(rand.NewPCG(1, 2))
	cs := make([]*Customer, nc)
	for i := range cs {
		cs[i] = &Customer{ID: db.NewID(), TenantID: tn.ID, Name: fmt.Sprintf("Customer %05d", i), Domains: fmt.Sprintf("c%05d.example.com", i),
			Source: SourceManual, CreatedAt: now, UpdatedAt: now}
	}
	require.NoError(b, d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		for i := 0; i < len(cs); i += 500 {
			batch := cs[i:min(i+500, len(cs))]
			if _, err := tx.NewInsert().Model(&batch).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	}))
	var us []*benchUser
	flush := func() {
		require.NoError(b, d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			for i := 0; i < len(us); i += 500 {
				batch := us[i:min(i+500, len(us))]
				if _, err := tx.NewInsert().Model(&batch).Exec(ctx); err != nil {
					return err
				}
			}
			return nil
		}))
		us = us[:0]
	}
	for _, c := range cs {
		for j := range per {
			u := &benchUser{ID: db.NewID(), TenantID: tn.ID, CustomerID: c.ID, Username: fmt.Sprintf("user%d", j),
				Source: "ad", SelfServeEnabled: r.IntN(2) == 0, Locked: r.IntN(50) == 0, CreatedAt: now, UpdatedAt: now}
			if r.IntN(10) < 9 {
				u.Email = "u@example.com"
			}
			if r.IntN(10) < 7 {
				u.Mobile = "+14155550100"
			}
			if r.IntN(5) == 0 {
				u.FirstAccessAt = &now
			}
			us = append(us, u)
		}
		if len(us) >= 5000 {
			flush()
		}
	}
	flush()
	_, err := d.Bun.ExecContext(ctx, "ANALYZE")
	require.NoError(b, err)
	return audit.Actor{TenantID: tn.ID, LoginID: "bench", Role: "technician"}
}

// Alternatives to listSQL, measured against it.

// pageWindowSQL is the chosen page-first shape with COUNT(*) OVER () as the total.
func pageWindowSQL(f ListFilter, tenantID string) (string, []any) {
	where, wargs := f.where(tenantID)
	q := "WITH page AS (SELECT c.*, COUNT(*) OVER () AS total FROM customers AS c WHERE " + where +
		" ORDER BY " + orderBy(f.Sort, f.Desc, "c.") + " LIMIT ? OFFSET ?)\n" +
		"SELECT page.*, " + correlatedCounts("page.") + " FROM page ORDER BY " + orderBy(f.Sort, f.Desc, "page.")
	return q, append(wargs, f.PerPage, (f.Page-1)*f.PerPage)
}

// pageInSQL takes the page first and aggregates the end users IN the page.
func pageInSQL(f ListFilter, tenantID string) (string, []any) {
	where, wargs := f.where(tenantID)
	q := "WITH page AS (SELECT c.*, (SELECT COUNT(*) FROM customers AS c WHERE " + where + ") AS total FROM customers AS c WHERE " + where +
		" ORDER BY " + orderBy(f.Sort, f.Desc, "c.") + " LIMIT ? OFFSET ?)\n" +
		"SELECT page.*, " + countColumns + " FROM page LEFT JOIN (" + countsSQL(" AND k.customer_id IN (SELECT id FROM page)") +
		") AS s ON s.customer_id = page.id ORDER BY " + orderBy(f.Sort, f.Desc, "page.")
	args := append(append(append([]any{}, wargs...), wargs...), f.PerPage, (f.Page-1)*f.PerPage)
	return q, append(args, tenantID)
}

// joinAllSQL joins the aggregate of all the tenant's end users whatever the sort.
func joinAllSQL(f ListFilter, tenantID string) (string, []any) {
	where, wargs := f.where(tenantID)
	q := "SELECT c.*, " + countColumns + ", COUNT(*) OVER () AS total FROM customers AS c LEFT JOIN (" + countsSQL("") +
		") AS s ON s.customer_id = c.id WHERE " + where + " ORDER BY " + orderBy(f.Sort, f.Desc, "c.") + " LIMIT ? OFFSET ?"
	args := append([]any{tenantID}, wargs...)
	return q, append(args, f.PerPage, (f.Page-1)*f.PerPage)
}

// allCorrelatedSQL computes every matching customer's counts with correlated
// aggregates, then sorts.
func allCorrelatedSQL(f ListFilter, tenantID string) (string, []any) {
	where, wargs := f.where(tenantID)
	q := "SELECT s.*, COUNT(*) OVER () AS total FROM (SELECT c.*, " + correlatedCounts("c.") +
		" FROM customers AS c WHERE " + where + ") AS s ORDER BY " + orderBy(f.Sort, f.Desc, "s.") + " LIMIT ? OFFSET ?"
	return q, append(wargs, f.PerPage, (f.Page-1)*f.PerPage)
}

// BenchmarkList measures a page of the list on 2,000 customers × 50 end
// users (100,000) per dialect and query shape. Run:
//
//	go test -run '^$' -bench List ./app/customer/
func BenchmarkList(b *testing.B) {
	for _, dia := range dbtest.Dialects {
		b.Run(string(dia), func(b *testing.B) {
			d := dbtest.New(b, dia)
			a := benchFixture(b, d, 2000, 50)
			ctx := context.Background()
			run := func(name string, build func() (string, []any)) {
				b.Run(name, func(b *testing.B) {
					q, args := build()
					for b.Loop() {
						var got []listRow
						require.NoError(b, d.Bun.NewRaw(q, args...).Scan(ctx, &got))
						require.Len(b, got, 50)
					}
				})
			}
			byName := ListFilter{Sort: SortName, Page: 3, PerPage: 50}.normalize()
			byCount := ListFilter{Sort: SortEndUsers, Desc: true, Page: 3, PerPage: 50}.normalize()
			run("name/chosen", func() (string, []any) { return listSQL(byName, a.TenantID) })
			run("name/window-total", func() (string, []any) { return pageWindowSQL(byName, a.TenantID) })
			run("name/in-page-aggregate", func() (string, []any) { return pageInSQL(byName, a.TenantID) })
			run("name/join-all", func() (string, []any) { return joinAllSQL(byName, a.TenantID) })
			run("count/chosen", func() (string, []any) { return listSQL(byCount, a.TenantID) })
			run("count/all-correlated", func() (string, []any) { return allCorrelatedSQL(byCount, a.TenantID) })
			run("search/chosen", func() (string, []any) {
				return listSQL(ListFilter{Query: "customer 01", Sort: SortName, PerPage: 50}.normalize(), a.TenantID)
			})
		})
	}
}
