package sms

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riverqueue/river"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

// MaxBodyLen is the longest message body, in characters (Twilio's limit).
const MaxBodyLen = 1600

// MaxAttempts is how many times send_sms tries one message: few, because a
// code is short-lived and a late one is useless.
const MaxAttempts = 3

// Options tune one queued message.
type Options struct {
	// ExpiresAt, when set, is when the message becomes useless (a code's
	// expiry): send_sms refuses to deliver it from then on.
	ExpiresAt time.Time
}

// Queue writes text messages to the messages table and enqueues send_sms
// in the caller's transaction.
type Queue struct {
	jobs db.Inserter
	keys *secret.Keyring
	now  func() time.Time
}

// NewQueue returns a Queue that enqueues through jobs and encrypts bodies
// with keys.
func NewQueue(jobs db.Inserter, keys *secret.Keyring, now func() time.Time) *Queue {
	if now == nil {
		now = time.Now
	}
	return &Queue{jobs: jobs, keys: keys, now: now}
}

// bodyAAD binds an encrypted body to its tenant and message.
func bodyAAD(tenantID, messageID string) []byte {
	return []byte("messages/" + tenantID + "/" + messageID)
}

// SMS writes a text message to `to` (E.164) for tenantID in tx and enqueues
// its delivery (send_sms: at most MaxAttempts tries, at most once, never
// after opts.ExpiresAt). kind names the reason (e.g. "verification_code")
// for the delivery log. The body is stored encrypted (it may hold a code);
// it is written in clear only when the message is kept in the outbox
// because SMS is not set up.
// Errors: Invalid (not an E.164 number, empty or too long body, already
// expired), Conflict wrapping ErrOptedOut (the number replied STOP),
// RateLimited (the tenant's daily SMS limit is reached).
func (q *Queue) SMS(ctx context.Context, tx *db.Tx, tenantID, to, kind, body string, opts Options) (*Record, error) {
	now := q.now().UTC()
	switch {
	case !ValidE164(to):
		return nil, apperr.New(apperr.Invalid, "The mobile number is not a phone number in international format.")
	case strings.TrimSpace(body) == "":
		return nil, apperr.New(apperr.Invalid, "The text message is empty.")
	case utf8.RuneCountInString(body) > MaxBodyLen:
		return nil, apperr.New(apperr.Invalid, "The text message is longer than %d characters.", MaxBodyLen)
	case !opts.ExpiresAt.IsZero() && !now.Before(opts.ExpiresAt):
		return nil, apperr.New(apperr.Invalid, "The text message expired before it was queued.")
	}
	out, err := OptedOut(ctx, tx, tenantID, to)
	if err != nil {
		return nil, err
	}
	if out {
		return nil, apperr.Wrap(apperr.Conflict, ErrOptedOut,
			"This number replied STOP to your text messages, so nothing is sent to it until it replies START.")
	}
	if err := dailyLimit(ctx, tx, tenantID, now); err != nil {
		return nil, err
	}
	m := &Record{
		ID: db.NewID(), TenantID: tenantID, Channel: Channel, Kind: kind, To: to,
		Status: notify.StatusQueued, CreatedAt: now,
	}
	if !opts.ExpiresAt.IsZero() {
		exp := opts.ExpiresAt.UTC()
		m.ExpiresAt = &exp
	}
	ct, err := q.keys.Encrypt([]byte(body), bodyAAD(tenantID, m.ID))
	if err != nil {
		return nil, fmt.Errorf("sms: encrypt body: %w", err)
	}
	m.Data = base64.StdEncoding.EncodeToString(ct)
	if _, err := tx.NewInsert().Model(m).Exec(ctx); err != nil {
		return nil, fmt.Errorf("sms: insert message: %w", err)
	}
	if _, err := q.jobs.InsertTx(ctx, tx, jobargs.SendSMS{MessageID: m.ID}, &river.InsertOpts{
		MaxAttempts: MaxAttempts,
		UniqueOpts:  river.UniqueOpts{ByArgs: true},
	}); err != nil {
		return nil, fmt.Errorf("sms: enqueue: %w", err)
	}
	return m, nil
}

// dailyLimit refuses another message when the tenant queued its limit of
// text messages in the last 24 hours.
func dailyLimit(ctx context.Context, tx *db.Tx, tenantID string, now time.Time) error {
	limit := DefaultDailyLimit
	var limits []int
	if err := tx.NewSelect().Model((*settingsRow)(nil)).Column("daily_limit").Where("tenant_id = ?", tenantID).
		Scan(ctx, &limits); err != nil {
		return fmt.Errorf("sms: daily limit: %w", err)
	}
	if len(limits) > 0 {
		limit = limits[0]
	}
	n, err := tx.NewSelect().Model((*Record)(nil)).
		Where("tenant_id = ? AND channel = ? AND created_at > ?", tenantID, Channel, now.Add(-24*time.Hour)).Count(ctx)
	if err != nil {
		return fmt.Errorf("sms: count today's messages: %w", err)
	}
	if n >= int64(limit) {
		return apperr.New(apperr.RateLimited, "Your MSP's limit of %d text messages a day is reached. An admin can raise it under Settings → SMS.", limit)
	}
	return nil
}

// Text returns the text of a text message (m.Channel is Channel), decrypted
// from m.Data. A message that versions before 0022 kept in the outbox with
// its text in clear in body_text (which migration 0022 empties) reads as
// stored. Errors: the body cannot be decrypted (its key was removed).
func Text(keys *secret.Keyring, m *notify.Message) (string, error) {
	if m.BodyText != "" {
		return m.BodyText, nil
	}
	r := Record{ID: m.ID, TenantID: m.TenantID, Data: m.Data}
	return r.body(keys)
}

// body decrypts the message's text.
func (m *Record) body(keys *secret.Keyring) (string, error) {
	ct, err := base64.StdEncoding.DecodeString(m.Data)
	if err != nil {
		return "", fmt.Errorf("sms: message %s: body is not base64", m.ID)
	}
	b, err := keys.Decrypt(ct, bodyAAD(m.TenantID, m.ID))
	if err != nil {
		return "", fmt.Errorf("sms: message %s: %w", m.ID, err)
	}
	return string(b), nil
}
