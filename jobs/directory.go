package jobs

import (
	"context"

	"github.com/riverqueue/river"

	"github.com/latchkey/latchkey/jobs/jobargs"
)

// directoryImportsWorker starts the automatic directory imports that are due
// (each customer's interval, 3 hours by default).
type directoryImportsWorker struct {
	river.WorkerDefaults[jobargs.DirectoryImports]
	d Deps
}

func (w *directoryImportsWorker) Work(ctx context.Context, _ *river.Job[jobargs.DirectoryImports]) error {
	n, err := w.d.Agents.QueueDueImports(ctx)
	if n > 0 {
		w.d.Log.Info("automatic directory imports started", "count", n)
	}
	return err
}

// directoryTasksWorker times out directory tasks no agent finished.
type directoryTasksWorker struct {
	river.WorkerDefaults[jobargs.DirectoryTasks]
	d Deps
}

func (w *directoryTasksWorker) Work(ctx context.Context, _ *river.Job[jobargs.DirectoryTasks]) error {
	n, err := w.d.Agents.ExpireTasks(ctx)
	if n > 0 {
		w.d.Log.Info("directory tasks timed out", "count", n)
	}
	return err
}
