package selfserve

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/device"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
)

// purposeMobile marks the proof of a mobile number during an enrolment.
const purposeMobile = "mobile"

// Enrolment is what the welcome link's pages show about the end user.
type Enrolment struct {
	Flow     *Flow
	EndUser  *enduser.EndUser
	Tenant   *tenant.Tenant
	Customer string
	// LinkExpiresAt is when the welcome link stops working.
	LinkExpiresAt time.Time
	// Active: self-serve is on for the end user (tenant and user switches,
	// registration complete, not privileged). When not, the enrolment stops
	// after the mobile number and says whom to contact.
	Active bool
	// Why is the reason self-serve is not active ("" when it is).
	Why string
}

// StartEnrolment opens the enrolment of the welcome link token: a flow for
// the link's end user (the link is used up by the identity proof, see
// Prove). Nothing is written.
// Errors: NotFound (unknown, used or expired link), Conflict (self-serve is
// off for the whole MSP).
func (s *Service) StartEnrolment(ctx context.Context, token string) (*Enrolment, error) {
	page, err := s.d.Onboarding.Welcome(ctx, token)
	if err != nil {
		return nil, err
	}
	if !page.Tenant.SelfServeEnabled {
		return nil, errTenantOff()
	}
	u := page.EndUser
	hash := credential.HashToken(token)
	f := &Flow{ID: "enrol:" + hash, Purpose: PurposeEnrol, TenantID: u.TenantID, EndUserID: u.ID, Subject: subjectOf(u.TenantID, u.ID, ""),
		Name: u.Name(), Typed: u.Username, StartedAt: s.now(), TokenHash: hash}
	e := &Enrolment{Flow: f, EndUser: u, Tenant: page.Tenant, Customer: page.Customer.Name, LinkExpiresAt: page.ExpiresAt}
	return e, s.fillActive(ctx, e)
}

func (s *Service) fillActive(ctx context.Context, e *Enrolment) error {
	acc, err := loadAccount(ctx, s.d.DB.Bun, e.EndUser.TenantID, e.EndUser.ID)
	if err != nil {
		return err
	}
	e.Why = acc.Ineligibility(PurposeEnrol)
	e.Active = e.Why == ""
	return nil
}

// EnrolmentOf returns the enrolment of a proven enrolment flow, as it now is.
// Errors: Conflict (flow not proven or expired).
func (s *Service) EnrolmentOf(ctx context.Context, f *Flow) (*Enrolment, error) {
	if err := s.requireProven(f, PurposeEnrol); err != nil {
		return nil, err
	}
	u, err := enduser.Get(ctx, s.d.DB.Bun, f.TenantID, f.EndUserID)
	if err != nil {
		return nil, err
	}
	t, err := tenant.Get(ctx, s.d.DB.Bun, f.TenantID)
	if err != nil {
		return nil, err
	}
	e := &Enrolment{Flow: f, EndUser: u, Tenant: t}
	return e, s.fillActive(ctx, e)
}

// MobileConfirmed reports whether the end user's mobile number on record was
// proven by an SMS code in this flow, or confirmed before.
func (e *Enrolment) MobileConfirmed() bool {
	u := e.EndUser
	return u.Mobile != "" && (e.Flow.MobileProven == u.Mobile || u.MobileConfirmedAt != nil && u.MobileSource == enduser.ValueEndUser)
}

// SendMobileCode sends an SMS code to prove the mobile number: the number on
// record (keep), or the number typed when none is on record (country is the
// calling code chosen for a number typed without +). A number on record is
// never replaced from the welcome link. Audited as selfserve.code_send.
// Errors: Conflict (flow; a number on record when one was typed), Invalid
// (field "mobile"; or the SMS could not be queued: opted out, the MSP's
// daily limit), RateLimited (SendsPerHour codes in the last hour, blocked).
// Asked for again within DuplicateWindow (a double tap), it sends nothing
// and returns the code already sent, as SendProof.
func (s *Service) SendMobileCode(ctx context.Context, f *Flow, keep bool, country, number, ip string) (*Flow, *Proof, error) {
	if err := s.requireProven(f, PurposeEnrol); err != nil {
		return nil, nil, err
	}
	now := s.now()
	st := s.codeSettings(ctx, f.TenantID)
	row := &proofRow{ID: db.NewID(), TenantID: f.TenantID, Subject: f.Subject, Purpose: purposeMobile, Channel: ChannelSMS,
		FlowID: f.ID, CreatedAt: now, ExpiresAt: now.Add(st.CodeTTL)}
	var limitErr error
	err := s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := s.lockSubject(ctx, tx, f.TenantID, f.Subject); err != nil {
			return err
		}
		acc, err := loadAccount(ctx, tx, f.TenantID, f.EndUserID)
		if err != nil {
			return err
		}
		to := acc.Mobile
		switch {
		case !keep && acc.Mobile != "":
			// The mobile number is an identity factor (SMS codes): the
			// welcome link may add a missing number, never replace one.
			return apperr.New(apperr.Conflict, "A mobile number is already on record for you. To change it, contact your IT provider.")
		case keep && acc.Mobile == "":
			return apperr.Field("mobile", "Enter your mobile number.")
		case !keep:
			if strings.TrimSpace(number) == "" {
				return apperr.Field("mobile", "Enter your mobile number.")
			}
			m, msg := tenant.NormalizePhone(country, number)
			if msg != "" {
				return apperr.Field("mobile", strings.ReplaceAll(msg, "the MSP's phone number", "your mobile number"))
			}
			to = m
		}
		a := endUserActor(f.TenantID, acc.Name(), ip)
		if until, err := blockedUntil(ctx, tx, f.TenantID, f.Subject, now); err != nil || until != nil {
			limitErr = errBlocked()
			return err
		}
		if dup, err := duplicate(ctx, tx, f, purposeMobile, ChannelSMS, to, now); err != nil || dup != nil {
			if dup != nil {
				row = dup
			}
			return err
		}
		n, err := tx.NewSelect().Model((*proofRow)(nil)).
			Where("tenant_id = ? AND subject = ? AND channel <> ? AND created_at > ?", f.TenantID, f.Subject, ChannelTOTP, now.Add(-time.Hour)).Count(ctx)
		if err != nil {
			return fmt.Errorf("selfserve: count sends: %w", err)
		}
		if n >= SendsPerHour {
			limitErr = errBlocked()
			return block(ctx, tx, a, f.Subject, fmt.Sprintf("%d codes in an hour", n), acc.Username, acc.ID, now)
		}
		row.Destination = to
		sent, detail, err := s.sendCode(ctx, tx, acc, row, to, st)
		if err != nil {
			return err
		}
		if !sent {
			// Known end user, own number: say why plainly.
			return apperr.Field("mobile", "We could not send a text message to "+enduser.MaskMobile(to)+
				". If you replied STOP to us before, reply START, or contact your IT provider.")
		}
		row.EndUserID = &acc.ID
		if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
			return fmt.Errorf("selfserve: insert proof: %w", err)
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{Action: "selfserve.code_send", TargetType: "end_user", TargetID: acc.ID,
			Target: acc.Username, Detail: "mobile number check: " + detail})
	})
	if err != nil {
		return nil, nil, err
	}
	if limitErr != nil {
		return nil, nil, limitErr
	}
	out := *f
	p := &Proof{ID: row.ID, Channel: ChannelSMS, ExpiresAt: row.ExpiresAt, Destination: enduser.MaskMobile(row.Destination)}
	out.ProofID, out.Channel, out.ProofExpiresAt, out.MatchNumber, out.Destination = row.ID, ChannelSMS, p.ExpiresAt, 0, p.Destination
	return &out, p, nil
}

// ProveMobile checks the SMS code sent by SendMobileCode; the right code
// confirms the number on record, or saves the new one (source: the end
// user). Audited as enduser.mobile_confirm or enduser.mobile_change.
// Errors: Conflict (flow; the number on record changed meanwhile), Invalid
// with Fields["code"], RateLimited (as Prove).
func (s *Service) ProveMobile(ctx context.Context, f *Flow, typed, ip string) (*Flow, error) {
	if err := s.requireProven(f, PurposeEnrol); err != nil {
		return nil, err
	}
	if f.ProofID == "" {
		return nil, errFlowGone()
	}
	typed = strings.Join(strings.Fields(typed), "")
	now := s.now()
	var (
		out      *Flow
		wrongErr error
	)
	err := s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := requireOpen(ctx, tx, f, now); err != nil {
			return err
		}
		row, err := loadProof(ctx, tx, f)
		if err != nil {
			return err
		}
		switch {
		case row.Purpose != purposeMobile || row.UsedAt != nil:
			return errFlowGone()
		case row.WrongTries >= WrongPerProof:
			return errProofLocked()
		case !now.Before(row.ExpiresAt):
			return apperr.Field("code", "That code has expired. Ask for a new one.")
		case !sixDigits(typed):
			return errCodeShape(ChannelSMS)
		}
		code, err := s.d.Keys.Decrypt(row.Code, proofAAD(row.TenantID, row.ID))
		if err != nil {
			return fmt.Errorf("selfserve: decrypt code: %w", err)
		}
		if subtle.ConstantTimeCompare(code, []byte(typed)) != 1 {
			wrongErr, err = s.wrong(ctx, tx, f, row, now, ip)
			return err
		}
		acc, err := loadAccount(ctx, tx, f.TenantID, f.EndUserID)
		if err != nil {
			return err
		}
		if acc.Mobile != "" && acc.Mobile != row.Destination {
			return apperr.New(apperr.Conflict, "Your mobile number on record changed meanwhile. Contact your IT provider.")
		}
		if _, err := tx.NewUpdate().Model((*proofRow)(nil)).Set("used_at = ?", now).Where("id = ?", row.ID).Exec(ctx); err != nil {
			return fmt.Errorf("selfserve: use proof: %w", err)
		}
		if _, err := tx.NewUpdate().Table("end_users").Set("mobile = ?", row.Destination).Set("mobile_source = ?", enduser.ValueEndUser).
			Set("mobile_confirmed_at = ?", now).Set("updated_at = ?", now).Where("id = ? AND tenant_id = ?", acc.ID, acc.TenantID).Exec(ctx); err != nil {
			return fmt.Errorf("selfserve: save mobile: %w", err)
		}
		action, detail := "enduser.mobile_confirm", "confirmed the mobile number on record ("+enduser.MaskMobile(row.Destination)+") with an SMS code"
		if acc.Mobile == "" {
			action, detail = "enduser.mobile_change", "added the mobile number "+enduser.MaskMobile(row.Destination)+", proven with an SMS code"
		}
		if err := audit.Record(ctx, tx, now, endUserActor(f.TenantID, acc.Name(), ip), audit.Entry{Action: action,
			TargetType: "end_user", TargetID: acc.ID, Target: acc.Username, Detail: detail}); err != nil {
			return err
		}
		o := *f
		o.MobileProven, o.ProofID = row.Destination, ""
		out = &o
		return nil
	})
	if err != nil {
		return nil, err
	}
	if wrongErr != nil {
		return nil, wrongErr
	}
	return out, nil
}

// EnrolDevice enrols this browser as one of the proven end user's devices
// (app/device) and returns the device credential for its cookie; the page
// then asks the browser for a push subscription (static/js/push.js), which
// the device's cookie saves. Audited by app/device (device.enrol).
// Errors: Conflict (flow; self-serve not active), Invalid (push not available).
func (s *Service) EnrolDevice(ctx context.Context, f *Flow, label, userAgent, ip string) (string, *device.Device, error) {
	if err := s.requireProven(f, PurposeEnrol); err != nil {
		return "", nil, err
	}
	if !s.PushAvailable() {
		return "", nil, apperr.New(apperr.Invalid, "Notifications are not available here.")
	}
	e, err := s.EnrolmentOf(ctx, f)
	if err != nil {
		return "", nil, err
	}
	if !e.Active {
		return "", nil, apperr.New(apperr.Conflict, "Self-serve is not turned on for your account.")
	}
	if strings.TrimSpace(label) == "" {
		label = deviceLabel(userAgent)
	}
	var (
		cred string
		d    *device.Device
	)
	err = s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var err error
		cred, d, err = s.d.Devices.EnrolWith(ctx, tx, device.EnrolInput{TenantID: f.TenantID, EndUserID: f.EndUserID,
			Label: label, UserAgent: userAgent, IP: ip})
		return err
	})
	return cred, d, err
}

// deviceLabel names a device from its browser ("iPhone", "Android phone").
func deviceLabel(ua string) string {
	switch {
	case strings.Contains(ua, "iPhone"):
		return "iPhone"
	case strings.Contains(ua, "iPad"):
		return "iPad"
	case strings.Contains(ua, "Android"):
		return "Android phone"
	case strings.Contains(ua, "Windows"):
		return "Windows computer"
	case strings.Contains(ua, "Macintosh"):
		return "Mac"
	}
	return "This device"
}
