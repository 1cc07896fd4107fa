package sms

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/notify"
)

// Reasons stored as last_error when a message is refused before sending.
const (
	ExpiredError  = "expired before it could be sent; not sent"
	OptedOutError = "the recipient replied STOP; not sent"
)

// ErrExpired is the Outcome error of a message refused because it expired.
var ErrExpired = errors.New("sms: the message expired before it could be sent")

// Outcome is the result of one delivery attempt.
type Outcome struct {
	Status     string // the message's status afterwards (notify.Status…)
	ProviderID string // Twilio's SID when sent
	// Err says why the message was not sent (nil when sent, kept in the
	// outbox, or already handled by another attempt).
	Err error
	// Retry: Err is worth another attempt; the message is queued again.
	Retry bool
	// Snooze: another attempt holds the claim; look again after this long.
	Snooze time.Duration
}

// Deliver makes one delivery attempt of the text message id (send_sms).
// final says that no retry will follow.
//
// Delivery is at most once. Only a queued message is worked. Before the
// request to Twilio the attempt claims it (queued → sending, one UPDATE
// only one attempt can win) and records the outcome afterwards. A message
// left `sending` by a dead attempt is given up as possibly sent after
// notify.StaleClaim, never sent again; so is one whose request reached
// Twilio without an answer (Class Unknown). Only errors that prove the
// message was not accepted (Retryable) put it back to queued. A message
// past its expiry, or to a number that replied STOP, is refused.
//
// The returned error is an infrastructure failure (the database): the
// attempt should be repeated.
func (s *Service) Deliver(ctx context.Context, id string, final bool) (Outcome, error) {
	idb := s.d.DB.Bun
	m, err := load(ctx, idb, id)
	if apperr.CodeOf(err) == apperr.NotFound {
		return Outcome{}, nil // deleted with its tenant
	}
	if err != nil {
		return Outcome{}, err
	}
	if m.Channel != Channel {
		return Outcome{}, fmt.Errorf("sms: message %s is %s, not sms", id, m.Channel)
	}
	switch m.Status {
	case notify.StatusQueued:
	case notify.StatusSending:
		return s.claimed(ctx, m)
	default:
		return Outcome{Status: m.Status}, nil // sent, outbox or failed: never twice
	}

	now := s.now()
	if m.ExpiresAt != nil && !now.Before(*m.ExpiresAt) {
		return s.refuse(ctx, m, ExpiredError, ErrExpired)
	}
	out, err := OptedOut(ctx, idb, m.TenantID, m.To)
	if err != nil {
		return Outcome{}, err
	}
	if out {
		return s.refuse(ctx, m, OptedOutError, ErrOptedOut)
	}
	body, err := m.body(s.d.Keys)
	if err != nil {
		s.d.Log.ErrorContext(ctx, "sms body cannot be decrypted", "message", id, "err", err)
		return s.refuse(ctx, m, "cannot be decrypted; not sent", err)
	}
	st, err := loadSettings(ctx, idb, m.TenantID)
	if err != nil {
		return Outcome{}, err
	}
	if st == nil {
		// SMS is not set up: the message waits in the outbox, readable there
		// (decrypted by Text: the text is not stored in clear).
		if _, err := notify.KeepInOutbox(ctx, idb, id, notify.Rendered{Subject: m.Subject}); err != nil {
			return Outcome{}, err
		}
		return Outcome{Status: notify.StatusOutbox}, nil
	}
	cred, err := s.credentialsOf(st)
	if err != nil {
		s.d.Log.ErrorContext(ctx, "sms credentials cannot be decrypted", "tenant", m.TenantID, "err", err)
		return s.refuse(ctx, m, "the SMS credentials cannot be decrypted; not sent", err)
	}

	ok, err := notify.Claim(ctx, idb, id, notify.Rendered{Subject: m.Subject}, now)
	if err != nil || !ok {
		return Outcome{Status: notify.StatusSending}, err // !ok: another attempt claimed it first
	}
	msg := Message{To: m.To, Body: body}
	if cred.authToken != "" {
		// Twilio signs callbacks with the Auth Token: without it they could
		// not be verified, so none is asked for.
		msg.StatusCallbackURL = s.StatusCallbackURL(m.TenantID, m.ID)
	}
	sid, sendErr := cred.provider.Send(ctx, msg)
	// Record the outcome even when the attempt's context has ended.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if sendErr == nil {
		if err := markSent(rctx, idb, id, sid, s.now()); err != nil {
			return Outcome{}, err
		}
		s.d.Log.InfoContext(ctx, "sms sent", "message", id, "kind", m.Kind, "to", MaskPhone(m.To), "sid", sid)
		return Outcome{Status: notify.StatusSent, ProviderID: sid}, nil
	}
	retry := ClassOf(sendErr) == Retryable && !final
	if err := notify.MarkAttemptFailed(rctx, idb, id, sendErr, !retry); err != nil {
		return Outcome{}, errors.Join(sendErr, err)
	}
	s.d.Log.WarnContext(ctx, "sms delivery failed", "message", id, "kind", m.Kind, "to", MaskPhone(m.To),
		"retry", retry, "err", notify.ErrorText(sendErr))
	status := notify.StatusFailed
	if retry {
		status = notify.StatusQueued
	}
	return Outcome{Status: status, Err: sendErr, Retry: retry}, nil
}

// refuse fails a queued message without sending it.
func (s *Service) refuse(ctx context.Context, m *Record, reason string, cause error) (Outcome, error) {
	if _, err := notify.Fail(ctx, s.d.DB.Bun, m.ID, reason); err != nil {
		return Outcome{}, err
	}
	s.d.Log.WarnContext(ctx, "sms not sent", "message", m.ID, "kind", m.Kind, "to", MaskPhone(m.To), "reason", reason)
	return Outcome{Status: notify.StatusFailed, Err: cause}, nil
}

// claimed handles a message another attempt claimed: a live claim (younger
// than notify.StaleClaim) is waited for; a dead attempt's message is given
// up as possibly sent.
func (s *Service) claimed(ctx context.Context, m *Record) (Outcome, error) {
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
		s.d.Log.WarnContext(ctx, "sms delivery state unknown after a crash; not resent", "message", m.ID, "kind", m.Kind)
	}
	return Outcome{Status: notify.StatusFailed, Err: errors.New(notify.UnknownDeliveryError)}, nil
}

// markSent records Twilio's acceptance of the message this attempt claimed.
// A status callback that arrived first keeps its delivery status.
func markSent(ctx context.Context, idb bun.IDB, id, sid string, now time.Time) error {
	res, err := idb.NewUpdate().Model((*Record)(nil)).
		Set("status = ?", notify.StatusSent).Set("sent_at = ?", now).Set("last_error = ''").
		Set("provider_id = ?", sid).
		Set("delivery_status = CASE WHEN delivery_status = '' THEN 'queued' ELSE delivery_status END").
		Set("delivery_updated_at = COALESCE(delivery_updated_at, ?)", now).
		Where("id = ? AND status = ?", id, notify.StatusSending).Exec(ctx)
	if err != nil {
		return fmt.Errorf("sms: mark sent: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sms: mark sent: message %s was not sending", id)
	}
	return nil
}
