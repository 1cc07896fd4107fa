package notice_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/notice"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

// BenchmarkSweep plans a day of expiry notices for a tenant with many end
// users, 10% of them inside the 10-day window, spread over 1,000 customers,
// and compares it with River's bare InsertManyTx of the same number of
// send_notice jobs (same options, same batch size, one transaction per
// batch) in the same run: three rounds of both, each on empty notices and
// river_job tables, medians reported (the machine may be busy).
//
// Sizes: 1,000,000 end users on PostgreSQL, 100,000 on SQLite; override
// with LATCHKEY_BENCH_NOTICE_USERS. Peak memory is the largest HeapInuse
// seen by a goroutine reading runtime.MemStats every 10 ms during the
// sweep (after a GC before it), less HeapInuse before it.
//
//	LATCHKEY_TEST_STRICT=1 go test ./app/notice/ -run '^$' -bench BenchmarkSweep -benchtime 1x -timeout 60m
func BenchmarkSweep(b *testing.B) {
	for _, dia := range dbtest.Dialects {
		b.Run(string(dia), func(b *testing.B) {
			users := 1_000_000
			if dia == db.SQLite {
				users = 100_000
			}
			if v, err := strconv.Atoi(os.Getenv("LATCHKEY_BENCH_NOTICE_USERS")); err == nil && v > 0 {
				users = v
			}
			benchSweep(b, dia, users)
		})
	}
}

const benchCustomers = 1000

func benchSweep(b *testing.B, dia db.Dialect, users int) {
	ctx := context.Background()
	d := dbtest.New(b, dia)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	q, err := db.NewQueue(d, &river.Config{})
	require.NoError(b, err)
	key, err := secret.GenerateKey()
	require.NoError(b, err)
	keys, err := secret.ParseKeys(key)
	require.NoError(b, err)
	clk := func() time.Time { return now }
	link := func(p string) string { return "https://latchkey.test" + p }
	svc := notice.New(notice.Deps{DB: d, Jobs: q, Mail: notify.NewQueue(q, keys, clk), SMS: sms.NewQueue(q, keys, clk),
		Push: webpush.NewQueue(q, keys, link, clk), Link: link, Now: clk})

	tn := tenant.New(now)
	tn.Name, tn.NotificationHour = "Acme IT", 0 // UTC, due at once
	require.NoError(b, tenant.Insert(ctx, d.Bun, tn))
	start := time.Now()
	inWindow := seedBench(b, d, tn.ID, users, now)
	b.Logf("%s: seeded %d end users (%d inside the window) in %s", dia, users, inWindow, time.Since(start).Round(time.Millisecond))

	reset := func() {
		for _, tbl := range []string{"notices", "notice_runs", "river_job"} {
			_, err := d.Bun.ExecContext(ctx, "DELETE FROM "+tbl)
			require.NoError(b, err)
		}
		if dia == db.Postgres {
			_, err := d.Bun.ExecContext(ctx, "VACUUM ANALYZE notices, notice_runs, river_job")
			require.NoError(b, err)
		}
	}
	// Three rounds, each on empty tables: River's bare InsertManyTx, then
	// the sweep; the figures are the medians, the peak the highest.
	const rounds = 3
	var sweeps, bares []time.Duration
	var peak, before uint64
	var planned int
	b.ResetTimer()
	for range b.N {
		for range rounds {
			b.StopTimer()
			reset()
			bares = append(bares, bareInsertMany(b, d, q, inWindow))
			reset()
			took, pk, bf, n := measureSweep(b, svc)
			sweeps, planned = append(sweeps, took), n
			peak, before = max(peak, pk), bf
		}
	}
	b.StopTimer()
	require.Equal(b, inWindow, planned)
	sweep, bare := median(sweeps), median(bares)
	n, err := d.Bun.NewSelect().Table("river_job").Where("kind = 'send_notice'").Count(ctx)
	require.NoError(b, err)
	require.EqualValues(b, planned, n)
	ratio := sweep.Seconds() / bare.Seconds()
	b.ReportMetric(sweep.Seconds(), "sweep-s")
	b.ReportMetric(bare.Seconds(), "insertmany-s")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(planned), "notices")
	fmt.Printf("notice sweep on %s: %d end users, %d notices planned and enqueued in %s (%.0f/s; rounds %s); River's bare InsertManyTx of %d jobs: %s (rounds %s); ratio %.2f×; heap in use: %.1f MB before, peak %.1f MB (+%.1f MB)\n",
		dia, users, planned, sweep.Round(time.Millisecond), float64(planned)/sweep.Seconds(), roundsText(sweeps), planned, bare.Round(time.Millisecond), roundsText(bares), ratio,
		float64(before)/(1<<20), float64(peak)/(1<<20), (float64(peak)-float64(before))/(1<<20))
}

// bareInsertMany inserts n send_notice jobs with River's InsertManyTx
// alone: the sweep's job options and batch size, one transaction a batch.
func bareInsertMany(b *testing.B, d *db.DB, q *db.Queue, n int) time.Duration {
	ctx := context.Background()
	t0 := time.Now()
	const batch = 2000 // Deps.BatchSize's default
	params := make([]river.InsertManyParams, 0, batch)
	for i := 0; i < n; i += batch {
		params = params[:0]
		for j := i; j < min(i+batch, n); j++ {
			params = append(params, river.InsertManyParams{Args: jobargs.SendNotice{NoticeID: db.NewID()}, InsertOpts: &river.InsertOpts{
				MaxAttempts: 5, Priority: 3, UniqueOpts: river.UniqueOpts{ByArgs: true}}})
		}
		require.NoError(b, d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			_, err := q.InsertManyTx(ctx, tx, params)
			return err
		}))
	}
	return time.Since(t0)
}

// measureSweep runs one sweep and returns its time, the peak HeapInuse
// sampled every 10 ms while it ran, HeapInuse before it (after a GC) and
// how many notices it planned.
func measureSweep(b *testing.B, svc *notice.Service) (time.Duration, uint64, uint64, int) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var maxInuse atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > maxInuse.Load() {
				maxInuse.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	b.StartTimer()
	t0 := time.Now()
	res, err := svc.Sweep(context.Background())
	d := time.Since(t0)
	b.StopTimer()
	close(stop)
	wg.Wait()
	require.NoError(b, err)
	require.Equal(b, benchCustomers, res.Customers)
	return d, maxInuse.Load(), ms.HeapInuse, res.Planned
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// seedBench inserts users end users of the tenant over benchCustomers
// customers with bulk SQL (generate_series on PostgreSQL, a recursive CTE
// on SQLite): all eligible (self-serve on, email and mobile), every tenth
// one's password expiring within today and 10 days (spread over the days
// and the seconds of the day), the others' in 30 to 120 days; every
// customer has as many of each. It returns how many are inside the window.
func seedBench(b *testing.B, d *db.DB, tenantID string, users int, now time.Time) int {
	ctx := context.Background()
	day0 := now.Truncate(24 * time.Hour)
	_, err := d.Bun.ExecContext(ctx, sqlFor(d.Dialect,
		`INSERT INTO customers (id, tenant_id, name, created_at, updated_at)
		SELECT 'benchcust' || lpad(CAST(g AS TEXT), 17, '0'), ?, 'Customer ' || g, ?, ?
		FROM generate_series(0, ?) AS g`,
		`WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM s WHERE g < ?)
		INSERT INTO customers (id, tenant_id, name, created_at, updated_at)
		SELECT 'benchcust' || substr('00000000000000000' || g, -17), ?, 'Customer ' || g, ?, ? FROM s`),
		orderArgs(d.Dialect, []any{tenantID, now, now, benchCustomers - 1}, []any{benchCustomers - 1, tenantID, now, now})...)
	require.NoError(b, err)
	// Expiry: g % 10 = 0 inside the window (day (g / 10) % 11, second g % 86400),
	// else 30 + g % 90 days ahead.
	const chunk = 200_000
	for lo := 1; lo <= users; lo += chunk {
		hi := min(lo+chunk-1, users)
		if d.Dialect == db.Postgres {
			_, err = d.Bun.ExecContext(ctx, `INSERT INTO end_users (id, tenant_id, customer_id, username, first_name, last_name, email, mobile,
				source, external_id, self_serve_enabled, password_expires_at, password_last_set_at, created_at, updated_at)
			SELECT 'benchuser' || lpad(g::text, 17, '0'), ?, 'benchcust' || lpad(((g / 10) % ?)::text, 17, '0'), 'user' || g, 'First', 'Last' || g,
				'user' || g || '@example.com', '+1415' || lpad((g % 10000000)::text, 7, '0'), 'ad', 'guid-' || g, TRUE, e, e - interval '90 days', ?, ?
			FROM generate_series(?::int, ?::int) AS g,
				LATERAL (SELECT CASE WHEN g % 10 = 0 THEN ?::timestamptz + make_interval(days => (g / 10) % 11, secs => g % 86400)
					ELSE ?::timestamptz + make_interval(days => 30 + g % 90, secs => g % 86400) END AS e) AS x`,
				tenantID, benchCustomers, now, now, lo, hi, day0, day0)
		} else {
			_, err = d.Bun.ExecContext(ctx, `WITH RECURSIVE s(g) AS (SELECT ? UNION ALL SELECT g + 1 FROM s WHERE g < ?),
				x(g, e) AS (SELECT g, CASE WHEN g % 10 = 0 THEN strftime('%Y-%m-%d %H:%M:%S', ?, '+' || ((g / 10) % 11) || ' days', '+' || (g % 86400) || ' seconds')
					ELSE strftime('%Y-%m-%d %H:%M:%S', ?, '+' || (30 + g % 90) || ' days', '+' || (g % 86400) || ' seconds') END || '+00:00' FROM s)
			INSERT INTO end_users (id, tenant_id, customer_id, username, first_name, last_name, email, mobile,
				source, external_id, self_serve_enabled, password_expires_at, password_last_set_at, created_at, updated_at)
			SELECT 'benchuser' || substr('00000000000000000' || g, -17), ?, 'benchcust' || substr('00000000000000000' || ((g / 10) % ?), -17),
				'user' || g, 'First', 'Last' || g, 'user' || g || '@example.com', '+1415' || substr('0000000' || (g % 10000000), -7), 'ad', 'guid-' || g, TRUE,
				e, strftime('%Y-%m-%d %H:%M:%S', e, '-90 days') || '+00:00', ?, ?
			FROM x`,
				lo, hi, day0.Format("2006-01-02 15:04:05"), day0.Format("2006-01-02 15:04:05"), tenantID, benchCustomers, now, now)
		}
		require.NoError(b, err)
	}
	if d.Dialect == db.Postgres {
		// As autovacuum would after a bulk load (Latchkey never runs
		// ANALYZE on SQLite, so neither does the benchmark).
		_, err = d.Bun.ExecContext(ctx, "VACUUM ANALYZE end_users")
		require.NoError(b, err)
	}
	return users / 10
}

func roundsText(ds []time.Duration) string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond).String()
	}
	return strings.Join(out, ", ")
}

func sqlFor(dia db.Dialect, pg, lite string) string {
	if dia == db.Postgres {
		return pg
	}
	return lite
}

func orderArgs(dia db.Dialect, pg, lite []any) []any {
	if dia == db.Postgres {
		return pg
	}
	return lite
}
