// Package notices holds the notification screens: the preview of who the
// next run notifies (per customer, and one customer's list), the Settings
// page's notifications card, and the notices on an end user's page.
package notices

import "strconv"

// PreviewProps is the preview page: each customer's next run.
type PreviewProps struct {
	SelfServe  bool // the tenant's switch; off: nobody is notified
	DaysBefore int
	Hour       string // "09:00"
	SMS        bool
	IsAdmin    bool // may change the settings
	Total      int
	Customers  []PreviewRow
}

// PreviewRow is one customer's next run.
type PreviewRow struct {
	ID, Name, TimeZone string
	NextRun            string // "now (within 15 minutes)" or "Tue 3 Mar 09:00 NZDT"
	Count, Today       int
}

// CustomerProps is one customer's next run and who it notifies.
type CustomerProps struct {
	ID, Name, TimeZone string
	SelfServe          bool
	NextRun            string
	Count, Today       int
	Users              []UserRow
	More               int // end users not listed
}

// UserRow is one end user the next run notifies.
type UserRow struct {
	ID, Name, Username string
	Expires            string // in the customer's zone
	DaysLeft           int
	Email, SMS, Push   bool
}

// SettingsProps is the Settings page's notifications card.
type SettingsProps struct {
	CSRF       string
	DaysBefore string
	SMS        bool
	Errors     map[string]string
	Saved      string
}

// HistoryProps is an end user's notices.
type HistoryProps struct {
	Items []HistoryItem
}

// HistoryItem is one notice and its delivery.
type HistoryItem struct {
	ID       string
	When     string // planned at, in the notice's zone
	What     string // "Password expires in 3 days", "Account locked"
	State    string // pending, sent, canceled
	Reason   string
	Channels []Channel
}

// Channel is one channel of a notice: its message's status or why unused.
type Channel struct {
	Name   string // Email, SMS, Push
	Status string // queued, sending, sent, outbox, failed; "" when unused
	Detail string // the provider's report, an error, or why unused
}

func itoa(n int) string { return strconv.Itoa(n) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func daysLeft(n int) string {
	switch n {
	case 0:
		return "today"
	case 1:
		return "tomorrow"
	}
	return "in " + itoa(n) + " days"
}

// statusBadge is the badge class of a message or notice status.
func statusBadge(s string) string {
	switch s {
	case "sent", "delivered", "read":
		return "badge badge-ok"
	case "outbox", "queued", "sending", "pending":
		return "badge badge-info"
	case "failed", "undelivered":
		return "badge badge-danger"
	case "canceled":
		return "badge badge-warn"
	}
	return "badge badge-muted"
}

// statusLabel is a status's display text.
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
	case "pending":
		return "Waiting to send"
	case "canceled":
		return "Not sent"
	case "delivered":
		return "Delivered"
	case "undelivered":
		return "Undelivered"
	case "":
		return "Not used"
	}
	return s
}

func daysOptions() []int {
	out := make([]int, 30)
	for i := range out {
		out[i] = i + 1
	}
	return out
}
