// Package selfserve holds the end users' self-serve pages: phone first,
// installable (web app manifest), branded with the MSP's name and logo, and
// light (their own small stylesheet and script; first load well under
// 100 KB with htmx). Page is the layout; the pages reset a password or
// unlock an account after an identity proof. The enrolment pages of the
// welcome link (views/pages/welcome) use the same layout.
package selfserve

import "strconv"

// Page is what the layout needs.
type Page struct {
	Title string
	CSRF  string
	// MSP is the tenant's name; HasLogo shows /self-serve/logo instead.
	MSP     string
	HasLogo bool
	// Support is how to reach the MSP ("help@msp.example or +64 9 555 0100").
	Support string
	// NoHistory keeps the page out of htmx's history (codes, passwords).
	NoHistory bool
	// Push loads static/js/push.js (the device step of the enrolment).
	Push bool
}

// HxHeaders sends the CSRF token with every htmx request.
func (p Page) HxHeaders() string { return `{"X-CSRF-Token":"` + p.CSRF + `"}` }

// StartProps is the landing page.
type StartProps struct {
	MSP     string
	Support string
	// Off: self-serve is off for the whole MSP.
	Off bool
}

// IdentifyProps is the "who are you" form.
type IdentifyProps struct {
	CSRF    string
	Purpose string // reset, unlock
	Typed   string
	Error   string
}

// Method is one way to prove who one is.
type Method struct {
	Channel     string // push, totp, sms, email
	Destination string // enrolment: masked; else ""
}

// MethodsProps is the "prove it is you" page.
type MethodsProps struct {
	CSRF    string
	Action  string // POST target
	Purpose string
	Methods []Method
	Message string // a warning to show (e.g. a refused channel)
	Support string
	MSP     string
}

// CodeProps is the "enter the code" page.
type CodeProps struct {
	CSRF        string
	Action      string // POST target
	Channel     string // sms, email, totp
	Destination string // enrolment: masked
	Purpose     string
	Error       string
	Locked      bool   // too many wrong codes: only "send a new code"
	Again       string // where "another way" goes
	Support     string
	MSP         string
	Minutes     int // code lifetime
}

// PushProps is the "approve on your phone" page.
type PushProps struct {
	State       string // waiting, approved, denied, expired
	MatchNumber string // "" without number matching
	Next        string // where to go once approved
	Again       string
	DeadlineMS  int64
}

// PasswordProps is the "choose a new password" page.
type PasswordProps struct {
	CSRF       string
	Name       string
	Hints      []string
	Error      string
	Violations []string // the live check's findings
	Message    string   // a directory refusal to show above the form
	MinLength  int
	Remaining  int // seconds left to choose
}

// CheckProps is the live check under the password field.
type CheckProps struct {
	Empty      bool
	Violations []string
	Hint       string // history: the directory alone knows
}

// UnlockProps is the "unlock my account" page after the proof.
type UnlockProps struct {
	CSRF   string
	Name   string
	Locked bool // Latchkey's last knowledge
}

// ResultProps is the outcome of a reset or unlock (or the wait for it).
type ResultProps struct {
	Waiting bool
	OK      bool
	Policy  bool // the directory refused the password: try another
	Title   string
	Message string
	Support string
	MSP     string
	Purpose string
}

// MessageProps is a friendly stop: self-serve unavailable, blocked, expired.
type MessageProps struct {
	Title   string
	Message string
	Support string
	MSP     string
	TestID  string
	Restart bool // offer "start again"
	// RestartURL and RestartLabel: where "start again" goes and what it
	// says (default: the self-serve start, "Start again").
	RestartURL   string
	RestartLabel string
}

func itoa(n int) string { return strconv.Itoa(n) }

func channelName(c string) string {
	switch c {
	case "push":
		return "Approve on your phone"
	case "totp":
		return "Code from your authenticator app"
	case "sms":
		return "Code by text message"
	case "email":
		return "Code by email"
	}
	return c
}

func channelHint(c, dest string) string {
	switch c {
	case "push":
		return "If you allowed notifications on your phone when you set up self-serve."
	case "totp":
		return "If you added an authenticator app when you set up self-serve."
	case "sms":
		if dest != "" {
			return "To " + dest
		}
		return "To the mobile number your IT provider has for you."
	case "email":
		if dest != "" {
			return "To " + dest
		}
		return "To your work email address."
	}
	return ""
}

func purposeTitle(p string) string {
	if p == "unlock" {
		return "Unlock your account"
	}
	return "Reset your password"
}

func int64s(n int64) string { return strconv.FormatInt(n, 10) }

// busyText is what a method's button says while its request is on the way.
func busyText(c string) string {
	switch c {
	case "sms", "email":
		return "Sending the code…"
	case "push":
		return "Sending the request…"
	}
	return "One moment…"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
