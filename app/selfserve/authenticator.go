package selfserve

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/db"
)

// An end user's authenticator app (TOTP, as technicians' MFA: 160-bit
// secret encrypted at rest, 30 s steps, ±1 step, the last accepted step and
// anything earlier refused).

type authenticatorRow struct {
	bun.BaseModel `bun:"table:end_user_authenticators"`

	EndUserID   string     `bun:"end_user_id,pk"`
	TenantID    string     `bun:"tenant_id"`
	Secret      []byte     `bun:"secret"`
	LastStep    int64      `bun:"last_step"`
	CreatedAt   time.Time  `bun:"created_at"`
	ConfirmedAt *time.Time `bun:"confirmed_at"`
}

func authenticatorAAD(tenantID, endUserID string) []byte {
	return []byte("end_user_authenticators/" + tenantID + "/" + endUserID)
}

func loadAuthenticator(ctx context.Context, idb bun.IDB, tenantID, endUserID string) (*authenticatorRow, error) {
	row := new(authenticatorRow)
	err := idb.NewSelect().Model(row).Where("end_user_id = ? AND tenant_id = ?", endUserID, tenantID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("selfserve: authenticator: %w", err)
	}
	return row, nil
}

// checkTOTP checks an authenticator code of the end user, and remembers its
// step when right.
func (s *Service) checkTOTP(ctx context.Context, tx *db.Tx, tenantID, endUserID, typed string, now time.Time) (bool, error) {
	row, err := loadAuthenticator(ctx, tx, tenantID, endUserID)
	if err != nil || row == nil || row.ConfirmedAt == nil {
		return false, err
	}
	return s.acceptTOTP(ctx, tx, row, typed, now)
}

func (s *Service) acceptTOTP(ctx context.Context, tx *db.Tx, row *authenticatorRow, typed string, now time.Time) (bool, error) {
	sec, err := s.d.Keys.Decrypt(row.Secret, authenticatorAAD(row.TenantID, row.EndUserID))
	if err != nil {
		return false, fmt.Errorf("selfserve: decrypt authenticator: %w", err)
	}
	step, err := credential.ValidateTOTP(typed, string(sec), now, row.LastStep)
	if errors.Is(err, credential.ErrTOTPInvalid) || errors.Is(err, credential.ErrTOTPReplay) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	row.LastStep = step
	if _, err := tx.NewUpdate().Model(row).Column("last_step").WherePK().Exec(ctx); err != nil {
		return false, fmt.Errorf("selfserve: authenticator step: %w", err)
	}
	return true, nil
}

// requireProven refuses a flow whose end user did not prove who they are
// (or that expired).
func (s *Service) requireProven(f *Flow, purposes ...string) error {
	if f == nil || !f.Proven() || f.Expired(s.now()) {
		return errFlowGone()
	}
	for _, p := range purposes {
		if f.Purpose == p {
			return nil
		}
	}
	return errFlowGone()
}

// Authenticator is an authenticator app being added.
type Authenticator struct {
	URL    string // otpauth:// (for the QR code)
	Secret string // base32, to type in by hand
	// Confirmed: the end user already has one (adding another replaces it).
	Confirmed bool
}

// StartAuthenticator returns the authenticator app the proven end user is
// adding: a new secret the first time (kept encrypted, not in use until
// confirmed), the same one on later calls.
// Errors: Conflict (flow not proven or expired).
func (s *Service) StartAuthenticator(ctx context.Context, f *Flow) (*Authenticator, error) {
	if err := s.requireProven(f, PurposeEnrol); err != nil {
		return nil, err
	}
	var out *Authenticator
	err := s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		acc, err := loadAccount(ctx, tx, f.TenantID, f.EndUserID)
		if err != nil {
			return err
		}
		issuer, err := tenantName(ctx, tx, f.TenantID)
		if err != nil {
			return err
		}
		row, err := loadAuthenticator(ctx, tx, f.TenantID, f.EndUserID)
		if err != nil {
			return err
		}
		account := acc.Username
		if acc.Email != "" {
			account = acc.Email
		}
		if row != nil && row.ConfirmedAt == nil {
			sec, err := s.d.Keys.Decrypt(row.Secret, authenticatorAAD(row.TenantID, row.EndUserID))
			if err != nil {
				return fmt.Errorf("selfserve: decrypt authenticator: %w", err)
			}
			out = &Authenticator{URL: totpURL(issuer, account, string(sec)), Secret: string(sec)}
			return nil
		}
		sec, u, err := credential.NewTOTPKey(issuer, account)
		if err != nil {
			return err
		}
		ct, err := s.d.Keys.Encrypt([]byte(sec), authenticatorAAD(f.TenantID, f.EndUserID))
		if err != nil {
			return fmt.Errorf("selfserve: encrypt authenticator: %w", err)
		}
		if row != nil {
			// One already works: it goes on working until the new one is
			// confirmed (see ConfirmAuthenticator), kept here apart.
			out = &Authenticator{URL: u, Secret: sec, Confirmed: true}
			return s.stashPending(ctx, tx, f, ct)
		}
		if _, err := tx.NewInsert().Model(&authenticatorRow{EndUserID: f.EndUserID, TenantID: f.TenantID, Secret: ct,
			CreatedAt: s.now()}).Exec(ctx); err != nil {
			return fmt.Errorf("selfserve: add authenticator: %w", err)
		}
		out = &Authenticator{URL: u, Secret: sec}
		return nil
	})
	return out, err
}

// stashPending keeps a replacement secret in a pending proof row (channel
// totp, purpose "authenticator") until the end user confirms it.
func (s *Service) stashPending(ctx context.Context, tx *db.Tx, f *Flow, ct []byte) error {
	now := s.now()
	if _, err := tx.NewDelete().Model((*proofRow)(nil)).
		Where("tenant_id = ? AND end_user_id = ? AND purpose = ? AND used_at IS NULL", f.TenantID, f.EndUserID, purposeAuthenticator).
		Exec(ctx); err != nil {
		return fmt.Errorf("selfserve: replace pending authenticator: %w", err)
	}
	eu := f.EndUserID
	_, err := tx.NewInsert().Model(&proofRow{ID: db.NewID(), TenantID: f.TenantID, EndUserID: &eu, Subject: f.Subject,
		Purpose: purposeAuthenticator, Channel: ChannelTOTP, Code: ct, CreatedAt: now, ExpiresAt: now.Add(EnrolLifetime)}).Exec(ctx)
	if err != nil {
		return fmt.Errorf("selfserve: pending authenticator: %w", err)
	}
	return nil
}

// purposeAuthenticator marks a proof row that holds a replacement
// authenticator secret (never a proof).
const purposeAuthenticator = "authenticator"

// ConfirmAuthenticator checks the first code of the authenticator app being
// added and puts it in use (audited as selfserve.authenticator_add).
// Errors: Conflict (flow, or nothing being added), Invalid with
// Fields["code"] (not six digits, or a wrong code).
func (s *Service) ConfirmAuthenticator(ctx context.Context, f *Flow, typed, ip string) error {
	if err := s.requireProven(f, PurposeEnrol); err != nil {
		return err
	}
	typed = strings.Join(strings.Fields(typed), "")
	if !sixDigits(typed) {
		return errCodeShape(ChannelTOTP)
	}
	now := s.now()
	var wrong bool
	err := s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		row, err := loadAuthenticator(ctx, tx, f.TenantID, f.EndUserID)
		if err != nil {
			return err
		}
		if row == nil {
			return errFlowGone()
		}
		replacing := row.ConfirmedAt != nil
		if replacing {
			pending := new(proofRow)
			err := tx.NewSelect().Model(pending).Where("tenant_id = ? AND end_user_id = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?",
				f.TenantID, f.EndUserID, purposeAuthenticator, now).OrderExpr("created_at DESC").Limit(1).Scan(ctx)
			if errors.Is(err, sql.ErrNoRows) {
				return errFlowGone()
			}
			if err != nil {
				return fmt.Errorf("selfserve: pending authenticator: %w", err)
			}
			sec, err := s.d.Keys.Decrypt(pending.Code, authenticatorAAD(f.TenantID, f.EndUserID))
			if err != nil {
				return fmt.Errorf("selfserve: decrypt authenticator: %w", err)
			}
			step, err := credential.ValidateTOTP(typed, string(sec), now, 0)
			if err != nil {
				wrong = true
				return nil
			}
			if _, err := tx.NewUpdate().Model((*authenticatorRow)(nil)).Set("secret = ?", pending.Code).Set("last_step = ?", step).
				Set("created_at = ?", now).Set("confirmed_at = ?", now).Where("end_user_id = ?", f.EndUserID).Exec(ctx); err != nil {
				return fmt.Errorf("selfserve: replace authenticator: %w", err)
			}
			if _, err := tx.NewUpdate().Model((*proofRow)(nil)).Set("used_at = ?", now).Where("id = ?", pending.ID).Exec(ctx); err != nil {
				return fmt.Errorf("selfserve: use pending authenticator: %w", err)
			}
		} else {
			ok, err := s.acceptTOTP(ctx, tx, row, typed, now)
			if err != nil {
				return err
			}
			if !ok {
				wrong = true
				return nil
			}
			if _, err := tx.NewUpdate().Model((*authenticatorRow)(nil)).Set("confirmed_at = ?", now).Where("end_user_id = ?", f.EndUserID).Exec(ctx); err != nil {
				return fmt.Errorf("selfserve: confirm authenticator: %w", err)
			}
		}
		detail := "added an authenticator app"
		if replacing {
			detail = "replaced their authenticator app"
		}
		return audit.Record(ctx, tx, now, endUserActor(f.TenantID, f.Name, ip), audit.Entry{Action: "selfserve.authenticator_add",
			TargetType: "end_user", TargetID: f.EndUserID, Target: f.Name, Detail: detail})
	})
	if err != nil {
		return err
	}
	if wrong {
		return apperr.Field("code", "That code is not right. Check the time on your phone, then enter the code shown now.")
	}
	return nil
}

// HasAuthenticator reports whether the flow's end user has a confirmed
// authenticator app.
func (s *Service) HasAuthenticator(ctx context.Context, f *Flow) (bool, error) {
	if f == nil || f.EndUserID == "" {
		return false, nil
	}
	row, err := loadAuthenticator(ctx, s.d.DB.Bun, f.TenantID, f.EndUserID)
	return row != nil && row.ConfirmedAt != nil, err
}

// totpURL is the otpauth:// URL of a secret (as credential.NewTOTPKey makes it).
func totpURL(issuer, account, secret string) string {
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", strconv.Itoa(credential.TOTPDigits))
	v.Set("period", strconv.Itoa(int(credential.TOTPPeriod.Seconds())))
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: v.Encode()}
	return u.String()
}
