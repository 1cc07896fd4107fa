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
			require.Equal(t, p.Text, m.BodyText)

			// The link works: it shows the set-password page.
			res := env.Client().Get(strings.TrimPrefix(link, "http://latchkey.test"))
			require.Equal(t, http.StatusOK, res.StatusCode)
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
			require.Contains(t, m.BodyText, "\nhttp://latchkey.test/password/")
			require.Contains(t, m.BodyHTML, "Acme IT")
			require.Nil(t, m.SentAt)
		})
	}
}
