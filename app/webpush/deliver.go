package webpush

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptrace"
	"time"

	webpushgo "github.com/SherClockHolmes/webpush-go"
	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/db"
)

// Reasons stored as last_error.
const (
	ExpiredError = "expired before it could be sent; not sent"
	RevokedError = "the subscription was revoked; not sent"
	GoneError    = "the push service says the subscription is gone; subscription revoked"
	UnknownError = "the push service did not answer in time; the notification may have been sent, so it is not sent again"
)

// ErrExpired is the Outcome error of a notification refused because its
// TTL passed.
var ErrExpired = errors.New("webpush: the notification expired before it could be sent")

// ErrGone is the Outcome error of a notification whose subscription the
// push service no longer knows (404/410): the subscription is revoked.
var ErrGone = errors.New("webpush: the subscription is gone")

// Outcome is the result of one delivery attempt.
type Outcome struct {
	Status string // the message's status afterwards (notify.Status…)
	Err    error  // why it was not sent (nil when sent or handled by another attempt)
	Retry  bool   // Err is worth another attempt; the message is queued again
	Snooze time.Duration
}

// sendError is a push service's refusal or a transport failure.
type sendError struct {
	status int // 0: no answer
	retry  bool
	msg    string
}

func (e *sendError) Error() string {
	if e.status != 0 {
		return fmt.Sprintf("%s (HTTP %d)", e.msg, e.status)
	}
	return e.msg
}

// Deliver makes one delivery attempt of the push message id (send_push).
// final says that no retry will follow. Like sms.Service.Deliver it is at
// most once: claim before the request, give up a dead attempt's claim, and
// retry only when the request certainly did not arrive (connection failed
// before it was written) or the push service said so (429, 5xx). A 404 or
// 410 revokes the subscription. An expired notification, or one to a
// revoked subscription, is refused. The returned error is an
// infrastructure failure (the database).
func (s *Service) Deliver(ctx context.Context, id string, final bool) (Outcome, error) {
	idb := s.d.DB.Bun
	m := new(message)
	err := idb.NewSelect().Model(m).Where("id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return Outcome{}, nil
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("webpush: load message: %w", err)
	}
	if m.Channel != Channel {
		return Outcome{}, fmt.Errorf("webpush: message %s is %s, not push", id, m.Channel)
	}
	switch m.Status {
	case notify.StatusQueued:
	case notify.StatusSending:
		return s.claimed(ctx, m)
	default:
		return Outcome{Status: m.Status}, nil
	}
	now := s.now()
	if m.ExpiresAt != nil && !now.Before(*m.ExpiresAt) {
		return s.refuse(ctx, m, ExpiredError, ErrExpired)
	}
	var data pushData
	if err := json.Unmarshal([]byte(m.Data), &data); err != nil {
		return s.refuse(ctx, m, "unreadable; not sent", err)
	}
	sub := new(Subscription)
	err = idb.NewSelect().Model(sub).Where("tenant_id = ? AND id = ?", m.TenantID, data.SubscriptionID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !sub.Active()) {
		return s.refuse(ctx, m, RevokedError, ErrGone)
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("webpush: load subscription: %w", err)
	}
	payload, auth, err := s.decrypt(m, &data, sub)
	if err != nil {
		s.d.Log.ErrorContext(ctx, "push notification cannot be decrypted", "message", id, "err", err)
		return s.refuse(ctx, m, "cannot be decrypted; not sent", err)
	}
	if msg := s.endpointProblem(sub.Endpoint); msg != "" {
		return s.refuse(ctx, m, msg, errors.New(msg))
	}
	keys, err := s.keys(ctx)
	if err != nil {
		return Outcome{}, err
	}

	ok, err := notify.Claim(ctx, idb, id, notify.Rendered{Subject: m.Subject}, now)
	if err != nil || !ok {
		return Outcome{Status: notify.StatusSending}, err
	}
	ttl := int(math.Ceil(m.ExpiresAt.Sub(now).Seconds()))
	sendErr := s.send(ctx, sub, payload, auth, keys, ttl, data.Urgency)

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if sendErr == nil {
		if err := s.markSent(rctx, m, sub); err != nil {
			return Outcome{}, err
		}
		return Outcome{Status: notify.StatusSent}, nil
	}
	var se *sendError
	errors.As(sendErr, &se)
	if se != nil && (se.status == http.StatusNotFound || se.status == http.StatusGone) {
		if err := s.gone(rctx, m, sub); err != nil {
			return Outcome{}, err
		}
		s.d.Log.InfoContext(ctx, "push subscription gone; revoked", "message", id, "subscription", sub.ID, "status", se.status)
		return Outcome{Status: notify.StatusFailed, Err: ErrGone}, nil
	}
	retry := se != nil && se.retry && !final
	if err := notify.MarkAttemptFailed(rctx, idb, id, sendErr, !retry); err != nil {
		return Outcome{}, errors.Join(sendErr, err)
	}
	s.d.Log.WarnContext(ctx, "push delivery failed", "message", id, "subscription", sub.ID, "retry", retry, "err", notify.ErrorText(sendErr))
	status := notify.StatusFailed
	if retry {
		status = notify.StatusQueued
	}
	return Outcome{Status: status, Err: sendErr, Retry: retry}, nil
}

func (s *Service) decrypt(m *message, data *pushData, sub *Subscription) (payload []byte, auth string, err error) {
	ct, err := base64.StdEncoding.DecodeString(data.Payload)
	if err != nil {
		return nil, "", err
	}
	payload, err = s.d.Keys.Decrypt(ct, payloadAAD(m.TenantID, m.ID))
	if err != nil {
		return nil, "", err
	}
	a, err := s.d.Keys.Decrypt(sub.Auth, authAAD(sub.TenantID, sub.ID))
	if err != nil {
		return nil, "", err
	}
	return payload, base64.RawURLEncoding.EncodeToString(a), nil
}

// tracedClient records whether the request was written, to tell "never
// arrived" (safe to retry) from "arrived, no answer" (may have been sent).
type tracedClient struct {
	c     *http.Client
	wrote bool
}

func (t *tracedClient) Do(req *http.Request) (*http.Response, error) {
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { t.wrote = true }}
	return t.c.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
}

// send encrypts payload (RFC 8291) for the subscription and posts it with a
// VAPID Authorization header; nil means the push service accepted it.
func (s *Service) send(ctx context.Context, sub *Subscription, payload []byte, auth string, keys *vapidKeys, ttl int, urgency Urgency) error {
	tc := &tracedClient{c: s.d.HTTP}
	res, err := webpushgo.SendNotificationWithContext(ctx, payload, &webpushgo.Subscription{
		Endpoint: sub.Endpoint, Keys: webpushgo.Keys{Auth: auth, P256dh: sub.P256dh},
	}, &webpushgo.Options{
		HTTPClient: tc, Subscriber: s.subscriber(), TTL: ttl, Urgency: webpushgo.Urgency(urgency),
		VAPIDPublicKey: keys.public, VAPIDPrivateKey: keys.private,
	})
	if err != nil {
		switch {
		case tc.wrote:
			return &sendError{msg: UnknownError}
		case ctx.Err() != nil:
			return &sendError{retry: true, msg: "the attempt ended before the push service was reached"}
		}
		return &sendError{retry: true, msg: "the push service could not be reached: " + notify.ErrorText(err)}
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 16<<10))
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return nil
	case res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusGone:
		return &sendError{status: res.StatusCode, msg: GoneError}
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
		return &sendError{status: res.StatusCode, retry: true, msg: "the push service is busy or failing"}
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		return &sendError{status: res.StatusCode, msg: "the push service refused the VAPID signature"}
	case res.StatusCode == http.StatusRequestEntityTooLarge:
		return &sendError{status: res.StatusCode, msg: "the notification is too large for the push service"}
	}
	return &sendError{status: res.StatusCode, msg: "the push service refused the notification"}
}

func (s *Service) markSent(ctx context.Context, m *message, sub *Subscription) error {
	now := s.now()
	return s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		res, err := tx.NewUpdate().Model((*message)(nil)).
			Set("status = ?", notify.StatusSent).Set("sent_at = ?", now).Set("last_error = ''").
			Where("id = ? AND status = ?", m.ID, notify.StatusSending).Exec(ctx)
		if err != nil {
			return fmt.Errorf("webpush: mark sent: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("webpush: mark sent: message %s was not sending", m.ID)
		}
		_, err = tx.NewUpdate().Model((*Subscription)(nil)).Set("last_success_at = ?", now).Where("id = ?", sub.ID).Exec(ctx)
		return err
	})
}

// gone fails the message and revokes its subscription (audited as the
// system's `push.subscription_gone`).
func (s *Service) gone(ctx context.Context, m *message, sub *Subscription) error {
	now := s.now()
	return s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := notify.MarkAttemptFailed(ctx, tx, m.ID, errors.New(GoneError), true); err != nil {
			return err
		}
		revoked, err := revoke(ctx, tx, sub.ID, RevokedGone, now)
		if err != nil || !revoked {
			return err
		}
		return audit.Record(ctx, tx, now, audit.System(m.TenantID), audit.Entry{
			Action: "push.subscription_gone", TargetType: "end_user", TargetID: sub.EndUserID, Target: sub.Label(),
			Detail: "the push service no longer knows this device; push notifications to it stopped",
		})
	})
}

func (s *Service) refuse(ctx context.Context, m *message, reason string, cause error) (Outcome, error) {
	if _, err := notify.Fail(ctx, s.d.DB.Bun, m.ID, reason); err != nil {
		return Outcome{}, err
	}
	s.d.Log.WarnContext(ctx, "push notification not sent", "message", m.ID, "kind", m.Kind, "reason", reason)
	return Outcome{Status: notify.StatusFailed, Err: cause}, nil
}

func (s *Service) claimed(ctx context.Context, m *message) (Outcome, error) {
	now := s.now()
	if m.ClaimedAt != nil {
		if wait := m.ClaimedAt.Add(notify.StaleClaim).Sub(now); wait > 0 {
			return Outcome{Status: notify.StatusSending, Snooze: wait + time.Second}, nil
		}
	}
	gaveUp, err := notify.GiveUpStale(ctx, s.d.DB.Bun, m.ID, now)
	if err != nil {
		return Outcome{}, err
	}
	if gaveUp {
		s.d.Log.WarnContext(ctx, "push delivery state unknown after a crash; not resent", "message", m.ID)
	}
	return Outcome{Status: notify.StatusFailed, Err: errors.New(notify.UnknownDeliveryError)}, nil
}

// State is what became of one push notification.
type State struct {
	MessageID string
	Status    string // notify.Status…
	Gone      bool   // the push service no longer knows the subscription
	LastError string
}

// States returns the delivery state of the tenant's push notifications
// (for example the Deliveries of one Push), in no particular order.
func States(ctx context.Context, idb bun.IDB, tenantID string, messageIDs []string) ([]State, error) {
	if len(messageIDs) == 0 {
		return nil, nil
	}
	var ms []message
	if err := idb.NewSelect().Model(&ms).Column("id", "status", "last_error").
		Where("tenant_id = ? AND channel = ? AND id IN (?)", tenantID, Channel, bun.In(messageIDs)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("webpush: states: %w", err)
	}
	out := make([]State, 0, len(ms))
	for _, m := range ms {
		out = append(out, State{MessageID: m.ID, Status: m.Status, Gone: m.LastError == GoneError || m.LastError == RevokedError, LastError: m.LastError})
	}
	return out, nil
}
