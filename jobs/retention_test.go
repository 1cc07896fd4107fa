package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/config"
	"github.com/latchkey/latchkey/app/notice"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

// TestRetentionJob: the retention job runs at start (a River periodic job)
// and, with LATCHKEY_RETENTION_DAYS=7, deletes finished messages created
// more than 7 days ago by the application's clock and notices of days that
// long past; unfinished messages, pending notices and recent rows stay.
func TestRetentionJob(t *testing.T) {
	t.Parallel()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			env := apptest.New(t, dia, apptest.Options{Configure: func(c *config.Config) { c.RetentionDays = 7 }})
			ctx := context.Background()
			idb := env.App.DB.Bun
			jobDone := func(id int64) bool {
				n, err := idb.NewSelect().Table("river_job").Where("id = ? AND state = 'completed'", id).Count(ctx)
				return err == nil && n == 1
			}
			apptest.WaitFor(t, 30*time.Second, func() bool {
				n, err := idb.NewSelect().Table("river_job").Where("kind = ? AND state = 'completed'", (jobargs.Retention{}).Kind()).Count(ctx)
				return err == nil && n == 1
			}, "retention run at start")

			f := env.Setup("Acme IT")
			now := time.Date(2026, 9, 1, 3, 0, 0, 0, time.UTC)
			env.Clock.Set(now)
			message := func(status string, age time.Duration) string {
				m := &notify.Message{ID: db.NewID(), TenantID: f.Tenant.ID, Channel: notify.ChannelEmail, Kind: "selfserve_code",
					To: "dana@customer.example", Status: status, CreatedAt: now.Add(-age)}
				_, err := idb.NewInsert().Model(m).Exec(ctx)
				require.NoError(t, err)
				return m.ID
			}
			noticeOn := func(day, state string) string {
				n := &notice.Notice{ID: db.NewID(), TenantID: f.Tenant.ID, CustomerID: db.NewID(), EndUserID: db.NewID(),
					Kind: notice.KindExpiry, Day: day, TimeZone: "UTC", State: state, PlannedAt: now}
				_, err := idb.NewInsert().Model(n).Exec(ctx)
				require.NoError(t, err)
				return n.ID
			}
			week := 7 * 24 * time.Hour
			var goneM, keepM, goneN, keepN []string
			for _, st := range notify.Finished {
				goneM = append(goneM, message(st, week+time.Minute), message(st, 90*24*time.Hour))
				keepM = append(keepM, message(st, week-time.Minute))
			}
			keepM = append(keepM, message(notify.StatusQueued, 90*24*time.Hour), message(notify.StatusSending, 90*24*time.Hour))
			// The cut-off is 25 August 03:00 UTC: days before 24 August go.
			goneN = append(goneN, noticeOn("2026-08-23", notice.StateSent), noticeOn("2026-06-01", notice.StateCanceled))
			keepN = append(keepN, noticeOn("2026-08-24", notice.StateSent), noticeOn("2026-06-01", notice.StatePending), noticeOn("2026-09-01", notice.StateSent))

			res, err := env.App.Queue.Insert(ctx, jobargs.Retention{}, nil)
			require.NoError(t, err)
			apptest.WaitFor(t, 30*time.Second, func() bool { return jobDone(res.Job.ID) }, "retention job")

			count := func(table string, ids []string) int {
				n, err := idb.NewSelect().Table(table).Where("id IN (?)", bun.In(ids)).Count(ctx)
				require.NoError(t, err)
				return int(n)
			}
			require.Zero(t, count("messages", goneM))
			require.Equal(t, len(keepM), count("messages", keepM))
			require.Zero(t, count("notices", goneN))
			require.Equal(t, len(keepN), count("notices", keepN))
		})
	}
}
