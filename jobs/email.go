package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/jobs/jobargs"
	"github.com/latchkey/latchkey/views/emails"
)

// sendEmailTimeout bounds one delivery attempt (SMTP timeouts are 20 s).
const sendEmailTimeout = 30 * time.Second

// sendEmailWorker renders one row of the messages table and delivers it by
// SMTP, or keeps it in the outbox when no SMTP server is configured.
//
// The message's content is encrypted at rest (app/notify/sealed.go): the
// worker decrypts it with Deps.Keys to render it, and stores the rendered
// bodies encrypted (a legacy row written in clear is encrypted on the way).
// A message that cannot be decrypted (its key was removed from the keyring)
// never will be: it is failed, as one that cannot be rendered.
//
// Delivery is at most once. Only a queued message is worked; before talking
// to the SMTP server the attempt claims it (queued → sending, one UPDATE
// that only one attempt can win) and records the outcome afterwards (sent,
// or back to queued / failed). If the process dies between the server's
// acceptance and that record, the message stays `sending` and we cannot know
// whether it went out. A later retry that finds a claim older than
// notify.StaleClaim (2 minutes, far beyond the 30 s attempt timeout) marks it
// failed with notify.UnknownDeliveryError instead of sending again: for
// codes and reset links a missing email is recoverable (ask again) and a
// duplicate is not what the security bar allows. The Message-ID is derived
// from the message id so that a duplicate, should one ever happen, is
// recognisable.
type sendEmailWorker struct {
	river.WorkerDefaults[jobargs.SendEmail]
	d Deps
}

// Timeout bounds one attempt.
func (w *sendEmailWorker) Timeout(*river.Job[jobargs.SendEmail]) time.Duration {
	return sendEmailTimeout
}

func (w *sendEmailWorker) Work(ctx context.Context, job *river.Job[jobargs.SendEmail]) error {
	if w.d.Keys == nil {
		return errors.New("send_email: no keyring was wired to decrypt messages")
	}
	idb := w.d.DB.Bun
	id := job.Args.MessageID
	m, err := notify.Load(ctx, idb, id)
	if apperr.CodeOf(err) == apperr.NotFound {
		return nil // deleted with its tenant: nothing to send
	}
	if err != nil {
		return err
	}
	switch m.Status {
	case notify.StatusQueued:
	case notify.StatusSending:
		return w.claimed(ctx, m)
	default:
		return nil // sent, outbox or failed: never send twice
	}

	t, err := tenant.Get(ctx, idb, m.TenantID)
	if err != nil {
		return err
	}
	r, err := w.render(ctx, m, t)
	if err != nil {
		// A message that cannot be decrypted or rendered never will be: give up on it.
		reason := "cannot be rendered"
		if errors.Is(err, notify.ErrUndecryptable) {
			reason = "cannot be decrypted with the configured keys"
		}
		w.d.Log.ErrorContext(ctx, "email "+reason, "message", id, "err", err)
		if _, ferr := notify.Fail(ctx, idb, id, reason); ferr != nil {
			return ferr
		}
		return river.JobCancel(err)
	}

	if !w.d.Config.SMTP.Enabled() {
		_, err := notify.KeepEmailInOutbox(ctx, idb, w.d.Keys, m, r)
		return err
	}
	if w.d.Mailer == nil {
		return errors.New("send_email: SMTP is configured but no mailer was wired")
	}

	ok, err := notify.ClaimEmail(ctx, idb, w.d.Keys, m, r, w.d.now())
	if err != nil || !ok {
		return err // !ok: another attempt claimed it first
	}
	from := w.d.Config.SMTP.From
	sendErr := w.d.Mailer.Send(ctx, notify.Envelope{
		From: from, To: m.To, Subject: r.Subject, Text: r.Text, HTML: r.HTML, MessageID: notify.MessageID(m.ID, from),
	})
	// Record the outcome even when the attempt's context has ended (timeout
	// or shutdown), so that a finished SMTP exchange is not left `sending`.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if sendErr == nil {
		return notify.MarkSent(rctx, idb, id, w.d.now())
	}
	permanent := errors.Is(sendErr, notify.ErrPermanent)
	final := permanent || job.Attempt >= job.MaxAttempts
	if err := notify.MarkAttemptFailed(rctx, idb, id, sendErr, final); err != nil {
		return errors.Join(sendErr, err)
	}
	w.d.Log.WarnContext(ctx, "email delivery failed", "message", id, "kind", m.Kind, "attempt", job.Attempt,
		"final", final, "err", notify.ErrorText(sendErr))
	if permanent {
		return river.JobCancel(sendErr)
	}
	return sendErr // River retries with backoff
}

// claimed handles a message another attempt claimed: a live attempt (claim
// younger than notify.StaleClaim) is waited for; a dead one's message is
// given up as possibly sent (see sendEmailWorker).
func (w *sendEmailWorker) claimed(ctx context.Context, m *notify.Message) error {
	at, err := notify.ClaimedAt(ctx, w.d.DB.Bun, m.ID)
	if err != nil {
		return err
	}
	now := w.d.now()
	if wait := at.Add(notify.StaleClaim).Sub(now); !at.IsZero() && wait > 0 {
		return river.JobSnooze(wait + time.Second)
	}
	gaveUp, err := notify.GiveUpStale(ctx, w.d.DB.Bun, m.ID, now)
	if err != nil {
		return err
	}
	if gaveUp {
		w.d.Log.WarnContext(ctx, "email delivery state unknown after a crash; not resent", "message", m.ID, "kind", m.Kind)
	}
	return nil
}

// render builds the subject and both bodies from the message's decrypted
// data and the tenant's name. An error means the message can never be
// rendered (it wraps notify.ErrUndecryptable when it cannot be decrypted).
func (w *sendEmailWorker) render(ctx context.Context, m *notify.Message, t *tenant.Tenant) (notify.Rendered, error) {
	e, err := m.EmailData(w.d.Keys)
	if err != nil {
		return notify.Rendered{}, err
	}
	p := emails.Props{
		TenantName: t.Name, Subject: e.Subject, Preheader: e.Preheader, Greeting: e.Greeting, Lines: e.Lines,
		ActionText: e.ActionText, ActionURL: e.ActionURL, After: e.After,
	}
	html, err := emails.RenderHTML(ctx, p)
	if err != nil {
		return notify.Rendered{}, err
	}
	return notify.Rendered{Subject: e.Subject, Text: emails.Text(p), HTML: html}, nil
}
