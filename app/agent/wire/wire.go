// Package wire is the protocol between the Latchkey server and
// latchkey-agent: JSON bodies over HTTPS, initiated only by the agent.
//
//	POST /agent/v1/enroll                 EnrollRequest → EnrollResponse (install token, once)
//	POST /agent/v1/poll                   PollRequest → PollResponse, or 204 after Wait
//	POST /agent/v1/tasks/{id}/users       NDJSON of User (import tasks), before the result
//	POST /agent/v1/tasks/{id}/result      Result → 200
//
// Every call after enrolment carries "Authorization: Bearer <credential>".
// A 401 means the credential is unknown or revoked: the agent stops.
package wire

import "time"

// Version is the protocol version; the agent sends it as "Latchkey-Agent-Protocol".
const Version = "1"

// ProtocolHeader names the header carrying Version.
const ProtocolHeader = "Latchkey-Agent-Protocol"

// Paths of the agent API.
const (
	PathEnroll = "/agent/v1/enroll"
	PathPoll   = "/agent/v1/poll"
	PathTasks  = "/agent/v1/tasks/" // + id + "/users" or "/result"
)

// Wait is how long the server holds a poll open when there is no task.
const Wait = 25 * time.Second

// Task kinds.
const (
	KindCheck  = "check"  // bind and read the domain policy
	KindImport = "import" // page through the users in scope, stream them, then a Result
	KindReset  = "reset"  // set a user's password (technician reset or self-serve change)
	KindUnlock = "unlock" // clear a lockout
	KindPolicy = "policy" // the password policy that applies to a user
)

// EnrollRequest exchanges an install token for a credential.
type EnrollRequest struct {
	Token    string `json:"token"`
	Hostname string `json:"hostname"`
	Version  string `json:"version"`
	OS       string `json:"os"`
}

// EnrollResponse carries the agent's long-lived credential (shown once).
type EnrollResponse struct {
	AgentID    string `json:"agent_id"`
	Credential string `json:"credential"`
	Customer   string `json:"customer"`
}

// PollRequest asks for the next task; it is also the heartbeat.
type PollRequest struct {
	Hostname      string          `json:"hostname"`
	Version       string          `json:"version"`
	OS            string          `json:"os"`
	ConfigVersion int             `json:"config_version"` // 0: the agent has none
	Directory     DirectoryStatus `json:"directory"`
	// Lockouts the agent noticed since its last poll.
	Lockouts []Lockout `json:"lockouts,omitempty"`
	// Resume: tasks the agent had started when it stopped, which it found
	// not carried out; the server hands them back while they are still the
	// agent's and not timed out.
	Resume []string `json:"resume,omitempty"`
}

// DirectoryStatus is the agent's last check of its directory.
type DirectoryStatus struct {
	Checked   bool      `json:"checked"`
	OK        bool      `json:"ok"`
	Error     string    `json:"error,omitempty"`
	CheckedAt time.Time `json:"checked_at"`
}

// Lockout is a locked account the agent saw.
type Lockout struct {
	GUID     string    `json:"guid"`
	LockedAt time.Time `json:"locked_at"`
}

// PollResponse carries the configuration when it changed, and a task if one
// is waiting.
type PollResponse struct {
	Config *Config `json:"config,omitempty"`
	Task   *Task   `json:"task,omitempty"`
}

// Config is the directory side of the customer, as set on the server.
type Config struct {
	Version            int    `json:"version"`
	URL                string `json:"url"`
	StartTLS           bool   `json:"start_tls"`
	BindUser           string `json:"bind_user"`
	BindPassword       string `json:"bind_password"`
	BaseDN             string `json:"base_dn"`
	ScopeOU            string `json:"scope_ou,omitempty"`
	ScopeGroup         string `json:"scope_group,omitempty"`
	CACertPEM          string `json:"ca_cert_pem,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
}

// Task is one piece of directory work.
type Task struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	GUID     string `json:"guid,omitempty"`     // reset, unlock, policy
	Password string `json:"password,omitempty"` // reset
	// Temporary: the user must change the password at next logon (reset).
	Temporary bool `json:"temporary,omitempty"`
	// SelfService: the end user's own change: the directory applies history.
	SelfService bool `json:"self_service,omitempty"`
	// Deadline: the server gives up waiting after this.
	Deadline time.Time `json:"deadline"`
}

// User is a directory user, streamed by import tasks.
type User struct {
	GUID                 string     `json:"guid"`
	DN                   string     `json:"dn"`
	Username             string     `json:"username"`
	UPN                  string     `json:"upn,omitempty"`
	FirstName            string     `json:"first_name,omitempty"`
	LastName             string     `json:"last_name,omitempty"`
	DisplayName          string     `json:"display_name,omitempty"`
	Email                string     `json:"email,omitempty"`
	Mobile               string     `json:"mobile,omitempty"`
	PasswordLastSet      *time.Time `json:"password_last_set,omitempty"`
	MustChange           bool       `json:"must_change,omitempty"`
	PasswordExpires      *time.Time `json:"password_expires,omitempty"`
	PasswordNeverExpires bool       `json:"password_never_expires,omitempty"`
	Locked               bool       `json:"locked,omitempty"`
	LockedAt             *time.Time `json:"locked_at,omitempty"`
	Disabled             bool       `json:"disabled,omitempty"`
	Privileged           bool       `json:"privileged,omitempty"`
	PrivilegedReason     string     `json:"privileged_reason,omitempty"`
}

// Policy is a password policy as the directory states it.
type Policy struct {
	Source           string        `json:"source"`
	MinLength        int           `json:"min_length"`
	Complexity       bool          `json:"complexity"`
	HistoryLength    int           `json:"history_length"`
	MaxAge           time.Duration `json:"max_age"` // 0: never expires
	MinAge           time.Duration `json:"min_age"`
	LockoutThreshold int           `json:"lockout_threshold"`
	LockoutDuration  time.Duration `json:"lockout_duration"`
	LockoutObsWindow time.Duration `json:"lockout_observation_window"`
}

// Result ends a task.
type Result struct {
	OK    bool   `json:"ok"`
	Error *Error `json:"error,omitempty"`
	// Users is how many users an import streamed (checked by the server).
	Users int `json:"users,omitempty"`
	// Policy: from check, import (the domain's) and policy tasks.
	Policy *Policy `json:"policy,omitempty"`
	// User: the user after a reset or unlock, when the agent could read it back.
	User *User `json:"user,omitempty"`
}

// Error is a directory error, classified by the agent's driver.
type Error struct {
	Kind    string `json:"kind"`    // policy, disabled, locked, not_found, unreachable, bind_failed, insecure, access, tls, …
	Message string `json:"message"` // readable, for the technician
	Detail  string `json:"detail,omitempty"`
}

// Error implements error.
func (e *Error) Error() string {
	if e.Detail != "" {
		return e.Message + " (" + e.Detail + ")"
	}
	return e.Message
}

// ErrorResponse is the body of a server error.
type ErrorResponse struct {
	Error string `json:"error"`
}
