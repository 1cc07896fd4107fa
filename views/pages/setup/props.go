// Package setup holds the first-run setup wizard: the Primary login, the
// MSP's settings, two-step sign-in, inviting technicians, and the finish.
package setup

import (
	"github.com/latchkey/latchkey/views/pages/auth"
	"github.com/latchkey/latchkey/views/pages/settings"
)

// Step is one entry of the step indicator.
type Step struct {
	Key, Label, Href string
	Done, Current    bool
	Reachable        bool // the wizard has been there: the entry links back to it
}

// Props is the wizard: the indicator and the current step's content.
type Props struct {
	CSRF  string
	Step  string // primary, settings, mfa, technicians, done
	Steps []Step

	Primary     *PrimaryProps
	Settings    *settings.FormProps
	MFA         *MFAProps
	Technicians *TechniciansProps
	Done        *DoneProps
}

// PrimaryProps is step 1, the Primary login.
type PrimaryProps struct {
	FirstName, LastName, Email string
	Errors                     map[string]string
	// Created is set when the Primary exists and is signed in (the visitor
	// came back to step 1): the step shows who it is instead of the form.
	Created *Created
	// Taken is set when Latchkey is already set up and the visitor is not
	// signed in: the step says so and links to sign-in.
	Taken bool
}

// Created is the Primary as step 1 shows it afterwards.
type Created struct{ Name, Email string }

// MFAProps is step 3, two-step sign-in for the Primary.
type MFAProps struct {
	Enabled    bool // the Primary already has an authenticator
	Enrol      auth.EnrolProps
	EnforceMFA bool // the tenant requires two-step sign-in (no skipping)
}

// TechRow is one technician to invite.
type TechRow struct {
	Key                              string // unique in the page, for element ids
	FirstName, LastName, Email, Role string
	Errors                           map[string]string
}

// TechniciansProps is step 4, inviting technicians.
type TechniciansProps struct {
	Rows    []TechRow
	Roles   []settings.Option
	Message string // about the whole batch
	Invited int    // logins invited so far (besides the Primary)
}

// DoneProps is step 5, the summary before the dashboard.
type DoneProps struct {
	MSPName    string
	MFA        bool
	EnforceMFA bool
	SelfServe  bool
	Invited    int
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
