// Package endusers holds the end-user grid: the tenant-wide and per-customer
// views with search, filters, sorting, paging, inline contact editing,
// self-serve switches and bulk actions.
package endusers

import (
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Option is one choice of a select.
type Option struct {
	Value, Label string
}

// Selection modes of the grid's checkboxes.
const (
	SelectNone = ""
	SelectPage = "page" // every row on this page is ticked
	SelectAll  = "all"  // every end user matching the filter
)

// Sort keys offered (the same keys as enduser.SortColumns).
var SortOptions = []Option{
	{"name", "Name"}, {"username", "Username"}, {"email", "Email"}, {"mobile", "Mobile"}, {"source", "Source"},
	{"status", "Status"}, {"selfserve", "Self-serve"}, {"expires", "Password expires"}, {"locked", "Locked"},
	{"access", "Last self-serve access"}, {"customer", "Customer"},
}

// GridProps is an end-user grid page: the tenant-wide one or a customer's.
type GridProps struct {
	CSRF string
	// BasePath is the grid's path: "/end-users" or "/customers/ID/end-users".
	BasePath         string
	CustomerID       string // set on a customer's grid
	CustomerName     string
	CustomerArchived bool
	Customers        []Option // tenant-wide grid: the customer filter
	TenantSelfServe  bool     // the tenant-wide switch (off: every switch is greyed out)
	IsAdmin          bool     // may change Settings (the notice links there)
	// CanManageCustomers: the login may restore an archived customer.
	CanManageCustomers bool

	// Filter state, as in the URL.
	Customer, Query, Status, SelfServe, Source, Locked, Expiring, Sort string
	Desc                                                               bool
	Filtered                                                           bool // a search or filter narrows the view
	// Values is the view's URL query (filters, sort, page) without the
	// customer of a customer's grid.
	Values url.Values

	Rows                 []Row
	Total, Page, PerPage int
	Pages                int
	Selected             string // SelectNone, SelectPage or SelectAll
	// OOB is set when Results is sent alone (htmx): it then also refreshes
	// the filter's sort fields out of band.
	OOB bool
}

// ActiveFilters is the number of filters narrowing the view (the search
// and the sort not counted; a customer's grid is always on its customer).
func (p GridProps) ActiveFilters() int {
	n := 0
	for _, v := range [...]string{p.Status, p.SelfServe, p.Source, p.Locked, p.Expiring} {
		if v != "" {
			n++
		}
	}
	if p.Customer != "" && !p.CustomerGrid() {
		n++
	}
	return n
}

// ActiveFiltersText follows "Filters" in the filters' summary: " (2 active)",
// or nothing (app.js writes the same as filters change).
func (p GridProps) ActiveFiltersText() string {
	if n := p.ActiveFilters(); n > 0 {
		return " (" + strconv.Itoa(n) + " active)"
	}
	return ""
}

// CustomerGrid reports whether this is a customer's grid.
func (p GridProps) CustomerGrid() bool { return p.CustomerID != "" }

// ImportURL is the customer's CSV import page.
func (p GridProps) ImportURL() string { return "/customers/" + p.CustomerID + "/end-users/import" }

// url is path with the view's query, less the keys in drop, plus the
// key-value pairs in set, encoded as url.Values.Encode would (keys sorted).
// It runs for every link of the grid, so it builds the string directly.
func (p GridProps) url(path string, drop []string, set ...string) string {
	var kbuf [16]string
	keys := kbuf[:0]
	for k := range p.Values {
		if !slices.Contains(drop, k) && !setHas(set, k) {
			keys = append(keys, k)
		}
	}
	for i := 0; i+1 < len(set); i += 2 {
		keys = append(keys, set[i])
	}
	if len(keys) == 0 {
		return path
	}
	slices.Sort(keys)
	var b strings.Builder
	b.Grow(len(path) + 96)
	b.WriteString(path)
	sep := byte('?')
	add := func(k, v string) {
		b.WriteByte(sep)
		sep = '&'
		b.WriteString(url.QueryEscape(k))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(v))
	}
	for _, k := range keys {
		if v, ok := setValue(set, k); ok {
			add(k, v)
			continue
		}
		for _, v := range p.Values[k] {
			add(k, v)
		}
	}
	return b.String()
}

func setHas(set []string, k string) bool {
	_, ok := setValue(set, k)
	return ok
}

func setValue(set []string, k string) (string, bool) {
	for i := 0; i+1 < len(set); i += 2 {
		if set[i] == k {
			return set[i+1], true
		}
	}
	return "", false
}

// URL is the current view's address.
func (p GridProps) URL() string { return p.url(p.BasePath, nil) }

// SortKey is the current sort column ("name" by default).
func (p GridProps) SortKey() string {
	if p.Sort == "" {
		return "name"
	}
	return p.Sort
}

var sortDrop = []string{"page", "dir", "sort"}

// SortURL sorts by col: ascending first, the other direction when col is the
// current sort. Paging starts again.
func (p GridProps) SortURL(col string) string {
	desc := col == p.SortKey() && !p.Desc
	switch {
	case desc:
		return p.url(p.BasePath, sortDrop, "dir", "desc", "sort", col)
	case col == "name":
		return p.url(p.BasePath, sortDrop)
	}
	return p.url(p.BasePath, sortDrop, "sort", col)
}

// AriaSort is a column header's aria-sort value.
func (p GridProps) AriaSort(col string) string {
	if col != p.SortKey() {
		return "none"
	}
	if p.Desc {
		return "descending"
	}
	return "ascending"
}

var pageDrop = []string{"page"}

// PageURL is page n of the view.
func (p GridProps) PageURL(n int) string {
	if n > 1 {
		return p.url(p.BasePath, pageDrop, "page", strconv.Itoa(n))
	}
	return p.url(p.BasePath, pageDrop)
}

// SelectURL is the view with a selection mode (not pushed to history).
func (p GridProps) SelectURL(mode string) string {
	if mode == "" {
		mode = "none"
	}
	return p.url(p.BasePath, nil, "select", mode)
}

// CSVURL exports every end user of the view (all pages).
func (p GridProps) CSVURL() string {
	return p.url(p.BasePath+".csv", pageDrop)
}

// ClearURL is the view without search and filters (a customer's grid stays
// on its customer).
func (p GridProps) ClearURL() string { return p.BasePath }

// BulkFields are the hidden fields of the bulk form: the view's filter
// (customer included), sort and page, so the grid comes back the same.
func (p GridProps) BulkFields() [][2]string {
	var out [][2]string
	keys := make([]string, 0, len(p.Values))
	for k := range p.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range p.Values[k] {
			out = append(out, [2]string{k, v})
		}
	}
	if p.CustomerID != "" {
		out = append(out, [2]string{"customer", p.CustomerID}, [2]string{"view", "customer"})
	}
	return out
}

// FirstShown and LastShown number the rows of this page (1-based).
func (p GridProps) FirstShown() int { return (p.Page-1)*p.PerPage + 1 }

// LastShown is the number of the page's last row.
func (p GridProps) LastShown() int { return p.FirstShown() + len(p.Rows) - 1 }

// PageWindow is the page numbers to link (0 stands for a gap "…").
func (p GridProps) PageWindow() []int {
	var out []int
	last := 0
	for n := 1; n <= p.Pages; n++ {
		if n == 1 || n == p.Pages || (n >= p.Page-2 && n <= p.Page+2) {
			if last != 0 && n != last+1 {
				out = append(out, 0)
			}
			out = append(out, n)
			last = n
		}
	}
	return out
}

// Row is one end user in the grid.
type Row struct {
	ID, Name, Username string
	Email, Mobile      string
	// EmailFrom/MobileFrom say where a value came from ("from Active
	// Directory", "typed by a technician" …); the Short forms are the marker.
	EmailFrom, EmailFromShort   string
	MobileFrom, MobileFromShort string
	Source                      string // label
	StatusKey, StatusLabel      string
	SelfServe                   bool
	Active                      bool // self-serve and notifications are active
	Privileged                  bool
	Expires                     string // date in the tenant's time zone; "" for none
	ExpiresState                string // "", "expired", "soon"
	ExpiresIn                   string // "in 3 days", "today"
	Locked                      bool
	LastAccess                  string // "" for never
	CustomerID, CustomerName    string
	TenantSelfServe             bool
	CSRF                        string

	Checked              bool   // the selection
	Editing              string // "email" or "mobile" while editing
	EditValue, EditError string
	Focus                string // what gets the focus after the swap: "email", "mobile", "switch"
}

// RowID is the row's element id.
func (r Row) RowID() string { return "eu-" + r.ID }

// Value returns the row's email or mobile.
func (r Row) Value(field string) string {
	if field == "email" {
		return r.Email
	}
	return r.Mobile
}

// From is where the field's value came from (title of the marker).
func (r Row) From(field string) string {
	if field == "email" {
		return r.EmailFrom
	}
	return r.MobileFrom
}

// FromShort is the field's marker text.
func (r Row) FromShort(field string) string {
	if field == "email" {
		return r.EmailFromShort
	}
	return r.MobileFromShort
}

// FieldLabel is the display name of a contact field.
func FieldLabel(field string) string {
	if field == "email" {
		return "Email"
	}
	return "Mobile"
}

// StatusBadge is the badge class of a status key.
func StatusBadge(key string) string {
	switch key {
	case "registered":
		return "badge badge-info"
	case "accessed":
		return "badge badge-ok"
	}
	return "badge badge-muted"
}

// Thousands formats n with thousands separators (12,345).
func Thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
