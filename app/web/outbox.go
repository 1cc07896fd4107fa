package web

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/sms"
	outboxv "github.com/latchkey/latchkey/views/pages/outbox"
)

// outboxHandler serves Settings → Outbox for Primary and Super logins: the
// tenant's messages (the delivery log, and where email waits while SMTP is
// not configured) and one message's text with its links.
type outboxHandler struct{ s *Server }

// emailHTMLCSP is the policy of a message's HTML part shown on its own: a
// sandboxed, script-less page (unique origin) that may use the email's
// inline styles and nothing else.
const emailHTMLCSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (h *outboxHandler) showOutbox(c echo.Context) error {
	page, _ := strconv.Atoi(c.QueryParam("page"))
	page = max(page, 1)
	tn := currentTenant(c)
	msgs, total, err := notify.List(c.Request().Context(), h.s.DB.Bun, tn.ID, page)
	if err != nil {
		return err
	}
	pages := max((total+notify.OutboxPerPage-1)/notify.OutboxPerPage, 1)
	smsOn, err := sms.Configured(c.Request().Context(), h.s.DB.Bun, tn.ID)
	if err != nil {
		return err
	}
	p := outboxv.ListProps{Total: total, Page: page, Pages: pages, SMTPConfigured: h.s.Config.SMTP.Enabled(), SMSConfigured: smsOn,
		RetentionDays: int(h.s.Config.Retention() / (24 * time.Hour))}
	loc := tenantLoc(c)
	for _, m := range msgs {
		r := outboxv.Row{
			ID: m.ID, To: m.To, Subject: m.Subject, Kind: m.Kind, Status: m.Status,
			Created: m.CreatedAt.In(loc).Format("2006-01-02 15:04 MST"), Channel: m.Channel,
		}
		if m.Channel == notify.ChannelEmail {
			// The subject is encrypted with the rest of the email (it may
			// hold a code). One that cannot be read is marked, and the page
			// still shows the others.
			if e, err := m.EmailData(h.s.Keys); err == nil {
				r.Subject = e.Subject
			} else {
				r.Undecryptable = true
			}
		}
		p.Rows = append(p.Rows, r)
	}
	for _, l := range pageLinks(page, pages, func(n int) string {
		if n <= 1 {
			return "/settings/outbox"
		}
		return "/settings/outbox?page=" + strconv.Itoa(n)
	}) {
		p.Links = append(p.Links, outboxv.PageLink{Label: l.Label, URL: l.URL, Current: l.Current, Disabled: l.Disabled})
	}
	return h.s.render(c, http.StatusOK, "Outbox", outboxv.List(p))
}

// canReadBody reports whether the signed-in login may read the body of m.
// Messages carry single-use links (password resets, invitations), so a
// Super must not read one addressed to the Primary or another Super: that
// would let them take over a higher or equal account. The Primary and the
// addressee may read every message.
func (h *outboxHandler) canReadBody(c echo.Context, m *notify.Message) (bool, error) {
	me := currentLogin(c)
	if me.Role == login.RolePrimary || strings.EqualFold(m.To, me.Email) {
		return true, nil
	}
	to, err := login.ByEmail(c.Request().Context(), h.s.DB.Bun, m.To)
	if apperr.CodeOf(err) == apperr.NotFound {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return !(to.TenantID == m.TenantID && to.Role.IsAdmin()), nil
}

func (h *outboxHandler) showMessage(c echo.Context) error {
	tn := currentTenant(c)
	m, err := notify.Get(c.Request().Context(), h.s.DB.Bun, tn.ID, c.Param("id"))
	if err != nil {
		return err
	}
	readable, err := h.canReadBody(c, m)
	if err != nil {
		return err
	}
	// The message may hold a single-use link: keep it out of caches and history.
	noStore(c)
	// An email's subject and bodies are stored encrypted: decrypt them here.
	// One that cannot be decrypted (its key was removed) or decoded (damaged)
	// is shown with its delivery state and a message saying so.
	subject, text, html, undecryptable := m.Subject, m.BodyText, m.BodyHTML, false
	if m.Channel == sms.Channel && m.Status == notify.StatusOutbox {
		// A text message waiting in the outbox (SMS not set up): its text,
		// stored encrypted.
		if text, err = sms.Text(h.s.Keys, m); err != nil {
			h.s.Log.WarnContext(c.Request().Context(), "outbox: text message cannot be read", "message", m.ID, "err", err)
			text, undecryptable = "", true
		}
	}
	if m.Channel == notify.ChannelEmail {
		ct, err := m.Content(h.s.Keys)
		if err != nil {
			h.s.Log.WarnContext(c.Request().Context(), "outbox: email cannot be read", "message", m.ID,
				"undecryptable", errors.Is(err, notify.ErrUndecryptable), "err", err)
			subject, text, html, undecryptable = "", "", "", true
		} else {
			subject, text, html = ct.Subject, ct.Text, ct.HTML
		}
	}
	if c.QueryParam("part") == "html" {
		if !readable || html == "" {
			return apperr.New(apperr.NotFound, "This message has no HTML part to show.")
		}
		hd := c.Response().Header()
		hd.Set("Content-Security-Policy", emailHTMLCSP)
		return c.HTMLBlob(http.StatusOK, []byte(html))
	}
	loc := tenantLoc(c)
	p := outboxv.MessageProps{
		ID: m.ID, To: m.To, Subject: subject, Kind: m.Kind, Status: m.Status,
		Created: m.CreatedAt.In(loc).Format("2006-01-02 15:04 MST"), Attempts: m.Attempts, LastError: m.LastError,
		BodyHidden: !readable, Rendered: text != "", Channel: m.Channel, Undecryptable: undecryptable,
	}
	if m.Channel != notify.ChannelEmail {
		// Text messages and push notifications: the provider's report; the
		// text is readable only while it waits in the outbox.
		d, err := notify.DeliveryOf(c.Request().Context(), h.s.DB.Bun, tn.ID, m.ID)
		if err != nil {
			return err
		}
		p.ProviderID, p.DeliveryStatus, p.DeliveryError = d.ProviderID, d.Status, d.Error
		if d.UpdatedAt != nil {
			p.DeliveryUpdated = d.UpdatedAt.In(loc).Format("2006-01-02 15:04:05 MST")
		}
		if d.ExpiresAt != nil {
			p.Expires = d.ExpiresAt.In(loc).Format("2006-01-02 15:04:05 MST")
		}
		p.BodyNotKept = text == "" && m.Status != notify.StatusQueued
	}
	if m.SentAt != nil {
		p.Sent = m.SentAt.In(loc).Format("2006-01-02 15:04 MST")
	}
	if readable {
		p.Text = textParagraphs(text)
		if html != "" {
			p.HTMLURL = "/settings/outbox/" + m.ID + "?part=html"
		}
	}
	title := subject
	if title == "" {
		title = "Message"
	}
	return h.s.render(c, http.StatusOK, title, outboxv.Message(p))
}

var urlRe = regexp.MustCompile(`https?://[^\s<>"']+`)

// textParagraphs splits a plain-text body into paragraphs (at blank lines)
// and lines, with http(s) links separated out so that they can be clickable.
func textParagraphs(text string) []outboxv.Paragraph {
	var out []outboxv.Paragraph
	for _, block := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		if strings.TrimSpace(block) == "" {
			continue
		}
		var p outboxv.Paragraph
		for _, line := range strings.Split(strings.Trim(block, "\n"), "\n") {
			p.Lines = append(p.Lines, linkify(line))
		}
		out = append(out, p)
	}
	return out
}

// linkify splits text into plain segments and http(s) links (without
// trailing punctuation).
func linkify(text string) []outboxv.Segment {
	var out []outboxv.Segment
	last := 0
	for _, loc := range urlRe.FindAllStringIndex(text, -1) {
		start, end := loc[0], loc[1]
		for end > start && strings.ContainsRune(".,;:!?)]}", rune(text[end-1])) {
			end--
		}
		if start > last {
			out = append(out, outboxv.Segment{Text: text[last:start]})
		}
		out = append(out, outboxv.Segment{Text: text[start:end], URL: text[start:end]})
		last = end
	}
	if last < len(text) {
		out = append(out, outboxv.Segment{Text: text[last:]})
	}
	return out
}
