package sms

// WithBeforeTestAttemptForTest has SendTest run fn between queuing the test
// message and its own first attempt (see withBeforeTestAttempt).
var WithBeforeTestAttemptForTest = withBeforeTestAttempt
