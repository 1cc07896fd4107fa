package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// outboxEach runs fn against a fresh application (workers on, no SMTP) per database engine.
func outboxEach(t *testing.T, fn func(t *testing.T, env *apptest.Env)) {
	t.Helper()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			fn(t, apptest.New(t, dia))
		})
	}
}

// insertMessage stores a rendered message for the tenant directly.
func insertMessage(t *testing.T, env *apptest.Env, tenantID, to, subject string, created time.Time) *notify.Message {
	t.Helper()
	m := &notify.Message{
		ID: db.NewID(), TenantID: tenantID, Channel: "email", Kind: "test_kind", To: to, Subject: subject,
		BodyText: "Hello,\n\nOpen https://latchkey.test/x/" + subject + ".\n", BodyHTML: "<p>Hello</p>", Data: "{}",
		Status: notify.StatusOutbox, CreatedAt: created.UTC(),
	}
	_, err := env.App.DB.Bun.NewInsert().Model(m).Exec(context.Background())
	require.NoError(t, err)
	return m
}

// resetOf requests a password reset for email and waits until its message is rendered.
func resetOf(t *testing.T, env *apptest.Env, email string) *notify.Message {
	t.Helper()
	res := env.Client().PostForm("/forgot", url.Values{"email": {email}})
	require.Equal(t, http.StatusOK, res.StatusCode)
	var m notify.Message
	apptest.WaitFor(t, 20*time.Second, func() bool {
		err := env.App.DB.Bun.NewSelect().Model(&m).Where("to_addr = ? AND kind = ?", email, "login_password_reset").
			OrderExpr("created_at DESC").Limit(1).Scan(context.Background())
		return err == nil && m.Status == notify.StatusOutbox
	}, "reset email for %s in the outbox", email)
	return &m
}

var resetLinkRe = regexp.MustCompile(`<a href="(http://latchkey\.test/password/[^"]+)"[^>]*data-testid="message-text-link"`)

func TestOutboxShowsRenderedMessageWithLink(t *testing.T) {
	t.Parallel()
	outboxEach(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		m := resetOf(t, env, f.Primary.Email)
		c := env.Client()
		c.SignIn(f.Primary.Email)

		res := c.Get("/settings/outbox")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="message-`+m.ID+`"`)
		require.Contains(t, res.Body, "Reset your Latchkey password")
		require.Contains(t, res.Body, "In outbox")
		require.Contains(t, res.Body, `data-testid="email-banner"`)

		res = c.Get("/settings/outbox/" + m.ID)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		require.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"))
		require.Contains(t, res.Body, `hx-history="false"`)
		require.Contains(t, res.Body, `data-testid="message-text"`)
		link := resetLinkRe.FindStringSubmatch(res.Body)
		require.NotNil(t, link, res.Body)
		require.Contains(t, res.Body, `data-testid="message-html-link"`)
		require.Contains(t, res.Body, `data-testid="message-subject">Reset your Latchkey password`)
		// The page decrypted it: the stored message holds neither the link's token nor the subject.
		token := link[1][strings.LastIndex(link[1], "/")+1:]
		require.NotEmpty(t, token)
		stored, err := notify.Load(context.Background(), env.App.DB.Bun, m.ID)
		require.NoError(t, err)
		for _, v := range []string{stored.Subject, stored.Data, stored.BodyText, stored.BodyHTML} {
			require.NotContains(t, v, token)
			require.NotContains(t, v, "Reset your")
		}

		// The link in the message works.
		res = env.Client().Get(strings.TrimPrefix(link[1], "http://latchkey.test"))
		require.Equal(t, http.StatusOK, res.StatusCode)

		// The HTML part on its own, sandboxed.
		res = c.Get("/settings/outbox/" + m.ID + "?part=html")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.True(t, strings.HasPrefix(res.Header.Get("Content-Security-Policy"), "sandbox;"))
		require.Contains(t, res.Header.Get("Content-Security-Policy"), "default-src 'none'")
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		require.Contains(t, res.Body, "Acme IT")
		require.Contains(t, res.Body, `href="`+link[1]+`"`)
	})
}

func TestOutboxListPagingAndIsolation(t *testing.T) {
	t.Parallel()
	outboxEach(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		other := env.Setup("Other MSP")
		base := time.Now().Add(-time.Hour)
		var first, last *notify.Message
		for i := range 55 {
			m := insertMessage(t, env, f.Tenant.ID, "someone@customer.example", fmt.Sprintf("subject-%02d", i), base.Add(time.Duration(i)*time.Second))
			if i == 0 {
				first = m
			}
			last = m
		}
		foreign := insertMessage(t, env, other.Tenant.ID, "x@other.example", "foreign-subject", base)
		c := env.Client()
		c.SignIn(f.Primary.Email)

		res := c.Get("/settings/outbox")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="message-`+last.ID+`"`) // newest first
		require.Contains(t, res.Body, "subject-54")                        // legacy rows: the subject in clear
		require.NotContains(t, res.Body, `data-testid="message-`+first.ID+`"`)
		require.NotContains(t, res.Body, "foreign-subject")
		require.Contains(t, res.Body, `data-testid="outbox-pagination"`)
		res = c.Get("/settings/outbox?page=2")
		require.Contains(t, res.Body, `data-testid="message-`+first.ID+`"`)

		res = c.Get("/settings/outbox/" + foreign.ID)
		require.Equal(t, http.StatusNotFound, res.StatusCode)
		require.NotContains(t, res.Body, "foreign-subject")
		res = c.Get("/settings/outbox/"+foreign.ID, "HX-Request", "true")
		require.Equal(t, http.StatusNotFound, res.StatusCode)
		res = c.Get("/settings/outbox/" + foreign.ID + "?part=html")
		require.Equal(t, http.StatusNotFound, res.StatusCode)
		res = c.Get("/settings/outbox/no-such-id")
		require.Equal(t, http.StatusNotFound, res.StatusCode)
		// Other verbs are not routes at all.
		res = c.PostForm("/settings/outbox/"+first.ID, nil)
		require.Contains(t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, res.StatusCode)

		// Text links are only http(s); the text is escaped.
		m := insertMessage(t, env, f.Tenant.ID, "someone@customer.example", "x", time.Now())
		_, err := env.App.DB.Bun.NewUpdate().Model((*notify.Message)(nil)).
			Set("body_text = ?", "<b>hi</b> javascript:alert(1) https://ok.example/a?b=1&c=2.").Where("id = ?", m.ID).Exec(context.Background())
		require.NoError(t, err)
		res = c.Get("/settings/outbox/" + m.ID)
		require.Contains(t, res.Body, "&lt;b&gt;hi&lt;/b&gt;")
		require.NotContains(t, res.Body, `href="javascript`)
		require.Contains(t, res.Body, `href="https://ok.example/a?b=1&amp;c=2"`)
	})
}

func TestOutboxEmptyState(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite, apptest.Options{NoWorkers: true})
	f := env.Setup("Acme IT")
	c := env.Client()
	c.SignIn(f.Primary.Email)
	res := c.Get("/settings/outbox")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, res.Body, `data-testid="outbox-empty"`)
}

func TestOutboxSuperCannotReadOtherAdminsMessages(t *testing.T) {
	t.Parallel()
	outboxEach(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		env.CreateLogin(f, login.RoleSuper, "super@acme.example")
		env.CreateLogin(f, login.RoleTechnician, "tech@acme.example")
		primaryReset := resetOf(t, env, f.Primary.Email)
		techReset := resetOf(t, env, "tech@acme.example")
		superReset := resetOf(t, env, "super@acme.example")

		super := env.Client()
		super.SignIn("super@acme.example")
		res := super.Get("/settings/outbox/" + primaryReset.ID)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="message-hidden"`)
		require.NotContains(t, res.Body, "/password/")
		res = super.Get("/settings/outbox/" + primaryReset.ID + "?part=html")
		require.Equal(t, http.StatusNotFound, res.StatusCode)
		require.NotContains(t, res.Body, "/password/")

		// Their own message and a technician's are readable.
		res = super.Get("/settings/outbox/" + superReset.ID)
		require.Contains(t, res.Body, `data-testid="message-text-link"`)
		res = super.Get("/settings/outbox/" + techReset.ID)
		require.Contains(t, res.Body, `data-testid="message-text-link"`)

		primary := env.Client()
		primary.SignIn(f.Primary.Email)
		res = primary.Get("/settings/outbox/" + superReset.ID)
		require.Contains(t, res.Body, `data-testid="message-text-link"`)
	})
}

// sealedOnly accepts every job and enqueues nothing: the message stays queued.
type sealedOnly struct{}

func (sealedOnly) InsertTx(context.Context, *db.Tx, river.JobArgs, *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return &rivertype.JobInsertResult{}, nil
}

func TestOutboxShowsLegacyClearMessages(t *testing.T) {
	t.Parallel()
	outboxEach(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		// As versions before encryption stored it: JSON data, subject and bodies in clear.
		m := &notify.Message{
			ID: db.NewID(), TenantID: f.Tenant.ID, Channel: "email", Kind: "login_invite", To: "new@acme.example",
			Subject: "Legacy invitation", Data: `{"lines":["Join us."],"action_url":"https://latchkey.test/invite/legacytok"}`,
			BodyText: "Join us.\n\nhttps://latchkey.test/invite/legacytok\n", BodyHTML: `<p><a href="https://latchkey.test/invite/legacytok">Join</a></p>`,
			Status: notify.StatusOutbox, CreatedAt: time.Now().UTC(),
		}
		_, err := env.App.DB.Bun.NewInsert().Model(m).Exec(context.Background())
		require.NoError(t, err)
		c := env.Client()
		c.SignIn(f.Primary.Email)

		res := c.Get("/settings/outbox")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, "Legacy invitation")
		res = c.Get("/settings/outbox/" + m.ID)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="message-subject">Legacy invitation`)
		require.Contains(t, res.Body, `href="https://latchkey.test/invite/legacytok"`)
		res = c.Get("/settings/outbox/" + m.ID + "?part=html")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `<a href="https://latchkey.test/invite/legacytok">Join</a>`)
	})
}

func TestOutboxUndecryptableMessage(t *testing.T) {
	t.Parallel()
	outboxEach(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		// Encrypted under a key that is not (or no longer) in the app's keyring.
		entry, err := secret.GenerateKey()
		require.NoError(t, err)
		gone, err := secret.ParseKeys(entry)
		require.NoError(t, err)
		var m *notify.Message
		require.NoError(t, env.App.DB.RunInTx(context.Background(), func(ctx context.Context, tx *db.Tx) error {
			m, err = notify.NewQueue(sealedOnly{}, gone, nil).Email(ctx, tx, f.Tenant.ID, "dana@customer.example", "selfserve_code",
				notify.Email{Subject: "Your code: 123456", Lines: []string{"Your code is 123456."}})
			return err
		}))
		readable := insertMessage(t, env, f.Tenant.ID, "someone@customer.example", "still-readable", time.Now().Add(-time.Minute))
		c := env.Client()
		c.SignIn(f.Primary.Email)

		res := c.Get("/settings/outbox")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="message-`+m.ID+`"`)
		require.Contains(t, res.Body, `data-testid="message-undecryptable"`)
		require.Contains(t, res.Body, `data-testid="message-`+readable.ID+`"`)
		require.Contains(t, res.Body, "still-readable")
		require.NotContains(t, res.Body, "123456")

		res = c.Get("/settings/outbox/" + m.ID)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="message-undecryptable"`)
		require.NotContains(t, res.Body, `data-testid="message-pending"`)
		require.NotContains(t, res.Body, "123456")
		res = c.Get("/settings/outbox/" + m.ID + "?part=html")
		require.Equal(t, http.StatusNotFound, res.StatusCode)

		// A damaged row (its data neither JSON nor a ciphertext of ours) is shown the same way.
		_, err = env.App.DB.Bun.NewUpdate().Model((*notify.Message)(nil)).Set("data = ?", "{not json").
			Where("id = ?", readable.ID).Exec(context.Background())
		require.NoError(t, err)
		res = c.Get("/settings/outbox")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.NotContains(t, res.Body, "still-readable")
		res = c.Get("/settings/outbox/" + readable.ID)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="message-undecryptable"`)
	})
}
