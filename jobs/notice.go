package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/latchkey/latchkey/jobs/jobargs"
)

// NoticeSweepInterval is how often the notice sweep looks for customers
// whose notification hour has come (so a notice goes out at most this long
// after the hour).
const NoticeSweepInterval = 15 * time.Minute

// noticeSweepTimeout bounds one sweep: planning a day of 100,000 notices
// takes seconds; a cut-short sweep is resumed by the next one.
const noticeSweepTimeout = 15 * time.Minute

// noticeSweepOpts keep one sweep per interval in the queue.
var noticeSweepOpts = &river.InsertOpts{
	MaxAttempts: 3,
	UniqueOpts:  river.UniqueOpts{ByPeriod: NoticeSweepInterval},
}

// noticeSweepWorker plans the day's expiry notices of every customer whose
// notification hour has come (notice.Service.Sweep): notices and their
// send_notice jobs in batches, never twice a day.
type noticeSweepWorker struct {
	river.WorkerDefaults[jobargs.NoticeSweep]
	d Deps
}

// Timeout bounds one sweep.
func (w *noticeSweepWorker) Timeout(*river.Job[jobargs.NoticeSweep]) time.Duration {
	return noticeSweepTimeout
}

func (w *noticeSweepWorker) Work(ctx context.Context, job *river.Job[jobargs.NoticeSweep]) error {
	if w.d.Notices == nil {
		return errors.New("notice_sweep: no notice service was wired")
	}
	_, err := w.d.Notices.Sweep(ctx)
	return err
}

// sendNoticeTimeout bounds one send (one transaction queuing its messages).
const sendNoticeTimeout = 30 * time.Second

// sendNoticeWorker sends one notice (notice.Service.Send): it claims the
// notice in the transaction that queues its email, SMS and push messages, so
// a retry after a commit sends nothing more; the messages' own jobs deliver
// them at most once.
type sendNoticeWorker struct {
	river.WorkerDefaults[jobargs.SendNotice]
	d Deps
}

// Timeout bounds one attempt.
func (w *sendNoticeWorker) Timeout(*river.Job[jobargs.SendNotice]) time.Duration {
	return sendNoticeTimeout
}

func (w *sendNoticeWorker) Work(ctx context.Context, job *river.Job[jobargs.SendNotice]) error {
	if w.d.Notices == nil {
		return errors.New("send_notice: no notice service was wired")
	}
	_, err := w.d.Notices.Send(ctx, job.Args.NoticeID)
	return err
}
