package tenant

import (
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zones load without system zoneinfo
	"unicode/utf8"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/db"
)

// Limits of the settings form.
const (
	MaxNameLen    = 100
	MaxAddressLen = 500
	MaxEmailLen   = 254
)

// Roles allowed to change the tenant (login.RolePrimary and login.RoleSuper;
// this package cannot import login, which imports it).
const (
	rolePrimary = "primary"
	roleSuper   = "super"
)

// Service is the tenant domain service: the MSP's settings and the state of
// the setup wizard.
type Service struct {
	db  *db.DB
	now func() time.Time
}

// NewService returns a Service.
func NewService(d *db.DB, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: d, now: now}
}

// Get returns the tenant. Errors: NotFound.
func (s *Service) Get(ctx context.Context, id string) (*Tenant, error) {
	return Get(ctx, s.db.Bun, id)
}

// SettingsInput is the MSP settings form (setup wizard step 2 and Settings).
type SettingsInput struct {
	Name             string
	Address          string
	PhoneCountry     string // dial code from Countries, e.g. "+44"; ignored when PhoneNumber starts with "+"
	PhoneNumber      string // as typed: digits, spaces, dashes, dots, brackets
	TimeZone         string // IANA name
	NotificationHour int    // 0–23, in TimeZone
	SupportEmail     string // shown to end users
	SelfServeEnabled bool   // tenant-wide switch for self-serve and notifications
	Logo             []byte // a new upload (PNG or JPEG); nil keeps the current logo
	RemoveLogo       bool   // drop the current logo (ignored when Logo is set)
}

// settings is a validated, normalised SettingsInput.
type settings struct {
	name, address, phone, timeZone, supportEmail string
	hour                                         int
	selfServe                                    bool
	logo                                         []byte // processed PNG, nil when unchanged
	removeLogo                                   bool
}

// Validate checks the input without storing it and returns field errors
// (apperr.Invalid with Fields) or nil. The logo is decoded and scaled too.
func (in SettingsInput) Validate() error {
	_, err := in.validate()
	return err
}

func (in SettingsInput) validate() (*settings, error) {
	var f apperr.Fields
	out := &settings{selfServe: in.SelfServeEnabled, removeLogo: in.RemoveLogo && in.Logo == nil, hour: in.NotificationHour}

	out.name = strings.Join(strings.Fields(in.Name), " ")
	switch {
	case out.name == "":
		f.Add("name", "Enter your MSP's name.")
	case !apperr.PlainText(out.name, ""):
		f.Add("name", "Use plain text.")
	case utf8.RuneCountInString(out.name) > MaxNameLen:
		f.Add("name", fmt.Sprintf("Use at most %d characters.", MaxNameLen))
	}

	out.address = normalizeAddress(in.Address)
	switch {
	case !apperr.PlainText(out.address, "\n\t"):
		f.Add("address", "Use plain text: letters, digits, punctuation and line breaks.")
	case utf8.RuneCountInString(out.address) > MaxAddressLen:
		f.Add("address", fmt.Sprintf("Use at most %d characters.", MaxAddressLen))
	}

	phone, msg := NormalizePhone(in.PhoneCountry, in.PhoneNumber)
	if msg != "" {
		f.Add("phone", msg)
	}
	out.phone = phone

	out.timeZone = strings.TrimSpace(in.TimeZone)
	if !ValidTimeZone(out.timeZone) {
		f.Add("time_zone", "Choose a time zone from the list.")
	}

	if in.NotificationHour < 0 || in.NotificationHour > 23 {
		f.Add("notification_hour", "Choose an hour between 00:00 and 23:00.")
	}

	out.supportEmail = strings.ToLower(strings.TrimSpace(in.SupportEmail))
	switch {
	case out.supportEmail == "":
		f.Add("support_email", "Enter the email address end users should write to for help.")
	case len(out.supportEmail) > MaxEmailLen || !validEmail(out.supportEmail):
		f.Add("support_email", "Enter an email address like help@example.com.")
	}

	if in.Logo != nil {
		png, err := ProcessLogo(in.Logo)
		if err != nil {
			f.Add("logo", apperr.MessageOf(err))
		}
		out.logo = png
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// normalizeAddress trims each line, drops empty lines at the ends and uses \n.
func normalizeAddress(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}

// validEmail accepts a bare address with a dotted domain.
func validEmail(e string) bool {
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e {
		return false
	}
	at := strings.LastIndexByte(e, '@')
	return at > 0 && strings.Contains(e[at+1:], ".") && !strings.HasSuffix(e, ".")
}

// ZoneNames returns the time zones offered on the settings screen (IANA
// names, sorted, UTC included).
func ZoneNames() []string { return slices.Clone(zoneNames) }

// ValidTimeZone reports whether name is a loadable IANA time zone (the list's
// names and their aliases; never "" or "Local").
func ValidTimeZone(name string) bool {
	if name == "" || name == "Local" || len(name) > 64 {
		return false
	}
	if _, ok := slices.BinarySearch(zoneNames, name); ok {
		return true
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

// requireAdmin refuses actors other than the Primary and Super logins.
func requireAdmin(a audit.Actor) error {
	if a.TenantID == "" || (a.Role != rolePrimary && a.Role != roleSuper) {
		return apperr.New(apperr.Forbidden, "Only a Primary or Super login can change the MSP's settings.")
	}
	return nil
}

// UpdateSettings validates and stores the MSP settings of the actor's tenant
// and audits `tenant.settings_update` with the names of the changed fields.
// Nothing is written when nothing changed.
// Errors: Invalid (with Fields: name, address, phone, time_zone,
// notification_hour, support_email, logo), Forbidden (not Primary or Super),
// NotFound.
func (s *Service) UpdateSettings(ctx context.Context, a audit.Actor, in SettingsInput) error {
	if err := requireAdmin(a); err != nil {
		return err
	}
	v, err := in.validate()
	if err != nil {
		return err
	}
	now := s.now().UTC()
	return s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		t, err := Get(ctx, tx, a.TenantID)
		if err != nil {
			return err
		}
		q := tx.NewUpdate().Model((*Tenant)(nil)).Where("id = ?", t.ID)
		var changed []string
		set := func(field, col string, differ bool, val any) {
			if differ {
				changed = append(changed, field)
				q = q.Set(col+" = ?", val)
			}
		}
		set("name", "name", t.Name != v.name, v.name)
		set("address", "address", t.Address != v.address, v.address)
		set("phone", "phone", t.Phone != v.phone, v.phone)
		set("time zone", "time_zone", t.TimeZone != v.timeZone, v.timeZone)
		set("notification hour", "notification_hour", t.NotificationHour != v.hour, v.hour)
		set("support email", "support_email", t.SupportEmail != v.supportEmail, v.supportEmail)
		if t.SelfServeEnabled != v.selfServe {
			state := "self-serve off"
			if v.selfServe {
				state = "self-serve on"
			}
			changed = append(changed, state)
			q = q.Set("self_serve_enabled = ?", v.selfServe)
		}
		switch {
		case v.logo != nil && !bytes.Equal(v.logo, t.Logo):
			changed = append(changed, "logo")
			q = q.Set("logo = ?", v.logo).Set("logo_type = ?", LogoType)
		case v.removeLogo && len(t.Logo) > 0:
			changed = append(changed, "logo removed")
			q = q.Set("logo = NULL").Set("logo_type = ''")
		}
		if len(changed) == 0 {
			return nil
		}
		if _, err := q.Set("updated_at = ?", now).Exec(ctx); err != nil {
			return fmt.Errorf("tenant: update settings: %w", err)
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{
			Action: "tenant.settings_update", TargetType: "tenant", TargetID: t.ID, Target: v.name,
			Detail: "changed " + strings.Join(changed, ", "),
		})
	})
}

// SetEnforceMFA turns "require two-step sign-in for all logins" on or off for
// the actor's tenant and audits `tenant.enforce_mfa_update`. Logins without an
// authenticator set one up at their next sign-in.
// Errors: Forbidden (not Primary or Super), NotFound.
func (s *Service) SetEnforceMFA(ctx context.Context, a audit.Actor, on bool) error {
	if err := requireAdmin(a); err != nil {
		return err
	}
	now := s.now().UTC()
	return s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		t, err := Get(ctx, tx, a.TenantID)
		if err != nil {
			return err
		}
		if t.EnforceMFA == on {
			return nil
		}
		if _, err := tx.NewUpdate().Model((*Tenant)(nil)).Set("enforce_mfa = ?", on).Set("updated_at = ?", now).
			Where("id = ?", t.ID).Exec(ctx); err != nil {
			return fmt.Errorf("tenant: set enforce mfa: %w", err)
		}
		detail := "two-step sign-in no longer required for all logins"
		if on {
			detail = "two-step sign-in required for all logins"
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{
			Action: "tenant.enforce_mfa_update", TargetType: "tenant", TargetID: t.ID, Target: t.Name, Detail: detail,
		})
	})
}

// StepIndex returns the position of a setup step in Steps, or -1.
func StepIndex(step string) int { return slices.Index(Steps, step) }

// AdvanceSetup moves the actor's tenant's wizard forward to step `to` (never
// back: a later current step is kept), so that a refresh resumes there.
// Errors: Forbidden, NotFound, Conflict (setup already finished).
func (s *Service) AdvanceSetup(ctx context.Context, a audit.Actor, to string) error {
	if err := requireAdmin(a); err != nil {
		return err
	}
	if StepIndex(to) < 0 {
		return fmt.Errorf("tenant: unknown setup step %q", to)
	}
	return s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		return s.advance(ctx, tx, a.TenantID, to)
	})
}

func (s *Service) advance(ctx context.Context, tx *db.Tx, tenantID, to string) error {
	t, err := Get(ctx, tx, tenantID)
	if err != nil {
		return err
	}
	if t.SetupDone() {
		return apperr.New(apperr.Conflict, "Setup is already finished.")
	}
	if StepIndex(t.SetupStep) >= StepIndex(to) {
		return nil
	}
	if _, err := tx.NewUpdate().Model((*Tenant)(nil)).Set("setup_step = ?", to).Set("updated_at = ?", s.now().UTC()).
		Where("id = ?", tenantID).Exec(ctx); err != nil {
		return fmt.Errorf("tenant: advance setup: %w", err)
	}
	return nil
}

// SkipSetupMFA lets the Primary go on without an authenticator (wizard step
// 3), audited as `setup.mfa_skipped`.
// Errors: Forbidden, NotFound, Conflict (two-step sign-in is required for all
// logins, or setup is finished).
func (s *Service) SkipSetupMFA(ctx context.Context, a audit.Actor) error {
	if err := requireAdmin(a); err != nil {
		return err
	}
	now := s.now().UTC()
	return s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		t, err := Get(ctx, tx, a.TenantID)
		if err != nil {
			return err
		}
		if t.EnforceMFA {
			return apperr.New(apperr.Conflict, "Two-step sign-in is required for all logins, so it cannot be skipped. Set it up, or turn the requirement off first.")
		}
		if err := s.advance(ctx, tx, t.ID, StepTechnicians); err != nil {
			return err
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{
			Action: "setup.mfa_skipped", TargetType: "login", TargetID: a.LoginID, Target: a.Name,
			Detail: "two-step sign-in not set up during setup",
		})
	})
}

// CompleteSetup finishes the wizard (step 5): the setup step becomes done,
// the completion time is stored and `setup.completed` is audited. Finishing
// twice is a no-op. Errors: Forbidden, NotFound.
func (s *Service) CompleteSetup(ctx context.Context, a audit.Actor) error {
	if err := requireAdmin(a); err != nil {
		return err
	}
	now := s.now().UTC()
	return s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		t, err := Get(ctx, tx, a.TenantID)
		if err != nil {
			return err
		}
		if t.SetupDone() {
			return nil
		}
		if _, err := tx.NewUpdate().Model((*Tenant)(nil)).Set("setup_step = ?", StepDone).Set("setup_completed_at = ?", now).
			Set("updated_at = ?", now).Where("id = ?", t.ID).Exec(ctx); err != nil {
			return fmt.Errorf("tenant: complete setup: %w", err)
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{Action: "setup.completed", TargetType: "tenant", TargetID: t.ID, Target: t.Name})
	})
}

// SettingsSaved reports whether the setup screen's essentials are stored
// (on-boarding checklist step 1): the MSP name and the support email.
func (t *Tenant) SettingsSaved() bool { return t.Name != "" && t.SupportEmail != "" }
