package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
)

// StatusSending marks a message whose delivery attempt has claimed it and
// may be talking to the SMTP server right now (see Claim).
const StatusSending = "sending"

// StaleClaim is how old a `sending` claim must be before a retry treats the
// attempt that made it as dead. It is well above the send job's timeout
// (30 s) and the SMTP timeouts (20 s), so a live attempt never looks stale.
const StaleClaim = 2 * time.Minute

// UnknownDeliveryError is the last_error of a message given up after a crash
// between claiming it and recording the outcome.
const UnknownDeliveryError = "delivery state unknown after a crash; not resent to avoid a duplicate"

// Rendered is a message as delivered: subject and both bodies.
type Rendered struct {
	Subject, Text, HTML string
}

// Load returns the message by id, of any tenant (for the send job, which
// gets only the id). Errors: NotFound.
func Load(ctx context.Context, idb bun.IDB, id string) (*Message, error) {
	m := new(Message)
	err := idb.NewSelect().Model(m).Where("id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "This message does not exist.")
	}
	if err != nil {
		return nil, fmt.Errorf("notify: load message: %w", err)
	}
	return m, nil
}

// MessageID is the Message-ID (without angle brackets) of the message with
// id sent from the address from: stable across retries, so that a receiving
// server or a person can recognise a duplicate.
func MessageID(id, from string) string {
	domain := "latchkey.invalid"
	if at := strings.LastIndex(from, "@"); at >= 0 {
		if d := strings.Trim(from[at+1:], "<> \t"); d != "" {
			domain = d
		}
	}
	return "latchkey." + id + "@" + domain
}

// KeepInOutbox stores the rendered message as it is and moves it from
// queued to outbox (no provider is configured), for text messages and push
// notifications (email: KeepEmailInOutbox, which encrypts). It reports false
// when the message was no longer queued.
func KeepInOutbox(ctx context.Context, idb bun.IDB, id string, r Rendered) (bool, error) {
	res, err := idb.NewUpdate().Model((*Message)(nil)).
		Set("subject = ?", r.Subject).Set("body_text = ?", r.Text).Set("body_html = ?", r.HTML).
		Set("status = ?", StatusOutbox).
		Where("id = ? AND status = ?", id, StatusQueued).Exec(ctx)
	return affected(res, err, "keep in outbox")
}

// Claim stores the rendered message as it is and moves it from queued to
// sending before the delivery starts (email: ClaimEmail, which encrypts).
// Only one attempt can win the claim; it reports false when the message was
// no longer queued.
func Claim(ctx context.Context, idb bun.IDB, id string, r Rendered, now time.Time) (bool, error) {
	res, err := idb.NewUpdate().Model((*Message)(nil)).
		Set("subject = ?", r.Subject).Set("body_text = ?", r.Text).Set("body_html = ?", r.HTML).
		Set("status = ?", StatusSending).Set("claimed_at = ?", now.UTC()).
		Where("id = ? AND status = ?", id, StatusQueued).Exec(ctx)
	return affected(res, err, "claim")
}

// ClaimedAt returns when the message was claimed for sending (zero when never).
func ClaimedAt(ctx context.Context, idb bun.IDB, id string) (time.Time, error) {
	var at sql.NullTime
	err := idb.NewSelect().Model((*Message)(nil)).Column("claimed_at").Where("id = ?", id).Scan(ctx, &at)
	if err != nil {
		return time.Time{}, fmt.Errorf("notify: claimed_at: %w", err)
	}
	return at.Time, nil
}

// MarkSent records that the SMTP server accepted the message claimed by
// this attempt (one UPDATE, guarded by the claim).
func MarkSent(ctx context.Context, idb bun.IDB, id string, now time.Time) error {
	res, err := idb.NewUpdate().Model((*Message)(nil)).
		Set("status = ?", StatusSent).Set("sent_at = ?", now.UTC()).Set("last_error = ''").
		Where("id = ? AND status = ?", id, StatusSending).Exec(ctx)
	ok, err := affected(res, err, "mark sent")
	if err == nil && !ok {
		err = fmt.Errorf("notify: mark sent: message %s was not sending", id)
	}
	return err
}

// MarkAttemptFailed records a failed delivery attempt: attempts+1 and the
// error, and the message goes back to queued for the next retry, or to
// failed when final.
func MarkAttemptFailed(ctx context.Context, idb bun.IDB, id string, cause error, final bool) error {
	status := StatusQueued
	if final {
		status = StatusFailed
	}
	res, err := idb.NewUpdate().Model((*Message)(nil)).
		Set("status = ?", status).Set("attempts = attempts + 1").Set("last_error = ?", ErrorText(cause)).
		Set("claimed_at = NULL").
		Where("id = ? AND status = ?", id, StatusSending).Exec(ctx)
	_, err = affected(res, err, "mark failed attempt")
	return err
}

// GiveUpStale moves a message whose claim is older than StaleClaim to
// failed with UnknownDeliveryError. It reports false when the message was
// not sending or its claim is recent.
func GiveUpStale(ctx context.Context, idb bun.IDB, id string, now time.Time) (bool, error) {
	res, err := idb.NewUpdate().Model((*Message)(nil)).
		Set("status = ?", StatusFailed).Set("last_error = ?", UnknownDeliveryError).
		Where("id = ? AND status = ?", id, StatusSending).
		Where("(claimed_at IS NULL OR claimed_at < ?)", now.UTC().Add(-StaleClaim)).Exec(ctx)
	return affected(res, err, "give up stale claim")
}

// Fail moves a queued message to failed with reason (e.g. it cannot be
// rendered). It reports false when the message was no longer queued.
func Fail(ctx context.Context, idb bun.IDB, id, reason string) (bool, error) {
	res, err := idb.NewUpdate().Model((*Message)(nil)).
		Set("status = ?", StatusFailed).Set("last_error = ?", reason).
		Where("id = ? AND status = ?", id, StatusQueued).Exec(ctx)
	return affected(res, err, "fail")
}

func affected(res sql.Result, err error, what string) (bool, error) {
	if err != nil {
		return false, fmt.Errorf("notify: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("notify: %s: %w", what, err)
	}
	return n > 0, nil
}

// maxErrorText bounds last_error.
const maxErrorText = 500

// ErrorText is err as stored in last_error: one line, bounded. Mailer errors
// carry the server's reply, never the SMTP password.
func ErrorText(err error) string {
	if err == nil {
		return ""
	}
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > maxErrorText {
		s = s[:maxErrorText]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}
