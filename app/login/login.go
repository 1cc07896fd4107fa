// Package login manages the MSP's technician logins: roles, passwords,
// authenticator (TOTP) MFA, throttling of failures, single-use links for
// invitations and password resets, and the sessions' validity.
package login

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
)

// Role is what a login may do.
type Role string

// Roles, from most to least powerful.
const (
	RolePrimary    Role = "primary"    // exactly one per tenant; cannot be deleted or demoted
	RoleSuper      Role = "super"      // administers settings and logins
	RoleTechnician Role = "technician" // customers, end users, admin accounts, vault
	RoleHelpDesk   Role = "helpdesk"   // end users only
)

// Roles lists the roles in display order.
var Roles = []Role{RolePrimary, RoleSuper, RoleTechnician, RoleHelpDesk}

// AssignableRoles are the roles an admin can give (Primary is never assigned).
var AssignableRoles = []Role{RoleSuper, RoleTechnician, RoleHelpDesk}

// Label is the role's display name.
func (r Role) Label() string {
	switch r {
	case RolePrimary:
		return "Primary"
	case RoleSuper:
		return "Super"
	case RoleTechnician:
		return "Technician"
	case RoleHelpDesk:
		return "Help desk"
	}
	return string(r)
}

// IsAdmin reports whether the role administers the tenant (Primary or Super).
func (r Role) IsAdmin() bool { return r == RolePrimary || r == RoleSuper }

// ParseRole accepts a role by value or label, case-insensitively.
func ParseRole(s string) (Role, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.NewReplacer(" ", "", "-", "", "_", "").Replace(s)
	for _, r := range Roles {
		if s == string(r) || s == strings.ToLower(strings.ReplaceAll(r.Label(), " ", "")) {
			return r, true
		}
	}
	return "", false
}

// Login statuses.
const (
	StatusInvited  = "invited" // has not set a password yet
	StatusActive   = "active"
	StatusDisabled = "disabled" // cannot sign in; sessions ended
)

// Login is a technician's account.
type Login struct {
	bun.BaseModel `bun:"table:logins"`

	ID                 string     `bun:"id,pk"`
	TenantID           string     `bun:"tenant_id"`
	Email              string     `bun:"email"`
	FirstName          string     `bun:"first_name"`
	LastName           string     `bun:"last_name"`
	Role               Role       `bun:"role"`
	Status             string     `bun:"status"`
	PasswordHash       string     `bun:"password_hash"`
	PasswordChangedAt  *time.Time `bun:"password_changed_at"`
	TOTPSecret         []byte     `bun:"totp_secret"`  // encrypted
	TOTPPending        []byte     `bun:"totp_pending"` // encrypted, during enrolment
	TOTPEnabledAt      *time.Time `bun:"totp_enabled_at"`
	TOTPLastStep       int64      `bun:"totp_last_step"`
	FailedLogins       int        `bun:"failed_logins"`
	Lockouts           int        `bun:"lockouts"`
	LockedUntil        *time.Time `bun:"locked_until"`
	TOTPFailures       int        `bun:"totp_failures"`
	TOTPWindowStart    *time.Time `bun:"totp_window_start"`
	TOTPLockedUntil    *time.Time `bun:"totp_locked_until"`
	SessionsValidAfter time.Time  `bun:"sessions_valid_after"`
	LastLoginAt        *time.Time `bun:"last_login_at"`
	CreatedAt          time.Time  `bun:"created_at"`
	UpdatedAt          time.Time  `bun:"updated_at"`

	// Tenant is loaded with the login for sessions (one query per request).
	Tenant *tenant.Tenant `bun:"rel:belongs-to,join:tenant_id=id"`
}

// Name is "First Last".
func (l *Login) Name() string { return strings.TrimSpace(l.FirstName + " " + l.LastName) }

// MFAEnabled reports whether the login has a confirmed authenticator.
func (l *Login) MFAEnabled() bool { return l.TOTPEnabledAt != nil && len(l.TOTPSecret) > 0 }

// Service is the login domain service.
type Service struct {
	db     *db.DB
	hasher *credential.Hasher
	keys   *secret.Keyring
	mail   *notify.Queue
	link   func(path string) string
	now    func() time.Time
	log    *slog.Logger
}

// Deps are the Service's collaborators.
type Deps struct {
	DB     *db.DB
	Hasher *credential.Hasher
	Keys   *secret.Keyring
	Mail   *notify.Queue
	Link   func(path string) string // absolute link under LATCHKEY_BASE_URL
	Now    func() time.Time
	Log    *slog.Logger
}

// NewService returns a Service.
func NewService(d Deps) *Service {
	return &Service{db: d.DB, hasher: d.Hasher, keys: d.Keys, mail: d.Mail, link: d.Link, now: d.Now, log: d.Log}
}

// NormalizeEmail lowercases and trims an email address.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Get returns a login of the tenant. Errors: NotFound (also for another tenant's login).
func Get(ctx context.Context, idb bun.IDB, tenantID, id string) (*Login, error) {
	l := new(Login)
	err := idb.NewSelect().Model(l).Where("tenant_id = ? AND id = ?", tenantID, id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "That login does not exist.")
	}
	if err != nil {
		return nil, fmt.Errorf("login: get: %w", err)
	}
	return l, nil
}

// Get returns a login of the tenant. Errors: NotFound.
func (s *Service) Get(ctx context.Context, tenantID, id string) (*Login, error) {
	return Get(ctx, s.db.Bun, tenantID, id)
}

// byID returns a login by id regardless of tenant (for sessions only).
func (s *Service) byID(ctx context.Context, idb bun.IDB, id string) (*Login, error) {
	l := new(Login)
	err := idb.NewSelect().Model(l).Where("id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.Unauthorized, "Please sign in.")
	}
	if err != nil {
		return nil, fmt.Errorf("login: get: %w", err)
	}
	return l, nil
}

// ForSession returns the login a session belongs to, with its Tenant loaded
// in the same query, checked with CheckSession (active, and the session began
// after the login's sessions were last invalidated). Errors: Unauthorized.
func (s *Service) ForSession(ctx context.Context, id string, authAt time.Time) (*Login, error) {
	l := new(Login)
	err := s.db.Bun.NewSelect().Model(l).Relation("Tenant", tenant.WithoutLogo).Where("login.id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.Unauthorized, "Please sign in.")
	}
	if err != nil {
		return nil, fmt.Errorf("login: for session: %w", err)
	}
	if err := CheckSession(l, authAt); err != nil {
		return nil, err
	}
	return l, nil
}

// CheckSession decides whether a session whose sign-in completed at authAt
// may still act as l: the login must be active and the sign-in must not be
// older than the login's last invalidation of its sessions (password change,
// disable, role change). ForSession decides with it, and so does the web
// layer for a login its session store read together with the session row.
// Errors: Unauthorized.
func CheckSession(l *Login, authAt time.Time) error {
	if l.Status != StatusActive || authAt.Before(l.SessionsValidAfter) {
		return apperr.New(apperr.Unauthorized, "Your session has ended. Please sign in again.")
	}
	return nil
}

// aad binds a login's encrypted TOTP secret to the tenant and the login.
func aad(l *Login) []byte { return []byte("login-totp:" + l.TenantID + ":" + l.ID) }

// ByEmail returns the login with the email. Errors: NotFound.
func ByEmail(ctx context.Context, idb bun.IDB, email string) (*Login, error) {
	l := new(Login)
	err := idb.NewSelect().Model(l).Where("email = ?", NormalizeEmail(email)).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "No login has that email.")
	}
	if err != nil {
		return nil, fmt.Errorf("login: by email: %w", err)
	}
	return l, nil
}

// Admins returns the active Primary and Super logins of a tenant (who are told
// of every change to a login).
func Admins(ctx context.Context, idb bun.IDB, tenantID string) ([]*Login, error) {
	var out []*Login
	err := idb.NewSelect().Model(&out).Where("tenant_id = ? AND role IN (?) AND status = ?",
		tenantID, bun.In([]Role{RolePrimary, RoleSuper}), StatusActive).Order("created_at").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("login: admins: %w", err)
	}
	return out, nil
}
