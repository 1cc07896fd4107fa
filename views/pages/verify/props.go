// Package verify holds the identity verification screens: the technician's
// panel (a reusable component: the end user's page embeds it, and so can a
// PSA pod, because every URL comes from its Base and it swaps only its own
// element), the verification history, the settings section, and the end
// user's phone-first approval page.
package verify

import (
	"strconv"
)

// Panel stages.
const (
	StageChoose  = "choose"  // pick a method, send
	StageCode    = "code"    // SMS or email code sent: read back, Approve or Deny
	StagePush    = "push"    // push sent: waiting for the phone, countdown
	StageCompare = "compare" // push + code approved on the phone: compare the code
	StageOutcome = "outcome" // verified, not verified, timed out, locked…
)

// Method is one method of the choice.
type Method struct {
	Value, Label string
	Available    bool
	Reason       string // why not
	Destination  string // where it goes (masked)
	Note         string
}

// PanelProps is the verification panel. Base is where its endpoints live
// (Base: choose/start, Base+"/"+ID: state, …/events, …/decide, …/check,
// …/cancel); Target is the id of its element, swapped in place.
type PanelProps struct {
	Base, Target, CSRF string
	EndUserName        string
	Stage              string
	Message, Level     string // an alert on top (after a refusal)

	// StageChoose
	Methods        []Method
	Default        string
	Blocked        string
	CanUnblock     bool
	NumberMatching bool
	Other          *OtherOpen // an open verification another login started

	// A verification in progress or finished.
	ID, Receipt        string
	Method             string // sms, email, push, push_code
	MethodLabel        string
	Destination        string
	Fallback           string // why push became an SMS code
	Code               string
	MatchNumber        int
	DeadlineMS, NowMS  int64 // countdown: the server's deadline and now (Unix ms)
	Seconds            int   // what is left of the countdown
	TotalSeconds       int   // the verification's whole lifetime (the bar's length)
	Version            int64
	CodeError          string
	TriesLeft          int
	Outcome            string // a verify.State value
	OutcomeText        string
	Started, Decided   string
	RequestedBy        string
	EndUserRespondedAt string
}

// OtherOpen is an open verification of the end user that another login
// (or the end user on the self-serve pages) started.
type OtherOpen struct {
	ID   string
	Text string
}

// Announcement is what screen readers are told when the panel changes to
// this stage (verify.js puts it in a live region of its own: the panel is
// not one, so its countdown is never read out every second).
func (p PanelProps) Announcement() string {
	switch p.Stage {
	case StageCode:
		return p.MethodLabel + " sent to " + p.Destination + ". Ask " + p.EndUserName + " to read the code back."
	case StagePush:
		if p.MatchNumber != 0 {
			return "Push sent. Ask " + p.EndUserName + " to tap " + strconv.Itoa(p.MatchNumber) + " on their phone."
		}
		return "Push sent. Waiting for " + p.EndUserName + " to approve on their phone."
	case StageCompare:
		return "Approved on the phone. Compare the validation code."
	case StageOutcome:
		switch p.Outcome {
		case "verified":
			return "User Identity Successfully Verified."
		case "expired":
			return "Timed out. " + p.OutcomeText
		case "cancelled":
			return "Cancelled."
		}
		return "Unable to Verify Identity. " + p.OutcomeText
	}
	return ""
}

// URL is Base + path.
func (p PanelProps) URL(path string) string { return p.Base + path }

// StateURL is the state of the panel's verification.
func (p PanelProps) StateURL() string { return p.Base + "/" + p.ID }

// EventsURL is the live stream of the panel's verification.
func (p PanelProps) EventsURL() string {
	return p.Base + "/" + p.ID + "/events?v=" + strconv.FormatInt(p.Version, 10)
}

func (p PanelProps) sel() string { return "#" + p.Target }

// HistoryRow is one past verification.
type HistoryRow struct {
	ID, When, Technician, Method, Destination, Outcome, OutcomeKey, Decided, Receipt, Note string
	URL                                                                                    string // its panel
}

// HistoryProps is an end user's verification history.
type HistoryProps struct {
	URL    string // where it reloads from
	Target string // the id of the panel a row opens in
	Rows   []HistoryRow
}

// SlotProps is the verification card of the end user's page.
type SlotProps struct {
	Panel   PanelProps
	History HistoryProps
}

// PageProps is the panel on a page of its own (no JavaScript, or a link).
type PageProps struct {
	EndUserID, EndUserName, CustomerName string
	Slot                                 SlotProps
}

// SettingsProps is the verification section of the Settings page.
type SettingsProps struct {
	CSRF           string
	CodeMinutes    string
	NumberMatching bool
	Error          string
	Saved          string
}

// ApproveProps is the end user's approval page of a push verification.
type ApproveProps struct {
	CSRF, Action   string
	MSP            string
	Technician     string
	SelfServe      bool // the end user started it on the self-serve pages
	Customer       string
	EndUserName    string
	State          string // a verify.State value
	Reason         string
	PushCode       bool // push + code
	Code           string
	Choices        []string // number matching
	DeadlineMS     int64
	NowMS          int64
	Message, Level string
}

// NoDeviceProps is the page for a browser without the device credential.
type NoDeviceProps struct {
	Retry string // the same page again (a same-site navigation sends the cookie)
}

func itoa(n int) string { return strconv.Itoa(n) }

func i64(n int64) string { return strconv.FormatInt(n, 10) }
