package enduser

import (
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
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
	"status":    "eu.status",
	"selfserve": "eu.self_serve_enabled",
	"expires":   "eu.password_expires_at",
	"locked":    "eu.locked",
	"access":    "eu.last_access_at",
	"customer":  "lower(c.name), c.id",
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
	return f.whereWith(q, tenantID, now, f.plan(q.Dialect().Name(), false))
}

// whereWith adds the tenant condition and the filter's, written as o says.
func (f Filter) whereWith(q *bun.SelectQuery, tenantID string, now time.Time, o wherePlan) *bun.SelectQuery {
	return q.Where(o.tenant, tenantID).ApplyQueryBuilder(func(qb bun.QueryBuilder) bun.QueryBuilder {
		return f.apply(qb, now, o)
	})
}

// wherePage is Where for a page of the grid in f's sort order. On SQLite a
// customer's grid sorted by a column that no index keeps in order for the
// tenant (self-serve, customer) reads the
// customer's end users through an index that leads with the customer and
// sorts them: without statistics SQLite otherwise took an index that leads
// with the tenant and read every end user of the tenant to find the
// customer's (enduser.Grid for a customer of 12,500 of 100,000 end users,
// by mobile, source or locked before migration 0025 indexed those: p50
// 46-49 ms -> 17-18 ms).
//
// The tenant's grid sorted by customer reads the
// customers in order (customers_tenant_name_idx) and each one's end users
// in turn: SQLite otherwise read the tenant's end users through an index
// that leads with the tenant and sorted all of them for each page (the
// grid's statement at 100,000 end users, p50 93 ms -> 1.4 ms; page 40
// descending 134 -> 6 ms). The sort names c.id after the customer's name
// (SortColumns): visible customers' names are unique (ignoring case), so the
// order is the same, and with it SQLite knows that reading the customers in
// order, each one's end users sorted by id, gives the page's order.
func (f Filter) wherePage(q *bun.SelectQuery, tenantID string, now time.Time) *bun.SelectQuery {
	o := f.plan(q.Dialect().Name(), false)
	// A customer's grid in an order no tenant index keeps, or the tenant's
	// grid by customer: the tenant condition must not pick the index.
	if o.sqlite && (f.CustomerID != "" && !tenantOrdered[f.Sort] || f.CustomerID == "" && f.Sort == "customer") {
		o.tenant = "+eu.tenant_id = ?"
	}
	return f.whereWith(q, tenantID, now, o)
}

// tenantOrdered are the sorts that an index leading with the tenant keeps in
// order (migrations 0008, 0019, 0024, 0025, 0026); "" is the default, by name.
var tenantOrdered = map[string]bool{"": true, "name": true, "username": true, "email": true, "status": true, "expires": true, "access": true,
	"mobile": true, "source": true, "locked": true}

// whereCount is Where for counting: on SQLite a search of one or two
// characters then reads the table in order (faster than through an index
// that does not narrow it).
func (f Filter) whereCount(q *bun.SelectQuery, tenantID string, now time.Time) *bun.SelectQuery {
	return f.whereWith(q, tenantID, now, f.plan(q.Dialect().Name(), true))
}

// WhereUpdate adds the filter's conditions to an UPDATE of end_users aliased eu.
func (f Filter) WhereUpdate(q *bun.UpdateQuery, tenantID string, now time.Time) *bun.UpdateQuery {
	o := f.plan(q.Dialect().Name(), true)
	return q.Where(o.tenant, tenantID).ApplyQueryBuilder(func(qb bun.QueryBuilder) bun.QueryBuilder {
		return f.apply(qb, now, o)
	})
}

// wherePlan is how apply writes the conditions for one statement.
type wherePlan struct {
	sqlite bool
	// tenant and customer are the tenant and customer conditions. On SQLite,
	// when the search's rows are to be found another way, they are written
	// "+eu.tenant_id = ?" (SQLite then uses no index for them): without
	// statistics SQLite takes any equality on an indexed column for a narrow
	// one, and would walk the tenant's 100,000 index entries to find 900
	// matches of a term the FTS5 index names directly (45 ms instead of 3).
	tenant, customer string
}

// plan chooses how to write f's conditions: on SQLite a search of three or
// more characters is found through the FTS5 index, and a shorter one (when
// counting or updating, where every matching row is read anyway) by reading
// the table in order. A count or update of one customer's end users reads
// them through an index that leads with the customer: SQLite (without
// statistics) otherwise took one that leads with the tenant and walked all
// its end users, whichever index came first; with the descending sort
// indexes of migration 0024 that doubled the time of enabling self-serve for
// a customer of 10,000 end users (BenchmarkGrid's bulk figure).
func (f Filter) plan(d dialect.Name, readsAll bool) wherePlan {
	o := wherePlan{sqlite: d == dialect.SQLite, tenant: "eu.tenant_id = ?", customer: "eu.customer_id = ?"}
	switch {
	case o.sqlite && f.Query != "" && (readsAll || trigramTerm(f.Query)):
		o.tenant, o.customer = "+eu.tenant_id = ?", "+eu.customer_id = ?"
	case o.sqlite && readsAll && f.CustomerID != "":
		o.tenant = "+eu.tenant_id = ?"
	}
	return o
}

func (f Filter) apply(qb bun.QueryBuilder, now time.Time, o wherePlan) bun.QueryBuilder {
	if f.CustomerID != "" {
		qb = qb.Where(o.customer, f.CustomerID)
	}
	if f.Query != "" {
		qb = searchWhere(qb, f.Query, o.sqlite)
	}
	if st, ok := statusValue(f.Status); ok {
		qb = qb.Where("eu.status = ?", st)
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

// statusValue is the status column's value of a Status filter key.
func statusValue(key string) (Status, bool) {
	switch key {
	case "not_registered":
		return StatusNotRegistered, true
	case "registered":
		return StatusRegistered, true
	case "accessed":
		return StatusAccessed, true
	}
	return 0, false
}

// trigramMin is the shortest search term (in characters) that the trigram
// indexes can answer; shorter terms are matched by LIKE alone.
const trigramMin = 3

// trigramTerm reports whether a search term is long enough for the trigram
// indexes.
func trigramTerm(term string) bool {
	return utf8.RuneCountInString(term) >= trigramMin && !strings.ContainsRune(term, 0)
}

// searchWhere adds the search: end users whose name ("first last"),
// username or email contains term, ignoring case as the database's lower()
// does (ASCII letters on SQLite, whose LIKE ignores their case anyway; the
// collation's on PostgreSQL). Case is folded on both sides in SQL, so that a
// term always finds the text it was copied from. Those LIKE conditions
// decide on both databases. For a term of three or more characters a
// trigram index first narrows the rows to those that may contain it
// (migration 0010): on SQLite the FTS5 table end_users_search (a phrase
// query of the term; its Unicode case folding covers LIKE's), on PostgreSQL
// a LIKE on the lowered fields joined by spaces, answered by pg_trgm's GIN
// index end_users_search_idx (a field that contains the term implies the
// joined text does).
func searchWhere(qb bun.QueryBuilder, term string, sqlite bool) bun.QueryBuilder {
	like := "%" + escapeLike(term) + "%"
	if trigramTerm(term) {
		if sqlite {
			phrase := `"` + strings.ReplaceAll(term, `"`, `""`) + `"`
			qb = qb.Where("eu.rowid IN (SELECT rowid FROM end_users_search WHERE end_users_search MATCH ?)", phrase)
		} else {
			qb = qb.Where(`lower(eu.first_name || ' ' || eu.last_name || ' ' || eu.username || ' ' || eu.email) LIKE lower(?) ESCAPE '\'`, like)
		}
	}
	if sqlite {
		return qb.WhereGroup(" AND ", func(g bun.QueryBuilder) bun.QueryBuilder {
			return g.Where(`(eu.first_name || ' ' || eu.last_name) LIKE ? ESCAPE '\'`, like).
				WhereOr(`eu.username LIKE ? ESCAPE '\'`, like).
				WhereOr(`eu.email LIKE ? ESCAPE '\'`, like)
		})
	}
	return qb.WhereGroup(" AND ", func(g bun.QueryBuilder) bun.QueryBuilder {
		return g.Where(`lower(eu.first_name || ' ' || eu.last_name) LIKE lower(?) ESCAPE '\'`, like).
			WhereOr(`lower(eu.username) LIKE lower(?) ESCAPE '\'`, like).
			WhereOr(`lower(eu.email) LIKE lower(?) ESCAPE '\'`, like)
	})
}

// countable reports whether the filter's total can be added up from the
// end_user_counts table (no search, no expiry window).
func (f Filter) countable() bool { return f.Query == "" && f.Expiring == 0 }

// whereCounts adds the filter's conditions to a query of end_user_counts
// or end_user_totals aliased a (see countable), the tenant's included.
func (f Filter) whereCounts(q *bun.SelectQuery, a, tenantID string) *bun.SelectQuery {
	q = q.Where(a+".tenant_id = ?", tenantID)
	if f.CustomerID != "" {
		q = q.Where(a+".customer_id = ?", f.CustomerID)
	}
	if st, ok := statusValue(f.Status); ok {
		q = q.Where(a+".status = ?", st)
	}
	switch f.SelfServe {
	case "on":
		q = q.Where(a+".self_serve_enabled = ?", true)
	case "off":
		q = q.Where(a+".self_serve_enabled = ?", false)
	}
	if f.Source != "" {
		q = q.Where(a+".source = ?", f.Source)
	}
	switch f.Locked {
	case "yes":
		q = q.Where(a+".locked = ?", true)
	case "no":
		q = q.Where(a+".locked = ?", false)
	}
	return q
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
