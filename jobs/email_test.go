package jobs_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/config"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/notify/smtptest"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// resetMessage returns the password-reset message to email, or nil.
func resetMessage(t *testing.T, env *apptest.Env, email string) *notify.Message {
	t.Helper()
	var msgs []notify.Message
	require.NoError(t, env.App.DB.Bun.NewSelect().Model(&msgs).
		Where("to_addr = ? AND kind = ?", email, "login_password_reset").Scan(context.Background()))
	require.LessOrEqual(t, len(msgs), 1)
	if len(msgs) == 0 {
		return nil
	}
	return &msgs[0]
}

func requestReset(t *testing.T, env *apptest.Env, email string) {
	t.Helper()
	res := env.Client().PostForm("/forgot", url.Values{"email": {email}})
	require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
}

func smtpEnv(t *testing.T, dia db.Dialect, srv *smtptest.Server) *apptest.Env {
	return apptest.New(t, dia, apptest.Options{Configure: func(c *config.Config) {
		c.SMTP = config.SMTP{Host: "127.0.0.1", Port: srv.Port, From: "latchkey@msp.example", TLS: "starttls",
			InsecureSkipVerify: true, Username: "u", Password: "p"}
	}})
}

func TestEmailEndToEndThroughSMTP(t *testing.T) {
	t.Parallel()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			srv := smtptest.New(t, smtptest.Options{Username: "u", Password: "p"})
			env := smtpEnv(t, dia, srv)
			f := env.Setup("Acme IT")
			requestReset(t, env, f.Primary.Email)

			var m *notify.Message
			apptest.WaitFor(t, 20*time.Second, func() bool {
				m = resetMessage(t, env, f.Primary.Email)
				return m != nil && m.Status == notify.StatusSent
			}, "reset email sent")
			var got []smtptest.Message
			for _, x := range srv.Messages() {
				if len(x.To) == 1 && x.To[0] == f.Primary.Email && strings.Contains(string(x.Data), "latchkey."+m.ID+"@") {
					got = append(got, x)
				}
			}
			require.Len(t, got, 1)
			require.True(t, got[0].TLS)
			require.Equal(t, "u", got[0].Auth)
			require.Equal(t, "latchkey@msp.example", got[0].From)
			p, err := got[0].Parse()
			require.NoError(t, err)
			require.Equal(t, "Reset your Latchkey password", p.Subject)
			require.Equal(t, "<latchkey."+m.ID+"@msp.example>", p.Header.Get("Message-ID"))
			link := regexpLink(t, p.Text)
			require.True(t, strings.HasPrefix(link, "http://latchkey.test/password/"), link)
			require.Contains(t, p.HTML, `href="`+link+`"`)
			require.Contains(t, p.HTML, "Acme IT")
			require.NotNil(t, m.SentAt)
			// Stored encrypted: the link's token is nowhere in clear; decrypted, what was sent.
			requireNotStored(t, m, link[strings.LastIndex(link, "/")+1:], "Reset your")
			c, err := m.Content(env.App.Keys)
			require.NoError(t, err)
			require.Equal(t, p.Text, c.Text)
			require.Equal(t, "Reset your Latchkey password", c.Subject)

			// The link works: it shows the set-password page.
			res := env.Client().Get(strings.TrimPrefix(link, "http://latchkey.test"))
			require.Equal(t, http.StatusOK, res.StatusCode)
		})
	}
}

// requireNotStored fails when any stored column of m holds one of secrets in clear.
func requireNotStored(t *testing.T, m *notify.Message, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		require.NotEmpty(t, s)
		for col, v := range map[string]string{"subject": m.Subject, "data": m.Data, "body_text": m.BodyText, "body_html": m.BodyHTML} {
			require.NotContains(t, v, s, col)
		}
	}
}

// TestCodeEmailEndToEndThroughSMTP queues an email that carries a code in
// its subject and text and a link with a token (as self-serve's and
// verification's do): nothing of it is stored in clear, and the SMTP server
// receives it whole.
func TestCodeEmailEndToEndThroughSMTP(t *testing.T) {
	t.Parallel()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			srv := smtptest.New(t, smtptest.Options{Username: "u", Password: "p"})
			env := smtpEnv(t, dia, srv)
			f := env.Setup("Acme IT")
			const code, token = "604218", "Kp3xTz8QwN2mR5vL7yB9cD1fH4jG6sA0"
			link := "http://latchkey.test/self-serve/verify/" + token
			var id string
			require.NoError(t, env.App.DB.RunInTx(context.Background(), func(ctx context.Context, tx *db.Tx) error {
				m, err := notify.NewQueue(env.App.Queue, env.App.Keys, nil).Email(ctx, tx, f.Tenant.ID, "dana@customer.example",
					"selfserve_code", notify.Email{
						Subject: "Your code to reset your password: " + code, Greeting: "Hi Dana,",
						Lines: []string{"Your code is " + code + "."}, ActionText: "Open", ActionURL: link,
					})
				if m != nil {
					id = m.ID
				}
				return err
			}))

			var m *notify.Message
			apptest.WaitFor(t, 20*time.Second, func() bool {
				var err error
				m, err = notify.Load(context.Background(), env.App.DB.Bun, id)
				require.NoError(t, err)
				return m.Status == notify.StatusSent
			}, "code email sent")
			requireNotStored(t, m, code, token, "Acme IT")

			var got []smtptest.Message
			for _, x := range srv.Messages() {
				if strings.Contains(string(x.Data), "latchkey."+id+"@") {
					got = append(got, x)
				}
			}
			require.Len(t, got, 1)
			require.Equal(t, []string{"dana@customer.example"}, got[0].To)
			p, err := got[0].Parse()
			require.NoError(t, err)
			require.Equal(t, "Your code to reset your password: "+code, p.Subject)
			require.Contains(t, p.Text, "Your code is "+code+".")
			require.Equal(t, link, regexpLink(t, p.Text))
			require.Contains(t, p.HTML, `href="`+link+`"`)
			c, err := m.Content(env.App.Keys)
			require.NoError(t, err)
			require.Equal(t, p.Text, c.Text)
		})
	}
}

// regexpLink returns the line of text that is a URL.
func regexpLink(t *testing.T, text string) string {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") {
			return l
		}
	}
	t.Fatalf("no link line in %q", text)
	return ""
}

func TestEmailEndToEndTemporaryFailureDeliversOnce(t *testing.T) {
	t.Parallel()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			srv := smtptest.New(t, smtptest.Options{Username: "u", Password: "p"})
			env := smtpEnv(t, dia, srv)
			f := env.Setup("Acme IT")
			srv.FailNext(1)
			requestReset(t, env, f.Primary.Email)

			var m *notify.Message
			apptest.WaitFor(t, 45*time.Second, func() bool {
				m = resetMessage(t, env, f.Primary.Email)
				return m != nil && m.Status == notify.StatusSent
			}, "reset email sent after a 451")
			require.Equal(t, 1, m.Attempts)
			require.Empty(t, m.LastError) // cleared by the successful attempt
			n := 0
			for _, x := range srv.Messages() {
				if strings.Contains(string(x.Data), "latchkey."+m.ID+"@") {
					n++
				}
			}
			require.Equal(t, 1, n)
		})
	}
}

func TestEmailEndToEndOutboxWithoutSMTP(t *testing.T) {
	t.Parallel()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			env := apptest.New(t, dia)
			f := env.Setup("Acme IT")
			requestReset(t, env, f.Primary.Email)
			var m *notify.Message
			apptest.WaitFor(t, 20*time.Second, func() bool {
				m = resetMessage(t, env, f.Primary.Email)
				return m != nil && m.Status == notify.StatusOutbox
			}, "reset email kept in the outbox")
			c, err := m.Content(env.App.Keys)
			require.NoError(t, err)
			require.Contains(t, c.Text, "\nhttp://latchkey.test/password/")
			require.Contains(t, c.HTML, "Acme IT")
			requireNotStored(t, m, strings.TrimPrefix(c.ActionURL, "http://latchkey.test/password/"), "Acme IT")
			require.Nil(t, m.SentAt)
		})
	}
}
