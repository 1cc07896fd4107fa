package sms

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
)

// TestKind is the kind of the Settings page's test message.
const TestKind = "sms_test"

// TestResult is what became of a test message.
type TestResult struct {
	MessageID string
	Status    string // notify.Status… after the first attempt
	To        string // masked
	// Problem explains why the message was not sent ("" when sent or kept
	// in the outbox); readable, never a secret.
	Problem string
	// Retrying: the failure may pass (rate limit, Twilio server error); the
	// send_sms job tries again.
	Retrying bool
}

// SendTest queues a test message to `to` (typed with its country code) as
// the actor, audited as `sms.test_send` (number masked), and makes the
// first delivery attempt at once, so that the admin sees Twilio's answer.
// The send_sms job is enqueued too and takes over a retry; the claim keeps
// the two from sending twice.
// Errors: Invalid (Fields: test_to), Forbidden, RateLimited.
func (s *Service) SendTest(ctx context.Context, a audit.Actor, to string) (TestResult, error) {
	if err := requireAdmin(a); err != nil {
		return TestResult{}, err
	}
	n, msg := NormalizeE164(to)
	if msg != "" {
		return TestResult{}, apperr.Field("test_to", msg)
	}
	now := s.now()
	var id string
	err := s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		t, err := tenant.Get(ctx, tx, a.TenantID)
		if err != nil {
			return err
		}
		body := "Test message from Latchkey for " + t.DisplayName() + ": text messages work."
		m, err := s.queue.SMS(ctx, tx, a.TenantID, n, TestKind, body, Options{ExpiresAt: now.Add(10 * time.Minute)})
		if errors.Is(err, ErrOptedOut) {
			return apperr.Field("test_to", apperr.MessageOf(err))
		}
		if err != nil {
			return err
		}
		id = m.ID
		return audit.Record(ctx, tx, now, a, audit.Entry{
			Action: "sms.test_send", TargetType: "phone", TargetID: m.ID, Target: MaskPhone(n), Detail: "test text message",
		})
	})
	if err != nil {
		return TestResult{}, err
	}
	res := TestResult{MessageID: id, To: MaskPhone(n), Status: notify.StatusQueued}
	if hook, ok := ctx.Value(beforeTestAttempt{}).(func(id string)); ok {
		hook(id)
	}
	out, err := s.Deliver(ctx, id, false)
	if err != nil {
		s.d.Log.WarnContext(ctx, "test sms: first attempt", "message", id, "err", err)
		return res, nil // queued: the job delivers it
	}
	if out.Status == notify.StatusSending {
		// The send_sms job took the message first and is sending it: wait a
		// little for its answer, which is what the admin asked to see.
		return s.awaitTest(ctx, res), nil
	}
	res.Status, res.Retrying = out.Status, out.Retry
	res.Problem = problem(out.Err)
	if out.Status == notify.StatusFailed && out.Err == nil {
		// The send_sms job took the message and failed it before this
		// attempt began: the reason is the one it stored.
		if m, err := load(ctx, s.d.DB.Bun, id); err == nil {
			res.Problem = m.LastError
		}
	}
	return res, nil
}

// beforeTestAttempt is the context key of withBeforeTestAttempt's func.
type beforeTestAttempt struct{}

// withBeforeTestAttempt has SendTest run fn with the message's id between
// queuing the test message and its own first attempt: tests deliver it
// there, as the send_sms job may.
func withBeforeTestAttempt(ctx context.Context, fn func(id string)) context.Context {
	return context.WithValue(ctx, beforeTestAttempt{}, fn)
}

// awaitTest waits up to testWait for the job that holds a test message to
// finish with it, and reports where it got (still "sending" if it has not).
func (s *Service) awaitTest(ctx context.Context, res TestResult) TestResult {
	res.Status = notify.StatusSending
	deadline := time.NewTimer(testWait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return res
		case <-deadline.C:
			return res
		case <-tick.C:
		}
		m, err := load(ctx, s.d.DB.Bun, res.MessageID)
		if err != nil || m.Status == notify.StatusSending {
			continue
		}
		res.Status = m.Status
		if m.Status == notify.StatusFailed {
			res.Problem = m.LastError
		}
		res.Retrying = m.Status == notify.StatusQueued
		return res
	}
}

// testWait bounds how long a test send waits for the job that took its message.
const testWait = 10 * time.Second

// problem explains an Outcome's error to an admin.
func problem(err error) string {
	var pe *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &pe):
		return pe.Error()
	case errors.Is(err, ErrExpired):
		return "It expired before it could be sent."
	case errors.Is(err, ErrOptedOut):
		return "The number replied STOP; nothing is sent to it until it replies START."
	case err.Error() == notify.UnknownDeliveryError:
		return "Its delivery state is unknown after an interruption; it is not sent again."
	}
	return apperr.MessageOf(err)
}
