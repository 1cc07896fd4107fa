// Package selfserve is the end users' own side of Latchkey: they reset their
// password or unlock their account from a phone after proving who they are,
// and enrol from the welcome email's link (confirm the mobile number, add an
// authenticator app, allow notifications on the device).
//
// A self-serve flow (Flow) is the state of one end user's visit, kept by the
// web layer in its session under keys of its own and trusted only because it
// lives on the server. Until the end user proves who they are, nothing about
// the account shows: identifying by username or email answers the same
// whether or not an account matches (or may use self-serve), and a flow that
// matched nothing runs on as a decoy that sends nothing and accepts no code.
//
// Rules (../shared/notes/security-bar.md): codes are six digits from
// crypto/rand, stored encrypted, single use, bound to their proof, valid for
// the tenant's code lifetime (app/verify settings, 5 minutes by default);
// five wrong codes lock a proof; ten wrong codes for one account in 24 hours
// block its self-serve for 24 hours and alert the MSP's admins; at most five
// codes or pushes a subject an hour and five flows a subject an hour, then
// 24 hours blocked. Privileged accounts are never offered self-serve; an
// email code never proves a privileged account. Every action is audited in
// the transaction that makes it.
package selfserve

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"

	"github.com/latchkey/latchkey/app/agent"
	"github.com/latchkey/latchkey/app/device"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/verify"
	"github.com/latchkey/latchkey/db"
)

// Purposes of a flow.
const (
	PurposeReset  = "reset"  // choose a new password
	PurposeUnlock = "unlock" // unlock the account, keeping the password
	PurposeEnrol  = "enrol"  // the welcome link: contact details and devices
)

// Channels of a proof.
const (
	ChannelPush  = "push"  // approve on an enrolled device (app/verify)
	ChannelTOTP  = "totp"  // a code from the end user's authenticator app
	ChannelSMS   = "sms"   // a code by text message
	ChannelEmail = "email" // a code by email
)

// Limits of the security bar.
const (
	// FlowsPerHour: flows one subject may start in an hour; the next blocks
	// self-serve for BlockFor.
	FlowsPerHour = 5
	// SendsPerHour: codes and pushes one subject may get in an hour.
	SendsPerHour = 5
	// WrongPerProof: wrong codes that lock one proof.
	WrongPerProof = 5
	// WrongPerDay: wrong codes for one subject in 24 hours that block its
	// self-serve (and alert the MSP).
	WrongPerDay = 10
	// BlockFor is how long a block lasts.
	BlockFor = 24 * time.Hour
	// StepLifetime: a flow's steps before the proof, and the choice of a
	// password after it, must each happen within this (reset steps ≤ 10 min).
	StepLifetime = 10 * time.Minute
	// EnrolLifetime: after the proof, the enrolment's optional steps.
	EnrolLifetime = 30 * time.Minute
	// DuplicateWindow: a code asked for again by the same flow and
	// channel within this (a double tap, a re-sent form) gets the proof
	// already sent, unchanged (same code, same expiry), and no second
	// message; nothing more is counted against SendsPerHour.
	DuplicateWindow = 15 * time.Second
)

// Deps are the service's collaborators.
type Deps struct {
	DB         *db.DB
	Keys       *secret.Keyring
	SMS        *sms.Queue
	Mail       *notify.Queue
	Agents     *agent.Service
	Logins     *login.Service // alerts to the MSP's admins
	Onboarding *enduser.Onboarding
	// Verify and Devices: push approval and enrolled devices (nil: no push).
	Verify  *verify.Service
	Devices *device.Service
	Now     func() time.Time
	Log     *slog.Logger
}

// Service is the self-serve domain service.
type Service struct {
	d Deps
}

// New returns the service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{d: d}
}

func (s *Service) now() time.Time { return s.d.Now().UTC() }

// PushAvailable reports whether push approval can be offered at all.
func (s *Service) PushAvailable() bool { return s.d.Verify != nil && s.d.Devices != nil }

// Flow is one visit's self-serve state. The web layer keeps it in the
// session (never in the page); services take and return it.
type Flow struct {
	// ID names the flow (random; an enrolment's is its link's): a code
	// asked for twice in it within DuplicateWindow is sent once.
	ID       string `json:"id,omitempty"`
	Purpose  string `json:"purpose"`
	TenantID string `json:"tenant"`
	// EndUserID is "" in a decoy flow: nothing matched what was typed, or
	// the account may not use self-serve. Such a flow sends nothing and
	// accepts no code, and looks the same.
	EndUserID string `json:"end_user,omitempty"`
	// Subject is what rate limits count by (see subjectOf).
	Subject string `json:"subject"`
	// Typed is what the end user typed to identify (for the audit trail).
	Typed string `json:"typed,omitempty"`
	// Name is the end user's name (for the audit trail and the pages
	// after the proof).
	Name string `json:"name,omitempty"`
	// ProofID is the proof in progress; Channel its channel, ProofExpiresAt
	// its end, MatchNumber a push's number to tap (0: none), Destination
	// where its code went (masked; enrolment only).
	ProofID        string    `json:"proof,omitempty"`
	Channel        string    `json:"channel,omitempty"`
	ProofExpiresAt time.Time `json:"proof_expires_at,omitzero"`
	MatchNumber    int       `json:"match,omitempty"`
	Destination    string    `json:"destination,omitempty"`
	// ProvenAt is when the end user proved who they are (nil: not yet).
	ProvenAt *time.Time `json:"proven_at,omitempty"`
	// ProvenBy is the channel of the proof.
	ProvenBy string `json:"proven_by,omitempty"`
	// StartedAt: when the flow started, or its last proof step.
	StartedAt time.Time `json:"started_at"`
	// TaskID is the directory task of a reset or unlock.
	TaskID string `json:"task,omitempty"`
	// Enrolment: the welcome link's token (its hash), and the mobile number
	// proven by an SMS code in this flow.
	TokenHash    string `json:"token,omitempty"`
	MobileProven string `json:"mobile_proven,omitempty"`
}

// Proven reports whether the end user proved who they are in this flow.
func (f *Flow) Proven() bool { return f.ProvenAt != nil && f.EndUserID != "" }

// Expired reports whether the flow is too old to go on at now.
func (f *Flow) Expired(now time.Time) bool {
	if f.ProvenAt != nil {
		life := StepLifetime
		if f.Purpose == PurposeEnrol {
			life = EnrolLifetime
		}
		return now.Sub(*f.ProvenAt) > life
	}
	return now.Sub(f.StartedAt) > StepLifetime
}

// subjectOf is the rate-limit key of a flow: the end user's id when an
// account matched, else a keyed hash of what was typed (so that limits
// behave the same for accounts that do not exist).
func subjectOf(tenantID, endUserID, typed string) string {
	if endUserID != "" {
		return "u:" + endUserID
	}
	m := hmac.New(sha256.New, []byte("latchkey selfserve subject "+tenantID))
	m.Write([]byte(strings.ToLower(strings.TrimSpace(typed))))
	return "h:" + hex.EncodeToString(m.Sum(nil))[:32]
}
