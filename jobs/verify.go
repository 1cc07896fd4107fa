package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/latchkey/latchkey/jobs/jobargs"
)

// verifyPushCheckWorker falls a push verification back to an SMS code when
// none of its notifications reached a device (verify.Service.CheckPush): it
// looks again every second while a notification is on its way.
type verifyPushCheckWorker struct {
	river.WorkerDefaults[jobargs.VerifyPushCheck]
	d Deps
}

// Timeout bounds one look.
func (w *verifyPushCheckWorker) Timeout(*river.Job[jobargs.VerifyPushCheck]) time.Duration {
	return 10 * time.Second
}

func (w *verifyPushCheckWorker) Work(ctx context.Context, job *river.Job[jobargs.VerifyPushCheck]) error {
	if w.d.Verify == nil {
		return errors.New("verify_push_check: no verification service was wired")
	}
	again, err := w.d.Verify.CheckPush(ctx, job.Args.VerificationID)
	if err != nil {
		return err
	}
	if again {
		return river.JobSnooze(time.Second)
	}
	return nil
}

// expireVerificationsWorker records the timeout of open verifications past
// their expiry.
type expireVerificationsWorker struct {
	river.WorkerDefaults[jobargs.ExpireVerifications]
	d Deps
}

func (w *expireVerificationsWorker) Work(ctx context.Context, _ *river.Job[jobargs.ExpireVerifications]) error {
	if w.d.Verify == nil {
		return errors.New("expire_verifications: no verification service was wired")
	}
	n, err := w.d.Verify.ExpireDue(ctx)
	if n > 0 {
		w.d.Log.InfoContext(ctx, "verifications timed out", "count", n)
	}
	return err
}
