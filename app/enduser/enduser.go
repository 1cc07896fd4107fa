// Package enduser manages the end users of the MSP's customers: the grid
// technicians work in, self-serve switches and status, CSV import, and the
// welcome email that starts enrolment.
package enduser

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"

	"github.com/latchkey/latchkey/app/apperr"
)

// Sources of end users.
const (
	SourceManual = "manual" // typed in Latchkey
	SourceCSV    = "csv"    // imported from a CSV file
	SourceAD     = "ad"     // Active Directory, through the agent
	SourceM365   = "m365"   // Microsoft 365 / Entra ID
	SourceLocal  = "local"  // a machine's local accounts
)

// SourceLabel is a source's display name.
func SourceLabel(s string) string {
	switch s {
	case SourceManual:
		return "Manual"
	case SourceCSV:
		return "CSV"
	case SourceAD:
		return "Active Directory"
	case SourceM365:
		return "Microsoft 365"
	case SourceLocal:
		return "Local"
	}
	return s
}

// Where a contact value (email, mobile) came from.
const (
	ValueDirectory = "directory" // imported from the directory; a later import may change it
	ValueManual    = "manual"    // typed by a technician
	ValueImport    = "import"    // from a CSV import
	ValueEndUser   = "end_user"  // given by the end user (welcome link)
)

// Status is the derived self-serve status (never typed).
type Status int

// Statuses, in order.
const (
	StatusNotRegistered Status = iota // email or mobile missing
	StatusRegistered                  // email and mobile present: "Registration complete"
	StatusAccessed                    // signed in to self-serve at least once
)

// Label is the status's display text.
func (s Status) Label() string {
	switch s {
	case StatusRegistered:
		return "Registration complete"
	case StatusAccessed:
		return "Accessed self-serve"
	}
	return "Not registered"
}

// Key is the status's URL/filter value.
func (s Status) Key() string {
	switch s {
	case StatusRegistered:
		return "registered"
	case StatusAccessed:
		return "accessed"
	}
	return "not_registered"
}

// StatusSQL is the SQL of Status over an end_users row (alias prefix p,
// e.g. "eu."): the column status, which migration 0010 generates from
// email, mobile and first_access_at with statusCASE. Queries read the
// column rather than repeat the CASE: SQLite 3.53 computes the CASE wrongly
// in a GROUP BY that reads the index on the column (TestListCounts in
// app/customer caught it).
func StatusSQL(p string) string { return p + "status" }

// statusCASE is the generated column's definition (migration 0010), kept
// here so that tests can check it against Status.
func statusCASE(p string) string {
	return "(CASE WHEN " + p + "first_access_at IS NOT NULL THEN 2 WHEN " + p + "email <> '' AND " + p + "mobile <> '' THEN 1 ELSE 0 END)"
}

// EndUser is an account of a customer's user.
type EndUser struct {
	bun.BaseModel `bun:"table:end_users"`

	ID                string     `bun:"id,pk"`
	TenantID          string     `bun:"tenant_id"`
	CustomerID        string     `bun:"customer_id"`
	Username          string     `bun:"username"`
	FirstName         string     `bun:"first_name"`
	LastName          string     `bun:"last_name"`
	Email             string     `bun:"email"`
	EmailSource       string     `bun:"email_source"`
	Mobile            string     `bun:"mobile"`
	MobileSource      string     `bun:"mobile_source"`
	MobileConfirmedAt *time.Time `bun:"mobile_confirmed_at"`
	Source            string     `bun:"source"`
	ExternalID        string     `bun:"external_id"`
	SelfServeEnabled  bool       `bun:"self_serve_enabled"`
	Privileged        bool       `bun:"privileged"`
	Locked            bool       `bun:"locked"`
	PasswordExpiresAt *time.Time `bun:"password_expires_at"`
	FirstAccessAt     *time.Time `bun:"first_access_at"`
	LastAccessAt      *time.Time `bun:"last_access_at"`
	WelcomeSentAt     *time.Time `bun:"welcome_sent_at"`
	UnlinkedAt        *time.Time `bun:"unlinked_at"`
	CreatedAt         time.Time  `bun:"created_at"`
	UpdatedAt         time.Time  `bun:"updated_at"`
}

// endUserColumns lists EndUser's columns of end_users aliased eu, for
// statements that scan an EndUser from a table expression. Never eu.*: other
// packages add columns to end_users that EndUser does not have.
var endUserColumns = sync.OnceValue(func() string {
	t := sqlitedialect.New().Tables().Get(reflect.TypeFor[EndUser]())
	cols := make([]string, len(t.Fields))
	for i, f := range t.Fields {
		cols[i] = "eu." + f.Name
	}
	return strings.Join(cols, ", ")
})

// Name is "First Last", or the username when both are empty.
func (u *EndUser) Name() string {
	if n := strings.TrimSpace(u.FirstName + " " + u.LastName); n != "" {
		return n
	}
	return u.Username
}

// Status derives the self-serve status.
func (u *EndUser) Status() Status {
	switch {
	case u.FirstAccessAt != nil:
		return StatusAccessed
	case u.Email != "" && u.Mobile != "":
		return StatusRegistered
	}
	return StatusNotRegistered
}

// SelfServeActive reports whether self-serve and notifications are active for
// the end user: tenant switch on, the user's switch on, status at least
// Registration complete.
func (u *EndUser) SelfServeActive(tenantSwitch bool) bool {
	return tenantSwitch && u.SelfServeEnabled && u.Status() >= StatusRegistered
}

// Get returns an end user of the tenant.
// Errors: NotFound (also for another tenant's end user).
func Get(ctx context.Context, idb bun.IDB, tenantID, id string) (*EndUser, error) {
	u := new(EndUser)
	err := idb.NewSelect().Model(u).Where("tenant_id = ? AND id = ?", tenantID, id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "That end user does not exist.")
	}
	if err != nil {
		return nil, fmt.Errorf("enduser: get: %w", err)
	}
	return u, nil
}
