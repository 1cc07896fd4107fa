package webpush

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

// Channel is the messages.channel of push notifications.
const Channel = "push"

// MaxAttempts is how many times send_push tries one notification.
const MaxAttempts = 3

// MaxTTL is the longest time a push service keeps a notification (4 weeks).
const MaxTTL = 28 * 24 * time.Hour

// MaxPayload bounds the JSON payload (one aes128gcm record of 4096 bytes
// holds at most 3993 bytes of it).
const MaxPayload = 3000

// Urgency is the Urgency header (RFC 8030): how soon the device should
// wake for the notification.
type Urgency string

// Urgencies.
const (
	UrgencyVeryLow Urgency = "very-low"
	UrgencyLow     Urgency = "low"
	UrgencyNormal  Urgency = "normal"
	UrgencyHigh    Urgency = "high"
)

func (u Urgency) valid() bool {
	switch u {
	case UrgencyVeryLow, UrgencyLow, UrgencyNormal, UrgencyHigh:
		return true
	}
	return false
}

// Payload is what the service worker receives, as JSON: small, nothing
// secret (the push service cannot read it, but the device shows it).
type Payload struct {
	Title string `json:"title"`
	Body  string `json:"body,omitempty"`
	URL   string `json:"url,omitempty"` // absolute, under LATCHKEY_BASE_URL ("/path" is made absolute)
	ID    string `json:"id,omitempty"`  // opaque, e.g. a verification's id
	Kind  string `json:"kind,omitempty"`
}

// ErrNoSubscription is matched (errors.Is) by Push's error when the end
// user has no active subscription: the caller falls back to SMS.
var ErrNoSubscription = errors.New("webpush: the end user has no active push subscription")

// Delivery is one queued notification: one subscription's messages row.
type Delivery struct {
	MessageID      string
	SubscriptionID string
}

// Queue writes push notifications to the messages table and enqueues
// send_push in the caller's transaction.
type Queue struct {
	jobs db.Inserter
	keys *secret.Keyring
	link func(string) string
	now  func() time.Time
}

// NewQueue returns a Queue.
func NewQueue(jobs db.Inserter, keys *secret.Keyring, link func(string) string, now func() time.Time) *Queue {
	if now == nil {
		now = time.Now
	}
	return &Queue{jobs: jobs, keys: keys, link: link, now: now}
}

// pushData is a push message's data column.
type pushData struct {
	SubscriptionID string  `json:"subscription_id"`
	EndUserID      string  `json:"end_user_id"`
	Urgency        Urgency `json:"urgency"`
	Payload        string  `json:"payload"` // base64 of the encrypted JSON payload
}

func payloadAAD(tenantID, messageID string) []byte {
	return []byte("messages/" + tenantID + "/" + messageID)
}

// Push writes a notification for each of the end user's active
// subscriptions in tx and enqueues its delivery (send_push: at most
// MaxAttempts tries, at most once, never after ttl has passed; ttl is also
// the TTL the push service keeps it). The payload is stored encrypted.
// Errors: Invalid (ttl not within 1 s to MaxTTL, unknown urgency, link not
// under LATCHKEY_BASE_URL, payload too large), Conflict wrapping
// ErrNoSubscription (nothing to send to: fall back to SMS).
func (q *Queue) Push(ctx context.Context, tx *db.Tx, tenantID, endUserID string, p Payload, ttl time.Duration, urgency Urgency) ([]Delivery, error) {
	now := q.now().UTC()
	if urgency == "" {
		urgency = UrgencyNormal
	}
	switch {
	case ttl < time.Second || ttl > MaxTTL:
		return nil, apperr.New(apperr.Invalid, "A push notification lives from one second to four weeks.")
	case !urgency.valid():
		return nil, apperr.New(apperr.Invalid, "Unknown push urgency %q.", urgency)
	case strings.TrimSpace(p.Title) == "":
		return nil, apperr.New(apperr.Invalid, "A push notification needs a title.")
	}
	if strings.HasPrefix(p.URL, "/") && !strings.HasPrefix(p.URL, "//") {
		p.URL = q.link(p.URL)
	}
	if p.URL != "" && !strings.HasPrefix(p.URL, strings.TrimRight(q.link("/"), "/")+"/") {
		return nil, apperr.New(apperr.Invalid, "A push notification links only under LATCHKEY_BASE_URL.")
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("webpush: encode payload: %w", err)
	}
	if len(body) > MaxPayload {
		return nil, apperr.New(apperr.Invalid, "The push notification is too large.")
	}
	subs, err := active(ctx, tx, tenantID, endUserID)
	if err != nil {
		return nil, err
	}
	if len(subs) == 0 {
		return nil, apperr.Wrap(apperr.Conflict, ErrNoSubscription, "The end user has no device that receives push notifications.")
	}
	kind := p.Kind
	if kind == "" {
		kind = "push"
	}
	exp := now.Add(ttl)
	out := make([]Delivery, 0, len(subs))
	for _, sub := range subs {
		id := db.NewID()
		ct, err := q.keys.Encrypt(body, payloadAAD(tenantID, id))
		if err != nil {
			return nil, fmt.Errorf("webpush: encrypt payload: %w", err)
		}
		data, err := json.Marshal(pushData{SubscriptionID: sub.ID, EndUserID: endUserID, Urgency: urgency,
			Payload: base64.StdEncoding.EncodeToString(ct)})
		if err != nil {
			return nil, err
		}
		m := &message{
			ID: id, TenantID: tenantID, Channel: Channel, Kind: kind, To: sub.Label(), Subject: clip(p.Title, 200),
			Data: string(data), Status: notify.StatusQueued, CreatedAt: now, ExpiresAt: &exp,
		}
		if _, err := tx.NewInsert().Model(m).Exec(ctx); err != nil {
			return nil, fmt.Errorf("webpush: insert message: %w", err)
		}
		if _, err := q.jobs.InsertTx(ctx, tx, jobargs.SendPush{MessageID: id}, &river.InsertOpts{
			MaxAttempts: MaxAttempts,
			UniqueOpts:  river.UniqueOpts{ByArgs: true},
		}); err != nil {
			return nil, fmt.Errorf("webpush: enqueue: %w", err)
		}
		out = append(out, Delivery{MessageID: id, SubscriptionID: sub.ID})
	}
	return out, nil
}

func active(ctx context.Context, idb bun.IDB, tenantID, endUserID string) ([]Subscription, error) {
	var subs []Subscription
	if err := idb.NewSelect().Model(&subs).Where("tenant_id = ? AND end_user_id = ? AND revoked_at IS NULL", tenantID, endUserID).
		OrderExpr("created_at, id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("webpush: active subscriptions: %w", err)
	}
	return subs, nil
}

// message is a push row of the messages table.
type message struct {
	bun.BaseModel `bun:"table:messages"`

	ID                string     `bun:"id,pk"`
	TenantID          string     `bun:"tenant_id"`
	Channel           string     `bun:"channel"`
	Kind              string     `bun:"kind"`
	To                string     `bun:"to_addr"`
	Subject           string     `bun:"subject"`
	BodyText          string     `bun:"body_text"`
	BodyHTML          string     `bun:"body_html"`
	Data              string     `bun:"data"`
	Status            string     `bun:"status"`
	Attempts          int        `bun:"attempts"`
	LastError         string     `bun:"last_error"`
	CreatedAt         time.Time  `bun:"created_at"`
	SentAt            *time.Time `bun:"sent_at"`
	ClaimedAt         *time.Time `bun:"claimed_at"`
	ExpiresAt         *time.Time `bun:"expires_at"`
	ProviderID        string     `bun:"provider_id"`
	DeliveryStatus    string     `bun:"delivery_status"`
	DeliveryError     string     `bun:"delivery_error"`
	DeliveryUpdatedAt *time.Time `bun:"delivery_updated_at"`
}
