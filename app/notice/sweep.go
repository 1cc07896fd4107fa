package notice

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

// eligibleSQL is the end-user half of eligibility, over end_users aliased
// eu: the end user's switch on, status Registration complete or Accessed
// self-serve (the stored status column, never its CASE), not privileged,
// not disabled in the directory, still in the directory. The tenant's
// switch and the customer (not archived) are checked by the callers.
const eligibleSQL = "eu.self_serve_enabled AND eu.status >= 1 AND NOT eu.privileged AND NOT eu.disabled AND eu.unlinked_at IS NULL"

// Send jobs: expiry notices are many and can wait behind a lockout notice.
const (
	expiryPriority  = 3
	lockoutPriority = 1
	sendAttempts    = 5
)

func sendParams(noticeID string, priority int) river.InsertManyParams {
	return river.InsertManyParams{Args: jobargs.SendNotice{NoticeID: noticeID}, InsertOpts: &river.InsertOpts{
		MaxAttempts: sendAttempts, Priority: priority, UniqueOpts: river.UniqueOpts{ByArgs: true},
	}}
}

// dueCustomer is a customer with what the sweep needs of it and its tenant.
type dueCustomer struct {
	ID         string  `bun:"id"`
	TenantID   string  `bun:"tenant_id"`
	TimeZone   string  `bun:"time_zone"`
	TenantZone string  `bun:"tenant_zone"`
	Hour       int     `bun:"notification_hour"`
	DaysBefore int     `bun:"notice_days_before"`
	LastDay    *string `bun:"last_day"` // notice_runs.day
}

// dueGroup is customers of one tenant whose day is due, in one time zone:
// they share the local day and the window, so they are planned together.
type dueGroup struct {
	tenantID   string
	zone       string
	loc        *time.Location
	today      string
	daysBefore int
	customers  []string
}

// candidate is an eligible end user whose password expires in the window.
type candidate struct {
	ID         string     `bun:"id"`
	CustomerID string     `bun:"customer_id"`
	ExpiresAt  time.Time  `bun:"password_expires_at"`
	LastSetAt  *time.Time `bun:"password_last_set_at"`
}

// SweepResult counts what a sweep did.
type SweepResult struct {
	Customers int // customers whose day was planned
	Planned   int // notices planned (one send job each)
}

// customerPage is how many customers the sweep reads at a time (and the
// most customers planned together).
const customerPage = 500

// Sweep plans today's expiry notices of every customer whose local time
// (the customer's time zone, else the tenant's) has reached the tenant's
// notification hour and whose day is not planned yet: one notice for each
// eligible end user whose password expires on a local date from today to
// today + the tenant's days-before, with its send job. Due customers of a
// tenant that share a time zone are planned together, in batches
// (Deps.BatchSize end users, keyset over the expiry index, one transaction
// each: notices inserted with ON CONFLICT DO NOTHING on the once-a-day key,
// send jobs for the inserted ones only), so that memory stays flat, many
// small customers cost no more than one large one, and another process
// sweeping at the same time adds nothing. The last batch records the day of
// each customer in notice_runs; an earlier day is never planned again (a
// clock that jumps back), and a skipped day is not made up (a clock that
// jumps forward sends one notice, for today). Customers of a tenant whose
// switch is off, and archived customers, are skipped. A failing group does
// not stop the others; the errors are returned together (the job is
// retried, and planning resumes where it stopped).
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	now := s.now()
	var (
		res            SweepResult
		errs           []error
		afterT, afterC string
		groups         []*dueGroup
		byKey          = map[[2]string]*dueGroup{}
	)
	for {
		var page []dueCustomer
		err := s.d.DB.Bun.NewSelect().TableExpr("customers AS c").
			Join("JOIN tenants AS t ON t.id = c.tenant_id").
			Join("LEFT JOIN notice_runs AS r ON r.customer_id = c.id").
			ColumnExpr("c.id, c.tenant_id, c.time_zone, t.time_zone AS tenant_zone, t.notification_hour, t.notice_days_before, r.day AS last_day").
			Where("c.archived_at IS NULL AND t.self_serve_enabled").
			Where("(c.tenant_id, c.id) > (?, ?)", afterT, afterC).
			OrderExpr("c.tenant_id, c.id").Limit(int64(customerPage)).Scan(ctx, &page)
		if err != nil {
			return res, errors.Join(append(errs, fmt.Errorf("notice: sweep customers: %w", err))...)
		}
		clear(byKey)
		groups = groups[:0]
		for _, c := range page {
			loc, zone := location(c.TimeZone, c.TenantZone)
			local := now.In(loc)
			today := local.Format(dayLayout)
			if local.Hour() < c.Hour || (c.LastDay != nil && *c.LastDay >= today) {
				continue
			}
			k := [2]string{c.TenantID, zone}
			g := byKey[k]
			if g == nil {
				g = &dueGroup{tenantID: c.TenantID, zone: zone, loc: loc, today: today, daysBefore: c.DaysBefore}
				byKey[k] = g
				groups = append(groups, g)
			}
			g.customers = append(g.customers, c.ID)
		}
		for _, g := range groups {
			if err := ctx.Err(); err != nil {
				return res, errors.Join(append(errs, err)...)
			}
			n, err := s.planGroup(ctx, g, now)
			res.Planned += n
			if err != nil {
				errs = append(errs, err)
				continue
			}
			res.Customers += len(g.customers)
		}
		if len(page) < customerPage {
			break
		}
		afterT, afterC = page[len(page)-1].TenantID, page[len(page)-1].ID
	}
	if res.Planned > 0 || len(errs) > 0 {
		s.d.Log.InfoContext(ctx, "notice sweep", "customers", res.Customers, "planned", res.Planned, "errors", len(errs))
	}
	return res, errors.Join(errs...)
}

// planGroup plans the expiry notices of a group of customers for their
// local day and records the day. It returns how many notices it inserted.
func (s *Service) planGroup(ctx context.Context, g *dueGroup, now time.Time) (int, error) {
	b := &batcher{g: g, now: now, size: s.d.BatchSize,
		lo: dayStart(g.today, 0, g.loc), hi: dayStart(g.today, g.daysBefore+1, g.loc)}
	b.curAt = b.lo // keyset: (password_expires_at, id) after this
	for d := 1; d <= g.daysBefore; d++ {
		b.dayStarts = append(b.dayStarts, dayStart(g.today, d, g.loc))
	}
	total := 0
	params := make([]river.InsertManyParams, 0, b.size)
	for {
		var scanned int
		err := s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			var err error
			if s.d.DB.Dialect == db.Postgres {
				scanned, err = b.batchPostgres(ctx, tx)
			} else {
				scanned, err = b.batch(ctx, tx)
			}
			if err != nil {
				return err
			}
			params = params[:0]
			for _, id := range b.ids {
				params = append(params, sendParams(id, expiryPriority))
			}
			if len(params) > 0 {
				if _, err := s.d.Jobs.InsertManyTx(ctx, tx, params); err != nil {
					return fmt.Errorf("notice: enqueue sends: %w", err)
				}
			}
			if scanned < b.size {
				return s.finishDay(ctx, tx, g, now)
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += len(b.ids)
		if scanned < b.size {
			return total, nil
		}
	}
}

// batcher plans one group's notices a batch at a time, keeping its buffers.
type batcher struct {
	g         *dueGroup
	now       time.Time
	size      int
	lo, hi    time.Time   // the window: [start of today, start of the day after the last)
	dayStarts []time.Time // the starts of days 1..days-before: days left = how many have begun
	curAt     time.Time   // keyset of the last end user read
	curID     string

	rows    []candidate
	notices []Notice
	ids     []string // inserted by the last batch
}

// from is the batch's FROM and WHERE over end_users aliased eu: the group's
// eligible end users in the window, after the keyset.
func (b *batcher) from() (string, []any) {
	var who string
	var args []any
	if len(b.g.customers) == 1 {
		// One customer: its own expiry index.
		who, args = "eu.customer_id = ?", []any{b.g.customers[0]}
	} else {
		// Several: the tenant's expiry index, filtered to them.
		who, args = "eu.tenant_id = ? AND eu.customer_id IN (?)", []any{b.g.tenantID, bun.In(b.g.customers)}
	}
	return "FROM end_users AS eu WHERE " + who + ` AND (eu.password_expires_at, eu.id) > (?, ?)
		AND eu.password_expires_at < ? AND ` + eligibleSQL, append(args, b.curAt, b.curID, b.hi)
}

// batch reads a batch of end users, inserts their notices (skipping those
// that exist) and returns how many it read; b.ids are the inserted ids.
func (b *batcher) batch(ctx context.Context, tx *db.Tx) (int, error) {
	b.rows, b.notices, b.ids = b.rows[:0], b.notices[:0], b.ids[:0]
	from, args := b.from()
	if err := tx.NewRaw(`SELECT eu.id, eu.customer_id, eu.password_expires_at, eu.password_last_set_at `+from+`
		ORDER BY eu.password_expires_at, eu.id LIMIT ?`, append(args, b.size)...).Scan(ctx, &b.rows); err != nil {
		return 0, fmt.Errorf("notice: sweep end users: %w", err)
	}
	if len(b.rows) == 0 {
		return 0, nil
	}
	for _, r := range b.rows {
		exp := r.ExpiresAt.UTC()
		b.notices = append(b.notices, Notice{
			ID: db.NewID(), TenantID: b.g.tenantID, CustomerID: r.CustomerID, EndUserID: r.ID, Kind: KindExpiry,
			Day: b.g.today, TimeZone: b.g.zone, DaysLeft: daysBetween(b.g.today, localDay(exp, b.g.loc)),
			ExpiresAt: &exp, LastSetAt: utcPtr(r.LastSetAt), State: StatePending, PlannedAt: b.now,
		})
	}
	if err := tx.NewInsert().Model(&b.notices).On("CONFLICT (end_user_id, kind, day) DO NOTHING").
		Returning("id").Scan(ctx, &b.ids); err != nil {
		return 0, fmt.Errorf("notice: insert notices: %w", err)
	}
	last := b.rows[len(b.rows)-1]
	b.curAt, b.curID = last.ExpiresAt, last.ID
	return len(b.rows), nil
}

// batchRow is a row of batchPostgres's answer: an inserted notice's id
// (k = "i"), or the last end user read with how many were read (k = "c").
type batchRow struct {
	K  string     `bun:"k"`
	ID string     `bun:"id"`
	At *time.Time `bun:"at"`
	N  int        `bun:"n"`
}

// batchPostgres does what batch does in one statement: the end users are
// read and their notices inserted by the server (days left counted from
// the day starts, ids drawn in Go), so no row travels twice.
func (b *batcher) batchPostgres(ctx context.Context, tx *db.Tx) (int, error) {
	b.ids = b.ids[:0]
	newIDs := make([]string, b.size)
	for i := range newIDs {
		newIDs[i] = db.NewID()
	}
	from, args := b.from()
	var out []batchRow
	all := append([]any{}, args...)
	all = append(all, b.size, pgdialect.Array(newIDs), b.g.tenantID, b.g.today, b.g.zone, pgdialect.Array(b.dayStarts), b.now)
	err := tx.NewRaw(`WITH c AS (
			SELECT eu.id, eu.customer_id, eu.password_expires_at, eu.password_last_set_at,
				row_number() OVER (ORDER BY eu.password_expires_at, eu.id) AS n
			`+from+`
			ORDER BY eu.password_expires_at, eu.id LIMIT ?
		), ins AS (
			INSERT INTO notices (id, tenant_id, customer_id, end_user_id, kind, day, time_zone, days_left,
				expires_at, last_set_at, state, planned_at)
			SELECT (CAST(? AS TEXT[]))[c.n], ?, c.customer_id, c.id, 'expiry', ?, ?,
				width_bucket(c.password_expires_at, CAST(? AS TIMESTAMPTZ[])),
				c.password_expires_at, c.password_last_set_at, 'pending', CAST(? AS TIMESTAMPTZ)
			FROM c
			ON CONFLICT (end_user_id, kind, day) DO NOTHING
			RETURNING id
		)
		SELECT 'i' AS k, id, CAST(NULL AS TIMESTAMPTZ) AS at, CAST(0 AS BIGINT) AS n FROM ins
		UNION ALL
		SELECT 'c', id, password_expires_at, n FROM (SELECT id, password_expires_at, n FROM c ORDER BY n DESC LIMIT 1) AS last`,
		all...).Scan(ctx, &out)
	if err != nil {
		return 0, fmt.Errorf("notice: plan notices: %w", err)
	}
	n := 0
	for _, r := range out {
		if r.K == "i" {
			b.ids = append(b.ids, r.ID)
			continue
		}
		n, b.curAt, b.curID = r.N, *r.At, r.ID
	}
	return n, nil
}

// finishDay records that the group's customers' day is planned (never
// moving a customer's day back).
func (s *Service) finishDay(ctx context.Context, tx *db.Tx, g *dueGroup, now time.Time) error {
	var b strings.Builder
	args := make([]any, 0, 4*len(g.customers))
	for i, id := range g.customers {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?)")
		args = append(args, id, g.tenantID, g.today, now)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO notice_runs (customer_id, tenant_id, day, finished_at) VALUES `+b.String()+`
		ON CONFLICT (customer_id) DO UPDATE SET day = excluded.day, finished_at = excluded.finished_at
		WHERE notice_runs.day < excluded.day`, args...)
	if err != nil {
		return fmt.Errorf("notice: record run: %w", err)
	}
	return nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
