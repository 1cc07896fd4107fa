package verify_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/verify"
	"github.com/latchkey/latchkey/db/dbtest"
)

// BenchmarkHubAcrossProcesses measures how soon a live panel watching in one
// server process learns of an approval recorded by another process on the
// same database (the hub's poll, DefaultPollInterval), from the start of
// the other process's Respond to the watcher's signal. In one process the
// signal is immediate (BenchmarkVerifyTapToPanel in app/web).
//
//	go test ./app/verify -run '^$' -bench BenchmarkHubAcrossProcesses -benchtime 50x
func BenchmarkHubAcrossProcesses(b *testing.B) {
	for _, dia := range dbtest.Dialects {
		b.Run(string(dia), func(b *testing.B) {
			d := dbtest.New(b, dia)
			f := setup(b, d)
			ctx := context.Background()
			dev, _ := f.enrol(b, true)
			// Two processes: this one watches (default poll interval), the other records the answer.
			deps := verify.Deps{DB: d, Keys: f.keys, Jobs: f.jobs, SMS: f.smsSvc.Queue(), Push: f.push.Queue(),
				Mail: notify.NewQueue(f.jobs, f.keys, f.clock), Now: f.clock}
			mine, other := verify.NewService(deps), verify.NewService(deps)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				// Unanswered pushes are limited: each round is answered, and
				// the clock moves past the hour's five sends.
				f.advance(15 * time.Minute)
				v, err := mine.Start(ctx, f.tech, f.user, verify.MethodPush)
				require.NoError(b, err)
				ch, cancel := mine.Hub().Watch(v.ID, v.Version)
				b.StartTimer()
				t0 := time.Now()
				_, err = other.Respond(ctx, dev, v.ID, verify.Answer{Approve: true})
				require.NoError(b, err)
				<-ch
				lat = append(lat, time.Since(t0))
				b.StopTimer()
				cancel()
			}
			slices.Sort(lat)
			p50, p95 := lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*95/100)]
			b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms")
			b.ReportMetric(0, "ns/op")
			b.Logf("%s: approval in another process → watcher signalled: p50 %s, p95 %s (poll every %s)", dia, p50, p95, verify.DefaultPollInterval)
		})
	}
}
