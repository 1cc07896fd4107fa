package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/latchkey/latchkey/jobs/jobargs"
)

// sendWelcomeTimeout bounds one attempt (one transaction: token, message, mark).
const sendWelcomeTimeout = 30 * time.Second

// sendWelcomeWorker writes an end user's welcome email with a new enrolment
// link (enduser.Onboarding.DeliverWelcome); the send_email job then delivers
// it. Jobs are unique per end user and day, and DeliverWelcome sends nothing
// on a retry after its transaction committed.
type sendWelcomeWorker struct {
	river.WorkerDefaults[jobargs.SendWelcome]
	d Deps
}

// Timeout bounds one attempt.
func (w *sendWelcomeWorker) Timeout(*river.Job[jobargs.SendWelcome]) time.Duration {
	return sendWelcomeTimeout
}

func (w *sendWelcomeWorker) Work(ctx context.Context, job *river.Job[jobargs.SendWelcome]) error {
	if w.d.Onboarding == nil {
		return errors.New("send_welcome: no end-user onboarding service was wired")
	}
	return w.d.Onboarding.DeliverWelcome(ctx, job.Args.EndUserID, job.Args.RequestedAt)
}
