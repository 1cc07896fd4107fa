package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/latchkey/latchkey/jobs/jobargs"
)

// sendSMSTimeout bounds one attempt (Twilio's client gives up after 8 s).
const sendSMSTimeout = 10 * time.Second

// sendSMSWorker delivers one text message through sms.Service.Deliver:
// Twilio, or the outbox when the tenant has no Twilio settings. Delivery is
// at most once (claim before the request; a dead attempt's claim is given
// up, never resent), refused after the message's expiry or to a number
// that replied STOP; few attempts (sms.MaxAttempts), retried quickly,
// because a late code is useless.
type sendSMSWorker struct {
	river.WorkerDefaults[jobargs.SendSMS]
	d Deps
}

// Timeout bounds one attempt.
func (w *sendSMSWorker) Timeout(*river.Job[jobargs.SendSMS]) time.Duration { return sendSMSTimeout }

// NextRetry retries after 5 s, then 10 s.
func (w *sendSMSWorker) NextRetry(job *river.Job[jobargs.SendSMS]) time.Time {
	return time.Now().Add(time.Duration(job.Attempt) * 5 * time.Second)
}

func (w *sendSMSWorker) Work(ctx context.Context, job *river.Job[jobargs.SendSMS]) error {
	if w.d.SMS == nil {
		return errors.New("send_sms: no SMS service was wired")
	}
	out, err := w.d.SMS.Deliver(ctx, job.Args.MessageID, job.Attempt >= job.MaxAttempts)
	if err != nil {
		return err
	}
	return deliveryResult(out.Snooze, out.Retry, out.Err)
}

// deliveryResult maps a delivery attempt's outcome to River: wait for a
// live claim, retry a retryable failure, and cancel (no retry) a final one.
func deliveryResult(snooze time.Duration, retry bool, err error) error {
	switch {
	case snooze > 0:
		return river.JobSnooze(snooze)
	case err == nil:
		return nil
	case retry:
		return err
	}
	return river.JobCancel(err)
}
