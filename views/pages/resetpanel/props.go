// Package resetpanel is the technician's password reset panel: type a
// password (eye to reveal, live warnings against the end user's directory
// policy) or generate one (a passphrase of EFF words, or a complex
// password), choose Temporary (on by default), reset through the directory
// agent, and unlock a locked account. It is one component with its own
// routes under /end-users/:id, so that the end user's page shows it and a
// PSA pod can embed it later. Behaviour beyond htmx is in
// static/js/resetpanel.js (CSP: no inline script).
package resetpanel

import "strconv"

// Props is the panel.
type Props struct {
	CSRF        string
	EndUserID   string
	EndUserName string // named in the confirmation
	// Base is where the panel's routes are: "/end-users/<id>" on the end
	// user's page (a PSA pod may mount the same handlers elsewhere).
	Base string
	// Ready: a directory account with a working connection; else NotReady
	// says why nothing can be done here.
	Ready    bool
	NotReady string
	Locked   bool
	// Policy describes the directory's rules ("Domain policy: at least 7
	// characters, …"); PolicyKnown: read from the directory (else Active
	// Directory's defaults until the next import).
	Policy      string
	PolicyKnown bool
	// MinLength is the complex password slider's minimum (8, or the
	// directory's minimum when higher); Length its starting value.
	MinLength, Length int
	MaxLength         int
	// Complexity: the directory's complexity rule is on, so a complex
	// password without numbers and symbols gets digits anyway (letters are
	// only two of the three kinds it needs).
	Complexity bool
	Separators []Separator
	Field      FieldProps
}

// Separator is an option of the passphrase separator select.
type Separator struct {
	Value, Label string
}

// FieldProps is the password field with its live check.
type FieldProps struct {
	EndUserID string
	Base      string // as Props.Base
	// Value is a generated password, shown in clear; "" for a typed one.
	Value string
	// Generated describes a generated password ("passphrase, 4 words, about
	// 52 bits").
	Generated string
	Check     CheckProps
	Error     string
}

// CheckProps is the live check under the field.
type CheckProps struct {
	Empty bool
	// Violations break the directory's policy: the reset would be refused.
	Violations []string
	// Warnings do not stop the reset (a common password).
	Warnings []string
	// Hint is what only the directory knows (history).
	Hint string
}

func itoa(n int) string { return strconv.Itoa(n) }
