package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

// RetentionInterval is how often the retention job runs.
const RetentionInterval = time.Hour

// retentionBatch is how many rows one DELETE of the retention job removes
// (the batching itself is tested with small batches in app/notify and
// app/notice).
const retentionBatch = 1000

// retentionTimeout bounds one run: a backlog that takes longer (millions
// of rows after retention is first switched on, or shortened) is finished
// by the next runs, each deleting the oldest rows first.
const retentionTimeout = 10 * time.Minute

// retentionOpts keep one run per interval in the queue (several processes,
// a new leader).
var retentionOpts = &river.InsertOpts{
	MaxAttempts: 3,
	UniqueOpts:  river.UniqueOpts{ByPeriod: RetentionInterval},
}

// retentionWorker deletes, for every tenant, the finished messages (sent,
// failed and outbox: notify.Prune) created more than the retention period
// ago and the notices (sent or canceled: notice.Service.Prune) of days that
// long past, in batches of retentionBatch rows, one DELETE at a time.
type retentionWorker struct {
	river.WorkerDefaults[jobargs.Retention]
	d Deps
}

// Timeout bounds one run.
func (w *retentionWorker) Timeout(*river.Job[jobargs.Retention]) time.Duration {
	return retentionTimeout
}

func (w *retentionWorker) Work(ctx context.Context, _ *river.Job[jobargs.Retention]) error {
	before := w.d.now().Add(-w.d.Config.Retention())
	msgs, err := notify.Prune(ctx, w.d.DB.Bun, before, retentionBatch)
	if msgs > 0 {
		w.d.Log.InfoContext(ctx, "old messages deleted", "count", msgs, "before", before.UTC())
	}
	if w.d.Notices == nil {
		return errors.Join(err, errors.New("retention: no notice service was wired"))
	}
	ns, err2 := w.d.Notices.Prune(ctx, before, retentionBatch)
	if ns > 0 {
		w.d.Log.InfoContext(ctx, "old notices deleted", "count", ns, "before", before.UTC())
	}
	return errors.Join(err, err2)
}
