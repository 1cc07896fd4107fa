package jobs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/config"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

// fakeMailer records envelopes and fails with errs in turn (nil: accept).
type fakeMailer struct {
	mu   sync.Mutex
	sent []notify.Envelope
	errs []error
	// always fails with this error when set
	always error
}

func (f *fakeMailer) Send(_ context.Context, e notify.Envelope) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.always != nil {
		return f.always
	}
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		if err != nil {
			return err
		}
	}
	f.sent = append(f.sent, e)
	return nil
}

func (f *fakeMailer) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.sent) }

type noInserter struct{}

func (noInserter) InsertTx(context.Context, *db.Tx, river.JobArgs, *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return &rivertype.JobInsertResult{}, nil
}

type emailFixture struct {
	d      *db.DB
	w      *sendEmailWorker
	mailer *fakeMailer
	now    time.Time
}

func newEmailFixture(t *testing.T, d *db.DB, smtp bool) *emailFixture {
	f := &emailFixture{d: d, mailer: &fakeMailer{}, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	cfg := config.Config{}
	if smtp {
		cfg.SMTP = config.SMTP{Host: "smtp.msp.example", Port: 587, From: "Latchkey <latchkey@msp.example>", TLS: "starttls"}
	}
	deps := Deps{Config: cfg, DB: d, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return f.now }}
	if smtp {
		deps.Mailer = f.mailer
	}
	f.w = &sendEmailWorker{d: deps}
	return f
}

// queue stores a tenant (once per name) and an email for it, and returns the message id.
func (f *emailFixture) queue(t *testing.T, tenantName string, e notify.Email) string {
	t.Helper()
	ctx := context.Background()
	var tn tenant.Tenant
	err := f.d.Bun.NewSelect().Model(&tn).Where("name = ?", tenantName).Scan(ctx)
	if err != nil {
		tn = *tenant.New(f.now)
		tn.Name = tenantName
		require.NoError(t, tenant.Insert(ctx, f.d.Bun, &tn))
	}
	var id string
	require.NoError(t, f.d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		m, err := notify.NewQueue(noInserter{}, func() time.Time { return f.now }).Email(ctx, tx, tn.ID, "dana@customer.example", "test_kind", e)
		if err != nil {
			return err
		}
		id = m.ID
		return nil
	}))
	return id
}

func (f *emailFixture) work(id string, attempt int) error {
	return f.w.Work(context.Background(), &river.Job[jobargs.SendEmail]{
		JobRow: &rivertype.JobRow{Attempt: attempt, MaxAttempts: 8}, Args: jobargs.SendEmail{MessageID: id},
	})
}

func (f *emailFixture) message(t *testing.T, id string) *notify.Message {
	t.Helper()
	m, err := notify.Load(context.Background(), f.d.Bun, id)
	require.NoError(t, err)
	return m
}

const resetURL = "http://latchkey.test/password/tok3n"

func resetEmail() notify.Email {
	return notify.Email{
		Subject: "Reset your Latchkey password", Preheader: "One link, 30 minutes", Greeting: "Hi Dana,",
		Lines:      []string{"Someone asked to reset the password <b>of</b> your login."},
		ActionText: "Choose a new password", ActionURL: resetURL,
		After: []string{"If you did not ask, ignore this email."},
	}
}

func TestEmailWorkerKeepsOutboxWithoutSMTP(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := newEmailFixture(t, d, false)
		id := f.queue(t, "Acme & Sons IT", resetEmail())
		require.NoError(t, f.work(id, 1))
		m := f.message(t, id)
		require.Equal(t, notify.StatusOutbox, m.Status)
		require.Equal(t, "Reset your Latchkey password", m.Subject)
		require.Contains(t, m.BodyText, "Hi Dana,\n\n")
		require.Contains(t, m.BodyText, "Choose a new password:\n"+resetURL+"\n")
		require.Contains(t, m.BodyText, "Sent by Latchkey for Acme & Sons IT.")
		require.Contains(t, m.BodyHTML, "Acme &amp; Sons IT")
		require.Contains(t, m.BodyHTML, `href="`+resetURL+`"`)
		require.Contains(t, m.BodyHTML, "&lt;b&gt;of&lt;/b&gt;")
		require.NotContains(t, m.BodyHTML, "<b>of</b>")
		require.Contains(t, m.BodyHTML, "One link, 30 minutes")
		require.Nil(t, m.SentAt)

		// Worked again (a duplicate job): nothing changes.
		require.NoError(t, f.work(id, 1))
		require.Equal(t, notify.StatusOutbox, f.message(t, id).Status)
	})
}

func TestEmailWorkerSendsOnce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := newEmailFixture(t, d, true)
		id := f.queue(t, "Acme IT", resetEmail())
		require.NoError(t, f.work(id, 1))
		require.NoError(t, f.work(id, 2)) // a retry or duplicate job after success
		require.Equal(t, 1, f.mailer.count())
		e := f.mailer.sent[0]
		require.Equal(t, "Latchkey <latchkey@msp.example>", e.From)
		require.Equal(t, "dana@customer.example", e.To)
		require.Equal(t, "Reset your Latchkey password", e.Subject)
		require.Equal(t, "latchkey."+id+"@msp.example", e.MessageID)
		require.Contains(t, e.Text, "\n"+resetURL+"\n")
		require.Contains(t, e.HTML, resetURL)

		m := f.message(t, id)
		require.Equal(t, notify.StatusSent, m.Status)
		require.NotNil(t, m.SentAt)
		require.WithinDuration(t, f.now, *m.SentAt, time.Second)
		require.Zero(t, m.Attempts)
		require.Equal(t, e.Text, m.BodyText)
	})
}

func TestEmailWorkerRetriesThenFails(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := newEmailFixture(t, d, true)
		f.mailer.always = errors.New("451 4.3.0 try later")
		id := f.queue(t, "Acme IT", resetEmail())
		for attempt := 1; attempt < 8; attempt++ {
			require.Error(t, f.work(id, attempt))
			m := f.message(t, id)
			require.Equal(t, notify.StatusQueued, m.Status)
			require.Equal(t, attempt, m.Attempts)
			require.Equal(t, "451 4.3.0 try later", m.LastError)
		}
		require.Error(t, f.work(id, 8))
		m := f.message(t, id)
		require.Equal(t, notify.StatusFailed, m.Status)
		require.Equal(t, 8, m.Attempts)
		require.Zero(t, f.mailer.count())
	})
}

func TestEmailWorkerRetryThenSuccess(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := newEmailFixture(t, d, true)
		f.mailer.errs = []error{errors.New("dial tcp: connection refused")}
		id := f.queue(t, "Acme IT", resetEmail())
		require.Error(t, f.work(id, 1))
		require.NoError(t, f.work(id, 2))
		m := f.message(t, id)
		require.Equal(t, notify.StatusSent, m.Status)
		require.Equal(t, 1, m.Attempts)
		require.Equal(t, 1, f.mailer.count())
	})
}

type permErr struct{}

func (permErr) Error() string        { return "550 5.1.1 no such user" }
func (permErr) Is(target error) bool { return target == notify.ErrPermanent }

func TestEmailWorkerPermanentFailureIsNotRetried(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := newEmailFixture(t, d, true)
		f.mailer.always = permErr{}
		id := f.queue(t, "Acme IT", resetEmail())
		err := f.work(id, 1)
		var cancel *river.JobCancelError
		require.ErrorAs(t, err, &cancel)
		m := f.message(t, id)
		require.Equal(t, notify.StatusFailed, m.Status)
		require.Equal(t, "550 5.1.1 no such user", m.LastError)
	})
}

func TestEmailWorkerClaimAfterCrash(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		f := newEmailFixture(t, d, true)
		id := f.queue(t, "Acme IT", resetEmail())
		// An attempt claimed the message and died before recording the outcome.
		ok, err := notify.Claim(ctx, d.Bun, id, notify.Rendered{Subject: "s", Text: "t"}, f.now)
		require.NoError(t, err)
		require.True(t, ok)

		// Soon after: the claim may be live; wait (snooze) rather than send.
		f.now = f.now.Add(30 * time.Second)
		err = f.work(id, 2)
		var snooze *river.JobSnoozeError
		require.ErrorAs(t, err, &snooze)
		require.InDelta(t, (91 * time.Second).Seconds(), snooze.Duration.Seconds(), 1)
		require.Equal(t, notify.StatusSending, f.message(t, id).Status)

		// Past notify.StaleClaim: possibly sent, so given up, never resent.
		f.now = f.now.Add(2 * time.Minute)
		require.NoError(t, f.work(id, 2))
		m := f.message(t, id)
		require.Equal(t, notify.StatusFailed, m.Status)
		require.Equal(t, notify.UnknownDeliveryError, m.LastError)
		require.Zero(t, f.mailer.count())

		require.NoError(t, f.work(id, 3))
		require.Zero(t, f.mailer.count())
	})
}

func TestEmailWorkerOnlyLinksHTTPURLs(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := newEmailFixture(t, d, false)
		e := resetEmail()
		e.ActionURL = "javascript:alert(1)"
		id := f.queue(t, "Acme IT", e)
		require.NoError(t, f.work(id, 1))
		m := f.message(t, id)
		require.NotContains(t, m.BodyHTML, "javascript:")
		require.NotContains(t, m.BodyText, "javascript:")
		require.NotContains(t, m.BodyHTML, "Choose a new password")
	})
}

func TestEmailWorkerMissingMessage(t *testing.T) {
	t.Parallel()
	f := newEmailFixture(t, dbtest.New(t, db.SQLite), true)
	require.NoError(t, f.work("nope", 1))
	require.Equal(t, 30*time.Second, f.w.Timeout(nil))
}

func TestEmailWorkerUnreadableDataFails(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t, db.SQLite)
	f := newEmailFixture(t, d, true)
	id := f.queue(t, "Acme IT", resetEmail())
	_, err := d.Bun.NewUpdate().Table("messages").Set("data = ?", "{not json").Where("id = ?", id).Exec(context.Background())
	require.NoError(t, err)
	err = f.work(id, 1)
	var cancel *river.JobCancelError
	require.ErrorAs(t, err, &cancel)
	m := f.message(t, id)
	require.Equal(t, notify.StatusFailed, m.Status)
	require.True(t, strings.Contains(m.LastError, "rendered"))
	require.Zero(t, f.mailer.count())
}
