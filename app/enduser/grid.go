package enduser

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// Row is one line of the end-user grid: the end user and its customer's name
// (shown on the tenant-wide grid). Grid and Page fill the fields the grid
// shows (gridColumns), not the welcome, link and bookkeeping times.
type Row struct {
	EndUser
	CustomerName string
}

// gridRow is an end user with its customer's name, as bun scans it (the row
// endpoints and the export; the grid's page is scanned by scanGrid).
type gridRow struct {
	EndUser      `bun:",extend"`
	CustomerName string `bun:"customer_name"`
}

// visibleCustomerJoin joins an end user (eu) to its customer (c), leaving out
// archived customers: their end users are hidden everywhere in the grid.
const visibleCustomerJoin = "JOIN customers AS c ON c.id = eu.customer_id AND c.archived_at IS NULL"

// gridColumns are the end-user columns the grid shows or sorts by (not
// eu.*: reading fewer columns makes a page measurably cheaper).
const gridColumns = "eu.id, eu.tenant_id, eu.customer_id, eu.username, eu.first_name, eu.last_name, eu.email, eu.email_source, " +
	"eu.mobile, eu.mobile_source, eu.source, eu.self_serve_enabled, eu.privileged, eu.locked, eu.password_expires_at, " +
	"eu.first_access_at, eu.last_access_at, eu.status"

// gridColumnsSQLite are gridColumns with the three times as plain text:
// modernc's driver first tries to read a TIMESTAMP column's text in Go's
// time.String format, which never matches bun's, and allocates an error for
// each of the page's 150 times before trying the right format; gridTime
// reads bun's format first.
var gridColumnsSQLite = strings.NewReplacer("eu.password_expires_at", "eu.password_expires_at || ''",
	"eu.first_access_at", "eu.first_access_at || ''", "eu.last_access_at", "eu.last_access_at || ''").Replace(gridColumns)

// notArchived keeps end users (eu) whose customer is not archived, without
// a join: the few archived customers' ids are looked up once per statement.
const notArchived = "eu.customer_id NOT IN (SELECT ca.id FROM customers AS ca WHERE ca.tenant_id = ? AND ca.archived_at IS NOT NULL)"

// perPage bounds f.PerPage.
func (f Filter) perPage() int {
	switch {
	case f.PerPage <= 0:
		return DefaultPerPage
	case f.PerPage > 500:
		return 500
	}
	return f.PerPage
}

func (f Filter) page() int { return max(1, f.Page) }

func (f Filter) offset() int { return (f.page() - 1) * f.perPage() }

// OrderBy is the ORDER BY list of the filter's sort: the sort column in the
// chosen direction, NULLs last on both databases (written as "x IS NULL, x"
// so that an index on those expressions serves it on SQLite too), then eu.id
// so that rows with equal keys keep one order across pages.
func (f Filter) OrderBy() []string {
	sort := f.Sort
	if _, ok := SortColumns[sort]; !ok {
		sort = "name"
	}
	dir := " ASC"
	if f.Desc {
		dir = " DESC"
	}
	var out []string
	for _, e := range splitTopLevel(SortColumns[sort]) {
		if gridNullable[sort] {
			out = append(out, "("+e+" IS NULL) ASC")
		}
		out = append(out, e+dir)
	}
	return append(out, "eu.id"+dir)
}

// gridNullable are the sort columns that may be NULL.
var gridNullable = map[string]bool{"expires": true, "access": true}

// splitTopLevel splits a comma-separated SQL list outside parentheses.
func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// Grid returns one page of the tenant's end users that match f, in f's sort
// order, and how many match in all. It is one statement: the page (end users
// of non-archived customers, the filter, ORDER BY with an id tie-break,
// LIMIT/OFFSET) with their customers' names, and the total as a scalar
// subquery (see gridStatement and countQuery). Only a page past the end (no
// rows) costs a second statement to learn the total.
func Grid(ctx context.Context, idb bun.IDB, tenantID string, f Filter, now time.Time) (rows []Row, total int, err error) {
	rows, total, err = scanGrid(ctx, gridStatement(idb, tenantID, f, now, true), f.perPage())
	if err != nil {
		return nil, 0, fmt.Errorf("enduser: grid: %w", err)
	}
	if len(rows) == 0 {
		if f.page() == 1 {
			return nil, 0, nil
		}
		n, err := Count(ctx, idb, tenantID, f, now)
		return nil, n, err
	}
	return rows, total, nil
}

// scanGrid runs the grid statement and scans its columns (gridColumns,
// customer_name, grid_total, in that order) by position. bun's scan looked
// each column up by name in each row (hashing its name), which cost about as
// much as running the statement on SQLite.
func scanGrid(ctx context.Context, q *bun.SelectQuery, capacity int) ([]Row, int, error) {
	rs, err := q.Rows(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer rs.Close()
	out := make([]Row, 0, capacity)
	var total int
	var status int
	var expires, first, last gridTime
	for rs.Next() {
		out = append(out, Row{})
		r := &out[len(out)-1]
		u := &r.EndUser
		if err := rs.Scan(&u.ID, &u.TenantID, &u.CustomerID, &u.Username, &u.FirstName, &u.LastName, &u.Email, &u.EmailSource,
			&u.Mobile, &u.MobileSource, &u.Source, &u.SelfServeEnabled, &u.Privileged, &u.Locked, &expires,
			&first, &last, &status, &r.CustomerName, &total); err != nil {
			return nil, 0, err
		}
		u.PasswordExpiresAt, u.FirstAccessAt, u.LastAccessAt = expires.ptr(), first.ptr(), last.ptr()
	}
	if err := rs.Err(); err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// gridTime scans a nullable timestamp as both drivers return it: a
// time.Time (or NULL), or on SQLite text when the column's declared type is
// not visible to the driver.
type gridTime struct {
	t     time.Time
	valid bool
}

func (g *gridTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		g.valid = false
	case time.Time:
		g.t, g.valid = v, true
	case string:
		return g.parse(v)
	case []byte:
		return g.parse(string(v))
	default:
		return fmt.Errorf("enduser: grid: a time scanned from %T", v)
	}
	return nil
}

func (g *gridTime) parse(s string) error {
	if t, ok := parseBunTime(s); ok {
		g.t, g.valid = t, true
		return nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			g.t, g.valid = t, true
			return nil
		}
	}
	return fmt.Errorf("enduser: grid: unreadable time %q", s)
}

// parseBunTime reads the text bun writes for a time on SQLite,
// "2006-01-02 15:04:05.999999999-07:00" (no fraction, or a shorter one, and
// "Z" for the zone are read too), without time.Parse's walk through the
// layout: a page has 150 of them, and time.Parse was a few percent of a grid
// request's CPU. ok is false for anything else (time.Parse then decides).
func parseBunTime(s string) (t time.Time, ok bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	num := func(s string) (int, bool) {
		n := 0
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			n = n*10 + int(s[i]-'0')
		}
		return n, true
	}
	year, ok1 := num(s[0:4])
	month, ok2 := num(s[5:7])
	day, ok3 := num(s[8:10])
	hour, ok4 := num(s[11:13])
	minute, ok5 := num(s[14:16])
	sec, ok6 := num(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	rest, nsec := s[19:], 0
	if rest[0] == '.' {
		i := 1
		for i < len(rest) && i <= 9 && rest[i] >= '0' && rest[i] <= '9' {
			nsec = nsec*10 + int(rest[i]-'0')
			i++
		}
		if i == 1 || (i < len(rest) && rest[i] >= '0' && rest[i] <= '9') {
			return time.Time{}, false
		}
		for d := i; d <= 9; d++ {
			nsec *= 10
		}
		rest = rest[i:]
	}
	offset := 0
	switch {
	case rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := num(rest[1:3])
		om, ok2 := num(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t = time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // 31 February and the like
		return time.Time{}, false
	}
	return t.Add(-time.Duration(offset) * time.Second), true
}

// ptr returns a new *time.Time of the value (nil for NULL), in UTC as bun
// scans them.
func (g *gridTime) ptr() *time.Time {
	if !g.valid {
		return nil
	}
	t := g.t.UTC()
	return &t
}

// gridStatement is the grid's one statement (see Grid); without withCount
// the total column is -1. The page runs along the sort's index with its
// LIMIT, and only its rows meet the customers for their names (a nested
// loop on the customers' primary key; the join keeps archived customers out
// when the sort is by customer). One level parses and runs faster than the
// page as a derived table joined to the customers and sorted again (about
// 15% on SQLite, a third on PostgreSQL), and faster on PostgreSQL than a
// scalar subquery per row (which scans the small customers table each time).
func gridStatement(idb bun.IDB, tenantID string, f Filter, now time.Time, withCount bool) *bun.SelectQuery {
	cols := gridColumns
	if idb.Dialect().Name() == dialect.SQLite {
		cols = gridColumnsSQLite
	}
	q := idb.NewSelect().TableExpr("end_users AS eu").ColumnExpr(cols).ColumnExpr("c.name AS customer_name")
	if f.Sort == "customer" {
		q = q.Join(visibleCustomerJoin+" AND c.tenant_id = ?", tenantID)
	} else {
		q = q.Join("JOIN customers AS c ON c.id = eu.customer_id").Where(notArchived, tenantID)
	}
	if withCount {
		q = q.ColumnExpr("(?) AS grid_total", countQuery(idb, tenantID, f, now))
	} else {
		q = q.ColumnExpr("-1 AS grid_total")
	}
	q = f.wherePage(q, tenantID, now)
	for _, o := range f.OrderBy() {
		q = q.OrderExpr(o)
	}
	return q.Limit(int64(f.perPage())).Offset(int64(f.offset()))
}

// GridSQL is the SQL of the grid's statement (with the total when withCount),
// for EXPLAIN in benchmarks and tests.
func GridSQL(idb bun.IDB, tenantID string, f Filter, now time.Time, withCount bool) string {
	return gridStatement(idb, tenantID, f, now, withCount).String()
}

// countQuery counts the end users matching f. Without a search or an expiry
// window it adds up the counts that triggers on end_users keep exact
// (migration 0010) instead of counting end users: for a customer, its rows of
// end_user_counts (at most 60); for the whole tenant, its rows of
// end_user_totals (at most 60) less the archived customers' rows of
// end_user_counts. Otherwise it counts end users, through the trigram index
// of the search or the expiry index.
func countQuery(idb bun.IDB, tenantID string, f Filter, now time.Time) *bun.SelectQuery {
	if !f.countable() {
		return countEndUsersQuery(idb, tenantID, f, now)
	}
	if f.CustomerID != "" {
		q := idb.NewSelect().TableExpr("end_user_counts AS k").ColumnExpr("COALESCE(SUM(k.n), 0)").
			Where("k.customer_id NOT IN (SELECT ca.id FROM customers AS ca WHERE ca.tenant_id = ? AND ca.archived_at IS NOT NULL)", tenantID)
		return f.whereCounts(q, "k", tenantID)
	}
	all := f.whereCounts(idb.NewSelect().TableExpr("end_user_totals AS t").ColumnExpr("COALESCE(SUM(t.n), 0)"), "t", tenantID)
	archived := idb.NewSelect().TableExpr("end_user_counts AS k").ColumnExpr("COALESCE(SUM(k.n), 0)").
		Where("k.customer_id IN (SELECT ca.id FROM customers AS ca WHERE ca.tenant_id = ? AND ca.archived_at IS NOT NULL)", tenantID)
	archived = f.whereCounts(archived, "k", tenantID)
	return idb.NewSelect().ColumnExpr("(?) - (?)", all, archived)
}

// countEndUsersQuery counts the end users matching f one by one.
func countEndUsersQuery(idb bun.IDB, tenantID string, f Filter, now time.Time) *bun.SelectQuery {
	q := idb.NewSelect().TableExpr("end_users AS eu").ColumnExpr("count(*)").Where(notArchived, tenantID)
	return f.whereCount(q, tenantID, now)
}

// Count returns how many of the tenant's end users (of non-archived
// customers) match f.
func Count(ctx context.Context, idb bun.IDB, tenantID string, f Filter, now time.Time) (int, error) {
	var n int
	if err := countQuery(idb, tenantID, f, now).Scan(ctx, &n); err != nil {
		return 0, fmt.Errorf("enduser: count: %w", err)
	}
	return n, nil
}

// Pages is the number of pages of total rows at f's page size (at least 1).
func (f Filter) Pages(total int) int {
	per := f.perPage()
	return max(1, (total+per-1)/per)
}

// Filtered reports whether the filter narrows the view (a search or any
// filter, not sort or page): an empty result then means "no matches", not
// "no end users yet". The customer of a customer's grid does not count.
func (f Filter) Filtered() bool {
	return f.Query != "" || f.Status != "" || f.SelfServe != "" || f.Source != "" || f.Locked != "" || f.Expiring > 0
}

// VisibleRow returns one end user of the tenant with its customer's name, for
// the grid's row endpoints; end users of archived customers are left out.
// Errors: NotFound (also for another tenant's end user).
func VisibleRow(ctx context.Context, idb bun.IDB, tenantID, id string) (*Row, error) {
	var r gridRow
	err := idb.NewSelect().Model(&r).ModelTableExpr("end_users AS eu").
		ColumnExpr(endUserColumns()).ColumnExpr("c.name AS customer_name").
		Join(visibleCustomerJoin).Where("eu.tenant_id = ? AND eu.id = ?", tenantID, id).Scan(ctx)
	if err != nil {
		return nil, gridNotFoundOr("get", err)
	}
	return &Row{EndUser: r.EndUser, CustomerName: r.CustomerName}, nil
}

// Page is Grid on the service's database (the grid's one statement), through
// its read connections.
func (s *GridService) Page(ctx context.Context, tenantID string, f Filter, now time.Time) (rows []Row, total int, err error) {
	return Grid(ctx, s.db.Read, tenantID, f, now)
}
