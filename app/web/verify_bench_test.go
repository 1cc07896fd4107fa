package web_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// BenchmarkVerifyTapToPanel measures the latency from the end user's
// approve POST (on the enrolled phone) to the "panel" event on the
// technician's live stream (server-sent events), through the real router,
// sessions, database and hub, on each database. The push service is local
// (pushtest) and not on the measured path. Reports p50 and p95 in ms; the
// target is p95 ≤ 300 ms.
//
//	go test ./app/web -run '^$' -bench BenchmarkVerifyTapToPanel -benchtime 200x
func BenchmarkVerifyTapToPanel(b *testing.B) {
	for _, dia := range dbtest.Dialects {
		b.Run(string(dia), func(b *testing.B) { benchTapToPanel(b, dia) })
	}
}

func benchTapToPanel(b *testing.B, dia db.Dialect) {
	s := vfNew(b, dia, nil)
	// A fresh end user every few rounds: at most five sends per end user per hour.
	const perUser = 4
	type target struct {
		user  *enduser.EndUser
		phone *apptest.Client
	}
	targets := make([]target, 0, b.N/perUser+1)
	for i := 0; i <= b.N/perUser; i++ {
		u := vfEndUser(b, s.env, s.f.Tenant.ID, fmt.Sprintf("tap%05d", i))
		phone, _ := s.enrol(b, u, true)
		targets = append(targets, target{u, phone})
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		tg := targets[i/perUser]
		res := s.tc.PostForm("/end-users/"+tg.user.ID+"/verify", url.Values{"method": {"push"}}, htmx("#verify-panel")...)
		require.Equal(b, http.StatusOK, res.StatusCode, res.Body)
		id := vfID(b, res.Body)
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.env.URL+"/end-users/"+tg.user.ID+"/verify/"+id+"/events?v=1", nil)
		stream, err := s.tc.HTTP.Do(req)
		require.NoError(b, err)
		require.Equal(b, http.StatusOK, stream.StatusCode)
		arrived := make(chan time.Time, 1)
		go func() {
			r := bufio.NewReader(stream.Body)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					close(arrived)
					return
				}
				if strings.HasPrefix(line, "event: panel") {
					arrived <- time.Now()
					return
				}
			}
		}()
		// The stream is registered with the hub once its headers are out.
		apptest.WaitFor(b, 5*time.Second, func() bool { return s.env.App.Web.Verify.Hub().Watching() >= 1 }, "stream watching")
		b.StartTimer()
		t0 := time.Now()
		res = tg.phone.PostForm("/self-serve/verify/"+id, url.Values{"answer": {"approve"}})
		at, ok := <-arrived
		b.StopTimer()
		require.Equal(b, http.StatusSeeOther, res.StatusCode, res.Body)
		require.True(b, ok, "no panel event")
		lat = append(lat, at.Sub(t0))
		cancel()
		stream.Body.Close()
		apptest.WaitFor(b, 5*time.Second, func() bool { return s.env.App.Web.Verify.Hub().Watching() == 0 }, "stream closed")
	}
	slices.Sort(lat)
	p50, p95 := lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*95/100)]
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms")
	b.ReportMetric(0, "ns/op")
	b.Logf("%s: approve POST → technician's SSE event over %d rounds: p50 %s, p95 %s, max %s", dia, len(lat), p50, p95, lat[len(lat)-1])
}

// BenchmarkVerifyStarts measures verifications started per second through
// the router (POST /end-users/:id/verify, alternating SMS and email codes,
// 8 technicians' clients at once), with SMS and email going to the outbox,
// and how fast the send jobs then put them there.
//
//	go test ./app/web -run '^$' -bench BenchmarkVerifyStarts -benchtime 2000x
func BenchmarkVerifyStarts(b *testing.B) {
	for _, dia := range dbtest.Dialects {
		b.Run(string(dia), func(b *testing.B) { benchStarts(b, dia) })
	}
}

func benchStarts(b *testing.B, dia db.Dialect) {
	s := vfNew(b, dia, nil)
	ctx := context.Background()
	// Each tenant may send sms.DefaultDailyLimit (500) text messages a day,
	// so every shard of 800 starts (400 SMS) has a tenant of its own, with
	// one end user per two starts (five sends per end user per hour at most).
	const shardSize, clients = 800, 8
	type shard struct {
		tenantID string
		users    []*enduser.EndUser
		tcs      [clients]*apptest.Client
	}
	shards := make([]*shard, (b.N+shardSize-1)/shardSize)
	now := time.Now().UTC()
	for k := range shards {
		f := s.f
		if k > 0 {
			f = s.env.Setup(fmt.Sprintf("Bench MSP %d", k))
		}
		tech := s.env.CreateLogin(f, "technician", fmt.Sprintf("bench%d@acmeit.example", k))
		sh := &shard{tenantID: f.Tenant.ID}
		cu := vfEndUser(b, s.env, f.Tenant.ID, fmt.Sprintf("bench-first-%d", k))
		for i := range shardSize / 2 {
			sh.users = append(sh.users, &enduser.EndUser{ID: db.NewID(), TenantID: f.Tenant.ID, CustomerID: cu.CustomerID,
				Username: fmt.Sprintf("start%06d", i), FirstName: "Bench", LastName: fmt.Sprint(i), Email: fmt.Sprintf("start%06d@globex.example", i),
				Mobile: fmt.Sprintf("+1415555%04d", i), SelfServeEnabled: true, Source: enduser.SourceManual, CreatedAt: now, UpdatedAt: now})
		}
		_, err := s.env.App.DB.Bun.NewInsert().Model(&sh.users).Exec(ctx)
		require.NoError(b, err)
		for w := range sh.tcs {
			sh.tcs[w] = s.env.Client()
			sh.tcs[w].SignIn(tech.Email)
		}
		shards[k] = sh
	}
	countMessages := func(status string) int {
		q := s.env.App.DB.Bun.NewSelect().Model((*notify.Message)(nil)).Where("channel IN ('sms', 'email')")
		if status != "" {
			q = q.Where("status = ?", status)
		}
		c, err := q.Count(ctx)
		require.NoError(b, err)
		return int(c)
	}
	var next, failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				sh := shards[i/shardSize]
				j := i % shardSize
				method := "sms"
				if j%2 == 1 {
					method = "email"
				}
				res := sh.tcs[w].PostForm("/end-users/"+sh.users[j/2].ID+"/verify", url.Values{"method": {method}}, htmx("#verify-panel")...)
				if res.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	b.StopTimer()
	require.Zero(b, failed.Load(), "refused starts")
	require.Equal(b, b.N, countMessages(""))
	apptest.WaitFor(b, 10*time.Minute, func() bool { return countMessages(notify.StatusOutbox) == b.N }, "every message in the outbox")
	all := time.Since(start)
	b.ReportMetric(float64(b.N)/took.Seconds(), "starts/s")
	b.ReportMetric(float64(b.N)/all.Seconds(), "in-outbox/s")
	b.ReportMetric(0, "ns/op")
	b.Logf("%s: %d verifications started in %s (%.0f/s, %d clients); all %d messages in the outbox after %s (%.0f/s)",
		dia, b.N, took.Round(time.Millisecond), float64(b.N)/took.Seconds(), clients, b.N, all.Round(time.Millisecond), float64(b.N)/all.Seconds())
}
