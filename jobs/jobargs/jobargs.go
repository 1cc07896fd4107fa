// Package jobargs holds the argument types of Latchkey's River jobs. It is a
// leaf: domain services import it to enqueue, workers to work. Kinds are
// stable snake_case names; never put secrets in arguments.
package jobargs

// SendEmail delivers one row of the messages table (render, then SMTP or outbox).
type SendEmail struct {
	MessageID string `json:"message_id"`
}

// Kind implements river.JobArgs.
func (SendEmail) Kind() string { return "send_email" }

// CleanSessions deletes expired web sessions.
type CleanSessions struct{}

// Kind implements river.JobArgs.
func (CleanSessions) Kind() string { return "clean_sessions" }
