package jobs

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/sms/twiliotest"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

type smsFixture struct {
	d      *db.DB
	svc    *sms.Service
	w      *sendSMSWorker
	twilio *twiliotest.Server
	tenant string
	mu     sync.Mutex
	now    time.Time
}

func (f *smsFixture) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *smsFixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func newSMSFixture(t *testing.T, d *db.DB) *smsFixture {
	t.Helper()
	ctx := context.Background()
	key, err := secret.GenerateKey()
	require.NoError(t, err)
	keys, err := secret.ParseKeys(key)
	require.NoError(t, err)
	f := &smsFixture{d: d, now: time.Now().UTC().Truncate(time.Second)}
	f.twilio = twiliotest.New(t, twiliotest.Options{})
	tn := tenant.New(f.now)
	require.NoError(t, tenant.Insert(ctx, d.Bun, tn))
	f.tenant = tn.ID
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.svc = sms.NewService(sms.Deps{DB: d, Keys: keys, Jobs: noInserter{}, APIURL: f.twilio.URL, Now: f.clock, Log: log,
		Link: func(p string) string { return "http://latchkey.test" + p }})
	require.NoError(t, f.svc.SaveSettings(ctx, audit.Actor{TenantID: tn.ID, Role: "primary"}, sms.SettingsInput{
		AccountSID: f.twilio.AccountSID, AuthToken: f.twilio.AuthToken, FromNumber: "+14155550100",
	}))
	f.w = &sendSMSWorker{d: Deps{DB: d, Log: log, SMS: f.svc}}
	return f
}

func (f *smsFixture) queue(t *testing.T, expires time.Time) string {
	t.Helper()
	var id string
	require.NoError(t, f.d.RunInTx(context.Background(), func(ctx context.Context, tx *db.Tx) error {
		m, err := f.svc.Queue().SMS(ctx, tx, f.tenant, "+14155550123", "verification_code", "Your code is 482913", sms.Options{ExpiresAt: expires})
		if err != nil {
			return err
		}
		id = m.ID
		return nil
	}))
	return id
}

func (f *smsFixture) work(id string, attempt int) error {
	return f.w.Work(context.Background(), &river.Job[jobargs.SendSMS]{
		JobRow: &rivertype.JobRow{Attempt: attempt, MaxAttempts: sms.MaxAttempts}, Args: jobargs.SendSMS{MessageID: id},
	})
}

func (f *smsFixture) status(t *testing.T, id string) *notify.Message {
	t.Helper()
	m, err := notify.Load(context.Background(), f.d.Bun, id)
	require.NoError(t, err)
	return m
}

func TestSendSMSAtMostOnce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := newSMSFixture(t, d)
		ctx := context.Background()

		// Sent once; a duplicate job or a retry sends nothing more.
		id := f.queue(t, f.now.Add(5*time.Minute))
		require.NoError(t, f.work(id, 1))
		require.NoError(t, f.work(id, 2))
		require.Len(t, f.twilio.Messages(), 1)
		require.Equal(t, notify.StatusSent, f.status(t, id).Status)

		// A worker killed after its claim: the next attempt waits while the
		// claim may be live, then gives the message up; it is never resent.
		id = f.queue(t, f.now.Add(5*time.Minute))
		ok, err := notify.Claim(ctx, d.Bun, id, notify.Rendered{}, f.clock())
		require.NoError(t, err)
		require.True(t, ok)
		f.advance(20 * time.Second)
		var snooze *river.JobSnoozeError
		require.ErrorAs(t, f.work(id, 2), &snooze)
		require.Equal(t, notify.StatusSending, f.status(t, id).Status)
		f.advance(notify.StaleClaim)
		var cancel *river.JobCancelError
		require.ErrorAs(t, f.work(id, 2), &cancel)
		m := f.status(t, id)
		require.Equal(t, notify.StatusFailed, m.Status)
		require.Equal(t, notify.UnknownDeliveryError, m.LastError)
		require.NoError(t, f.work(id, 3))
		require.Len(t, f.twilio.Messages(), 1)

		// Expired before its job ran: refused, never sent, not retried.
		id = f.queue(t, f.clock().Add(time.Minute))
		f.advance(2 * time.Minute)
		require.ErrorAs(t, f.work(id, 1), &cancel)
		m = f.status(t, id)
		require.Equal(t, notify.StatusFailed, m.Status)
		require.Equal(t, sms.ExpiredError, m.LastError)
		require.Len(t, f.twilio.Messages(), 1)

		// Twilio's 5xx: River retries (plain error) until the last attempt.
		id = f.queue(t, time.Time{})
		f.twilio.FailNext(3, 503, 20503, "Service Unavailable")
		err = f.work(id, 1)
		require.Error(t, err)
		require.NotErrorAs(t, err, &cancel)
		require.Error(t, f.work(id, 2))
		require.ErrorAs(t, f.work(id, 3), &cancel)
		m = f.status(t, id)
		require.Equal(t, notify.StatusFailed, m.Status)
		require.Equal(t, 3, m.Attempts)
		require.Len(t, f.twilio.Messages(), 1)
		require.Equal(t, 10*time.Second, f.w.Timeout(nil))
	})
}
