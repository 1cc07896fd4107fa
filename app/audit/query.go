package audit

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/db"
)

// DefaultPerPage is the page size of List when Filter.PerPage is not set.
const DefaultPerPage = 50

// maxPerPage bounds Filter.PerPage.
const maxPerPage = 500

// Filter selects events of one tenant. Empty fields do not filter.
type Filter struct {
	Action string    // substring, case-insensitive
	Actor  string    // substring of the actor's name, case-insensitive
	Target string    // substring of the target, case-insensitive
	Result string    // exact: ResultOK, ResultDenied or ResultFailed
	From   time.Time // events at or after From
	To     time.Time // events before To (exclusive)
	// Page is 1-based; PerPage defaults to DefaultPerPage (at most 500).
	Page, PerPage int
}

// IsZero reports whether the filter selects every event.
func (f Filter) IsZero() bool {
	return f.Action == "" && f.Actor == "" && f.Target == "" && f.Result == "" && f.From.IsZero() && f.To.IsZero()
}

func (f Filter) perPage() int {
	switch {
	case f.PerPage <= 0:
		return DefaultPerPage
	case f.PerPage > maxPerPage:
		return maxPerPage
	}
	return f.PerPage
}

// likePattern returns a LIKE pattern matching s as a substring, with LIKE's
// wildcards in s escaped (the queries use ESCAPE '\').
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// apply adds the filter's conditions (and the tenant) to q. The same SQL
// works on SQLite and PostgreSQL: LOWER(x) LIKE ? with an explicit escape.
func (f Filter) apply(q *bun.SelectQuery, tenantID string) *bun.SelectQuery {
	q = q.Where("tenant_id = ?", tenantID)
	if s := strings.TrimSpace(f.Action); s != "" {
		q = q.Where(`LOWER(action) LIKE ? ESCAPE '\'`, likePattern(s))
	}
	if s := strings.TrimSpace(f.Actor); s != "" {
		q = q.Where(`LOWER(actor) LIKE ? ESCAPE '\'`, likePattern(s))
	}
	if s := strings.TrimSpace(f.Target); s != "" {
		q = q.Where(`LOWER(target) LIKE ? ESCAPE '\'`, likePattern(s))
	}
	if f.Result != "" {
		q = q.Where("result = ?", f.Result)
	}
	if !f.From.IsZero() {
		q = q.Where("at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("at < ?", f.To.UTC())
	}
	return q
}

// List returns one page of the tenant's events that match f, newest first
// (by sequence number, so the order is stable), and how many match in all.
func List(ctx context.Context, idb bun.IDB, tenantID string, f Filter) ([]Event, int, error) {
	per := f.perPage()
	page := max(f.Page, 1)
	var events []Event
	q := f.apply(idb.NewSelect().Model(&events), tenantID).
		OrderExpr("seq DESC").Limit(int64(per)).Offset(int64((page - 1) * per))
	total, err := q.ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("audit: list: %w", err)
	}
	return events, int(total), nil
}

// csvHeader are the columns of ExportCSV.
var csvHeader = []string{"seq", "at_utc", "actor", "actor_id", "action", "target_type", "target_id", "target", "result", "detail", "ip", "prev_hash", "hash"}

// exportChunk is how many rows ExportCSV reads per query.
const exportChunk = 1000

// ExportCSV writes every event of the tenant that matches f (ignoring
// paging) to w as CSV, newest first. Rows are read in chunks so that large
// trails stream without holding a database connection while w is slow. Cells
// that a spreadsheet would take for a formula are prefixed with a quote.
func ExportCSV(ctx context.Context, idb bun.IDB, tenantID string, f Filter, w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	var before int64 // 0: no upper bound yet
	for {
		var events []Event
		q := f.apply(idb.NewSelect().Model(&events), tenantID)
		if before > 0 {
			q = q.Where("seq < ?", before)
		}
		if err := q.OrderExpr("seq DESC").Limit(exportChunk).Scan(ctx); err != nil {
			return fmt.Errorf("audit: export: %w", err)
		}
		for i := range events {
			e := &events[i]
			rec := []string{
				strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano), e.Actor, e.ActorID, e.Action,
				e.TargetType, e.TargetID, e.Target, e.Result, e.Detail, e.IP, e.PrevHash, e.Hash,
			}
			for j := range rec {
				rec[j] = SafeCell(rec[j])
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		if len(events) < exportChunk {
			return nil
		}
		before = events[len(events)-1].Seq
	}
}

// SafeCell defuses spreadsheet formula injection (OWASP "CSV injection") by
// putting a quote before a cell that a spreadsheet could read as a formula:
//
//   - one that starts with a tab or a carriage return (OWASP's list);
//   - one whose first character, after any leading white space, is = + - or
//     @. Spreadsheets trim leading spaces on import in places (LibreOffice's
//     "Trim spaces" option, Google Sheets), so " =1+1" is as risky as "=1+1".
//
// A + or - followed by nothing but digits (an E.164 mobile number such as
// +447700900123, or -5) is left alone: read as a formula it is the number
// itself, with no function, cell reference, range, operator or DDE command
// (each needs a letter or a character such as ( ! | : & or another
// operator), so it can neither run anything nor read other cells; quoting
// it would only corrupt every exported phone number.
func SafeCell(s string) string {
	if s == "" {
		return s
	}
	if s[0] == '\t' || s[0] == '\r' {
		return "'" + s
	}
	t := strings.TrimLeftFunc(s, unicode.IsSpace)
	if t == "" {
		return s
	}
	switch t[0] {
	case '=', '@':
		return "'" + s
	case '+', '-':
		if signedDigits(t) {
			return s
		}
		return "'" + s
	}
	return s
}

// signedDigits reports whether s is a sign followed by one or more ASCII digits.
func signedDigits(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// UnquoteCell undoes SafeCell for a cell read back from an exported file: it
// drops a leading quote that is followed by a character SafeCell (or the
// older rule that quoted every cell starting with = + - @ tab or carriage
// return) quotes for, so that "'+447700900123" and "'=x" come back as
// "+447700900123" and "=x". Any other leading quote is part of the value.
func UnquoteCell(s string) string {
	if len(s) < 2 || s[0] != '\'' {
		return s
	}
	rest := s[1:]
	if rest[0] == '\t' || rest[0] == '\r' {
		return rest
	}
	if t := strings.TrimLeftFunc(rest, unicode.IsSpace); t != "" {
		switch t[0] {
		case '=', '+', '-', '@':
			return rest
		}
	}
	return s
}

// Describe is a short human-readable summary of the filter, for the audit
// trail ("action~login, result=denied, from 2026-03-01"); "all events" when empty.
func (f Filter) Describe() string {
	var parts []string
	add := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			parts = append(parts, k+v)
		}
	}
	add("action~", f.Action)
	add("actor~", f.Actor)
	add("target~", f.Target)
	add("result=", f.Result)
	if !f.From.IsZero() {
		parts = append(parts, "from "+f.From.UTC().Format(time.RFC3339))
	}
	if !f.To.IsZero() {
		parts = append(parts, "before "+f.To.UTC().Format(time.RFC3339))
	}
	if len(parts) == 0 {
		return "all events"
	}
	return strings.Join(parts, ", ")
}

// Export records that actor exported the tenant's events matching f
// (action "audit.export"), then writes them to w as ExportCSV does. The
// tenant is actor's.
func Export(ctx context.Context, d *db.DB, now time.Time, a Actor, f Filter, w io.Writer) error {
	err := d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		return Record(ctx, tx, now, a, Entry{Action: "audit.export", TargetType: "audit", Target: "events CSV", Detail: f.Describe()})
	})
	if err != nil {
		return err
	}
	return ExportCSV(ctx, d.Bun, a.TenantID, f, w)
}
