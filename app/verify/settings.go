package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/db"
)

// Settings are a tenant's verification settings.
type Settings struct {
	// CodeTTL is how long an SMS or email code (and the validation code of
	// push + code, after approval) works: 1 to 10 minutes.
	CodeTTL time.Duration
	// NumberMatching makes push approvals show three numbers on the phone;
	// the end user taps the one on the technician's screen.
	NumberMatching bool
}

// DefaultSettings are the settings of a tenant that saved none.
var DefaultSettings = Settings{CodeTTL: DefaultCodeTTL}

type settingsRow struct {
	bun.BaseModel `bun:"table:verify_settings"`

	TenantID       string    `bun:"tenant_id,pk"`
	CodeTTLSeconds int       `bun:"code_ttl_seconds"`
	NumberMatching bool      `bun:"number_matching"`
	UpdatedAt      time.Time `bun:"updated_at"`
}

func loadSettings(ctx context.Context, idb bun.IDB, tenantID string) (Settings, error) {
	row := new(settingsRow)
	err := idb.NewSelect().Model(row).Where("tenant_id = ?", tenantID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return DefaultSettings, nil
	}
	if err != nil {
		return Settings{}, fmt.Errorf("verify: settings: %w", err)
	}
	return Settings{CodeTTL: time.Duration(row.CodeTTLSeconds) * time.Second, NumberMatching: row.NumberMatching}, nil
}

// Settings returns the tenant's verification settings (the defaults when
// none were saved).
func (s *Service) Settings(ctx context.Context, tenantID string) (Settings, error) {
	return loadSettings(ctx, s.d.DB.Bun, tenantID)
}

// SettingsInput is the Settings page's verification form.
type SettingsInput struct {
	CodeMinutes    string // "1" to "10"
	NumberMatching bool
}

// SaveSettings stores the actor's tenant's verification settings
// (`verification.settings_update`). Only Primary and Super logins may.
// Errors: Forbidden, Invalid with Fields["code_minutes"].
func (s *Service) SaveSettings(ctx context.Context, a audit.Actor, in SettingsInput) (Settings, error) {
	if a.TenantID == "" || (a.Role != "primary" && a.Role != "super") {
		return Settings{}, apperr.New(apperr.Forbidden, "Only a Primary or Super login can change the verification settings.")
	}
	n, err := strconv.Atoi(strings.TrimSpace(in.CodeMinutes))
	lo, hi := int(MinCodeTTL/time.Minute), int(MaxCodeTTL/time.Minute)
	if err != nil || n < lo || n > hi {
		f := apperr.Fields{}
		f.Add("code_minutes", fmt.Sprintf("Choose from %d to %d minutes.", lo, hi))
		return Settings{}, f.Err()
	}
	st := Settings{CodeTTL: time.Duration(n) * time.Minute, NumberMatching: in.NumberMatching}
	err = s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		now := s.now()
		old, err := loadSettings(ctx, tx, a.TenantID)
		if err != nil {
			return err
		}
		if old == st {
			return nil
		}
		row := &settingsRow{TenantID: a.TenantID, CodeTTLSeconds: int(st.CodeTTL / time.Second), NumberMatching: st.NumberMatching, UpdatedAt: now}
		if _, err := tx.NewInsert().Model(row).On("CONFLICT (tenant_id) DO UPDATE").
			Set("code_ttl_seconds = EXCLUDED.code_ttl_seconds").Set("number_matching = EXCLUDED.number_matching").
			Set("updated_at = EXCLUDED.updated_at").Exec(ctx); err != nil {
			return fmt.Errorf("verify: save settings: %w", err)
		}
		onOff := "off"
		if st.NumberMatching {
			onOff = "on"
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{
			Action: "verification.settings_update", TargetType: "tenant", TargetID: a.TenantID, Target: "Verification",
			Detail: fmt.Sprintf("codes valid %d minutes; number matching %s", n, onOff),
		})
	})
	if err != nil {
		return Settings{}, err
	}
	return st, nil
}

// Unblock lifts the 24-hour sending block of an end user
// (`verification.unblocked`). Only Primary and Super logins may.
// Errors: Forbidden, NotFound (another tenant's end user).
func (s *Service) Unblock(ctx context.Context, a audit.Actor, endUserID string) error {
	if a.TenantID == "" || (a.Role != "primary" && a.Role != "super") {
		return apperr.New(apperr.Forbidden, "Only a Primary or Super login can lift a sending block.")
	}
	return s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		now := s.now()
		name := ""
		if err := tx.NewSelect().Table("end_users").ColumnExpr("username").Where("tenant_id = ? AND id = ?", a.TenantID, endUserID).
			Scan(ctx, &name); errors.Is(err, sql.ErrNoRows) {
			return apperr.New(apperr.NotFound, "That end user does not exist.")
		} else if err != nil {
			return fmt.Errorf("verify: unblock: %w", err)
		}
		res, err := tx.NewDelete().Table("verify_blocks").Where("tenant_id = ? AND end_user_id = ?", a.TenantID, endUserID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("verify: unblock: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{
			Action: "verification.unblocked", TargetType: "end_user", TargetID: endUserID, Target: name,
			Detail: "codes and pushes may be sent again",
		})
	})
}
