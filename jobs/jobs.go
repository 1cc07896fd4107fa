// Package jobs holds Latchkey's River workers and the periodic schedule.
// Workers are thin: they call domain services, which own the rules.
package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/latchkey/latchkey/app/agent"
	"github.com/latchkey/latchkey/app/config"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/notice"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/verify"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

// Deps are what the workers need.
type Deps struct {
	Config config.Config
	DB     *db.DB
	Log    *slog.Logger
	Now    func() time.Time
	// Keys decrypt and encrypt email content at rest (send_email).
	Keys *secret.Keyring
	// Mailer delivers email; nil when SMTP is not configured (email then
	// stays in the outbox).
	Mailer notify.Mailer
	// Onboarding writes end users' welcome emails (send_welcome).
	Onboarding *enduser.Onboarding
	// Agents queues automatic directory imports and times out tasks.
	Agents *agent.Service
	// SMS delivers text messages (send_sms); Push web push (send_push).
	SMS  *sms.Service
	Push *webpush.Service
	// Notices plans (notice_sweep), sends (send_notice) and prunes
	// (retention) end users' notices.
	Notices *notice.Service
	// Verify falls push verifications back to SMS and times them out.
	Verify *verify.Service
}

// now is the jobs' clock (Deps.Now, else the system's), in UTC.
func (d Deps) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

// Workers registers every worker.
func Workers(d Deps) *river.Workers {
	w := river.NewWorkers()
	river.AddWorker(w, &cleanSessionsWorker{d: d})
	// BEGIN email worker registration
	river.AddWorker(w, &sendEmailWorker{d: d})
	// END email worker registration
	// BEGIN welcome worker registration
	river.AddWorker(w, &sendWelcomeWorker{d: d})
	// END welcome worker registration
	// BEGIN directory worker registration
	river.AddWorker(w, &directoryImportsWorker{d: d})
	river.AddWorker(w, &directoryTasksWorker{d: d})
	// END directory worker registration
	// BEGIN sms and push worker registration
	river.AddWorker(w, &sendSMSWorker{d: d})
	river.AddWorker(w, &sendPushWorker{d: d})
	// END sms and push worker registration
	// BEGIN notice worker registration
	river.AddWorker(w, &noticeSweepWorker{d: d})
	river.AddWorker(w, &sendNoticeWorker{d: d})
	// END notice worker registration
	// BEGIN verify worker registration
	river.AddWorker(w, &verifyPushCheckWorker{d: d})
	river.AddWorker(w, &expireVerificationsWorker{d: d})
	// END verify worker registration
	// BEGIN retention worker registration
	river.AddWorker(w, &retentionWorker{d: d})
	// END retention worker registration
	return w
}

// Periodic is the schedule of recurring jobs (run once by the elected leader).
func Periodic() []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(15*time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return jobargs.CleanSessions{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}),
		// BEGIN directory periodic jobs
		river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return jobargs.DirectoryImports{}, nil }, nil),
		river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return jobargs.DirectoryTasks{}, nil }, nil),
		// END directory periodic jobs
		// BEGIN notice periodic jobs
		river.NewPeriodicJob(river.PeriodicInterval(NoticeSweepInterval),
			func() (river.JobArgs, *river.InsertOpts) { return jobargs.NoticeSweep{}, noticeSweepOpts }, &river.PeriodicJobOpts{RunOnStart: true}),
		// END notice periodic jobs
		// BEGIN verify periodic jobs
		river.NewPeriodicJob(river.PeriodicInterval(30*time.Second),
			func() (river.JobArgs, *river.InsertOpts) { return jobargs.ExpireVerifications{}, nil }, nil),
		// END verify periodic jobs
		// BEGIN retention periodic jobs
		river.NewPeriodicJob(river.PeriodicInterval(RetentionInterval),
			func() (river.JobArgs, *river.InsertOpts) { return jobargs.Retention{}, retentionOpts }, &river.PeriodicJobOpts{RunOnStart: true}),
		// END retention periodic jobs
	}
}

// cleanSessionsWorker deletes expired sessions on both databases (the
// session store, app/web/sessionstore.go, has no cleanup of its own).
type cleanSessionsWorker struct {
	river.WorkerDefaults[jobargs.CleanSessions]
	d Deps
}

func (w *cleanSessionsWorker) Work(ctx context.Context, job *river.Job[jobargs.CleanSessions]) error {
	q := w.d.DB.Bun.NewDelete().Table("sessions")
	if w.d.DB.Dialect == db.SQLite {
		// The session store keeps expiry as a Julian day number on SQLite.
		q = q.Where("expiry < julianday('now')")
	} else {
		q = q.Where("expiry < now()")
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		w.d.Log.InfoContext(ctx, "expired sessions removed", "count", n)
	}
	return nil
}
