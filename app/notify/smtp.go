package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/latchkey/latchkey/app/config"
)

// Envelope is one email ready to send.
type Envelope struct {
	From      string // "Name <addr>" or addr
	To        string
	Subject   string
	Text      string // plain-text part
	HTML      string // HTML part ("" for text only)
	MessageID string // without angle brackets; see MessageID
}

// Mailer delivers an email. A nil error means the server accepted it.
type Mailer interface {
	Send(ctx context.Context, e Envelope) error
}

// ErrPermanent marks a delivery error that retrying will not fix (the
// server answered 5xx); test with errors.Is.
var ErrPermanent = errors.New("permanent delivery failure")

type permanentError struct{ err error }

func (e permanentError) Error() string        { return e.err.Error() }
func (e permanentError) Unwrap() []error      { return []error{e.err, ErrPermanent} }
func (e permanentError) Is(target error) bool { return target == ErrPermanent }

// SMTPTimeout bounds connecting to and each exchange with the SMTP server.
const SMTPTimeout = 20 * time.Second

// SMTPMailer sends through an SMTP server with go-mail, one connection per
// message.
type SMTPMailer struct {
	cfg config.SMTP
}

// NewSMTPMailer returns a Mailer for the configured server. STARTTLS is
// required unless cfg.TLS is "tls" (implicit TLS) or "none" (config allows
// that only for a relay on localhost). With a username it authenticates with
// PLAIN (or LOGIN when the server offers only that), only over TLS or to
// localhost.
func NewSMTPMailer(cfg config.SMTP) *SMTPMailer { return &SMTPMailer{cfg: cfg} }

func (s *SMTPMailer) client() (*mail.Client, error) {
	c := s.cfg
	opts := []mail.Option{
		mail.WithPort(c.Port),
		mail.WithTimeout(SMTPTimeout),
		mail.WithTLSConfig(&tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify}), //nolint:gosec // test relays only, by configuration
	}
	switch c.TLS {
	case "tls":
		opts = append(opts, mail.WithSSL())
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if c.Username != "" {
		opts = append(opts, mail.WithOpportunisticSMTPAuth(mail.SMTPAuthPlain, mail.SMTPAuthLogin),
			mail.WithUsername(c.Username), mail.WithPassword(c.Password))
	}
	return mail.NewClient(c.Host, opts...)
}

// Send delivers e. Errors that the server gave as permanent (5xx) match
// ErrPermanent; everything else (connection, TLS, 4xx) is worth a retry.
func (s *SMTPMailer) Send(ctx context.Context, e Envelope) error {
	m := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := m.From(e.From); err != nil {
		return permanentError{fmt.Errorf("from address: %w", err)}
	}
	if err := m.To(e.To); err != nil {
		return permanentError{fmt.Errorf("to address: %w", err)}
	}
	m.Subject(e.Subject)
	if e.MessageID != "" {
		m.SetMessageIDWithValue(e.MessageID)
	}
	m.SetDate()
	m.SetUserAgent("Latchkey")
	m.SetBodyString(mail.TypeTextPlain, e.Text)
	if e.HTML != "" {
		m.AddAlternativeString(mail.TypeTextHTML, e.HTML)
	}
	c, err := s.client()
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		var se *mail.SendError
		if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 {
			return permanentError{fmt.Errorf("smtp: %w", err)}
		}
		return fmt.Errorf("smtp: %w", err)
	}
	return nil
}
