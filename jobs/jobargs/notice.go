package jobargs

// NoticeSweep plans the day's password-expiry notices of every customer
// whose local notification hour has come (app/notice; periodic).
type NoticeSweep struct{}

// Kind implements river.JobArgs.
func (NoticeSweep) Kind() string { return "notice_sweep" }

// SendNotice sends one planned notice (expiry or lockout) to its end user by
// email, SMS and push, or cancels it. Unique by notice; the notice row is
// claimed in the same transaction as its messages, so a retry sends nothing
// twice.
type SendNotice struct {
	NoticeID string `json:"notice_id"`
}

// Kind implements river.JobArgs.
func (SendNotice) Kind() string { return "send_notice" }
