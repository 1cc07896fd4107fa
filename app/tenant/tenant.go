// Package tenant holds the MSP's settings and the state of the first-run
// setup wizard.
package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/db"
)

// Setup wizard steps, in order.
const (
	StepPrimary     = "primary"
	StepSettings    = "settings"
	StepMFA         = "mfa"
	StepTechnicians = "technicians"
	StepDone        = "done"
)

// Steps lists the wizard steps in order.
var Steps = []string{StepPrimary, StepSettings, StepMFA, StepTechnicians, StepDone}

// Tenant is an MSP using Latchkey, with the settings of the setup screen.
type Tenant struct {
	bun.BaseModel `bun:"table:tenants"`

	ID               string     `bun:"id,pk"`
	Name             string     `bun:"name"`
	Logo             []byte     `bun:"logo"`
	LogoType         string     `bun:"logo_type"`
	Address          string     `bun:"address"`
	Phone            string     `bun:"phone"` // E.164
	TimeZone         string     `bun:"time_zone"`
	NotificationHour int        `bun:"notification_hour"`
	SupportEmail     string     `bun:"support_email"`
	SelfServeEnabled bool       `bun:"self_serve_enabled"`
	EnforceMFA       bool       `bun:"enforce_mfa"`
	SetupStep        string     `bun:"setup_step"`
	SetupCompletedAt *time.Time `bun:"setup_completed_at"`
	CreatedAt        time.Time  `bun:"created_at"`
	UpdatedAt        time.Time  `bun:"updated_at"`
}

// HasLogo reports whether the tenant has a logo. It reads logo_type (set
// with the logo, cleared with it), so it holds for a tenant loaded without
// the logo's bytes (WithoutLogo), as every signed-in request's is.
func (t *Tenant) HasLogo() bool { return t.LogoType != "" || len(t.Logo) > 0 }

// WithoutLogo selects a tenant's columns but the logo's bytes (up to
// LogoMaxBytes before scaling, a few kilobytes after): for a tenant loaded
// with every request, as a relation (Relation("Tenant", tenant.WithoutLogo)).
// The logo is read when it is served.
func WithoutLogo(q *bun.SelectQuery) *bun.SelectQuery { return q.ExcludeColumn("logo") }

// SetupDone reports whether the wizard has finished.
func (t *Tenant) SetupDone() bool { return t.SetupCompletedAt != nil }

// DisplayName is the MSP name, or a neutral word before it is set.
func (t *Tenant) DisplayName() string {
	if t.Name == "" {
		return "Your MSP"
	}
	return t.Name
}

// Location returns the tenant's time zone (UTC when unset or unknown).
func (t *Tenant) Location() *time.Location {
	if loc, err := time.LoadLocation(t.TimeZone); err == nil {
		return loc
	}
	return time.UTC
}

// New returns a tenant with defaults, not yet stored.
func New(now time.Time) *Tenant {
	return &Tenant{
		ID: db.NewID(), TimeZone: "UTC", NotificationHour: 9, SelfServeEnabled: true,
		SetupStep: StepPrimary, CreatedAt: now.UTC(), UpdatedAt: now.UTC(),
	}
}

// Any reports whether a tenant exists (false on a fresh install: show the wizard).
func Any(ctx context.Context, idb bun.IDB) (bool, error) {
	ok, err := idb.NewSelect().Model((*Tenant)(nil)).Exists(ctx)
	if err != nil {
		return false, fmt.Errorf("tenant: exists: %w", err)
	}
	return ok, nil
}

// Get returns the tenant by id. Errors: NotFound.
func Get(ctx context.Context, idb bun.IDB, id string) (*Tenant, error) {
	t := new(Tenant)
	err := idb.NewSelect().Model(t).Where("id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "This MSP account no longer exists.")
	}
	if err != nil {
		return nil, fmt.Errorf("tenant: get: %w", err)
	}
	return t, nil
}

// Insert stores a new tenant.
func Insert(ctx context.Context, idb bun.IDB, t *Tenant) error {
	if _, err := idb.NewInsert().Model(t).Exec(ctx); err != nil {
		return fmt.Errorf("tenant: insert: %w", err)
	}
	return nil
}
