package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

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
// sort and of a few other views (sequential requests on a warm server),
// fresh "N matching" totals and searches without HTTP, SQL statements per
// request, throughput at 32 concurrent clients against /healthz in the same
// run (three rounds, with the CPU each request used), and "select all
// matching" + enable for the 10,000 end users of one customer (the request,
// then the grid's refresh apart).
// Run: go test -run '^$' -bench 'Grid$' -benchtime 1x ./app/
// (LATCHKEY_GRID_CPUPROFILE=DIR writes a CPU profile of the last round of the
// throughput run; LATCHKEY_GRID_PROFILE_EACH=N makes that round N requests per
// client, for a longer profile.)
func BenchmarkGrid(b *testing.B) {
	for _, dia := range dbtest.Dialects {
		b.Run(string(dia), func(b *testing.B) { benchGrid(b, dia) })
	}
}

func benchGrid(b *testing.B, dia db.Dialect) {
	ctx := context.Background()
	env := apptest.New(b, dia, apptest.Options{NoWorkers: true})
	f := env.Setup("Bench MSP")
	// A service of the benchmark's own, to time the bulk update without HTTP.
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
		// Autovacuum vacuums and analyses a freshly loaded table within a
		// minute (setting hint bits and the visibility map); do it now.
		_, err = env.App.DB.Bun.ExecContext(ctx, "VACUUM ANALYZE")
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
	// Warm: a few seconds of requests fill the database's and Go's caches.
	for warm := time.Now(); time.Since(warm) < 3*time.Second; {
		get(gridBenchView)
	}
	// Latency, sequential, warm: the benchmarked view and a few others.
	views := []struct{ name, path string }{
		{"status=registered, sort by password expiry (the figure)", gridBenchView},
		{"same, htmx results only", gridBenchView + "#htmx"},
		{"sort by email", "/end-users?sort=email"},
		{"self-serve off, sort by email, page 40", "/end-users?self_serve=off&sort=email&page=40"},
		{"search \"smith\", sort by name", "/end-users?q=smith"},
		{"search \"sm\" (two characters: no trigram index), sort by name", "/end-users?q=sm"},
		{"search \"son\" and status=accessed, sort by password expiry", "/end-users?q=son&status=accessed&sort=expires"},
		{"one customer of 10,000, locked=no, sort by last access desc", "/customers/" + big + "/end-users?locked=no&sort=access&dir=desc"},
		{"status=registered, sort by password expiry desc", gridBenchView + "&dir=desc"},
		{"sort by last self-serve access desc", "/end-users?sort=access&dir=desc"},
		{"one customer of 10,000, sort by password expiry desc", "/customers/" + big + "/end-users?sort=expires&dir=desc"},
		{"one customer of 10,000, sort by mobile", "/customers/" + big + "/end-users?sort=mobile"},
		{"sort by mobile", "/end-users?sort=mobile"},
		{"locked=no, sort by source", "/end-users?locked=no&sort=source"},
		{"sort by customer", "/end-users?sort=customer"},
		{"status=registered, sort by customer desc, page 40", "/end-users?status=registered&sort=customer&dir=desc&page=40"},
		{"sort by self-serve (no index keeps this order)", "/end-users?sort=selfserve"},
		{"one customer of 10,000, sort by self-serve (no index keeps this order)", "/customers/" + big + "/end-users?sort=selfserve"},
	}
	var p95 time.Duration
	for i, v := range views {
		path, hdr := v.path, []string(nil)
		if p, ok := strings.CutSuffix(path, "#htmx"); ok {
			path, hdr = p, []string{"HX-Request", "true", "HX-Target", "eu-results"}
		}
		n := gridSamples
		if i > 0 {
			n = gridSamples / 3
		}
		lat := make([]time.Duration, 0, n)
		for range n {
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
	fmt.Printf("[%s] grid statement alone (enduser.Grid, rows and total): p50 %s, p95 %s\n", dia, lat[len(lat)/2].Round(10*time.Microsecond), lat[len(lat)*95/100].Round(10*time.Microsecond))

	// Fresh "N matching" totals (enduser.Count, nothing cached): added up
	// from end_user_counts without a search or an expiry window, counted
	// through an index otherwise.
	timed := func(fn func() int) (p50, p95 time.Duration, n int) {
		lat := make([]time.Duration, 0, 100)
		for range 100 {
			t0 := time.Now()
			n = fn()
			lat = append(lat, time.Since(t0))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return lat[len(lat)/2].Round(10 * time.Microsecond), lat[len(lat)*95/100].Round(10 * time.Microsecond), n
	}
	for _, q := range []string{"", "status=registered", "self_serve=off&source=ad&locked=no", "customer=" + big + "&status=accessed",
		"expiring=7", "expiring=30&status=registered", "q=smith", "q=son&status=accessed", "q=sm"} {
		cf := enduser.Parse(mustQuery("/?" + q))
		p50, p95, n := timed(func() int {
			n, err := enduser.Count(ctx, env.App.DB.Bun, f.Tenant.ID, cf, now)
			require.NoError(b, err)
			return n
		})
		fmt.Printf("[%s] fresh count %q: %d matching, p50 %s, p95 %s\n", dia, q, n, p50, p95)
	}
	// Search alone: a page of 50 and the total (enduser.Grid).
	for _, term := range []string{"smith", "john", "son", "example", "@", "sm", "xq"} {
		sf := enduser.Filter{Query: term}
		p50, p95, n := timed(func() int {
			_, n, err := enduser.Grid(ctx, env.App.DB.Bun, f.Tenant.ID, sf, now)
			require.NoError(b, err)
			return n
		})
		fmt.Printf("[%s] search %q (page of 50 and total): %d matching, p50 %s, p95 %s\n", dia, term, n, p50, p95)
	}

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
	// Three rounds, each /healthz then the grid, for ratios measured side by
	// side (the machine is shared); the CPU each request used, in this
	// process (server and client) and in the PostgreSQL server, says where
	// the time goes whatever else runs.
	dbPID := databaseServerPID(b, env.App.DB)
	var health, grid loadResult
	var rounds [][2]loadResult // /healthz, grid
	var cpuRatios []float64
	// Each client keeps its connection, as a browser does: Go's default
	// transport keeps 2 idle connections per host and closes the rest after
	// each response, so 30 of the 32 clients would dial a new connection
	// per request (which flattered the grid: connection set-up is most of a
	// /healthz request's cost and little of a grid page's).
	c.HTTP.Transport = &http.Transport{MaxIdleConnsPerHost: gridClients, MaxConnsPerHost: gridClients}
	for round := range 3 {
		cpu0 := processCPU(os.Getpid())
		h := gridLoad(b, c.HTTP, env.URL+"/healthz", gridHealthEach)
		cpu1, db1 := processCPU(os.Getpid()), serverCPU(dbPID)
		stopProfile := func() {}
		if round == 2 {
			stopProfile = gridProfile(b, dia)
		}
		each := gridPerClient
		if n, _ := strconv.Atoi(os.Getenv("LATCHKEY_GRID_PROFILE_EACH")); n > 0 && round == 2 {
			each = n
		}
		g := gridLoad(b, c.HTTP, env.URL+gridBenchView, each)
		stopProfile()
		cpu2, db2 := processCPU(os.Getpid()), serverCPU(dbPID)
		perReq := func(d time.Duration, n int) time.Duration { return (d / time.Duration(n)).Round(time.Microsecond) }
		fmt.Printf("[%s] %d concurrent clients, round %d: grid %.0f req/s (p50 %s, p95 %s, %d requests of %d bytes; CPU per request %s here, %s in PostgreSQL); "+
			"/healthz %.0f req/s (p50 %s, p95 %s, %d requests; CPU per request %s); ratio 1/%.1f\n",
			dia, gridClients, round+1, g.rps, g.p50, g.p95, g.n, g.bytes, perReq(cpu2-cpu1, g.n), perReq(db2-db1, g.n),
			h.rps, h.p50, h.p95, h.n, perReq(cpu1-cpu0, h.n), h.rps/g.rps)
		rounds = append(rounds, [2]loadResult{h, g})
		cpuRatios = append(cpuRatios, float64(cpu2-cpu1+db2-db1)/float64(g.n)/(float64(cpu1-cpu0)/float64(h.n)))
	}
	sort.Slice(rounds, func(i, j int) bool {
		return rounds[i][0].rps/rounds[i][1].rps < rounds[j][0].rps/rounds[j][1].rps
	})
	sort.Float64s(cpuRatios)
	health, grid = rounds[1][0], rounds[1][1]
	fmt.Printf("[%s] %d concurrent clients, median of 3 rounds: grid %.0f req/s, /healthz %.0f req/s, ratio 1/%.1f (rounds 1/%.1f to 1/%.1f); "+
		"CPU per grid request over CPU per /healthz request: median %.1f (%.1f to %.1f)\n",
		dia, gridClients, grid.rps, health.rps, health.rps/grid.rps, rounds[0][0].rps/rounds[0][1].rps, rounds[2][0].rps/rounds[2][1].rps,
		cpuRatios[1], cpuRatios[0], cpuRatios[2])

	// "Select all matching" + enable for the 10,000 end users of one customer,
	// then disable, several times: one UPDATE each. The request answers with
	// the count (a toast) and the eu-refresh event; the browser then fetches
	// the grid with a request of its own, timed apart.
	form := url.Values{"all": {"1"}, "customer": {big}, "view": {"customer"}}
	refreshPath := "/customers/" + big + "/end-users?select=none"
	var bulk, refresh []time.Duration
	var changedNote string
	var order []string // each request's time, in order
	log := &statementLog{}
	env.App.DB.Bun.AddQueryHook(log)
	for i := range 12 { // the last one enables
		on := "0"
		if i%2 == 1 {
			on = "1"
		}
		form.Set("on", on)
		before := env.Statements()
		log.start()
		t0 := time.Now()
		res := c.PostForm("/end-users/bulk/self-serve", form, "HX-Request", "true", "HX-Target", "eu-results")
		d := time.Since(t0)
		stmts := log.stop()
		require.Equal(b, http.StatusOK, res.StatusCode, res.Body)
		require.Contains(b, res.Header.Get("HX-Trigger"), "eu-refresh")
		if i > 0 {
			bulk = append(bulk, d)
		}
		order = append(order, fmt.Sprintf("%s %s", map[string]string{"0": "off", "1": "on"}[on], d.Round(time.Millisecond)))
		refresh = append(refresh, get(refreshPath, "HX-Request", "true", "HX-Target", "eu-results"))
		var updates int
		for _, q := range stmts {
			if strings.HasPrefix(q, "UPDATE") && strings.Contains(q, "end_users") {
				updates++
			}
		}
		require.Equal(b, 1, updates, "one UPDATE of end_users: %q", stmts)
		changedNote = fmt.Sprintf("%s; %d statements in the request (session store included), through bun: %s",
			res.Header.Get("HX-Trigger"), env.Statements()-before, strings.Join(firstWords(stmts), ", "))
	}
	sort.Slice(refresh, func(i, j int) bool { return refresh[i] < refresh[j] })
	sort.Slice(bulk, func(i, j int) bool { return bulk[i] < bulk[j] })
	fmt.Printf("[%s] bulk requests in order (the first is a warm-up): %s\n", dia, strings.Join(order, ", "))
	var svcTimes []time.Duration
	actor := audit.Actor{TenantID: f.Tenant.ID, LoginID: f.Primary.ID, Name: f.Primary.Name(), IP: "127.0.0.1"}
	for i := range 4 {
		t0 := time.Now()
		n, err := svc.BulkSetSelfServe(ctx, actor, enduser.Selection{All: true, Filter: enduser.Filter{CustomerID: big}}, i%2 == 1, time.Now())
		require.NoError(b, err)
		require.Greater(b, n.Changed, gridBulkUsers*9/10)
		svcTimes = append(svcTimes, time.Since(t0))
	}
	sort.Slice(svcTimes, func(i, j int) bool { return svcTimes[i] < svcTimes[j] })
	b.StopTimer()
	fmt.Printf("[%s] select all matching + enable/disable for %d end users: request median %s, max %s (%d requests); service call median %s, max %s; the grid's refresh after it: median %s, max %s; last: %s\n",
		dia, gridBulkUsers, bulk[len(bulk)/2].Round(time.Millisecond), bulk[len(bulk)-1].Round(time.Millisecond), len(bulk),
		svcTimes[len(svcTimes)/2].Round(time.Millisecond), svcTimes[len(svcTimes)-1].Round(time.Millisecond),
		refresh[len(refresh)/2].Round(100*time.Microsecond), refresh[len(refresh)-1].Round(100*time.Microsecond), changedNote)
	b.ReportMetric(float64(p95.Microseconds())/1000, "grid-p95-ms")
	b.ReportMetric(float64(full), "stmts/req")
	b.ReportMetric(float64(bulk[len(bulk)/2].Microseconds())/1000, "bulk-ms")
	b.ReportMetric(grid.rps, "grid-req/s")
	b.ReportMetric(health.rps, "healthz-req/s")
}

// statementLog records the statements bun sends between start and stop.
type statementLog struct {
	mu   sync.Mutex
	on   bool
	seen []string
}

func (l *statementLog) start() { l.mu.Lock(); l.on, l.seen = true, nil; l.mu.Unlock() }

func (l *statementLog) stop() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on = false
	return l.seen
}

func (l *statementLog) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}

func (l *statementLog) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.on {
		l.seen = append(l.seen, e.Query)
	}
}

// firstWords shortens statements to their verb and table for a log line.
func firstWords(qs []string) []string {
	out := make([]string, len(qs))
	for i, q := range qs {
		f := strings.Fields(q)
		out[i] = strings.Join(f[:min(len(f), 4)], " ")
	}
	return out
}

// processCPU is the user and system CPU time of process pid and, for the
// PostgreSQL server's postmaster, of its children (0 when /proc cannot say).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces): state is 3,
	// utime 14, stime 15 (clock ticks, 100 per second on Linux).
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// serverCPU is the CPU time of the PostgreSQL postmaster pid and of its
// live children (backends, writers); 0 for SQLite (pid 0).
func serverCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	total := processCPU(pid)
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		child, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			total += processCPU(child)
		}
	}
	return total
}

// databaseServerPID is the PostgreSQL postmaster's pid (the parent of a
// backend), or 0 on SQLite or when it cannot be known.
func databaseServerPID(b *testing.B, d *db.DB) int {
	if d.Dialect != db.Postgres {
		return 0
	}
	var backend int
	require.NoError(b, d.SQL.QueryRowContext(context.Background(), "SELECT pg_backend_pid()").Scan(&backend))
	st, err := os.ReadFile("/proc/" + strconv.Itoa(backend) + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+2:]))
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// gridProfile starts a CPU profile of the throughput run when
// LATCHKEY_GRID_CPUPROFILE names a directory (grid-<dialect>.prof there),
// and returns the function that stops it. Read it with
// go tool pprof -top app.test DIR/grid-sqlite.prof (build app.test with
// go test -c ./app/).
func gridProfile(b *testing.B, dia db.Dialect) func() {
	dir := os.Getenv("LATCHKEY_GRID_CPUPROFILE")
	if dir == "" {
		return func() {}
	}
	out, err := os.Create(filepath.Join(dir, "grid-"+string(dia)+".prof"))
	require.NoError(b, err)
	require.NoError(b, pprof.StartCPUProfile(out))
	return func() {
		pprof.StopCPUProfile()
		require.NoError(b, out.Close())
	}
}

// gridLoad sends perClient GETs of u from each of gridClients goroutines
// sharing one signed-in client.
func gridLoad(b *testing.B, c *http.Client, u string, perClient int) loadResult {
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	var bytesRead atomic.Int64
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
				// Read and drop the body: the load runs in the server's
				// process, and what the client does with a page is not the
				// server's cost (a string per page cost as much CPU as
				// rendering the rows).
				n, err := io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				if err != nil {
					b.Error(err)
					return
				}
				bytesRead.Add(n)
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
	return loadResult{n: len(lat), rps: float64(len(lat)) / el.Seconds(), p50: lat[len(lat)/2].Round(time.Microsecond), p95: lat[len(lat)*95/100].Round(time.Microsecond),
		bytes: int(bytesRead.Load()) / len(lat)}
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
