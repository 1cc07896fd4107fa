// Package verify proves who is on the phone before a technician touches an
// account: an SMS or email code read back to the technician, a push
// notification the end user approves on an enrolled device (60-second
// countdown, optional number matching), or push plus a validation code.
//
// Rules (../shared/notes/security-bar.md): six digits from crypto/rand,
// stored encrypted (the technician's panel shows them), single use, bound to
// their verification; a new verification supersedes the end user's open
// ones; codes live the tenant's code lifetime (1–10 minutes, 5 by default),
// a push 60 seconds; five wrong codes lock a verification; at most five sends
// per end user per hour, then sending is blocked for 24 hours; at most three
// unanswered pushes per end user per 10 minutes; push falls back to an SMS
// code when no device can receive it. Every verification is audited with
// its receipt id, in the same transaction as what it records.
package verify

import (
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Method is how the end user proves who they are.
type Method string

// Methods.
const (
	MethodSMS      Method = "sms"       // six-digit code by text message
	MethodEmail    Method = "email"     // six-digit code by email
	MethodPush     Method = "push"      // approve on an enrolled device
	MethodPushCode Method = "push_code" // approve, then read the validation code the phone shows
)

// Methods lists the methods in the order the panel offers them.
var Methods = []Method{MethodPush, MethodPushCode, MethodSMS, MethodEmail}

// Label is the method's name on screens.
func (m Method) Label() string {
	switch m {
	case MethodSMS:
		return "SMS code"
	case MethodEmail:
		return "Email code"
	case MethodPush:
		return "Push"
	case MethodPushCode:
		return "Push + code"
	}
	return string(m)
}

// Valid reports whether m is a known method.
func (m Method) Valid() bool {
	switch m {
	case MethodSMS, MethodEmail, MethodPush, MethodPushCode:
		return true
	}
	return false
}

// IsPush reports whether the method goes to the end user's devices.
func (m Method) IsPush() bool { return m == MethodPush || m == MethodPushCode }

// HasCode reports whether the method sends or shows a six-digit code.
func (m Method) HasCode() bool { return m != MethodPush }

// State is where a verification stands.
type State string

// States. Pending and Approved are open; the others are outcomes.
const (
	StatePending   State = "pending"   // code sent, or push waiting for the phone
	StateApproved  State = "approved"  // push + code: the phone approved; the technician compares codes
	StateVerified  State = "verified"  // "User Identity Successfully Verified"
	StateDenied    State = "denied"    // "Unable to Verify Identity"
	StateExpired   State = "expired"   // timed out
	StateLocked    State = "locked"    // five wrong codes
	StateFailed    State = "failed"    // nothing could reach the end user
	StateCancelled State = "cancelled" // closed by the technician, or superseded
)

// Open reports whether the verification still waits for someone.
func (s State) Open() bool { return s == StatePending || s == StateApproved }

// Label is the outcome's text for history lists.
func (s State) Label() string {
	switch s {
	case StatePending:
		return "Waiting"
	case StateApproved:
		return "Approved on the phone"
	case StateVerified:
		return "Verified"
	case StateDenied:
		return "Not verified"
	case StateExpired:
		return "Timed out"
	case StateLocked:
		return "Locked: too many wrong codes"
	case StateFailed:
		return "Not delivered"
	case StateCancelled:
		return "Cancelled"
	}
	return string(s)
}

// Reasons stored with an outcome.
const (
	ReasonTechnicianApproved = "technician_approved"
	ReasonCodeMatched        = "code_matched"
	ReasonEndUserApproved    = "end_user_approved"
	ReasonTechnicianDenied   = "technician_denied"
	ReasonEndUserDenied      = "end_user_denied"
	ReasonWrongNumber        = "wrong_number"
	ReasonTimedOut           = "timed_out"
	ReasonWrongCodes         = "wrong_codes"
	ReasonSuperseded         = "superseded"
	ReasonCancelled          = "technician_cancelled"
	ReasonNoChannel          = "no_channel"
)

// Fallback reasons (why a push became an SMS code).
const (
	FallbackNoSubscription = "no_subscription" // no device had notifications allowed
	FallbackPushFailed     = "push_failed"     // every push was refused or gone (404/410)
)

// FallbackText explains a fallback to the technician.
func FallbackText(reason string) string {
	switch reason {
	case FallbackNoSubscription:
		return "The end user's devices do not accept push notifications (none allowed, or revoked), so an SMS code was sent instead."
	case FallbackPushFailed:
		return "The push service could not deliver to any of the end user's devices (gone or refused), so an SMS code was sent instead."
	}
	return ""
}

// Verification is one identity verification.
type Verification struct {
	bun.BaseModel `bun:"table:verifications"`

	ID              string     `bun:"id,pk"`
	TenantID        string     `bun:"tenant_id"`
	CustomerID      string     `bun:"customer_id"`
	EndUserID       string     `bun:"end_user_id"`
	Receipt         string     `bun:"receipt"`
	RequestedMethod Method     `bun:"requested_method"`
	Method          Method     `bun:"method"`
	Fallback        string     `bun:"fallback"`
	Destination     string     `bun:"destination"` // masked
	State           State      `bun:"state"`
	Reason          string     `bun:"reason"`
	Code            []byte     `bun:"code"` // ciphertext
	MatchNumber     int        `bun:"match_number"`
	MatchChoices    string     `bun:"match_choices"` // "17,42,88"
	WrongTries      int        `bun:"wrong_tries"`
	PushMessages    string     `bun:"push_messages"` // messages ids, comma-separated
	RequestedByID   string     `bun:"requested_by_id"`
	RequestedBy     string     `bun:"requested_by"`
	RespondedAt     *time.Time `bun:"responded_at"`
	DecidedAt       *time.Time `bun:"decided_at"`
	DecidedBy       string     `bun:"decided_by"`
	CreatedAt       time.Time  `bun:"created_at"`
	ExpiresAt       time.Time  `bun:"expires_at"`
	UpdatedAt       time.Time  `bun:"updated_at"`
	Version         int64      `bun:"version"`
}

// StateAt is the state at now: an open verification past its expiry has
// timed out even before anyone wrote so (the server clock is the authority).
func (v *Verification) StateAt(now time.Time) State {
	if v.State.Open() && !now.Before(v.ExpiresAt) {
		return StateExpired
	}
	return v.State
}

// SelfServe reports whether the end user started the verification on the
// self-serve pages (proving it is them), not a technician (a login).
func (v *Verification) SelfServe() bool { return v.RequestedByID == "" }

// Choices are the numbers the phone offers with number matching.
func (v *Verification) Choices() []string {
	if v.MatchChoices == "" {
		return nil
	}
	return strings.Split(v.MatchChoices, ",")
}

// messageIDs are the push notifications sent for the verification.
func (v *Verification) messageIDs() []string {
	if v.PushMessages == "" {
		return nil
	}
	return strings.Split(v.PushMessages, ",")
}

// MaxWrongTries is how many wrong codes lock a verification.
const MaxWrongTries = 5

// Limits on sending.
const (
	SendsPerHour       = 5                // codes or pushes per end user per hour
	FailuresPerDay     = 10               // wrong codes and denials per end user in 24 h, then blocked (and the MSP alerted)
	BlockFor           = 24 * time.Hour   // then sending is blocked this long
	PendingPushes      = 3                // unanswered pushes per end user…
	PendingPushWindow  = 10 * time.Minute // …in this window
	DefaultPushTimeout = 60 * time.Second
	DefaultCodeTTL     = 5 * time.Minute
	MinCodeTTL         = time.Minute
	MaxCodeTTL         = 10 * time.Minute
)
