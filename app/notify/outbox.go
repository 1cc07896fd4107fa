package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

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
