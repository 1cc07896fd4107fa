package notice

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

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

// candidate is an eligible end user whose password expires in the window.
type candidate struct {
	ID        string     `bun:"id"`
	ExpiresAt time.Time  `bun:"password_expires_at"`
	LastSetAt *time.Time `bun:"password_last_set_at"`
}

// SweepResult counts what a sweep did.
type SweepResult struct {
	Customers int // customers whose day was planned
	Planned   int // notices planned (one send job each)
}

// customerPage is how many customers the sweep reads at a time.
const customerPage = 500

// Sweep plans today's expiry notices of every customer whose local time
// (the customer's time zone, else the tenant's) has reached the tenant's
// notification hour and whose day is not planned yet: one notice for each
// eligible end user whose password expires on a local date from today to
// today + the tenant's days-before, with its send job. A customer's day is
// planned in batches (Deps.BatchSize end users, keyset over the expiry
// index, one transaction each: notices inserted with ON CONFLICT DO NOTHING
// on the once-a-day key, send jobs for the inserted ones only), so memory
// stays flat and another process sweeping at the same time adds nothing.
// The last batch records the day in notice_runs; an earlier day is never
// planned again (a clock that jumps back), and a skipped day is not made up
// (a clock that jumps forward sends one notice, for today). Customers of a
// tenant whose switch is off, and archived customers, are skipped.
// A failing customer does not stop the others; the errors are returned
// together (the job is retried, and planning resumes where it stopped).
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	now := s.now()
	var (
		res   SweepResult
		errs  []error
		after string
	)
	for {
		var page []dueCustomer
		err := s.d.DB.Bun.NewSelect().TableExpr("customers AS c").
			Join("JOIN tenants AS t ON t.id = c.tenant_id").
			Join("LEFT JOIN notice_runs AS r ON r.customer_id = c.id").
			ColumnExpr("c.id, c.tenant_id, c.time_zone, t.time_zone AS tenant_zone, t.notification_hour, t.notice_days_before, r.day AS last_day").
			Where("c.archived_at IS NULL AND t.self_serve_enabled AND c.id > ?", after).
			OrderExpr("c.id").Limit(int64(customerPage)).Scan(ctx, &page)
		if err != nil {
			return res, errors.Join(append(errs, fmt.Errorf("notice: sweep customers: %w", err))...)
		}
		for _, c := range page {
			if err := ctx.Err(); err != nil {
				return res, errors.Join(append(errs, err)...)
			}
			loc, zone := location(c.TimeZone, c.TenantZone)
			local := now.In(loc)
			today := local.Format(dayLayout)
			if local.Hour() < c.Hour || (c.LastDay != nil && *c.LastDay >= today) {
				continue
			}
			n, err := s.planCustomer(ctx, c, loc, zone, today, now)
			res.Planned += n
			if err != nil {
				errs = append(errs, err)
				continue
			}
			res.Customers++
		}
		if len(page) < customerPage {
			break
		}
		after = page[len(page)-1].ID
	}
	if res.Planned > 0 || len(errs) > 0 {
		s.d.Log.InfoContext(ctx, "notice sweep", "customers", res.Customers, "planned", res.Planned, "errors", len(errs))
	}
	return res, errors.Join(errs...)
}

// planCustomer plans one customer's expiry notices for the local day today
// and records the day. It returns how many notices it inserted.
func (s *Service) planCustomer(ctx context.Context, c dueCustomer, loc *time.Location, zone, today string, now time.Time) (int, error) {
	lo, hi := dayStart(today, 0, loc), dayStart(today, c.DaysBefore+1, loc)
	curAt, curID := lo, "" // keyset: (password_expires_at, id) after this
	total := 0
	batch := s.d.BatchSize
	rows := make([]candidate, 0, batch)
	notices := make([]Notice, 0, batch)
	params := make([]river.InsertManyParams, 0, batch)
	ids := make([]string, 0, batch)
	for done := false; !done; {
		err := s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			rows, notices, params, ids = rows[:0], notices[:0], params[:0], ids[:0]
			if err := tx.NewSelect().TableExpr("end_users AS eu").
				ColumnExpr("eu.id, eu.password_expires_at, eu.password_last_set_at").
				Where("eu.customer_id = ?", c.ID).
				Where("(eu.password_expires_at, eu.id) > (?, ?)", curAt, curID).
				Where("eu.password_expires_at < ?", hi).
				Where(eligibleSQL).
				OrderExpr("eu.password_expires_at, eu.id").Limit(int64(batch)).
				Scan(ctx, &rows); err != nil {
				return fmt.Errorf("notice: sweep end users: %w", err)
			}
			for _, r := range rows {
				exp := r.ExpiresAt.UTC()
				left := daysBetween(today, localDay(exp, loc))
				if left < 0 || left > c.DaysBefore {
					continue // cannot happen within [lo, hi); kept as a guard
				}
				notices = append(notices, Notice{
					ID: db.NewID(), TenantID: c.TenantID, CustomerID: c.ID, EndUserID: r.ID, Kind: KindExpiry,
					Day: today, TimeZone: zone, DaysLeft: left, ExpiresAt: &exp, LastSetAt: utcPtr(r.LastSetAt),
					State: StatePending, PlannedAt: now,
				})
			}
			if len(notices) > 0 {
				if err := tx.NewInsert().Model(&notices).On("CONFLICT (end_user_id, kind, day) DO NOTHING").
					Returning("id").Scan(ctx, &ids); err != nil {
					return fmt.Errorf("notice: insert notices: %w", err)
				}
			}
			for _, id := range ids {
				params = append(params, sendParams(id, expiryPriority))
			}
			if len(params) > 0 {
				if _, err := s.d.Jobs.InsertManyTx(ctx, tx, params); err != nil {
					return fmt.Errorf("notice: enqueue sends: %w", err)
				}
			}
			if len(rows) < batch {
				if err := s.finishDay(ctx, tx, c, today, total+len(ids), now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += len(ids)
		if len(rows) < batch {
			done = true
		} else {
			last := rows[len(rows)-1]
			curAt, curID = last.ExpiresAt, last.ID
		}
	}
	return total, nil
}

// finishDay records that the customer's day is planned (never moving back).
func (s *Service) finishDay(ctx context.Context, tx *db.Tx, c dueCustomer, day string, planned int, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO notice_runs (customer_id, tenant_id, day, planned, finished_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (customer_id) DO UPDATE SET day = excluded.day, planned = excluded.planned, finished_at = excluded.finished_at
		WHERE notice_runs.day < excluded.day`, c.ID, c.TenantID, day, planned, now)
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
