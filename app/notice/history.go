package notice

import (
	"context"
	"fmt"
	"strings"

	"github.com/uptrace/bun"
)

// Delivery is what became of one message of a notice: the messages row's
// own status (queued, sending, sent, outbox, failed) and what the provider
// reported later (Twilio's delivered, undelivered, …).
type Delivery struct {
	MessageID      string `bun:"id"`
	Channel        string `bun:"channel"`
	Status         string `bun:"status"`
	LastError      string `bun:"last_error"`
	ProviderStatus string `bun:"delivery_status"`
	ProviderError  string `bun:"delivery_error"`
}

// Item is a notice with the delivery of each of its messages (nil or empty
// where a channel was not used: the notice's note says why).
type Item struct {
	Notice
	Email *Delivery
	SMS   *Delivery
	Push  []Delivery
}

// HistoryLimit is how many notices History returns.
const HistoryLimit = 30

// History returns the end user's latest notices (newest first) with their
// delivery, in two statements. Another tenant's end user has none.
func (s *Service) History(ctx context.Context, tenantID, endUserID string) ([]Item, error) {
	var ns []Notice
	if err := s.d.DB.Bun.NewSelect().Model(&ns).Where("tenant_id = ? AND end_user_id = ?", tenantID, endUserID).
		OrderExpr("planned_at DESC, id DESC").Limit(HistoryLimit).Scan(ctx); err != nil {
		return nil, fmt.Errorf("notice: history: %w", err)
	}
	var ids []string
	for _, n := range ns {
		ids = append(ids, n.messageIDs()...)
	}
	byID := map[string]Delivery{}
	if len(ids) > 0 {
		var ds []Delivery
		if err := s.d.DB.Bun.NewSelect().Table("messages").
			Column("id", "channel", "status", "last_error", "delivery_status", "delivery_error").
			Where("tenant_id = ? AND id IN (?)", tenantID, bun.In(ids)).Scan(ctx, &ds); err != nil {
			return nil, fmt.Errorf("notice: history messages: %w", err)
		}
		for _, d := range ds {
			byID[d.MessageID] = d
		}
	}
	out := make([]Item, len(ns))
	for i, n := range ns {
		it := Item{Notice: n}
		if d, ok := byID[n.EmailMessageID]; ok {
			it.Email = &d
		}
		if d, ok := byID[n.SMSMessageID]; ok {
			it.SMS = &d
		}
		for _, id := range splitIDs(n.PushMessageIDs) {
			if d, ok := byID[id]; ok {
				it.Push = append(it.Push, d)
			}
		}
		out[i] = it
	}
	return out, nil
}

// messageIDs lists the ids of the notice's messages.
func (n *Notice) messageIDs() []string {
	var ids []string
	for _, id := range []string{n.EmailMessageID, n.SMSMessageID} {
		if id != "" {
			ids = append(ids, id)
		}
	}
	return append(ids, splitIDs(n.PushMessageIDs)...)
}

func splitIDs(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// Get returns one notice by id, for tests and tools (nil when missing).
func (s *Service) Get(ctx context.Context, id string) (*Notice, error) {
	var ns []Notice
	if err := s.d.DB.Bun.NewSelect().Model(&ns).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, fmt.Errorf("notice: get: %w", err)
	}
	if len(ns) == 0 {
		return nil, nil
	}
	return &ns[0], nil
}

// ExpiresLocal formats an instant in the notice's time zone.
func (n *Notice) ExpiresLocal(layout string) string {
	if n.ExpiresAt == nil {
		return ""
	}
	loc, _ := location(n.TimeZone, "")
	return n.ExpiresAt.In(loc).Format(layout)
}
