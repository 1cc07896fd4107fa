package jobs

import (
	"context"
	"encoding/json"
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
	"github.com/latchkey/latchkey/app/secret"
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
	keys   *secret.Keyring
	now    time.Time
}

func newEmailFixture(t *testing.T, d *db.DB, smtp bool) *emailFixture {
	f := &emailFixture{d: d, mailer: &fakeMailer{}, keys: newKeys(t), now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	cfg := config.Config{}
	if smtp {
		cfg.SMTP = config.SMTP{Host: "smtp.msp.example", Port: 587, From: "Latchkey <latchkey@msp.example>", TLS: "starttls"}
	}
	deps := Deps{Config: cfg, DB: d, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return f.now }, Keys: f.keys}
	if smtp {
		deps.Mailer = f.mailer
	}
	f.w = &sendEmailWorker{d: deps}
	return f
}

// newKeys returns a keyring of one new key.
func newKeys(t *testing.T) *secret.Keyring {
	t.Helper()
	entry, err := secret.GenerateKey()
	require.NoError(t, err)
	kr, err := secret.ParseKeys(entry)
	require.NoError(t, err)
	return kr
}

// tenant stores a tenant (once per name) and returns its id.
func (f *emailFixture) tenant(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	var tn tenant.Tenant
	err := f.d.Bun.NewSelect().Model(&tn).Where("name = ?", name).Scan(ctx)
	if err != nil {
		tn = *tenant.New(f.now)
		tn.Name = name
		require.NoError(t, tenant.Insert(ctx, f.d.Bun, &tn))
	}
	return tn.ID
}

// queueWith stores a tenant (once per name) and an email for it, encrypted
// with keys, and returns the message id.
func (f *emailFixture) queueWith(t *testing.T, keys *secret.Keyring, tenantName string, e notify.Email) string {
	t.Helper()
	tid := f.tenant(t, tenantName)
	var id string
	require.NoError(t, f.d.RunInTx(context.Background(), func(ctx context.Context, tx *db.Tx) error {
		m, err := notify.NewQueue(noInserter{}, keys, func() time.Time { return f.now }).Email(ctx, tx, tid, "dana@customer.example", "test_kind", e)
		if err != nil {
			return err
		}
		id = m.ID
		return nil
	}))
	return id
}

// queue is queueWith the worker's keyring.
func (f *emailFixture) queue(t *testing.T, tenantName string, e notify.Email) string {
	t.Helper()
	return f.queueWith(t, f.keys, tenantName, e)
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

// content is the message as stored, decrypted.
func (f *emailFixture) content(t *testing.T, id string) notify.Content {
	t.Helper()
	c, err := f.message(t, id).Content(f.keys)
	require.NoError(t, err)
	return c
}

// requireSealed fails when a stored column of the message holds the reset
// token or the tenant's name in clear, or is JSON.
func (f *emailFixture) requireSealed(t *testing.T, id string) {
	t.Helper()
	m := f.message(t, id)
	for col, v := range map[string]string{"subject": m.Subject, "data": m.Data, "body_text": m.BodyText, "body_html": m.BodyHTML} {
		require.NotContains(t, v, resetToken, col)
		require.NotContains(t, v, "Reset your", col)
		require.NotContains(t, v, "Acme", col)
		require.False(t, strings.HasPrefix(v, "{"), "%s is JSON", col)
	}
}

const (
	resetToken = "tok3nQ4zL9xW2mR7vB1nK8sD5fG0hJ3c"
	resetURL   = "http://latchkey.test/password/" + resetToken
)

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
		f.requireSealed(t, id)
		m := f.content(t, id)
		require.Equal(t, notify.StatusOutbox, f.message(t, id).Status)
		require.Equal(t, "Reset your Latchkey password", m.Subject)
		require.Equal(t, resetEmail(), m.Email)
		require.Contains(t, m.Text, "Hi Dana,\n\n")
		require.Contains(t, m.Text, "Choose a new password:\n"+resetURL+"\n")
		require.Contains(t, m.Text, "Sent by Latchkey for Acme & Sons IT.")
		require.Contains(t, m.HTML, "Acme &amp; Sons IT")
		require.Contains(t, m.HTML, `href="`+resetURL+`"`)
		require.Contains(t, m.HTML, "&lt;b&gt;of&lt;/b&gt;")
		require.NotContains(t, m.HTML, "<b>of</b>")
		require.Contains(t, m.HTML, "One link, 30 minutes")
		require.Nil(t, f.message(t, id).SentAt)

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
		f.requireSealed(t, id)
		c := f.content(t, id)
		require.Equal(t, e.Text, c.Text)
		require.Equal(t, e.HTML, c.HTML)
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
		ok, err := notify.ClaimEmail(ctx, d.Bun, f.keys, f.message(t, id), notify.Rendered{Subject: "s", Text: "t"}, f.now)
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
		m := f.content(t, id)
		require.NotContains(t, m.HTML, "javascript:")
		require.NotContains(t, m.Text, "javascript:")
		require.NotContains(t, m.HTML, "Choose a new password")
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

func TestEmailWorkerUndecryptableFails(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := newEmailFixture(t, d, true)
		// Encrypted under a key the worker's keyring does not hold (removed).
		id := f.queueWith(t, newKeys(t), "Acme IT", resetEmail())
		err := f.work(id, 1)
		var cancel *river.JobCancelError
		require.ErrorAs(t, err, &cancel)
		require.ErrorIs(t, err, notify.ErrUndecryptable)
		m := f.message(t, id)
		require.Equal(t, notify.StatusFailed, m.Status)
		require.Equal(t, "cannot be decrypted with the configured keys", m.LastError)
		require.Zero(t, f.mailer.count())
	})
}

// legacyEmail stores a queued email the way versions before encryption did
// (JSON data, subject in clear) and returns its id.
func (f *emailFixture) legacyEmail(t *testing.T, tenantName string) string {
	t.Helper()
	e := resetEmail()
	e.Subject = "" // the subject was kept in its column
	data, err := json.Marshal(e)
	require.NoError(t, err)
	m := &notify.Message{
		ID: db.NewID(), TenantID: f.tenant(t, tenantName), Channel: notify.ChannelEmail, Kind: "login_password_reset",
		To: "dana@customer.example", Subject: resetEmail().Subject, Data: string(data), Status: notify.StatusQueued, CreatedAt: f.now,
	}
	_, err = f.d.Bun.NewInsert().Model(m).Exec(context.Background())
	require.NoError(t, err)
	return m.ID
}

func TestEmailWorkerSendsLegacyClearRows(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		for _, smtp := range []bool{true, false} {
			f := newEmailFixture(t, d, smtp)
			id := f.legacyEmail(t, "Acme IT")
			require.NoError(t, f.work(id, 1))
			// Delivered (or kept) with its content, and encrypted on the way.
			f.requireSealed(t, id)
			c := f.content(t, id)
			require.Equal(t, resetEmail(), c.Email)
			require.Contains(t, c.Text, "Choose a new password:\n"+resetURL+"\n")
			require.Contains(t, c.HTML, `href="`+resetURL+`"`)
			if smtp {
				require.Equal(t, notify.StatusSent, f.message(t, id).Status)
				require.Equal(t, 1, f.mailer.count())
				sent := f.mailer.sent[0]
				require.Equal(t, "Reset your Latchkey password", sent.Subject)
				require.Equal(t, c.Text, sent.Text)
				require.Equal(t, c.HTML, sent.HTML)
			} else {
				require.Equal(t, notify.StatusOutbox, f.message(t, id).Status)
			}
		}
	})
}

func TestEmailWorkerNeedsKeys(t *testing.T) {
	t.Parallel()
	f := newEmailFixture(t, dbtest.New(t, db.SQLite), true)
	id := f.queue(t, "Acme IT", resetEmail())
	f.w.d.Keys = nil
	require.ErrorContains(t, f.work(id, 1), "no keyring")
	require.Equal(t, notify.StatusQueued, f.message(t, id).Status, "a wiring mistake does not give the message up")
}
