package audit

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

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

// SafeCell defuses spreadsheet formula injection (OWASP "CSV injection"): a
// cell starting with = + - @ tab or carriage return gets a leading quote.
func SafeCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
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
