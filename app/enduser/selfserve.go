package enduser

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/db"
)

// TenantSwitchOff is the message (and the switches' description) while the
// tenant-wide self-serve switch is off: it overrides every end user's switch.
const TenantSwitchOff = "Self-serve is turned off for the whole MSP in Settings."

func gridNotFoundOr(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.New(apperr.NotFound, "That end user does not exist.")
	}
	return gridErr(op, err)
}

func gridErr(op string, err error) error { return fmt.Errorf("enduser: %s: %w", op, err) }

// requireTenantSwitch refuses while the tenant-wide switch is off.
// Errors: Conflict.
func requireTenantSwitch(ctx context.Context, tx *db.Tx, tenantID string) error {
	var on bool
	err := tx.NewSelect().Table("tenants").Column("self_serve_enabled").Where("id = ?", tenantID).Scan(ctx, &on)
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.New(apperr.NotFound, "This MSP account no longer exists.")
	}
	if err != nil {
		return gridErr("tenant switch", err)
	}
	if !on {
		return apperr.New(apperr.Conflict, TenantSwitchOff)
	}
	return nil
}

func gridOnOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// SetSelfServe turns one end user's self-serve switch on or off. Any role may
// do it. Setting the value it already has writes nothing. Audited as
// enduser.self_serve_update.
// Errors: NotFound (another tenant's end user, or one of an archived
// customer), Conflict (the tenant-wide switch is off).
func (s *GridService) SetSelfServe(ctx context.Context, a audit.Actor, id string, on bool) (*EndUser, error) {
	now := s.now().UTC()
	var out *EndUser
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		u, err := Visible(ctx, tx, a.TenantID, id)
		if err != nil {
			return err
		}
		if err := requireTenantSwitch(ctx, tx, a.TenantID); err != nil {
			return err
		}
		out = u
		if u.SelfServeEnabled == on {
			return nil
		}
		if _, err := tx.NewUpdate().Model((*EndUser)(nil)).Set("self_serve_enabled = ?", on).Set("updated_at = ?", now).
			Where("tenant_id = ? AND id = ?", a.TenantID, id).Exec(ctx); err != nil {
			return gridErr("set self-serve", err)
		}
		u.SelfServeEnabled, u.UpdatedAt = on, now
		detail := "self-serve " + gridOnOff(on)
		if u.Privileged && on {
			detail += " (privileged account)"
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{
			Action: "enduser.self_serve_update", TargetType: "end_user", TargetID: u.ID, Target: u.Username, Detail: detail,
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// BulkSetSelfServe turns self-serve on or off for a selection: the ticked
// ids, or every end user matching the selection's filter. The change is one
// UPDATE statement, after one SELECT that reads the tenant-wide switch and,
// when enabling, counts the privileged accounts left off. Only end users
// whose switch differs are changed and counted; end users of archived
// customers and of other tenants are never touched, whatever ids are
// posted. Enabling in bulk leaves privileged accounts (domain admins and the
// like) off: they are enabled one by one (see PrivilegedLeftOff). The action
// is one audit event, enduser.bulk_self_serve, with the count and the filter.
// The result says what happened, so that the message can be truthful.
// Errors: Invalid (nothing selected), Conflict (the tenant-wide switch is off).
func (s *GridService) BulkSetSelfServe(ctx context.Context, a audit.Actor, sel Selection, on bool, now time.Time) (res BulkResult, err error) {
	if sel.Empty() {
		return BulkResult{}, apperr.New(apperr.Invalid, "Select at least one end user first.")
	}
	now = now.UTC()
	err = s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var pre struct {
			On      bool `bun:"tenant_on"`
			Skipped int  `bun:"skipped"`
		}
		q := tx.NewSelect().TableExpr("tenants AS t").ColumnExpr("t.self_serve_enabled AS tenant_on").Where("t.id = ?", a.TenantID)
		if on {
			q = q.ColumnExpr("(?) AS skipped", privilegedOff(tx, a.TenantID, sel, now))
		} else {
			q = q.ColumnExpr("0 AS skipped")
		}
		err := q.Scan(ctx, &pre)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.New(apperr.NotFound, "This MSP account no longer exists.")
		}
		if err != nil {
			return gridErr("bulk self-serve", err)
		}
		if !pre.On {
			return apperr.New(apperr.Conflict, TenantSwitchOff)
		}
		u := tx.NewUpdate().Model((*EndUser)(nil)).ModelTableExpr("end_users AS eu").
			Set("self_serve_enabled = ?", on).Set("updated_at = ?", now)
		u = gridSelectionWhere(u, a.TenantID, sel, now).
			Where("eu.self_serve_enabled = ?", !on).
			Where("eu.customer_id IN (SELECT cu.id FROM customers AS cu WHERE cu.tenant_id = ? AND cu.archived_at IS NULL)", a.TenantID)
		if on {
			u = u.Where("eu.privileged = ?", false)
		}
		sr, err := u.Exec(ctx)
		if err != nil {
			return gridErr("bulk self-serve", err)
		}
		n, err := sr.RowsAffected()
		if err != nil {
			return gridErr("bulk self-serve", err)
		}
		changed := int(n)
		res.Changed, res.PrivilegedLeftOff = changed, pre.Skipped
		if changed == 0 && pre.Skipped == 0 {
			// Nothing changed: were the selected end users already so, or
			// are none of them in the lists (another tenant's ids, an
			// archived customer's, deleted)? Only this case needs the count.
			cq := tx.NewSelect().TableExpr("end_users AS eu").Join(visibleCustomerJoin)
			if sel.All {
				cq = sel.Filter.Where(cq, a.TenantID, now)
			} else {
				cq = cq.Where("eu.tenant_id = ?", a.TenantID).Where("eu.id IN (?)", bun.In(sel.IDs))
			}
			already, err := cq.Count(ctx)
			if err != nil {
				return gridErr("bulk self-serve", err)
			}
			res.Already = int(already)
		}
		detail := fmt.Sprintf("self-serve %s for %d end %s", gridOnOff(on), changed, gridPlural(changed, "user", "users"))
		target := sel.Filter.Describe()
		if !sel.All {
			target = fmt.Sprintf("%d selected end %s", len(sel.IDs), gridPlural(len(sel.IDs), "user", "users"))
		} else {
			detail += " matching: " + target
		}
		if pre.Skipped > 0 {
			detail += "; " + strconv.Itoa(pre.Skipped) + " privileged left off"
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{
			Action: "enduser.bulk_self_serve", TargetType: "end_user", Target: target, Detail: detail,
		})
	})
	if err != nil {
		return BulkResult{}, err
	}
	return res, nil
}

// BulkResult is what a bulk self-serve change did.
type BulkResult struct {
	// Changed is the number of end users whose switch changed.
	Changed int
	// PrivilegedLeftOff is the number of selected privileged end users
	// that enabling in bulk left off (always 0 when disabling).
	PrivilegedLeftOff int
	// Already is the number of selected end users whose switch already had
	// the value. It is counted only when nothing changed and no privileged
	// account was left off (otherwise 0): then Already 0 means that none of
	// the selected end users is in the lists (another tenant's, an archived
	// customer's, or deleted, or no end user matches the filter).
	Already int
}

// gridSelectionWhere adds a selection's conditions (tenant included) to an
// UPDATE of end_users aliased eu.
func gridSelectionWhere(q *bun.UpdateQuery, tenantID string, sel Selection, now time.Time) *bun.UpdateQuery {
	if sel.All {
		return sel.Filter.WhereUpdate(q, tenantID, now)
	}
	return q.Where("eu.tenant_id = ?", tenantID).Where("eu.id IN (?)", bun.In(sel.IDs))
}

// privilegedOff counts the selection's privileged end users whose switch is
// off (bulk enabling leaves them so). The condition is written "eu.privileged"
// so that the partial index end_users_privileged_idx (migration 0010) serves it.
func privilegedOff(idb bun.IDB, tenantID string, sel Selection, now time.Time) *bun.SelectQuery {
	q := idb.NewSelect().TableExpr("end_users AS eu").ColumnExpr("count(*)").Join(visibleCustomerJoin).
		Where("eu.privileged").Where("eu.self_serve_enabled = ?", false)
	if sel.All {
		return sel.Filter.Where(q, tenantID, now)
	}
	return q.Where("eu.tenant_id = ?", tenantID).Where("eu.id IN (?)", bun.In(sel.IDs))
}

func gridPlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
