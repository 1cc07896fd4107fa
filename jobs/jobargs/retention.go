package jobargs

// Retention deletes what Latchkey no longer needs to keep: finished
// messages (the outbox and delivery log) and notices of days past the
// retention period (LATCHKEY_RETENTION_DAYS; periodic).
type Retention struct{}

// Kind implements river.JobArgs.
func (Retention) Kind() string { return "retention" }
