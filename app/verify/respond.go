package verify

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/device"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/db"
)

// Request is a push verification as the end user's approval page shows it.
type Request struct {
	Verification *Verification
	State        State  // at now
	Technician   string // who asks
	MSP          string // the tenant's name
	Logo         []byte // the tenant's logo (PNG/JPEG), nil when none
	LogoType     string
	Customer     string
	EndUserName  string
	Code         string // push + code, once approved: the validation code to read out
}

// ForDevice returns the push verification id of the device's end user for
// the approval page. Errors: NotFound (another tenant's or end user's, or
// not a push).
func (s *Service) ForDevice(ctx context.Context, d *device.Device, id string) (*Request, error) {
	v, err := s.GetForEndUser(ctx, d.TenantID, d.EndUserID, id)
	if err != nil {
		return nil, err
	}
	if !v.RequestedMethod.IsPush() {
		return nil, apperr.New(apperr.NotFound, "That verification does not exist.")
	}
	return s.request(ctx, v)
}

func (s *Service) request(ctx context.Context, v *Verification) (*Request, error) {
	r := &Request{Verification: v, State: v.StateAt(s.now()), Technician: v.RequestedBy}
	idb := s.d.DB.Bun
	if err := idb.NewSelect().Table("tenants").Column("name", "logo", "logo_type").Where("id = ?", v.TenantID).
		Scan(ctx, &r.MSP, &r.Logo, &r.LogoType); err != nil {
		return nil, fmt.Errorf("verify: tenant: %w", err)
	}
	if err := idb.NewSelect().Table("customers").Column("name").Where("id = ?", v.CustomerID).Scan(ctx, &r.Customer); err != nil {
		return nil, fmt.Errorf("verify: customer: %w", err)
	}
	name, err := endUserName(ctx, idb, v)
	if err != nil {
		return nil, err
	}
	r.EndUserName = name
	if v.Method == MethodPushCode && r.State == StateApproved {
		if r.Code, err = s.Code(v); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Answer is the end user's answer on the approval page.
type Answer struct {
	Approve bool
	Number  int // number matching: the number the end user picked
	IP      string
}

// Respond records the end user's answer to a push verification from their
// enrolled device d. Approve verifies a push (`verification.verified`); for
// push + code it shows the phone the validation code and waits for the
// technician (`verification.approved`); with number matching, picking
// another number than the technician's ends it as not verified. Deny ends
// it as not verified (`verification.denied`).
// Errors: NotFound (another tenant's or end user's, or not a push),
// Conflict (already answered, finished, timed out, or no longer a push
// because it fell back to SMS), Forbidden (self-serve is off for the end
// user), Invalid (number matching: no number picked).
func (s *Service) Respond(ctx context.Context, d *device.Device, id string, ans Answer) (*Request, error) {
	v, err := s.GetForEndUser(ctx, d.TenantID, d.EndUserID, id)
	if err != nil {
		return nil, err
	}
	if !v.RequestedMethod.IsPush() {
		return nil, apperr.New(apperr.NotFound, "That verification does not exist.")
	}
	t, err := s.loadTarget(ctx, s.d.DB.Bun, d.TenantID, d.EndUserID, s.now())
	if err != nil {
		return nil, err
	}
	if t.SelfServeState != "" {
		return nil, apperr.New(apperr.Forbidden, "Self-serve is turned off for your account, so this request cannot be answered here. Tell the technician.")
	}
	a := audit.Actor{TenantID: d.TenantID, Name: t.EndUser.Name() + " (end user)", IP: ans.IP}
	v, err = s.modify(ctx, d.TenantID, id, func(ctx context.Context, tx *db.Tx, v *Verification, now time.Time) error {
		if !v.Method.IsPush() {
			return apperr.New(apperr.Conflict, "This request was replaced by a text message code.")
		}
		if v.State != StatePending {
			return errClosed(v)
		}
		v.RespondedAt = &now
		if !ans.Approve {
			return s.finish(ctx, tx, a, v, StateDenied, ReasonEndUserDenied, now, "responded_at")
		}
		if v.MatchNumber != 0 {
			if ans.Number == 0 {
				return apperr.New(apperr.Invalid, "Tap the number the technician sees.")
			}
			if ans.Number != v.MatchNumber {
				return s.finish(ctx, tx, a, v, StateDenied, ReasonWrongNumber, now, "responded_at")
			}
		}
		if v.Method == MethodPush {
			return s.finish(ctx, tx, a, v, StateVerified, ReasonEndUserApproved, now, "responded_at")
		}
		// Push + code: the technician now compares the validation code.
		v.State = StateApproved
		v.ExpiresAt = now.Add(t.Settings.CodeTTL)
		if err := s.change(ctx, tx, v, now, "state", "responded_at", "expires_at"); err != nil {
			return err
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{
			Action: "verification.approved", TargetType: "end_user", TargetID: v.EndUserID, Target: t.EndUser.Name(),
			Detail: fmt.Sprintf("receipt %s: approved on the phone; the validation code is shown there", v.Receipt),
		})
	})
	if err != nil {
		return nil, err
	}
	return s.request(ctx, v)
}

// CheckPush looks at the push notifications of an open push verification:
// when the push service refused or lost every one of them (gone, revoked),
// the verification falls back to an SMS code (`verification.fallback`).
// again says to look later: a notification is still on its way.
func (s *Service) CheckPush(ctx context.Context, id string) (again bool, err error) {
	v := new(Verification)
	if err := s.d.DB.Bun.NewSelect().Model(v).Where("id = ?", id).Scan(ctx); err != nil {
		return false, apperr.Wrap(apperr.NotFound, err, "no verification")
	}
	now := s.now()
	if v.State != StatePending || !v.Method.IsPush() || v.StateAt(now) != StatePending {
		return false, nil
	}
	states, err := webpush.States(ctx, s.d.DB.Bun, v.TenantID, v.messageIDs())
	if err != nil {
		return false, err
	}
	failed := 0
	for _, st := range states {
		switch st.Status {
		case notify.StatusSent:
			return false, nil // on the device: the end user answers (or not)
		case notify.StatusFailed:
			failed++
		}
	}
	if failed < len(v.messageIDs()) {
		return true, nil
	}
	_, err = s.modify(ctx, v.TenantID, v.ID, func(ctx context.Context, tx *db.Tx, v *Verification, now time.Time) error {
		if v.State != StatePending || !v.Method.IsPush() {
			return nil
		}
		t, err := s.loadTarget(ctx, tx, v.TenantID, v.EndUserID, now)
		if err != nil {
			return err
		}
		if err := s.fallback(ctx, tx, t, v, FallbackPushFailed, now); err != nil {
			return err
		}
		if err := s.change(ctx, tx, v, now); err != nil {
			return err
		}
		detail := fmt.Sprintf("receipt %s: the push reached no device, so %s to %s", v.Receipt, v.Method.Label(), v.Destination)
		if v.State == StateFailed {
			detail = fmt.Sprintf("receipt %s: the push reached no device and there is no mobile for a code: nothing sent", v.Receipt)
		}
		return audit.Record(ctx, tx, now, audit.System(v.TenantID), audit.Entry{
			Action: "verification.fallback", TargetType: "end_user", TargetID: v.EndUserID, Target: t.EndUser.Name(), Detail: detail,
		})
	})
	return false, err
}

// ParseNumber reads a picked number ("" or junk is 0).
func ParseNumber(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > 99 {
		return 0
	}
	return n
}
