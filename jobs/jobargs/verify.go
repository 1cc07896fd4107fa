package jobargs

// VerifyPushCheck looks at the push notifications of one push verification
// and falls back to an SMS code when none reached a device. Unique by
// verification.
type VerifyPushCheck struct {
	VerificationID string `json:"verification_id"`
}

// Kind implements river.JobArgs.
func (VerifyPushCheck) Kind() string { return "verify_push_check" }

// ExpireVerifications records the timeout of open verifications past their
// expiry (the audit trail says when each timed out).
type ExpireVerifications struct{}

// Kind implements river.JobArgs.
func (ExpireVerifications) Kind() string { return "expire_verifications" }
