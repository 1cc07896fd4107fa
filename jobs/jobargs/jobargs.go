// Package jobargs holds the argument types of Latchkey's River jobs. It is a
// leaf: domain services import it to enqueue, workers to work. Kinds are
// stable snake_case names; never put secrets in arguments.
package jobargs

import "time"

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

// SendWelcome writes the welcome email of one end user, with a new enrolment
// link. Unique by end user (not by RequestedAt) and day: at most one welcome
// a day. RequestedAt lets a retry see that the welcome went out already.
type SendWelcome struct {
	EndUserID   string    `json:"end_user_id" river:"unique"`
	RequestedAt time.Time `json:"requested_at"`
}

// Kind implements river.JobArgs.
func (SendWelcome) Kind() string { return "send_welcome" }

// DirectoryImports starts the automatic directory imports that are due.
type DirectoryImports struct{}

// Kind implements river.JobArgs.
func (DirectoryImports) Kind() string { return "directory_imports" }

// DirectoryTasks ends directory tasks whose time is up.
type DirectoryTasks struct{}

// Kind implements river.JobArgs.
func (DirectoryTasks) Kind() string { return "directory_tasks" }

// SendSMS delivers one text message of the messages table (Twilio, or the
// outbox when the tenant has no Twilio settings). Unique by message.
type SendSMS struct {
	MessageID string `json:"message_id"`
}

// Kind implements river.JobArgs.
func (SendSMS) Kind() string { return "send_sms" }

// SendPush delivers one web push notification (a messages row for one
// subscription). Unique by message.
type SendPush struct {
	MessageID string `json:"message_id"`
}

// Kind implements river.JobArgs.
func (SendPush) Kind() string { return "send_push" }
