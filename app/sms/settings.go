package sms

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/db"
)

// DefaultDailyLimit is the number of text messages a tenant may queue in 24
// hours unless its settings say otherwise (the security bar's per-tenant
// daily SMS cap).
const DefaultDailyLimit = 500

// MaxDailyLimit bounds the daily limit a tenant may set.
const MaxDailyLimit = 100000

// settingsRow is a tenant's Twilio account. AuthToken and APIKeySecret are
// ciphertexts (see secretAAD).
type settingsRow struct {
	bun.BaseModel `bun:"table:sms_settings"`

	TenantID            string    `bun:"tenant_id,pk"`
	AccountSID          string    `bun:"account_sid"`
	AuthToken           []byte    `bun:"auth_token"`
	APIKeySID           string    `bun:"api_key_sid"`
	APIKeySecret        []byte    `bun:"api_key_secret"`
	FromNumber          string    `bun:"from_number"`
	MessagingServiceSID string    `bun:"messaging_service_sid"`
	DailyLimit          int       `bun:"daily_limit"`
	CreatedAt           time.Time `bun:"created_at"`
	UpdatedAt           time.Time `bun:"updated_at"`
}

// secretAAD binds a stored secret to its tenant and column.
func secretAAD(tenantID, column string) []byte {
	return []byte("sms_settings/" + tenantID + "/" + column)
}

func loadSettings(ctx context.Context, idb bun.IDB, tenantID string) (*settingsRow, error) {
	st := new(settingsRow)
	err := idb.NewSelect().Model(st).Where("tenant_id = ?", tenantID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sms: load settings: %w", err)
	}
	return st, nil
}

// Settings is what the Settings page shows: never a secret, only whether
// one is saved.
type Settings struct {
	Configured          bool // Twilio is set up: messages are sent, not kept in the outbox
	AccountSID          string
	AuthTokenSaved      bool
	APIKeySID           string
	APIKeySecretSaved   bool
	FromNumber          string
	MessagingServiceSID string
	DailyLimit          int
	// Webhooks is true when the Auth Token is saved: Twilio signs its
	// webhooks with it, so status callbacks and STOP/START work only then.
	Webhooks   bool
	InboundURL string
}

// Settings returns the tenant's SMS settings for display.
func (s *Service) Settings(ctx context.Context, tenantID string) (Settings, error) {
	st, err := loadSettings(ctx, s.d.DB.Bun, tenantID)
	if err != nil {
		return Settings{}, err
	}
	out := Settings{DailyLimit: DefaultDailyLimit, InboundURL: s.InboundURL(tenantID)}
	if st == nil {
		return out, nil
	}
	out.Configured = true
	out.AccountSID, out.APIKeySID = st.AccountSID, st.APIKeySID
	out.AuthTokenSaved, out.APIKeySecretSaved = len(st.AuthToken) > 0, len(st.APIKeySecret) > 0
	out.FromNumber, out.MessagingServiceSID = st.FromNumber, st.MessagingServiceSID
	out.DailyLimit = st.DailyLimit
	out.Webhooks = out.AuthTokenSaved
	return out, nil
}

// Configured reports whether the tenant has Twilio set up.
func Configured(ctx context.Context, idb bun.IDB, tenantID string) (bool, error) {
	ok, err := idb.NewSelect().Model((*settingsRow)(nil)).Where("tenant_id = ?", tenantID).Exists(ctx)
	if err != nil {
		return false, fmt.Errorf("sms: settings exist: %w", err)
	}
	return ok, nil
}

// SettingsInput is the SMS settings form. An empty AuthToken or
// APIKeySecret keeps the saved one (the form never shows secrets).
type SettingsInput struct {
	AccountSID          string
	AuthToken           string
	APIKeySID           string // "" to send with the Auth Token
	APIKeySecret        string
	FromNumber          string // E.164; exactly one of FromNumber and MessagingServiceSID
	MessagingServiceSID string
	DailyLimit          string // as typed; "" for DefaultDailyLimit
}

var (
	accountSIDRe = regexp.MustCompile(`^AC[0-9a-f]{32}$`)
	apiKeySIDRe  = regexp.MustCompile(`^SK[0-9a-f]{32}$`)
	serviceSIDRe = regexp.MustCompile(`^MG[0-9a-f]{32}$`)
	authTokenRe  = regexp.MustCompile(`^[0-9a-f]{32}$`)
	keySecretRe  = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)
)

// normSID upper-cases a SID's two-letter prefix and lower-cases its hex.
func normSID(s string) string {
	s = strings.TrimSpace(s)
	if len(s) < 2 {
		return s
	}
	return strings.ToUpper(s[:2]) + strings.ToLower(s[2:])
}

// validated is a checked SettingsInput; a nil secret keeps the saved one.
type validated struct {
	accountSID, apiKeySID, from, service string
	authToken, keySecret                 []byte // plaintext; nil: keep
	dropToken, dropKeySecret             bool
	dailyLimit                           int
}

// validate checks in against the saved settings (nil when none).
func (in SettingsInput) validate(saved *settingsRow) (*validated, error) {
	var f apperr.Fields
	v := &validated{}
	v.accountSID = normSID(in.AccountSID)
	switch {
	case v.accountSID == "":
		f.Add("account_sid", "Enter the Account SID from the Twilio Console.")
	case !accountSIDRe.MatchString(v.accountSID):
		f.Add("account_sid", "An Account SID is AC followed by 32 hexadecimal characters.")
	}
	// Secrets of another account are not kept when the account changes.
	sameAccount := saved != nil && saved.AccountSID == v.accountSID
	haveToken := sameAccount && len(saved.AuthToken) > 0

	token := strings.TrimSpace(in.AuthToken)
	if token != "" {
		if !authTokenRe.MatchString(strings.ToLower(token)) {
			f.Add("auth_token", "An Auth Token is 32 hexadecimal characters.")
		} else {
			v.authToken = []byte(strings.ToLower(token))
			haveToken = true
		}
	} else if saved != nil && !sameAccount {
		v.dropToken = true
	}

	v.apiKeySID = normSID(in.APIKeySID)
	secretIn := strings.TrimSpace(in.APIKeySecret)
	if v.apiKeySID != "" {
		if !apiKeySIDRe.MatchString(v.apiKeySID) {
			f.Add("api_key_sid", "An API key SID is SK followed by 32 hexadecimal characters.")
		}
		haveSecret := sameAccount && saved.APIKeySID == v.apiKeySID && len(saved.APIKeySecret) > 0
		switch {
		case secretIn != "" && !keySecretRe.MatchString(secretIn):
			f.Add("api_key_secret", "An API key secret is 32 letters and digits.")
		case secretIn != "":
			v.keySecret = []byte(secretIn)
		case !haveSecret:
			f.Add("api_key_secret", "Enter the API key's secret (Twilio shows it once, when the key is made).")
		}
	} else {
		if secretIn != "" {
			f.Add("api_key_sid", "Enter the SID of the API key, or leave both API key fields empty.")
		}
		v.dropKeySecret = saved != nil && len(saved.APIKeySecret) > 0
		if !haveToken {
			f.Add("auth_token", "Enter the Auth Token, or an API key SID and secret.")
		}
	}

	from := strings.TrimSpace(in.FromNumber)
	v.service = normSID(in.MessagingServiceSID)
	switch {
	case from == "" && v.service == "":
		f.Add("from_number", "Enter the From number, or a Messaging Service SID.")
	case from != "" && v.service != "":
		f.Add("messaging_service_sid", "Use either a From number or a Messaging Service, not both.")
	case from != "":
		n, msg := NormalizeE164(from)
		if msg != "" {
			f.Add("from_number", msg)
		}
		v.from = n
	case !serviceSIDRe.MatchString(v.service):
		f.Add("messaging_service_sid", "A Messaging Service SID is MG followed by 32 hexadecimal characters.")
	}

	v.dailyLimit = DefaultDailyLimit
	if dl := strings.TrimSpace(in.DailyLimit); dl != "" {
		n, err := strconv.Atoi(dl)
		if err != nil || n < 1 || n > MaxDailyLimit {
			f.Add("daily_limit", fmt.Sprintf("Enter a number from 1 to %d.", MaxDailyLimit))
		}
		v.dailyLimit = n
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	return v, nil
}

// SaveSettings validates and stores the actor's tenant's Twilio settings,
// secrets encrypted, and audits `sms.settings_update` with the names (never
// the values) of what changed. Nothing is written when nothing changed.
// Errors: Invalid (Fields: account_sid, auth_token, api_key_sid,
// api_key_secret, from_number, messaging_service_sid, daily_limit),
// Forbidden (not Primary or Super).
func (s *Service) SaveSettings(ctx context.Context, a audit.Actor, in SettingsInput) error {
	if err := requireAdmin(a); err != nil {
		return err
	}
	now := s.now()
	return s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		saved, err := loadSettings(ctx, tx, a.TenantID)
		if err != nil {
			return err
		}
		v, err := in.validate(saved)
		if err != nil {
			return err
		}
		st := &settingsRow{TenantID: a.TenantID, CreatedAt: now, DailyLimit: DefaultDailyLimit}
		if saved != nil {
			cp := *saved
			st = &cp
		}
		var changed []string
		set := func(name string, differ bool) {
			if differ {
				changed = append(changed, name)
			}
		}
		set("account SID", st.AccountSID != v.accountSID)
		st.AccountSID = v.accountSID
		switch {
		case v.authToken != nil:
			ct, err := s.d.Keys.Encrypt(v.authToken, secretAAD(a.TenantID, "auth_token"))
			if err != nil {
				return err
			}
			set("auth token", true)
			st.AuthToken = ct
		case v.dropToken && len(st.AuthToken) > 0:
			set("auth token removed", true)
			st.AuthToken = nil
		}
		set("API key", st.APIKeySID != v.apiKeySID)
		st.APIKeySID = v.apiKeySID
		switch {
		case v.keySecret != nil:
			ct, err := s.d.Keys.Encrypt(v.keySecret, secretAAD(a.TenantID, "api_key_secret"))
			if err != nil {
				return err
			}
			set("API key secret", true)
			st.APIKeySecret = ct
		case v.dropKeySecret:
			set("API key secret removed", true)
			st.APIKeySecret = nil
		}
		set("From number", st.FromNumber != v.from)
		st.FromNumber = v.from
		set("Messaging Service", st.MessagingServiceSID != v.service)
		st.MessagingServiceSID = v.service
		set("daily limit", st.DailyLimit != v.dailyLimit)
		st.DailyLimit = v.dailyLimit
		if saved != nil && len(changed) == 0 {
			return nil
		}
		st.UpdatedAt = now
		if saved == nil {
			changed = append([]string{"SMS set up"}, changed...)
			if _, err := tx.NewInsert().Model(st).Exec(ctx); err != nil {
				return fmt.Errorf("sms: insert settings: %w", err)
			}
		} else if _, err := tx.NewUpdate().Model(st).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("sms: update settings: %w", err)
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{
			Action: "sms.settings_update", TargetType: "tenant", TargetID: a.TenantID, Target: "SMS settings",
			Detail: "changed " + strings.Join(changed, ", "),
		})
	})
}

// RemoveSettings deletes the tenant's Twilio settings (text messages go to
// the outbox again) and audits `sms.settings_remove`. Removing what is not
// there is a no-op. Errors: Forbidden.
func (s *Service) RemoveSettings(ctx context.Context, a audit.Actor) error {
	if err := requireAdmin(a); err != nil {
		return err
	}
	now := s.now()
	return s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		res, err := tx.NewDelete().Model((*settingsRow)(nil)).Where("tenant_id = ?", a.TenantID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("sms: remove settings: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{
			Action: "sms.settings_remove", TargetType: "tenant", TargetID: a.TenantID, Target: "SMS settings",
			Detail: "Twilio settings removed; text messages stay in the outbox",
		})
	})
}

// credentials are a tenant's decrypted Twilio settings.
type credentials struct {
	provider  *Twilio
	authToken string // "" when not saved: webhooks cannot be verified
}

// credentialsOf decrypts st's secrets.
func (s *Service) credentialsOf(st *settingsRow) (*credentials, error) {
	c := &credentials{}
	if len(st.AuthToken) > 0 {
		b, err := s.d.Keys.Decrypt(st.AuthToken, secretAAD(st.TenantID, "auth_token"))
		if err != nil {
			return nil, fmt.Errorf("sms: auth token of tenant %s: %w", st.TenantID, err)
		}
		c.authToken = string(b)
	}
	t := &Twilio{BaseURL: s.d.APIURL, AccountSID: st.AccountSID, From: st.FromNumber, MessagingServiceSID: st.MessagingServiceSID, HTTP: s.d.HTTP}
	if st.APIKeySID != "" {
		b, err := s.d.Keys.Decrypt(st.APIKeySecret, secretAAD(st.TenantID, "api_key_secret"))
		if err != nil {
			return nil, fmt.Errorf("sms: API key secret of tenant %s: %w", st.TenantID, err)
		}
		t.Username, t.Password = st.APIKeySID, string(b)
	} else {
		t.Username, t.Password = st.AccountSID, c.authToken
	}
	c.provider = t
	return c, nil
}
