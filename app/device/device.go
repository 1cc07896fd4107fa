// Package device keeps end users' enrolled devices: a phone (or any
// browser) that received a device credential at enrolment, optionally with a
// web push subscription. The credential is a random secret handed to the
// browser once, in a long-lived cookie (HttpOnly, SameSite=Strict, Secure
// over https, limited to the self-serve paths); only its SHA-256 is stored.
// A push verification's approval page requires it, so a forwarded link alone
// approves nothing.
package device

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/db"
)

// Cookie of the device credential.
const (
	// CookieName is the cookie that carries the device credential.
	CookieName = "latchkey_device"
	// CookiePath limits the cookie to the end users' self-serve pages (the
	// approval page of a verification lives under it too).
	CookiePath = "/self-serve"
	// CookieMaxAge is how long the browser keeps the credential: 400 days,
	// the longest Chromium allows. A device is revoked, not expired.
	CookieMaxAge = 400 * 24 * time.Hour
)

// usedResolution is how stale last_used_at may get before Authenticate
// writes it again (reads stay reads).
const usedResolution = time.Minute

// Revoke reasons.
const (
	RevokedByTechnician = "revoked"  // Revoke by a login
	RevokedByEndUser    = "end_user" // the end user removed it
	RevokedReplaced     = "replaced" // enrolled again on the same browser
)

// Device is an end user's enrolled device.
type Device struct {
	bun.BaseModel `bun:"table:devices"`

	ID             string     `bun:"id,pk"`
	TenantID       string     `bun:"tenant_id"`
	CustomerID     string     `bun:"customer_id"`
	EndUserID      string     `bun:"end_user_id"`
	CredentialHash string     `bun:"credential_hash"`
	Label          string     `bun:"label"`
	UserAgent      string     `bun:"user_agent"`
	SubscriptionID *string    `bun:"subscription_id"`
	CreatedAt      time.Time  `bun:"created_at"`
	LastUsedAt     *time.Time `bun:"last_used_at"`
	RevokedAt      *time.Time `bun:"revoked_at"`
	RevokeReason   string     `bun:"revoke_reason"`
}

// Active reports whether the device may still be used.
func (d *Device) Active() bool { return d.RevokedAt == nil }

// Name is the device's label for lists.
func (d *Device) Name() string {
	if d.Label != "" {
		return d.Label
	}
	return "Phone"
}

// HasPush reports whether the device has a push subscription (it may since
// have been revoked by the push service: see Service.List).
func (d *Device) HasPush() bool { return d.SubscriptionID != nil && *d.SubscriptionID != "" }

// Deps are what the device service needs.
type Deps struct {
	DB *db.DB
	// Push stores and revokes the devices' push subscriptions.
	Push *webpush.Service
	Now  func() time.Time
}

// Service is the device domain service.
type Service struct {
	d Deps
}

// NewService returns a Service.
func NewService(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{d: d}
}

func (s *Service) now() time.Time { return s.d.Now().UTC() }

// EnrolInput describes a device being enrolled.
type EnrolInput struct {
	TenantID  string
	EndUserID string
	Label     string // "iPhone · Safari"; at most 100 characters
	UserAgent string
	IP        string // for the audit trail
	// Subscription, when the browser allowed notifications at enrolment.
	Subscription *webpush.SubscriptionInput
}

// Enrol stores a new device of the end user in tx (the caller's enrolment
// transaction: the enrolment token is used up in the same one) and returns
// the device credential to hand to the browser once (see Cookie). With sub,
// the browser's push subscription is saved too (webpush.SaveTx). Audited as
// `device.enrol` by the end user.
// Errors: NotFound (no such end user in the tenant), Invalid (a bad push
// subscription).
func (s *Service) Enrol(ctx context.Context, tx *db.Tx, tenantID, endUserID, label string, sub *webpush.SubscriptionInput) (string, *Device, error) {
	in := EnrolInput{TenantID: tenantID, EndUserID: endUserID, Label: label, Subscription: sub}
	if sub != nil {
		in.UserAgent = sub.UserAgent
	}
	return s.EnrolWith(ctx, tx, in)
}

// EnrolWith is Enrol with the user agent and the address of the request.
func (s *Service) EnrolWith(ctx context.Context, tx *db.Tx, in EnrolInput) (string, *Device, error) {
	a, customerID, name, err := endUserActor(ctx, tx, in.TenantID, in.EndUserID, in.IP)
	if err != nil {
		return "", nil, err
	}
	tok, hash, err := credential.NewToken()
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	d := &Device{
		ID: db.NewID(), TenantID: in.TenantID, CustomerID: customerID, EndUserID: in.EndUserID, CredentialHash: hash,
		Label: clip(in.Label, 100), UserAgent: clip(in.UserAgent, 500), CreatedAt: now, LastUsedAt: &now,
	}
	if in.Subscription != nil {
		sub := *in.Subscription
		if sub.DeviceLabel == "" {
			sub.DeviceLabel = d.Label
		}
		saved, err := s.d.Push.SaveTx(ctx, tx, a, in.EndUserID, sub)
		if err != nil {
			return "", nil, err
		}
		d.SubscriptionID = &saved.ID
	}
	if _, err := tx.NewInsert().Model(d).Exec(ctx); err != nil {
		return "", nil, fmt.Errorf("device: insert: %w", err)
	}
	detail := "enrolled " + d.Name()
	if d.HasPush() {
		detail += " with push notifications"
	}
	if err := audit.Record(ctx, tx, now, a, audit.Entry{
		Action: "device.enrol", TargetType: "end_user", TargetID: in.EndUserID, Target: name, Detail: detail,
	}); err != nil {
		return "", nil, err
	}
	return tok, d, nil
}

// SetSubscription saves the browser's push subscription for an enrolled
// device (notifications allowed after enrolment, or a renewed
// subscription), replacing the one it had. Audited as `push.subscribe`.
// Errors: Invalid (a bad subscription), NotFound (the device is revoked).
func (s *Service) SetSubscription(ctx context.Context, d *Device, ip string, sub webpush.SubscriptionInput) (*Device, error) {
	err := s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		cur := new(Device)
		err := tx.NewSelect().Model(cur).Where("tenant_id = ? AND id = ? AND revoked_at IS NULL", d.TenantID, d.ID).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.New(apperr.NotFound, "This device is no longer enrolled.")
		}
		if err != nil {
			return fmt.Errorf("device: load: %w", err)
		}
		if sub.DeviceLabel == "" {
			sub.DeviceLabel = cur.Label
		}
		if sub.UserAgent == "" {
			sub.UserAgent = cur.UserAgent
		}
		a, _, _, err := endUserActor(ctx, tx, cur.TenantID, cur.EndUserID, ip)
		if err != nil {
			return err
		}
		saved, err := s.d.Push.SaveTx(ctx, tx, a, cur.EndUserID, sub)
		if err != nil {
			return err
		}
		if _, err := tx.NewUpdate().Model((*Device)(nil)).Set("subscription_id = ?", saved.ID).
			Where("id = ?", cur.ID).Exec(ctx); err != nil {
			return fmt.Errorf("device: set subscription: %w", err)
		}
		cur.SubscriptionID = &saved.ID
		d = cur
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// endUserActor is the end user as the actor of the audit trail, with their
// customer and name. Errors: NotFound (no such end user in the tenant).
func endUserActor(ctx context.Context, tx *db.Tx, tenantID, endUserID, ip string) (audit.Actor, string, string, error) {
	var customerID, first, last, username string
	err := tx.NewSelect().Table("end_users").Column("customer_id", "first_name", "last_name", "username").
		Where("tenant_id = ? AND id = ?", tenantID, endUserID).Scan(ctx, &customerID, &first, &last, &username)
	if errors.Is(err, sql.ErrNoRows) || tenantID == "" {
		return audit.Actor{}, "", "", apperr.New(apperr.NotFound, "This end user does not exist.")
	}
	if err != nil {
		return audit.Actor{}, "", "", fmt.Errorf("device: end user: %w", err)
	}
	name := strings.TrimSpace(first + " " + last)
	if name == "" {
		name = username
	}
	return audit.Actor{TenantID: tenantID, Name: name + " (end user)", IP: ip}, customerID, name, nil
}

// errNoDevice is the one answer for a missing, unknown or revoked credential.
func errNoDevice() error {
	return apperr.New(apperr.Unauthorized, "Open this page on the phone you enrolled with your MSP.")
}

// Authenticate returns the active device whose credential the request's
// device cookie carries, and notes its use (at most once a minute).
// Errors: Unauthorized (no cookie, an unknown or revoked credential).
func (s *Service) Authenticate(ctx context.Context, r *http.Request) (*Device, error) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return nil, errNoDevice()
	}
	return s.AuthenticateCredential(ctx, c.Value)
}

// AuthenticateCredential is Authenticate for a credential value.
func (s *Service) AuthenticateCredential(ctx context.Context, cred string) (*Device, error) {
	cred = strings.TrimSpace(cred)
	if cred == "" || len(cred) > 100 {
		return nil, errNoDevice()
	}
	d := new(Device)
	err := s.d.DB.Bun.NewSelect().Model(d).Where("credential_hash = ?", credential.HashToken(cred)).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoDevice()
	}
	if err != nil {
		return nil, fmt.Errorf("device: authenticate: %w", err)
	}
	if !d.Active() {
		return nil, errNoDevice()
	}
	now := s.now()
	if d.LastUsedAt == nil || now.Sub(*d.LastUsedAt) >= usedResolution {
		if _, err := s.d.DB.Bun.NewUpdate().Model((*Device)(nil)).Set("last_used_at = ?", now).Where("id = ?", d.ID).Exec(ctx); err != nil {
			return nil, fmt.Errorf("device: note use: %w", err)
		}
		d.LastUsedAt = &now
	}
	return d, nil
}

// Cookie is the cookie that hands the device credential to the browser:
// long-lived, HttpOnly, SameSite=Strict, Secure when the site is served
// over https, sent only to the self-serve paths.
func Cookie(credential string, secure bool) *http.Cookie {
	return &http.Cookie{
		Name: CookieName, Value: credential, Path: CookiePath, MaxAge: int(CookieMaxAge / time.Second),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode,
	}
}

// ClearCookie removes the device cookie from the browser.
func ClearCookie(secure bool) *http.Cookie {
	return &http.Cookie{
		Name: CookieName, Value: "", Path: CookiePath, MaxAge: -1,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode,
	}
}

// Info is a device with the state of its push subscription, for lists.
type Info struct {
	Device
	// PushActive: the device has a push subscription the push service has
	// not refused (nor anyone revoked).
	PushActive bool
	// PushGone: the push service no longer knows the subscription.
	PushGone bool
}

// List returns the end user's devices in the tenant, active first, newest
// first, with their push state.
func (s *Service) List(ctx context.Context, tenantID, endUserID string) ([]Info, error) {
	return List(ctx, s.d.DB.Bun, tenantID, endUserID)
}

// List is Service.List on any bun.IDB (a transaction).
func List(ctx context.Context, idb bun.IDB, tenantID, endUserID string) ([]Info, error) {
	var rows []struct {
		Device
		PushRevokedAt *time.Time `bun:"push_revoked_at"`
		PushReason    string     `bun:"push_reason"`
		PushExists    bool       `bun:"push_exists"`
	}
	err := idb.NewSelect().Model((*Device)(nil)).ColumnExpr("device.*").
		ColumnExpr("ps.revoked_at AS push_revoked_at, COALESCE(ps.revoke_reason, '') AS push_reason, ps.id IS NOT NULL AS push_exists").
		Join("LEFT JOIN push_subscriptions AS ps ON ps.id = device.subscription_id AND ps.tenant_id = device.tenant_id").
		Where("device.tenant_id = ? AND device.end_user_id = ?", tenantID, endUserID).
		OrderExpr("device.revoked_at IS NULL DESC, device.created_at DESC, device.id DESC").Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("device: list: %w", err)
	}
	out := make([]Info, len(rows))
	for i, r := range rows {
		out[i] = Info{Device: r.Device, PushActive: r.PushExists && r.PushRevokedAt == nil,
			PushGone: r.PushExists && r.PushRevokedAt != nil && r.PushReason == webpush.RevokedGone}
	}
	return out, nil
}

// Counts is how many active devices an end user has, and how many of them
// have a working push subscription.
type Counts struct {
	Active, Push int
}

// CountActive counts the end user's active devices and those with a
// working push subscription, in one statement.
func CountActive(ctx context.Context, idb bun.IDB, tenantID, endUserID string) (Counts, error) {
	var c Counts
	err := idb.NewSelect().Model((*Device)(nil)).
		ColumnExpr("COUNT(*)").
		ColumnExpr("COALESCE(SUM(CASE WHEN ps.id IS NOT NULL AND ps.revoked_at IS NULL THEN 1 ELSE 0 END), 0)").
		Join("LEFT JOIN push_subscriptions AS ps ON ps.id = device.subscription_id AND ps.tenant_id = device.tenant_id").
		Where("device.tenant_id = ? AND device.end_user_id = ? AND device.revoked_at IS NULL", tenantID, endUserID).
		Scan(ctx, &c.Active, &c.Push)
	if err != nil {
		return Counts{}, fmt.Errorf("device: count: %w", err)
	}
	return c, nil
}

// Revoke stops one of the tenant's devices: its credential no longer opens
// anything, and its push subscription is revoked too. Audited as
// `device.revoke`. Revoking twice is a no-op.
// Errors: NotFound (also another tenant's device).
func (s *Service) Revoke(ctx context.Context, a audit.Actor, deviceID, reason string) error {
	if reason == "" {
		reason = RevokedByTechnician
	}
	var subID string
	now := s.now()
	err := s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		d := new(Device)
		err := tx.NewSelect().Model(d).Where("tenant_id = ? AND id = ?", a.TenantID, deviceID).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) || a.TenantID == "" {
			return apperr.New(apperr.NotFound, "This device does not exist.")
		}
		if err != nil {
			return fmt.Errorf("device: revoke: %w", err)
		}
		if !d.Active() {
			return nil
		}
		if _, err := tx.NewUpdate().Model((*Device)(nil)).Set("revoked_at = ?", now).Set("revoke_reason = ?", reason).
			Where("id = ? AND revoked_at IS NULL", d.ID).Exec(ctx); err != nil {
			return fmt.Errorf("device: revoke: %w", err)
		}
		if d.HasPush() {
			subID = *d.SubscriptionID
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{
			Action: "device.revoke", TargetType: "end_user", TargetID: d.EndUserID, Target: d.Name(),
			Detail: d.Name() + " can no longer approve verifications",
		})
	})
	if err != nil || subID == "" {
		return err
	}
	// The subscription belongs to the push service's table; revoking it is
	// idempotent, so a failure here leaves a revoked device whose pushes
	// its approval page refuses anyway.
	if err := s.d.Push.Revoke(ctx, a, subID); err != nil && apperr.CodeOf(err) != apperr.NotFound {
		return err
	}
	return nil
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
