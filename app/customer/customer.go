// Package customer manages the MSP's customers (its clients): manual
// creation now, imports from IT Glue, Hudu, ConnectWise and Autotask later.
package customer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
)

// Sources of customers.
const (
	SourceManual      = "manual"
	SourceITGlue      = "itglue"
	SourceHudu        = "hudu"
	SourceConnectWise = "connectwise"
	SourceAutotask    = "autotask"
)

// SourceLabel is a source's display name.
func SourceLabel(s string) string {
	switch s {
	case SourceManual:
		return "Manual"
	case SourceITGlue:
		return "IT Glue"
	case SourceHudu:
		return "Hudu"
	case SourceConnectWise:
		return "ConnectWise"
	case SourceAutotask:
		return "Autotask"
	}
	return s
}

// Customer is one of the MSP's clients.
type Customer struct {
	bun.BaseModel `bun:"table:customers"`

	ID         string     `bun:"id,pk"`
	TenantID   string     `bun:"tenant_id"`
	Name       string     `bun:"name"`
	Domains    string     `bun:"domains"`   // comma-separated, lowercased
	TimeZone   string     `bun:"time_zone"` // "" = the tenant's
	Notes      string     `bun:"notes"`
	Source     string     `bun:"source"`
	ExternalID string     `bun:"external_id"`
	ArchivedAt *time.Time `bun:"archived_at"`
	CreatedAt  time.Time  `bun:"created_at"`
	UpdatedAt  time.Time  `bun:"updated_at"`
}

// DomainList returns the customer's domains.
func (c *Customer) DomainList() []string {
	if c.Domains == "" {
		return nil
	}
	return strings.Split(c.Domains, ",")
}

// Archived reports whether the customer is archived.
func (c *Customer) Archived() bool { return c.ArchivedAt != nil }

// Get returns a customer of the tenant (archived ones too).
// Errors: NotFound (also for another tenant's customer).
func Get(ctx context.Context, idb bun.IDB, tenantID, id string) (*Customer, error) {
	c := new(Customer)
	err := idb.NewSelect().Model(c).Where("tenant_id = ? AND id = ?", tenantID, id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "That customer does not exist.")
	}
	if err != nil {
		return nil, fmt.Errorf("customer: get: %w", err)
	}
	return c, nil
}
