package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app"
	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// Figures the issue names for the end-user grid.
const (
	gridEndUsers   = 100_000
	gridBulkUsers  = 10_000
	gridSamples    = 300 // sequential requests per latency figure
	gridClients    = 32
	gridPerClient  = 25
	gridHealthEach = 200
)

// gridBenchView is the benchmarked grid page: 50 rows, one filter, one sort.
const gridBenchView = "/end-users?status=registered&sort=expires"

// BenchmarkGrid seeds a tenant with 100,000 end users (demo data: one
// customer of exactly 10,000, the rest over 99 more) on each database, then
// prints the grid's figures: p50/p95 latency of a page with a filter and a
// sort (sequential requests on a warm server), SQL statements per request,
// throughput at 32 concurrent clients against /healthz in the same run, and
// "select all matching" + enable for the 10,000 end users of one customer.
// Run: go test -run '^$' -bench Grid -benchtime 1x ./app/
func BenchmarkGrid(b *testing.B) {
	for _, dia := range dbtest.Dialects {
		b.Run(string(dia), func(b *testing.B) { benchGrid(b, dia) })
	}
}

func benchGrid(b *testing.B, dia db.Dialect) {
	ctx := context.Background()
	env := apptest.New(b, dia, apptest.Options{NoWorkers: true})
	f := env.Setup("Bench MSP")
	// A service of the benchmark's own, made before the server gets requests
	// (it adds a query hook), to time the bulk update without HTTP.
	svc := enduser.NewGridService(env.App.DB, time.Now)
	start := time.Now()
	r1, err := app.DemoData(ctx, env.App, app.DemoOptions{Customers: 1, EndUsers: gridBulkUsers, Seed: 1}, io.Discard)
	require.NoError(b, err)
	require.Equal(b, f.Tenant.ID, r1.TenantID)
	_, err = app.DemoData(ctx, env.App, app.DemoOptions{Customers: 99, EndUsers: gridEndUsers - gridBulkUsers, Seed: 2}, io.Discard)
	require.NoError(b, err)
	var big string
	require.NoError(b, env.App.DB.Bun.NewSelect().Table("end_users").Column("customer_id").Where("tenant_id = ?", f.Tenant.ID).
		Group("customer_id").Having("count(*) = ?", gridBulkUsers).Limit(1).Scan(ctx, &big))
	if dia == db.Postgres {
		// Autovacuum analyses a freshly loaded table within a minute; do it now.
		_, err = env.App.DB.Bun.ExecContext(ctx, "ANALYZE")
		require.NoError(b, err)
	}
	fmt.Printf("[%s] seeded %d end users over 100 customers in %s\n", dia, gridEndUsers, time.Since(start).Round(time.Millisecond))

	now := env.App.Web.Now()
	flt := enduser.Parse(mustQuery(gridBenchView))
	for _, withCount := range []bool{true, false} {
		fmt.Printf("[%s] EXPLAIN of the grid statement (%s, total counted: %v):\n%s\n", dia, gridBenchView, withCount,
			indent(explain(b, env.App.DB, enduser.GridSQL(env.App.DB.Bun, f.Tenant.ID, flt, now, withCount))))
	}

	c := env.Client()
	c.SignIn(f.Primary.Email)
	get := func(path string, hdr ...string) time.Duration {
		req, err := http.NewRequest(http.MethodGet, env.URL+path, nil)
		require.NoError(b, err)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		t0 := time.Now()
		res, err := c.HTTP.Do(req)
		require.NoError(b, err)
		body := readAll(res)
		d := time.Since(t0)
		require.Equal(b, http.StatusOK, res.StatusCode, "%s: %.300s", path, body)
		return d
	}

	b.ResetTimer()
	// Warm: the seeding's writes have settled, so the page's total is kept
	// (GridService.Page); a few seconds of requests fill the caches.
	for warm := time.Now(); time.Since(warm) < 3*time.Second; {
		get(gridBenchView)
	}
	// Latency, sequential, warm: the benchmarked view and a few others.
	views := []struct{ name, path string }{
		{"status=registered, sort by password expiry (the figure)", gridBenchView},
		{"same, htmx results only", gridBenchView + "#htmx"},
		{"self-serve off, sort by email, page 40", "/end-users?self_serve=off&sort=email&page=40"},
		{"search \"smith\", sort by name", "/end-users?q=smith"},
		{"one customer of 10,000, locked=no, sort by last access desc", "/customers/" + big + "/end-users?locked=no&sort=access&dir=desc"},
	}
	var p95 time.Duration
	for i, v := range views {
		path, hdr := v.path, []string(nil)
		if p, ok := strings.CutSuffix(path, "#htmx"); ok {
			path, hdr = p, []string{"HX-Request", "true", "HX-Target", "eu-results"}
		}
		lat := make([]time.Duration, 0, gridSamples)
		for range gridSamples {
			lat = append(lat, get(path, hdr...))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		p50, p := lat[len(lat)/2], lat[len(lat)*95/100]
		if i == 0 {
			p95 = p
		}
		fmt.Printf("[%s] grid page, %s: p50 %s, p95 %s (%d sequential requests)\n", dia, v.name, p50.Round(10*time.Microsecond), p.Round(10*time.Microsecond), len(lat))
	}
	// The query alone.
	lat := make([]time.Duration, 0, gridSamples)
	for range gridSamples {
		t0 := time.Now()
		_, _, err := enduser.Grid(ctx, env.App.DB.Bun, f.Tenant.ID, flt, now) // the total counted every time
		require.NoError(b, err)
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("[%s] grid statement alone, total counted every time (enduser.Grid): p50 %s, p95 %s\n", dia, lat[len(lat)/2].Round(10*time.Microsecond), lat[len(lat)*95/100].Round(10*time.Microsecond))

	// Statements per request (workers are off: nothing else talks to the database).
	// Fewest and most over a few requests: the session records activity once a
	// minute, which adds a write to one request in many.
	stmts := func(path string, hdr ...string) (lo, hi int64) {
		lo = 1 << 30
		for range 5 {
			before := env.Statements()
			get(path, hdr...)
			n := env.Statements() - before
			lo, hi = min(lo, n), max(hi, n)
		}
		return lo, hi
	}
	fullLo, fullHi := stmts(gridBenchView)
	partLo, partHi := stmts(gridBenchView, "HX-Request", "true", "HX-Target", "eu-results")
	custLo, custHi := stmts("/customers/" + big + "/end-users?status=registered")
	fmt.Printf("[%s] SQL statements per grid request (session store included): full page %d–%d, htmx results %d–%d, a customer's grid %d–%d\n",
		dia, fullLo, fullHi, partLo, partHi, custLo, custHi)
	full := fullLo

	// Throughput at 32 concurrent clients, against /healthz in the same run.
	health := gridLoad(b, c.HTTP, env.URL+"/healthz", gridHealthEach)
	grid := gridLoad(b, c.HTTP, env.URL+gridBenchView, gridPerClient)
	fmt.Printf("[%s] %d concurrent clients: grid %.0f req/s (p50 %s, p95 %s, %d requests); /healthz %.0f req/s (p50 %s, p95 %s, %d requests); ratio 1/%.1f\n",
		dia, gridClients, grid.rps, grid.p50, grid.p95, grid.n, health.rps, health.p50, health.p95, health.n, health.rps/grid.rps)

	// "Select all matching" + enable for the 10,000 end users of one customer,
	// then disable, a few times: one UPDATE each.
	form := url.Values{"all": {"1"}, "customer": {big}, "view": {"customer"}}
	var bulk []time.Duration
	var changedNote string
	for i := range 6 {
		on := "0"
		if i%2 == 1 {
			on = "1"
		}
		form.Set("on", on)
		before := env.Statements()
		t0 := time.Now()
		res := c.PostForm("/end-users/bulk/self-serve", form, "HX-Request", "true", "HX-Target", "eu-results")
		d := time.Since(t0)
		require.Equal(b, http.StatusOK, res.StatusCode, res.Body)
		if i > 0 {
			bulk = append(bulk, d)
		}
		changedNote = fmt.Sprintf("%s (%d statements in the request, grid refresh included)", res.Header.Get("HX-Trigger"), env.Statements()-before)
	}
	sort.Slice(bulk, func(i, j int) bool { return bulk[i] < bulk[j] })
	var svcTimes []time.Duration
	actor := audit.Actor{TenantID: f.Tenant.ID, LoginID: f.Primary.ID, Name: f.Primary.Name(), IP: "127.0.0.1"}
	for i := range 4 {
		t0 := time.Now()
		n, err := svc.BulkSetSelfServe(ctx, actor, enduser.Selection{All: true, Filter: enduser.Filter{CustomerID: big}}, i%2 == 1, time.Now())
		require.NoError(b, err)
		require.Greater(b, n, gridBulkUsers*9/10)
		svcTimes = append(svcTimes, time.Since(t0))
	}
	sort.Slice(svcTimes, func(i, j int) bool { return svcTimes[i] < svcTimes[j] })
	b.StopTimer()
	fmt.Printf("[%s] select all matching + enable/disable for %d end users: request median %s, max %s; service call (one UPDATE in its transaction) median %s, max %s; last: %s\n",
		dia, gridBulkUsers, bulk[len(bulk)/2].Round(time.Millisecond), bulk[len(bulk)-1].Round(time.Millisecond),
		svcTimes[len(svcTimes)/2].Round(time.Millisecond), svcTimes[len(svcTimes)-1].Round(time.Millisecond), changedNote)
	b.ReportMetric(float64(p95.Microseconds())/1000, "grid-p95-ms")
	b.ReportMetric(float64(full), "stmts/req")
	b.ReportMetric(grid.rps, "grid-req/s")
	b.ReportMetric(health.rps, "healthz-req/s")
}

// gridLoad sends perClient GETs of u from each of gridClients goroutines
// sharing one signed-in client.
func gridLoad(b *testing.B, c *http.Client, u string, perClient int) loadResult {
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for range gridClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, perClient)
			for range perClient {
				t0 := time.Now()
				res, err := c.Get(u)
				if err != nil {
					b.Error(err)
					return
				}
				readAll(res)
				if res.StatusCode != http.StatusOK {
					b.Errorf("%s answered %d", u, res.StatusCode)
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	require.NotEmpty(b, lat)
	return loadResult{n: len(lat), rps: float64(len(lat)) / el.Seconds(), p50: lat[len(lat)/2].Round(time.Microsecond), p95: lat[len(lat)*95/100].Round(time.Microsecond)}
}

func mustQuery(path string) url.Values {
	u, err := url.Parse(path)
	if err != nil {
		panic(err)
	}
	return u.Query()
}

func explain(b *testing.B, d *db.DB, query string) string {
	prefix := "EXPLAIN QUERY PLAN "
	if d.Dialect == db.Postgres {
		prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
	}
	rows, err := d.SQL.QueryContext(context.Background(), prefix+query)
	require.NoError(b, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(b, err)
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(b, rows.Scan(ptrs...))
		out = append(out, fmt.Sprint(vals[len(vals)-1]))
	}
	require.NoError(b, rows.Err())
	return strings.Join(out, "\n")
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }
