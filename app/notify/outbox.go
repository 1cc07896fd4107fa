package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
)

// OutboxPerPage is the page size of List.
const OutboxPerPage = 50

// List returns one page (1-based) of the tenant's messages, newest first,
// and how many there are in all.
func List(ctx context.Context, idb bun.IDB, tenantID string, page int) ([]Message, int, error) {
	page = max(page, 1)
	var msgs []Message
	total, err := idb.NewSelect().Model(&msgs).Where("tenant_id = ?", tenantID).
		OrderExpr("created_at DESC, id DESC").Limit(OutboxPerPage).Offset(int64((page - 1) * OutboxPerPage)).
		ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("notify: list messages: %w", err)
	}
	return msgs, int(total), nil
}

// Get returns one of the tenant's messages. Errors: NotFound (also for a
// message of another tenant).
func Get(ctx context.Context, idb bun.IDB, tenantID, id string) (*Message, error) {
	m := new(Message)
	err := idb.NewSelect().Model(m).Where("tenant_id = ? AND id = ?", tenantID, id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "This message does not exist.")
	}
	if err != nil {
		return nil, fmt.Errorf("notify: get message: %w", err)
	}
	return m, nil
}

// Delivery is what a provider reported about a text message or a push
// notification (the columns send_sms and send_push fill).
type Delivery struct {
	bun.BaseModel `bun:"table:messages"`

	ProviderID string     `bun:"provider_id"`     // Twilio's SID
	Status     string     `bun:"delivery_status"` // Twilio's: queued, sent, delivered, undelivered, failed, …
	Error      string     `bun:"delivery_error"`
	UpdatedAt  *time.Time `bun:"delivery_updated_at"`
	ExpiresAt  *time.Time `bun:"expires_at"`
}

// DeliveryOf returns the provider's report of one of the tenant's messages.
// Errors: NotFound (also for another tenant's message).
func DeliveryOf(ctx context.Context, idb bun.IDB, tenantID, id string) (*Delivery, error) {
	d := new(Delivery)
	err := idb.NewSelect().Model(d).Column("provider_id", "delivery_status", "delivery_error", "delivery_updated_at", "expires_at").
		Where("tenant_id = ? AND id = ?", tenantID, id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "This message does not exist.")
	}
	if err != nil {
		return nil, fmt.Errorf("notify: delivery of message: %w", err)
	}
	return d, nil
}
