package enduser

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Filter is the grid's view: search, filters, sort and page. It lives in the
// URL query (see Parse and Values), so a link or a refresh shows the same view.
type Filter struct {
	CustomerID string // "" = every customer of the tenant
	Query      string // name, username or email (substring, case-insensitive)
	Status     string // "", not_registered, registered, accessed
	SelfServe  string // "", on, off
	Source     string // "", manual, csv, ad, m365, local
	Locked     string // "", yes, no
	Expiring   int    // > 0: password expires within this many days (and not already expired)
	Sort       string // a key of SortColumns; "" = name
	Desc       bool
	Page       int // 1-based
	PerPage    int // 50 by default
}

// SortColumns are the sortable columns and their SQL (end_users aliased eu,
// and for "customer" the customer joined as c).
var SortColumns = map[string]string{
	"name":      "lower(eu.last_name), lower(eu.first_name)",
	"username":  "lower(eu.username)",
	"email":     "lower(eu.email)",
	"mobile":    "eu.mobile",
	"source":    "eu.source",
	"status":    StatusSQL("eu."),
	"selfserve": "eu.self_serve_enabled",
	"expires":   "eu.password_expires_at",
	"locked":    "eu.locked",
	"access":    "eu.last_access_at",
	"customer":  "lower(c.name)",
}

// DefaultPerPage is the grid's page size.
const DefaultPerPage = 50

// Parse reads a Filter from URL query values, ignoring anything unknown.
func Parse(v url.Values) Filter {
	f := Filter{
		CustomerID: strings.TrimSpace(v.Get("customer")),
		Query:      strings.TrimSpace(v.Get("q")),
		Status:     oneOf(v.Get("status"), "not_registered", "registered", "accessed"),
		SelfServe:  oneOf(v.Get("self_serve"), "on", "off"),
		Source:     oneOf(v.Get("source"), SourceManual, SourceCSV, SourceAD, SourceM365, SourceLocal),
		Locked:     oneOf(v.Get("locked"), "yes", "no"),
		Sort:       v.Get("sort"),
		Desc:       v.Get("dir") == "desc",
		PerPage:    DefaultPerPage,
	}
	if _, ok := SortColumns[f.Sort]; !ok {
		f.Sort = ""
	}
	if n, err := strconv.Atoi(v.Get("expiring")); err == nil && n > 0 && n <= 365 {
		f.Expiring = n
	}
	if n, err := strconv.Atoi(v.Get("page")); err == nil && n > 1 {
		f.Page = n
	} else {
		f.Page = 1
	}
	if len(f.Query) > 200 {
		f.Query = f.Query[:200]
	}
	return f
}

func oneOf(s string, allowed ...string) string {
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	return ""
}

// Values writes the filter back as URL query values (empty ones left out).
// CustomerID is included only when includeCustomer is set (the tenant-wide grid).
func (f Filter) Values(includeCustomer bool) url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	if includeCustomer {
		set("customer", f.CustomerID)
	}
	set("q", f.Query)
	set("status", f.Status)
	set("self_serve", f.SelfServe)
	set("source", f.Source)
	set("locked", f.Locked)
	if f.Expiring > 0 {
		v.Set("expiring", strconv.Itoa(f.Expiring))
	}
	set("sort", f.Sort)
	if f.Desc {
		v.Set("dir", "desc")
	}
	if f.Page > 1 {
		v.Set("page", strconv.Itoa(f.Page))
	}
	return v
}

// Describe is a short human description of the filter, for the audit trail.
func (f Filter) Describe() string {
	var parts []string
	add := func(k, val string) {
		if val != "" {
			parts = append(parts, k+"="+val)
		}
	}
	add("customer", f.CustomerID)
	add("search", f.Query)
	add("status", f.Status)
	add("self-serve", f.SelfServe)
	add("source", f.Source)
	add("locked", f.Locked)
	if f.Expiring > 0 {
		parts = append(parts, "expiring within "+strconv.Itoa(f.Expiring)+" days")
	}
	if len(parts) == 0 {
		return "all end users"
	}
	return strings.Join(parts, ", ")
}

// Where adds the filter's conditions (never sort or page) to q, whose
// end_users table is aliased eu. The tenant condition is always added.
func (f Filter) Where(q *bun.SelectQuery, tenantID string, now time.Time) *bun.SelectQuery {
	return q.Where("eu.tenant_id = ?", tenantID).ApplyQueryBuilder(func(qb bun.QueryBuilder) bun.QueryBuilder {
		return f.apply(qb, now)
	})
}

// WhereUpdate adds the filter's conditions to an UPDATE of end_users aliased eu.
func (f Filter) WhereUpdate(q *bun.UpdateQuery, tenantID string, now time.Time) *bun.UpdateQuery {
	return q.Where("eu.tenant_id = ?", tenantID).ApplyQueryBuilder(func(qb bun.QueryBuilder) bun.QueryBuilder {
		return f.apply(qb, now)
	})
}

func (f Filter) apply(qb bun.QueryBuilder, now time.Time) bun.QueryBuilder {
	if f.CustomerID != "" {
		qb = qb.Where("eu.customer_id = ?", f.CustomerID)
	}
	if f.Query != "" {
		like := "%" + escapeLike(strings.ToLower(f.Query)) + "%"
		qb = qb.WhereGroup(" AND ", func(g bun.QueryBuilder) bun.QueryBuilder {
			return g.Where(`lower(eu.first_name || ' ' || eu.last_name) LIKE ? ESCAPE '\'`, like).
				WhereOr(`lower(eu.username) LIKE ? ESCAPE '\'`, like).
				WhereOr(`lower(eu.email) LIKE ? ESCAPE '\'`, like)
		})
	}
	switch f.Status {
	case "not_registered":
		qb = qb.Where(StatusSQL("eu.") + " = 0")
	case "registered":
		qb = qb.Where(StatusSQL("eu.") + " = 1")
	case "accessed":
		qb = qb.Where(StatusSQL("eu.") + " = 2")
	}
	switch f.SelfServe {
	case "on":
		qb = qb.Where("eu.self_serve_enabled = ?", true)
	case "off":
		qb = qb.Where("eu.self_serve_enabled = ?", false)
	}
	if f.Source != "" {
		qb = qb.Where("eu.source = ?", f.Source)
	}
	switch f.Locked {
	case "yes":
		qb = qb.Where("eu.locked = ?", true)
	case "no":
		qb = qb.Where("eu.locked = ?", false)
	}
	if f.Expiring > 0 {
		qb = qb.Where("eu.password_expires_at >= ? AND eu.password_expires_at < ?", now.UTC(), now.UTC().AddDate(0, 0, f.Expiring))
	}
	return qb
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Selection is what a bulk action applies to: the ids ticked on the page, or
// every end user matching the filter ("select all N matching").
type Selection struct {
	IDs    []string
	All    bool
	Filter Filter
}

// ParseSelection reads a selection from a bulk form: repeated `ids`, or
// `all=1` with the grid's filter fields (as in Filter.Values(true)).
func ParseSelection(v url.Values) Selection {
	s := Selection{Filter: Parse(v)}
	if v.Get("all") == "1" {
		s.All = true
		return s
	}
	seen := map[string]bool{}
	for _, id := range v["ids"] {
		if id = strings.TrimSpace(id); id != "" && !seen[id] && len(s.IDs) < 1000 {
			seen[id] = true
			s.IDs = append(s.IDs, id)
		}
	}
	return s
}

// Empty reports whether nothing is selected.
func (s Selection) Empty() bool { return !s.All && len(s.IDs) == 0 }
