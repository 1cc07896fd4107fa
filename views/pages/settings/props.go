// Package settings holds the MSP settings screen and the settings form it
// shares with the setup wizard's second step.
package settings

import "github.com/a-h/templ"

// Option is one choice of a select.
type Option struct {
	Value, Label string
}

// OptGroup is a labelled group of choices (time zones by region).
type OptGroup struct {
	Label   string
	Options []Option
}

// FormProps is the MSP settings form: the values shown, the choices, and the
// messages of a failed save. Setup step 2 and the Settings page both use it.
type FormProps struct {
	Name             string
	Address          string
	PhoneCountry     string // "+44"
	PhoneNumber      string // national part
	TimeZone         string
	NotificationHour int
	SupportEmail     string
	SelfServe        bool
	// ConfirmSelfServeOff asks before a save turns the tenant-wide self-serve
	// switch off (Settings page, while it is on as saved).
	ConfirmSelfServeOff bool
	HasLogo             bool
	LogoURL             string // where the current logo is served
	RemoveLogo          bool
	// StagedLogo is a new logo (the processed PNG, base64) from a save that
	// failed on another field: shown, and posted again as logo_staged, so
	// that fixing the other field does not mean choosing the file again.
	StagedLogo string

	Countries []Option
	Zones     []OptGroup
	Hours     []Option

	Errors map[string]string
}

// PageProps is the Settings page.
type PageProps struct {
	CSRF       string
	Form       FormProps
	EnforceMFA bool
	Saved      string // a message after saving (htmx re-render)
	SMS        SMSProps
	// Verification is the identity verification section (views/pages/verify),
	// filled by the verification handlers; nil shows nothing.
	Verification templ.Component
	// Notices is the password-expiry notifications card (views/pages/notices),
	// filled by app/web/notices.go; nil shows nothing.
	Notices templ.Component
}
