package jobs

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/app/webpush/pushtest"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

func TestSendPushWorker(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		now := time.Now().UTC()
		key, err := secret.GenerateKey()
		require.NoError(t, err)
		keys, err := secret.ParseKeys(key)
		require.NoError(t, err)
		tn := tenant.New(now)
		require.NoError(t, tenant.Insert(ctx, d.Bun, tn))
		customerID, userID := db.NewID(), db.NewID()
		_, err = d.Bun.NewInsert().Model(&map[string]any{"id": customerID, "tenant_id": tn.ID, "name": "Globex", "created_at": now, "updated_at": now}).
			TableExpr("customers").Exec(ctx)
		require.NoError(t, err)
		_, err = d.Bun.NewInsert().Model(&map[string]any{"id": userID, "tenant_id": tn.ID, "customer_id": customerID, "username": "ann", "created_at": now, "updated_at": now}).
			TableExpr("end_users").Exec(ctx)
		require.NoError(t, err)
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		svc := webpush.NewService(webpush.Deps{DB: d, Keys: keys, Jobs: noInserter{}, AllowAnyEndpoint: true, Log: log,
			Link: func(p string) string { return "http://latchkey.test" + p }})
		srv := pushtest.New(t)
		pub, err := svc.PublicKey(ctx)
		require.NoError(t, err)
		ps := srv.Subscribe(t, pub)
		_, err = svc.Save(ctx, audit.Actor{TenantID: tn.ID, Name: "Ann"}, userID, webpush.SubscriptionInput{Endpoint: ps.Endpoint, P256dh: ps.P256dh, Auth: ps.Auth})
		require.NoError(t, err)
		w := &sendPushWorker{d: Deps{DB: d, Log: log, Push: svc}}
		push := func() string {
			var id string
			require.NoError(t, d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
				ds, err := svc.Queue().Push(ctx, tx, tn.ID, userID, webpush.Payload{Title: "Is this you?"}, time.Minute, webpush.UrgencyHigh)
				if err == nil {
					id = ds[0].MessageID
				}
				return err
			}))
			return id
		}
		work := func(id string, attempt int) error {
			return w.Work(ctx, &river.Job[jobargs.SendPush]{JobRow: &rivertype.JobRow{Attempt: attempt, MaxAttempts: webpush.MaxAttempts},
				Args: jobargs.SendPush{MessageID: id}})
		}

		id := push()
		srv.FailNext(1, 500)
		err = work(id, 1)
		require.Error(t, err)
		var cancel *river.JobCancelError
		require.NotErrorAs(t, err, &cancel)
		require.NoError(t, work(id, 2))
		require.NoError(t, work(id, 3))
		require.Len(t, srv.Messages(), 1)

		srv.Gone(ps.Endpoint, 410)
		id = push()
		require.ErrorAs(t, work(id, 1), &cancel)
		m, err := notify.Load(ctx, d.Bun, id)
		require.NoError(t, err)
		require.Equal(t, webpush.GoneError, m.LastError)
		ok, err := webpush.HasActive(ctx, d.Bun, tn.ID, userID)
		require.NoError(t, err)
		require.False(t, ok, "410 revoked the subscription")
	})
}
