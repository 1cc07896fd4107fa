// Package events holds the Events page: the tenant's audit trail with its
// filter, paging, CSV export and the integrity check of the hash chain.
package events

// Option is one choice of a select.
type Option struct {
	Value, Label string
}

// Row is one event as the table shows it.
type Row struct {
	Seq     int64
	Day     string // "2026-01-15", in the tenant's time zone
	Clock   string // "12:00:00 EST", shown after Day (it may wrap under it)
	WhenISO string // RFC 3339, for <time datetime>
	Actor   string
	Action  string
	Target  string
	Result  string // ok, denied, failed
	IP      string
	Detail  string
}

// PageLink is one entry of the pagination.
type PageLink struct {
	Label    string
	URL      string
	Current  bool
	Disabled bool // prev/next at the ends, or a gap ("…")
	Rel      string
}

// Props is the Events page.
type Props struct {
	// Filter values as typed.
	Action, Actor, Target, Result, From, To string
	Results                                 []Option
	Errors                                  map[string]string
	Filtered                                bool
	TimeZone                                string

	Rows        []Row
	Total       int
	Page, Pages int
	FirstShown  int // 1-based index of the first row on this page
	LastShown   int
	Links       []PageLink
	CSVURL      string
	Chain       ChainProps
}

// ChainProps is the integrity card's status.
type ChainProps struct {
	Checked  bool // a check ran (otherwise the card invites one)
	OK       bool
	Count    int
	BrokenAt int64
	Reason   string
}

func resultBadge(r string) string {
	switch r {
	case "ok":
		return "badge badge-ok"
	case "denied":
		return "badge badge-warn"
	case "failed":
		return "badge badge-danger"
	}
	return "badge badge-muted"
}

func resultLabel(r string) string {
	switch r {
	case "ok":
		return "OK"
	case "denied":
		return "Denied"
	case "failed":
		return "Failed"
	}
	return r
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
