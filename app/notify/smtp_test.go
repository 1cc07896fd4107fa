package notify_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/config"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/notify/smtptest"
)

const link = "https://latchkey.msp.example/password/AbCdEf0123456789AbCdEf0123456789AbCdEf0123456789"

func envelope() notify.Envelope {
	return notify.Envelope{
		From: "Latchkey <latchkey@msp.example>", To: "dana@customer.example", Subject: "Reset your password — Acme IT",
		Text:      "Hi Dana,\n\nChoose a new password:\n" + link + "\n",
		HTML:      `<p>Hi Dana,</p><p><a href="` + link + `">Choose a new password</a></p>`,
		MessageID: notify.MessageID("01hzmsgid", "latchkey@msp.example"),
	}
}

func smtpConfig(srv *smtptest.Server, mode string) config.SMTP {
	return config.SMTP{Host: srv.Host, Port: srv.Port, From: "latchkey@msp.example", TLS: mode, InsecureSkipVerify: true, Username: "u", Password: "p"}
}

func TestEmailSMTPStartTLSWithAuth(t *testing.T) {
	t.Parallel()
	srv := smtptest.New(t, smtptest.Options{Username: "u", Password: "p"})
	m := notify.NewSMTPMailer(smtpConfig(srv, "starttls"))
	require.NoError(t, m.Send(context.Background(), envelope()))

	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	got := msgs[0]
	require.Equal(t, "latchkey@msp.example", got.From)
	require.Equal(t, []string{"dana@customer.example"}, got.To)
	require.Equal(t, "u", got.Auth)
	require.True(t, got.TLS)
	p, err := got.Parse()
	require.NoError(t, err)
	require.Equal(t, "Reset your password — Acme IT", p.Subject)
	require.Equal(t, "<latchkey.01hzmsgid@msp.example>", p.Header.Get("Message-ID"))
	require.Contains(t, p.Text, "\n"+link+"\n")
	require.Contains(t, p.HTML, `href="`+link+`"`)
	require.Contains(t, p.Header.Get("Content-Type"), "multipart/alternative")
}

func TestEmailSMTPImplicitTLS(t *testing.T) {
	t.Parallel()
	srv := smtptest.New(t, smtptest.Options{ImplicitTLS: true, Username: "u", Password: "p"})
	require.NoError(t, notify.NewSMTPMailer(smtpConfig(srv, "tls")).Send(context.Background(), envelope()))
	require.Len(t, srv.Messages(), 1)
	require.True(t, srv.Messages()[0].TLS)
}

func TestEmailSMTPNoTLSToLocalhost(t *testing.T) {
	t.Parallel()
	srv := smtptest.New(t, smtptest.Options{NoSTARTTLS: true})
	cfg := smtpConfig(srv, "none")
	cfg.Username, cfg.Password = "", ""
	require.NoError(t, notify.NewSMTPMailer(cfg).Send(context.Background(), envelope()))
	require.Len(t, srv.Messages(), 1)
	require.False(t, srv.Messages()[0].TLS)
}

func TestEmailSMTPTLSMandatoryRefusesServerWithoutSTARTTLS(t *testing.T) {
	t.Parallel()
	srv := smtptest.New(t, smtptest.Options{NoSTARTTLS: true})
	err := notify.NewSMTPMailer(smtpConfig(srv, "starttls")).Send(context.Background(), envelope())
	require.Error(t, err)
	require.Contains(t, err.Error(), "STARTTLS")
	require.False(t, errors.Is(err, notify.ErrPermanent))
	require.Empty(t, srv.Messages())
}

func TestEmailSMTPVerifiesCertificate(t *testing.T) {
	t.Parallel()
	srv := smtptest.New(t, smtptest.Options{Username: "u", Password: "p"})
	cfg := smtpConfig(srv, "starttls")
	cfg.InsecureSkipVerify = false
	err := notify.NewSMTPMailer(cfg).Send(context.Background(), envelope())
	require.Error(t, err)
	require.Contains(t, err.Error(), "certificate")
	require.Empty(t, srv.Messages())
}

func TestEmailSMTPWrongPassword(t *testing.T) {
	t.Parallel()
	srv := smtptest.New(t, smtptest.Options{Username: "u", Password: "p"})
	cfg := smtpConfig(srv, "starttls")
	cfg.Password = "wrong-secret"
	err := notify.NewSMTPMailer(cfg).Send(context.Background(), envelope())
	require.Error(t, err)
	require.NotContains(t, err.Error(), "wrong-secret")
	require.NotContains(t, notify.ErrorText(err), "wrong-secret")
	require.Empty(t, srv.Messages())
}

func TestEmailSMTPTemporaryFailureThenSuccess(t *testing.T) {
	t.Parallel()
	srv := smtptest.New(t, smtptest.Options{Username: "u", Password: "p"})
	srv.FailNext(1)
	m := notify.NewSMTPMailer(smtpConfig(srv, "starttls"))
	err := m.Send(context.Background(), envelope())
	require.Error(t, err)
	require.Contains(t, err.Error(), "451")
	require.False(t, errors.Is(err, notify.ErrPermanent))
	require.Empty(t, srv.Messages())
	require.NoError(t, m.Send(context.Background(), envelope()))
	require.Len(t, srv.Messages(), 1)
}

func TestEmailSMTPBadRecipientIsPermanent(t *testing.T) {
	t.Parallel()
	srv := smtptest.New(t, smtptest.Options{Username: "u", Password: "p"})
	e := envelope()
	e.To = "not an address"
	err := notify.NewSMTPMailer(smtpConfig(srv, "starttls")).Send(context.Background(), e)
	require.ErrorIs(t, err, notify.ErrPermanent)
}

func TestEmailErrorText(t *testing.T) {
	t.Parallel()
	require.Equal(t, "a b c", notify.ErrorText(errors.New("a\r\n  b\tc")))
	long := notify.ErrorText(errors.New(strings.Repeat("é", 400)))
	require.LessOrEqual(t, len(long), 504)
	require.True(t, strings.HasSuffix(long, "…"))
	require.Equal(t, "latchkey.x@msp.example", notify.MessageID("x", "Latchkey <latchkey@msp.example>"))
	require.Equal(t, "latchkey.x@latchkey.invalid", notify.MessageID("x", "nobody"))
}

func TestEmailSMTPAuthLogin(t *testing.T) {
	t.Parallel()
	srv := smtptest.New(t, smtptest.Options{Username: "u", Password: "p", AuthMechanisms: []string{"LOGIN"}})
	require.NoError(t, notify.NewSMTPMailer(smtpConfig(srv, "starttls")).Send(context.Background(), envelope()))
	require.Len(t, srv.Messages(), 1)
	require.Equal(t, "u", srv.Messages()[0].Auth)
}
