// Package outbox holds Settings → Outbox: the tenant's outgoing messages
// (the delivery log, and the place email waits when SMTP is not configured)
// and one message's rendered text.
package outbox

// Row is one message in the list.
type Row struct {
	ID, To, Subject, Kind, Status, Created string
	Channel                                string // email, sms, push
	// Undecryptable: the email's content (subject included) cannot be
	// decrypted with the configured keys.
	Undecryptable bool
}

// PageLink is one entry of the pagination.
type PageLink struct {
	Label    string
	URL      string
	Current  bool
	Disabled bool
}

// ListProps is the outbox list.
type ListProps struct {
	Rows           []Row
	Total          int
	Page, Pages    int
	Links          []PageLink
	SMTPConfigured bool
	SMSConfigured  bool
	// RetentionDays is how long messages are kept (LATCHKEY_RETENTION_DAYS).
	RetentionDays int
}

// Segment is a piece of a message's text: plain text, or a link when URL is set.
type Segment struct {
	Text string
	URL  string
}

// Paragraph is a block of the text part; each line is a run of segments.
type Paragraph struct {
	Lines [][]Segment
}

// MessageProps is one message.
type MessageProps struct {
	ID, To, Subject, Kind, Status string
	Created, Sent                 string // formatted; Sent "" when not sent
	Attempts                      int
	LastError                     string
	// BodyHidden is set when the viewer may not read this message's body
	// (it is addressed to another administrator); Text is then empty.
	BodyHidden bool
	Rendered   bool        // the send job has rendered the bodies
	Text       []Paragraph // the plain-text part, links separated
	HTMLURL    string      // the HTML part on its own sandboxed page ("" when none)

	Channel string // email, sms, push
	// Undecryptable: the email's content cannot be decrypted with the
	// configured keys (the key it was encrypted with was removed, or the
	// stored data is damaged); Subject and Text are then empty.
	Undecryptable bool
	// BodyNotKept: a sent text message's or push notification's text is
	// stored encrypted for delivery only (it may hold a code).
	BodyNotKept bool
	// What the provider reported (SMS): its id, status and error.
	ProviderID, DeliveryStatus, DeliveryError, DeliveryUpdated, Expires string
}

func statusBadge(s string) string {
	switch s {
	case "sent":
		return "badge badge-ok"
	case "failed":
		return "badge badge-danger"
	case "queued", "sending":
		return "badge badge-info"
	}
	return "badge badge-muted"
}

func statusLabel(s string) string {
	switch s {
	case "queued":
		return "Queued"
	case "sending":
		return "Sending"
	case "sent":
		return "Sent"
	case "outbox":
		return "In outbox"
	case "failed":
		return "Failed"
	}
	return s
}

func kindLabel(k string) string {
	out := []byte(k)
	for i, b := range out {
		if b == '_' {
			out[i] = ' '
		}
	}
	if len(out) > 0 && out[0] >= 'a' && out[0] <= 'z' {
		out[0] -= 'a' - 'A'
	}
	return string(out)
}

func channelLabel(c string) string {
	switch c {
	case "sms":
		return "SMS"
	case "push":
		return "Push"
	}
	return "Email"
}

// subjectOf is what the list links with: the subject, or the channel.
func subjectOf(subject, channel string) string {
	if subject != "" {
		return subject
	}
	switch channel {
	case "sms":
		return "Text message"
	case "push":
		return "Push notification"
	}
	return "(no subject)"
}

func deliveryBadge(s string) string {
	switch s {
	case "delivered", "read":
		return "badge badge-ok"
	case "undelivered", "failed", "canceled":
		return "badge badge-danger"
	}
	return "badge badge-info"
}
