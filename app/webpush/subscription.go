package webpush

import (
	"context"
	"crypto/ecdh"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/db"
)

// Subscription is one browser's push subscription of an end user.
type Subscription struct {
	bun.BaseModel `bun:"table:push_subscriptions"`

	ID            string     `bun:"id,pk"`
	TenantID      string     `bun:"tenant_id"`
	EndUserID     string     `bun:"end_user_id"`
	Endpoint      string     `bun:"endpoint"`
	P256dh        string     `bun:"p256dh"` // base64url, the browser's P-256 public key
	Auth          []byte     `bun:"auth"`   // ciphertext of the 16-byte auth secret
	UserAgent     string     `bun:"user_agent"`
	DeviceLabel   string     `bun:"device_label"`
	CreatedAt     time.Time  `bun:"created_at"`
	LastSuccessAt *time.Time `bun:"last_success_at"`
	RevokedAt     *time.Time `bun:"revoked_at"`
	RevokeReason  string     `bun:"revoke_reason"` // "revoked", "gone"
}

// Active reports whether the subscription may receive notifications.
func (s *Subscription) Active() bool { return s.RevokedAt == nil }

// Label is the device's name for lists.
func (s *Subscription) Label() string {
	if s.DeviceLabel != "" {
		return s.DeviceLabel
	}
	return "Push device"
}

// Revoke reasons.
const (
	RevokedByUser = "revoked" // Revoke
	RevokedGone   = "gone"    // the push service answered 404 or 410
)

func authAAD(tenantID, subscriptionID string) []byte {
	return []byte("push_subscriptions/" + tenantID + "/" + subscriptionID)
}

// SubscriptionInput is a browser's PushSubscription and a label for it.
type SubscriptionInput struct {
	Endpoint    string
	P256dh      string // base64url (padded or not) of the 65-byte public key
	Auth        string // base64url of the 16-byte auth secret
	UserAgent   string
	DeviceLabel string // e.g. "iPhone · Safari"
}

// ParseSubscriptionJSON reads PushSubscription.toJSON() as the browser
// sends it: {"endpoint": …, "expirationTime": …, "keys": {"p256dh": …, "auth": …}}.
func ParseSubscriptionJSON(b []byte) (SubscriptionInput, error) {
	var v struct {
		Endpoint string `json:"endpoint"`
		Keys     struct {
			P256dh string `json:"p256dh"`
			Auth   string `json:"auth"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return SubscriptionInput{}, apperr.New(apperr.Invalid, "The push subscription is not readable.")
	}
	return SubscriptionInput{Endpoint: v.Endpoint, P256dh: v.Keys.P256dh, Auth: v.Keys.Auth}, nil
}

// decodeB64 accepts base64url or standard base64, padded or not.
func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "")
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n])
	}
	return s
}

// Save stores an end user's push subscription (a browser that allowed
// notifications) in the actor's tenant and audits `push.subscribe`. The
// same endpoint saved again replaces the keys, follows the end user and
// is active again.
// Errors: Invalid (endpoint not a known push service, bad keys), NotFound
// (no such end user in the tenant).
func (s *Service) Save(ctx context.Context, a audit.Actor, endUserID string, in SubscriptionInput) (*Subscription, error) {
	var out *Subscription
	err := s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var err error
		out, err = s.SaveTx(ctx, tx, a, endUserID, in)
		return err
	})
	return out, err
}

// SaveTx is Save inside the caller's transaction (a device enrolment that
// stores the subscription with the device).
func (s *Service) SaveTx(ctx context.Context, tx *db.Tx, a audit.Actor, endUserID string, in SubscriptionInput) (*Subscription, error) {
	if a.TenantID == "" {
		return nil, apperr.New(apperr.Forbidden, "No tenant.")
	}
	endpoint := strings.TrimSpace(in.Endpoint)
	if msg := s.endpointProblem(endpoint); msg != "" {
		return nil, apperr.New(apperr.Invalid, "%s", msg)
	}
	pub, err := decodeB64(in.P256dh)
	if err == nil {
		_, err = ecdh.P256().NewPublicKey(pub)
	}
	if err != nil || len(pub) != 65 {
		return nil, apperr.New(apperr.Invalid, "The subscription's public key is not a P-256 key.")
	}
	auth, err := decodeB64(in.Auth)
	if err != nil || len(auth) != 16 {
		return nil, apperr.New(apperr.Invalid, "The subscription's auth secret is not 16 bytes.")
	}
	ok, err := tx.NewSelect().Table("end_users").Where("tenant_id = ? AND id = ?", a.TenantID, endUserID).Exists(ctx)
	if err != nil {
		return nil, fmt.Errorf("webpush: end user: %w", err)
	}
	if !ok {
		return nil, apperr.New(apperr.NotFound, "This end user does not exist.")
	}
	now := s.now()
	sub := new(Subscription)
	err = tx.NewSelect().Model(sub).Where("tenant_id = ? AND endpoint = ?", a.TenantID, endpoint).Scan(ctx)
	existing := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("webpush: find subscription: %w", err)
	}
	if !existing {
		sub = &Subscription{ID: db.NewID(), TenantID: a.TenantID, Endpoint: endpoint, CreatedAt: now}
	}
	sub.EndUserID = endUserID
	sub.P256dh = base64.RawURLEncoding.EncodeToString(pub)
	sub.UserAgent, sub.DeviceLabel = clip(in.UserAgent, 500), clip(in.DeviceLabel, 100)
	sub.RevokedAt, sub.RevokeReason = nil, ""
	if sub.Auth, err = s.d.Keys.Encrypt(auth, authAAD(sub.TenantID, sub.ID)); err != nil {
		return nil, err
	}
	if existing {
		_, err = tx.NewUpdate().Model(sub).WherePK().Exec(ctx)
	} else {
		_, err = tx.NewInsert().Model(sub).Exec(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("webpush: save subscription: %w", err)
	}
	if err := audit.Record(ctx, tx, now, a, audit.Entry{
		Action: "push.subscribe", TargetType: "end_user", TargetID: endUserID, Target: sub.Label(),
		Detail: "push notifications allowed on " + sub.Label(),
	}); err != nil {
		return nil, err
	}
	return sub, nil
}

// Revoke stops notifications to one of the tenant's subscriptions and
// audits `push.unsubscribe`. Revoking twice is a no-op.
// Errors: NotFound (also another tenant's subscription).
func (s *Service) Revoke(ctx context.Context, a audit.Actor, subscriptionID string) error {
	now := s.now()
	return s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		sub := new(Subscription)
		err := tx.NewSelect().Model(sub).Where("tenant_id = ? AND id = ?", a.TenantID, subscriptionID).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) || a.TenantID == "" {
			return apperr.New(apperr.NotFound, "This device does not exist.")
		}
		if err != nil {
			return fmt.Errorf("webpush: revoke: %w", err)
		}
		if !sub.Active() {
			return nil
		}
		if _, err := revoke(ctx, tx, sub.ID, RevokedByUser, now); err != nil {
			return err
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{
			Action: "push.unsubscribe", TargetType: "end_user", TargetID: sub.EndUserID, Target: sub.Label(),
			Detail: "push notifications stopped on " + sub.Label(),
		})
	})
}

func revoke(ctx context.Context, idb bun.IDB, id, reason string, now time.Time) (bool, error) {
	res, err := idb.NewUpdate().Model((*Subscription)(nil)).Set("revoked_at = ?", now).Set("revoke_reason = ?", reason).
		Where("id = ? AND revoked_at IS NULL", id).Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("webpush: revoke subscription: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// ListForEndUser returns the end user's subscriptions in the tenant, active
// and revoked, newest first.
func ListForEndUser(ctx context.Context, idb bun.IDB, tenantID, endUserID string) ([]Subscription, error) {
	var subs []Subscription
	if err := idb.NewSelect().Model(&subs).Where("tenant_id = ? AND end_user_id = ?", tenantID, endUserID).
		OrderExpr("created_at DESC, id DESC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("webpush: list subscriptions: %w", err)
	}
	return subs, nil
}

// HasActive reports whether the end user has a subscription that may
// receive notifications (push is offered; else fall back to SMS).
func HasActive(ctx context.Context, idb bun.IDB, tenantID, endUserID string) (bool, error) {
	ok, err := idb.NewSelect().Model((*Subscription)(nil)).
		Where("tenant_id = ? AND end_user_id = ? AND revoked_at IS NULL", tenantID, endUserID).Exists(ctx)
	if err != nil {
		return false, fmt.Errorf("webpush: active subscriptions: %w", err)
	}
	return ok, nil
}
