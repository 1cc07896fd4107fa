// Package customers holds the customer screens: the list with its search,
// sort and pages, the customer's page, and the create and edit forms.
package customers

import (
	"net/url"

	"github.com/a-h/templ"
	"strconv"
)

// Option is one choice of a select.
type Option struct {
	Value, Label string
}

// OptGroup is a labelled group of choices (time zones by region).
type OptGroup struct {
	Label   string
	Options []Option
}

// Counts are a customer's end users by what the list shows.
type Counts struct {
	EndUsers, SelfServe, Registered, Accessed, Locked int
}

// Row is one customer in the list.
type Row struct {
	ID       string
	Name     string
	Domains  []string
	Source   string // label
	Created  string // formatted date
	Archived bool
	Counts
}

// Column is a header of the list; Key "" is not sortable.
type Column struct {
	Key, Label string
	Title      string // the full name when Label is short
	Num        bool
	DescFirst  bool // the first click sorts descending (counts, dates)
}

// Columns are the list's columns, in order.
var Columns = []Column{
	{Key: "name", Label: "Name"},
	{Label: "Domains"},
	{Key: "end_users", Label: "End users", Num: true, DescFirst: true},
	{Key: "self_serve", Label: "Self-serve", Title: "End users with self-serve on", Num: true, DescFirst: true},
	{Key: "registered", Label: "Registered", Title: "Status: Registration complete", Num: true, DescFirst: true},
	{Key: "accessed", Label: "Accessed", Title: "Status: Accessed self-serve", Num: true, DescFirst: true},
	{Key: "locked", Label: "Locked", Title: "Locked accounts", Num: true, DescFirst: true},
	{Key: "source", Label: "Source"},
	{Key: "created", Label: "Created", DescFirst: true},
}

// ListProps is the customers page: its URL state and one page of rows.
type ListProps struct {
	Query    string
	Sort     string // a Columns key; "name" by default
	Desc     bool
	Archived bool // the archived customers
	Page     int  // 1-based
	Pages    int
	Total    int // customers matching, on every page
	Rows     []Row
	// CanManage shows the create button (Primary, Super, Technician).
	CanManage bool
}

// values is the list's URL state with changes applied.
func (p ListProps) values(sort string, desc bool, page int, archived bool) url.Values {
	v := url.Values{}
	if p.Query != "" {
		v.Set("q", p.Query)
	}
	if sort != "" && sort != "name" {
		v.Set("sort", sort)
	}
	if desc {
		v.Set("dir", "desc")
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if archived {
		v.Set("archived", "1")
	}
	return v
}

func link(v url.Values) string {
	if len(v) == 0 {
		return "/customers"
	}
	return "/customers?" + v.Encode()
}

// SortURL is the link of a column header: the column sorted (the other way
// when it is already the sort), from the first page, keeping the search.
func (p ListProps) SortURL(c Column) string {
	desc := c.DescFirst
	if p.Sort == c.Key {
		desc = !p.Desc
	}
	return link(p.values(c.Key, desc, 1, p.Archived))
}

// AriaSort is the aria-sort value of a column header.
func (p ListProps) AriaSort(c Column) string {
	switch {
	case p.Sort != c.Key:
		return "none"
	case p.Desc:
		return "descending"
	}
	return "ascending"
}

// Arrow marks the sorted column.
func (p ListProps) Arrow(c Column) string {
	switch {
	case p.Sort != c.Key:
		return ""
	case p.Desc:
		return " ↓"
	}
	return " ↑"
}

// PageURL is the link to page n of the same view.
func (p ListProps) PageURL(n int) string { return link(p.values(p.Sort, p.Desc, n, p.Archived)) }

// ClearSearchURL is the same view without the search.
func (p ListProps) ClearSearchURL() string {
	p.Query = ""
	return link(p.values(p.Sort, p.Desc, 1, p.Archived))
}

// ToggleArchivedURL switches between the active and the archived customers.
func (p ListProps) ToggleArchivedURL() string { return link(p.values(p.Sort, p.Desc, 1, !p.Archived)) }

// PageItems are the page numbers to show, 0 standing for a gap.
func (p ListProps) PageItems() []int {
	var out []int
	for n := 1; n <= p.Pages; n++ {
		if n == 1 || n == p.Pages || n >= p.Page-2 && n <= p.Page+2 {
			out = append(out, n)
		} else if len(out) > 0 && out[len(out)-1] != 0 {
			out = append(out, 0)
		}
	}
	return out
}

// Filtered reports whether a search narrows the list.
func (p ListProps) Filtered() bool { return p.Query != "" }

// FormProps is the create or edit form.
type FormProps struct {
	CSRF     string
	ID       string // "" for a new customer
	Heading  string
	Name     string
	Domains  string
	TimeZone string
	Notes    string
	// TenantZone is the MSP's time zone, used when TimeZone is "".
	TenantZone string
	Zones      []OptGroup
	Errors     map[string]string
}

// Action is where the form posts.
func (p FormProps) Action() string {
	if p.ID == "" {
		return "/customers"
	}
	return "/customers/" + p.ID
}

// Cancel is where Cancel goes.
func (p FormProps) Cancel() string {
	if p.ID == "" {
		return "/customers"
	}
	return "/customers/" + p.ID
}

// ShowProps is a customer's page.
type ShowProps struct {
	CSRF      string
	ID        string
	Name      string
	Domains   []string
	TimeZone  string // label: the customer's zone, or the MSP's
	Notes     string
	Source    string // label
	Created   string
	Archived  string // when it was archived; "" when active
	CanManage bool
	Counts
	// Directory is the Active Directory card (agents, settings, imports).
	Directory templ.Component
}

// EndUsersURL is the customer's end-user grid.
func (p ShowProps) EndUsersURL() string { return "/customers/" + p.ID + "/end-users" }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func itoa(n int) string { return strconv.Itoa(n) }
