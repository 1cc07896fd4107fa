package selfserve

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/db"
)

// Kinds of selfserve_events.
const (
	kindStart = "start" // a flow started
	kindFail  = "fail"  // a wrong code
)

func addEvent(ctx context.Context, tx *db.Tx, tenantID, subject, kind string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, "INSERT INTO selfserve_events (id, tenant_id, subject, kind, created_at) VALUES (?, ?, ?, ?, ?)",
		db.NewID(), tenantID, subject, kind, now); err != nil {
		return fmt.Errorf("selfserve: event: %w", err)
	}
	return nil
}

func countEvents(ctx context.Context, tx *db.Tx, tenantID, subject, kind string, since time.Time) (int, error) {
	n, err := tx.NewSelect().Table("selfserve_events").
		Where("tenant_id = ? AND subject = ? AND kind = ? AND created_at > ?", tenantID, subject, kind, since).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("selfserve: count events: %w", err)
	}
	return int(n), nil
}

// blockedUntil returns when the subject's block ends, or nil.
func blockedUntil(ctx context.Context, tx *db.Tx, tenantID, subject string, now time.Time) (*time.Time, error) {
	var until []time.Time
	if err := tx.NewSelect().Table("selfserve_blocks").Column("blocked_until").
		Where("tenant_id = ? AND subject = ? AND blocked_until > ?", tenantID, subject, now).Scan(ctx, &until); err != nil {
		return nil, fmt.Errorf("selfserve: block: %w", err)
	}
	if len(until) == 0 {
		return nil, nil
	}
	return &until[0], nil
}

// block blocks the subject's self-serve for BlockFor (audited as
// selfserve.blocked).
func block(ctx context.Context, tx *db.Tx, a audit.Actor, subject, reason, target, endUserID string, now time.Time) error {
	until := now.Add(BlockFor)
	if _, err := tx.NewInsert().Table("selfserve_blocks").Model(&map[string]any{
		"tenant_id": a.TenantID, "subject": subject, "reason": reason, "blocked_until": until, "created_at": now,
	}).On("CONFLICT (tenant_id, subject) DO UPDATE").Set("blocked_until = EXCLUDED.blocked_until").
		Set("reason = EXCLUDED.reason").Set("created_at = EXCLUDED.created_at").Exec(ctx); err != nil {
		return fmt.Errorf("selfserve: block: %w", err)
	}
	return audit.Record(ctx, tx, now, a, audit.Entry{Action: "selfserve.blocked", TargetType: "end_user", TargetID: endUserID,
		Target: target, Result: audit.ResultDenied, Detail: reason + ": self-serve blocked until " + until.Format("2006-01-02 15:04") + " UTC"})
}

// errBlocked is the answer while a subject is blocked. It says nothing of
// the account (unknown ones are blocked the same way).
func errBlocked() error {
	return apperr.New(apperr.RateLimited, "Too many attempts. For your security, self-serve is paused for this account for 24 hours. Contact your IT provider if you need help now.")
}

// checkLimit refuses when the subject is blocked, or when it already has
// limit events of kind within window (and then blocks it). It returns the
// refusal as limitErr, so that the caller's transaction commits the block.
func (s *Service) checkLimit(ctx context.Context, tx *db.Tx, a audit.Actor, subject, kind string, limit int, window time.Duration,
	now time.Time, target, endUserID string) (limitErr error, err error) {
	until, err := blockedUntil(ctx, tx, a.TenantID, subject, now)
	if err != nil || until != nil {
		return errBlocked(), err
	}
	n, err := countEvents(ctx, tx, a.TenantID, subject, kind, now.Add(-window))
	if err != nil {
		return nil, err
	}
	if n < limit {
		return nil, nil
	}
	reason := fmt.Sprintf("%d self-serve attempts in an hour", n)
	if err := block(ctx, tx, a, subject, reason, target, endUserID, now); err != nil {
		return nil, err
	}
	return errBlocked(), nil
}

// requireOpen refuses a blocked subject (a block made during the flow).
func requireOpen(ctx context.Context, tx *db.Tx, f *Flow, now time.Time) error {
	until, err := blockedUntil(ctx, tx, f.TenantID, f.Subject, now)
	if err != nil {
		return err
	}
	if until != nil {
		return errBlocked()
	}
	return nil
}

// keepFor is how long proofs and rate-limit events are kept (the longest
// window that counts them is a day).
const keepFor = 48 * time.Hour

// pruneBatch bounds the rows one prune deletes of each table.
const pruneBatch = 200

// prune deletes the tenant's oldest proofs, events and ended blocks (a
// batch of each): Start calls it, so that what decoy flows leave behind
// does not pile up. It runs the same statements whatever was typed.
func prune(ctx context.Context, tx *db.Tx, tenantID string, now time.Time) error {
	before := now.Add(-keepFor)
	for _, q := range []string{
		"DELETE FROM selfserve_events WHERE id IN (SELECT id FROM selfserve_events WHERE tenant_id = ? AND created_at < ? LIMIT ?)",
		"DELETE FROM selfserve_proofs WHERE id IN (SELECT id FROM selfserve_proofs WHERE tenant_id = ? AND created_at < ? LIMIT ?)",
	} {
		if _, err := tx.ExecContext(ctx, q, tenantID, before, pruneBatch); err != nil {
			return fmt.Errorf("selfserve: prune: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM selfserve_blocks WHERE tenant_id = ? AND blocked_until < ?", tenantID, before); err != nil {
		return fmt.Errorf("selfserve: prune blocks: %w", err)
	}
	return nil
}
