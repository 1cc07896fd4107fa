// Package emails renders Latchkey's branded emails: one layout with an HTML
// part (HTML) and a plain-text part (Text). It takes a Props view model and
// imports nothing from the domain packages; the send_email job maps the
// stored message onto Props.
package emails

import (
	"bytes"
	"context"
	"net/url"
	"strings"
)

// Props is the content of one email.
type Props struct {
	TenantName string // the MSP's name, shown as the brand
	Subject    string
	Preheader  string // the preview line of mail clients (HTML only)
	Greeting   string // "Hi Dana,"
	Lines      []string
	ActionText string
	ActionURL  string // absolute http(s) URL built from LATCHKEY_BASE_URL
	After      []string
}

func (p Props) brand() string {
	if strings.TrimSpace(p.TenantName) == "" {
		return "Latchkey"
	}
	return p.TenantName
}

func (p Props) actionText() string {
	if p.ActionText == "" {
		return "Open Latchkey"
	}
	return p.ActionText
}

// HasAction reports whether the email has a button: ActionURL must be an
// absolute http or https URL (anything else is left out, never linked).
func (p Props) HasAction() bool {
	u, err := url.Parse(p.ActionURL)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// Text is the plain-text part: the same content, with the link on a line of
// its own so that mail clients make it clickable and nothing wraps it.
func Text(p Props) string {
	var b strings.Builder
	para := func(s string) {
		s = strings.TrimSpace(s)
		if s == "" {
			return
		}
		b.WriteString(s)
		b.WriteString("\n\n")
	}
	para(p.Greeting)
	for _, l := range p.Lines {
		para(l)
	}
	if p.HasAction() {
		b.WriteString(p.actionText())
		b.WriteString(":\n")
		b.WriteString(p.ActionURL)
		b.WriteString("\n\n")
	}
	for _, l := range p.After {
		para(l)
	}
	b.WriteString("-- \nSent by Latchkey for ")
	b.WriteString(p.brand())
	b.WriteString(".\n")
	return b.String()
}

// RenderHTML renders the HTML part to a string.
func RenderHTML(ctx context.Context, p Props) (string, error) {
	var buf bytes.Buffer
	if err := HTML(p).Render(ctx, &buf); err != nil {
		return "", err
	}
	return buf.String(), nil
}
