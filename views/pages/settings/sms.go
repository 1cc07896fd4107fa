package settings

// SMSProps is the Settings page's text-message (Twilio) card. Secrets are
// never in it: only whether one is saved.
type SMSProps struct {
	CSRF       string
	Configured bool

	AccountSID          string
	AuthTokenSaved      bool
	APIKeySID           string
	APIKeySecretSaved   bool
	FromNumber          string
	MessagingServiceSID string
	DailyLimit          string

	// Webhooks: the Auth Token is saved, so Twilio's signed status
	// callbacks and STOP/START replies are accepted.
	Webhooks   bool
	InboundURL string // where the Twilio number's incoming messages go

	Errors map[string]string
	Saved  string // after saving (htmx re-render)
	TestTo string
	Test   *SMSTest // the outcome of "Send test SMS"
}

// SMSTest is what became of a test message.
type SMSTest struct {
	Level   string // ok, info, warn, danger
	Message string
}
