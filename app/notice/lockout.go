package notice

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/db"
)

// LockoutInput is a lockout event that was just recorded (app/agent calls
// Lockout through its OnLockout hook, in the transaction that inserted it).
type LockoutInput struct {
	EventID    string
	TenantID   string
	CustomerID string
	EndUserID  string
	LockedAt   time.Time
}

// Lockout plans the lockout notice of a lockout event in tx, the event's
// own transaction, so that the notice exists if and only if the event does
// and its send job runs at once rather than at the daily sweep. At most one
// notice per lockout: the event is claimed (notified_at set, only while it
// is NULL); and at most one lockout notice per end user and local day (the
// once-a-day key: a second lockout the same day is covered by the first
// one's notice). An end user who may not be notified (the same eligibility
// as expiry notices, without the expiry) gets nothing and the event stays
// unclaimed.
func (s *Service) Lockout(ctx context.Context, tx *db.Tx, ev LockoutInput) error {
	t, err := loadTarget(ctx, tx, ev.TenantID, ev.EndUserID)
	if err != nil || t == nil || t.ineligible() != "" {
		return err
	}
	now := s.now()
	res, err := tx.NewUpdate().Table("lockout_events").Set("notified_at = ?", now).
		Where("id = ? AND notified_at IS NULL", ev.EventID).Exec(ctx)
	if err != nil {
		return fmt.Errorf("notice: claim lockout: %w", err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return nil
	}
	loc, zone := location(t.CustomerZone, t.TenantZone)
	n := &Notice{
		ID: db.NewID(), TenantID: ev.TenantID, CustomerID: ev.CustomerID, EndUserID: ev.EndUserID, Kind: KindLockout,
		Day: localDay(now, loc), TimeZone: zone, ExpiresAt: utcPtr(t.PasswordExpiresAt), LastSetAt: utcPtr(t.PasswordLastSetAt),
		LockoutEventID: ev.EventID, State: StatePending, PlannedAt: now,
	}
	var ids []string
	if err := tx.NewInsert().Model(n).On("CONFLICT (end_user_id, kind, day) DO NOTHING").Returning("id").Scan(ctx, &ids); err != nil {
		return fmt.Errorf("notice: insert lockout notice: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	p := sendParams(ids[0], lockoutPriority)
	if _, err := s.d.Jobs.InsertTx(ctx, tx, p.Args, p.InsertOpts); err != nil {
		return fmt.Errorf("notice: enqueue lockout notice: %w", err)
	}
	return nil
}
