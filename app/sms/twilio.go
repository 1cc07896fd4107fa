// Package sms delivers text messages: a Provider interface with a Twilio
// implementation (the Programmable Messaging REST API), the tenant's Twilio
// settings (secrets encrypted at rest), the send_sms queue with at-most-once
// delivery, Twilio's webhooks (status callbacks and inbound STOP/START,
// verified by signature) and the opt-out list.
package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"time"
)

// Message is one text message to send.
type Message struct {
	To                string // E.164
	Body              string
	StatusCallbackURL string // "" for none
}

// Provider sends text messages. Send returns the provider's id of the
// accepted message, or an *Error (see Class) or another error.
type Provider interface {
	Send(ctx context.Context, m Message) (providerID string, err error)
}

// Class says what a failed send means for a retry.
type Class int

const (
	// Permanent: the provider refused the message (bad number, bad
	// credentials, …); the same request would fail again.
	Permanent Class = iota + 1
	// Retryable: the message was certainly not accepted (rate limited, the
	// provider's server failed, the connection failed before the request
	// was written); another attempt may succeed.
	Retryable
	// Unknown: the request was written but no answer came (timeout, reset):
	// the provider may have accepted it. Retrying could send it twice.
	Unknown
)

// Error is a failed send. Message is readable and never holds a secret.
type Error struct {
	Class    Class
	Status   int    // HTTP status; 0 when no answer came
	Code     int    // the provider's error code (Twilio: 21211, 20003, …); 0 when none
	Message  string // readable explanation
	MoreInfo string // the provider's documentation link, if any
	Err      error  // the transport error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	if e.Code != 0 {
		fmt.Fprintf(&b, " (Twilio error %d)", e.Code)
	} else if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns the class of a send error: the *Error's own, and Unknown
// for any other error (it cannot be known whether the message went out).
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return Unknown
}

// TwilioAPIURL is Twilio's REST API.
const TwilioAPIURL = "https://api.twilio.com"

// TwilioTimeout bounds one request to Twilio (the send_sms job has 10 s).
const TwilioTimeout = 8 * time.Second

// Twilio sends through Twilio's Programmable Messaging API: POST
// {BaseURL}/2010-04-01/Accounts/{AccountSID}/Messages.json, form-encoded,
// with HTTP Basic authentication.
type Twilio struct {
	BaseURL    string // TwilioAPIURL, or a regional edge or a test server
	AccountSID string // AC…, in the path
	// Username and Password authenticate: the account SID and its Auth
	// Token, or an API key SID (SK…) and its secret.
	Username, Password string
	// Exactly one of From (E.164) and MessagingServiceSID (MG…).
	From, MessagingServiceSID string
	// HTTP is the client (a client with TwilioTimeout when nil).
	HTTP *http.Client
}

// twilioMessage is the part of Twilio's Message resource we read.
type twilioMessage struct {
	SID string `json:"sid"`
}

// twilioError is Twilio's error body.
type twilioError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

// Send implements Provider: it returns Twilio's message SID (SM…).
func (t *Twilio) Send(ctx context.Context, m Message) (string, error) {
	form := url.Values{}
	form.Set("To", m.To)
	form.Set("Body", m.Body)
	if t.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", t.MessagingServiceSID)
	} else {
		form.Set("From", t.From)
	}
	if m.StatusCallbackURL != "" {
		form.Set("StatusCallback", m.StatusCallbackURL)
	}
	base := strings.TrimRight(t.BaseURL, "/")
	if base == "" {
		base = TwilioAPIURL
	}
	endpoint := base + "/2010-04-01/Accounts/" + url.PathEscape(t.AccountSID) + "/Messages.json"

	client := t.HTTP
	if client == nil {
		client = &http.Client{Timeout: TwilioTimeout}
	}
	// Whether the request reached the wire decides between Retryable (it
	// did not) and Unknown (it did, and no answer came).
	var wrote bool
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote = true }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", &Error{Class: Permanent, Message: "The Twilio API address is not usable.", Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Latchkey")
	req.SetBasicAuth(t.Username, t.Password)
	res, err := client.Do(req)
	if err != nil {
		if !wrote {
			return "", &Error{Class: Retryable, Message: "Twilio could not be reached.", Err: redactURL(err)}
		}
		return "", &Error{Class: Unknown, Message: "Twilio did not answer in time; the message may have been sent.", Err: redactURL(err)}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		var msg twilioMessage
		if err != nil || json.Unmarshal(body, &msg) != nil || msg.SID == "" {
			// Accepted (2xx) but unreadable: it was sent; we lack its id.
			return "", &Error{Class: Unknown, Status: res.StatusCode, Message: "Twilio accepted the message but its answer could not be read."}
		}
		return msg.SID, nil
	}
	return "", twilioFailure(res.StatusCode, body)
}

// twilioFailure classifies a non-2xx answer and explains it.
func twilioFailure(status int, body []byte) *Error {
	var te twilioError
	_ = json.Unmarshal(body, &te)
	e := &Error{Status: status, Code: te.Code, MoreInfo: te.MoreInfo}
	switch {
	case status == http.StatusTooManyRequests || te.Code == 20429:
		e.Class = Retryable
	case status >= 500:
		e.Class = Retryable
	default:
		e.Class = Permanent
	}
	e.Message = explain(status, te)
	return e
}

// explain turns a Twilio error into a sentence an MSP admin can act on.
func explain(status int, te twilioError) string {
	switch te.Code {
	case 20003, 20005:
		return "Twilio refused the credentials: check the Account SID and the Auth Token or API key."
	case 20404:
		return "Twilio does not know this account or resource: check the Account SID."
	case 20429:
		return "Twilio is rate limiting requests; the message will be retried."
	case 21211:
		return "The recipient's number is not a valid phone number."
	case 21212, 21606, 21659, 21660:
		return "The From number cannot send messages for this account: use an SMS-capable number of the account, or a Messaging Service."
	case 21408:
		return "The Twilio account may not send messages to this country (Geo Permissions)."
	case 21608:
		return "A Twilio trial account can send only to verified numbers: verify the recipient in Twilio, or upgrade the account."
	case 21610:
		return "The recipient has opted out of messages from this sender (replied STOP)."
	case 21612, 21614:
		return "The recipient's number cannot receive text messages."
	case 21617:
		return "The message is too long."
	case 21701, 21703, 21704, 21705:
		return "The Messaging Service cannot be used: check the Messaging Service SID."
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "Twilio refused the credentials: check the Account SID and the Auth Token or API key."
	case status == http.StatusTooManyRequests:
		return "Twilio is rate limiting requests; the message will be retried."
	case status >= 500:
		return "Twilio had a server error; the message will be retried."
	}
	if m := strings.Join(strings.Fields(te.Message), " "); m != "" {
		if len(m) > 300 {
			m = m[:300] + "…"
		}
		return "Twilio refused the message: " + m
	}
	return fmt.Sprintf("Twilio refused the message (HTTP %d).", status)
}

// redactURL keeps a transport error without the request URL's userinfo (none
// is used, but a base URL could carry one).
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.User != nil {
			u.User = nil
			return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
		}
	}
	return err
}
