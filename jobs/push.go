package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/latchkey/latchkey/jobs/jobargs"
)

// sendPushTimeout bounds one attempt (the push client gives up after 8 s).
const sendPushTimeout = 10 * time.Second

// sendPushWorker delivers one web push notification through
// webpush.Service.Deliver: at most once, never after its TTL, few attempts;
// a 404/410 from the push service revokes the subscription.
type sendPushWorker struct {
	river.WorkerDefaults[jobargs.SendPush]
	d Deps
}

// Timeout bounds one attempt.
func (w *sendPushWorker) Timeout(*river.Job[jobargs.SendPush]) time.Duration { return sendPushTimeout }

// NextRetry retries after 2 s, then 4 s (a push lives for seconds to minutes).
func (w *sendPushWorker) NextRetry(job *river.Job[jobargs.SendPush]) time.Time {
	return time.Now().Add(time.Duration(job.Attempt) * 2 * time.Second)
}

func (w *sendPushWorker) Work(ctx context.Context, job *river.Job[jobargs.SendPush]) error {
	if w.d.Push == nil {
		return errors.New("send_push: no web push service was wired")
	}
	out, err := w.d.Push.Deliver(ctx, job.Args.MessageID, job.Attempt >= job.MaxAttempts)
	if err != nil {
		return err
	}
	return deliveryResult(out.Snooze, out.Retry, out.Err)
}
