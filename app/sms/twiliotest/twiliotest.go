// Package twiliotest is a local HTTP server that follows Twilio's
// Programmable Messaging API for what Latchkey uses: creating a message
// (POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded, HTTP
// Basic authentication with the account SID and Auth Token or an API key
// SID and secret), Twilio-shaped success and error bodies, and, like
// Twilio, signed status callbacks and inbound messages posted to a URL.
//
// It is independent of the client under test: it decodes, checks and signs
// on its own.
package twiliotest

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // Twilio signs with HMAC-SHA1
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Options configure the fake account. Empty credentials are generated.
type Options struct {
	AccountSID   string // AC + 32 hex
	AuthToken    string // 32 hex
	APIKeySID    string // SK + 32 hex
	APIKeySecret string // 32 letters and digits
	// FromNumbers are the account's numbers: another From is refused with
	// error 21606. Nil accepts any E.164 From.
	FromNumbers []string
	// MessagingServiceSIDs are the account's services: another is refused
	// with error 21705. Nil accepts any MG SID.
	MessagingServiceSIDs []string
}

// Message is one message the server accepted.
type Message struct {
	SID                 string
	AccountSID          string
	To                  string
	From                string
	MessagingServiceSID string
	Body                string
	StatusCallback      string
	AuthUser            string // the Basic auth user: the account SID or the API key SID
	Form                url.Values
	At                  time.Time
}

// Request is one request the server received (accepted or not).
type Request struct {
	Path     string
	AuthUser string
	Form     url.Values
	Status   int
}

type failure struct {
	status, code int
	message      string
}

// Server is a running fake Twilio API.
type Server struct {
	URL                                            string
	AccountSID, AuthToken, APIKeySID, APIKeySecret string

	opts Options
	srv  *httptest.Server

	mu       sync.Mutex
	messages []Message
	requests []Request
	fails    []failure
	delay    time.Duration
}

// New starts a server, closed when tb ends.
func New(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{opts: opts}
	s.AccountSID = or(opts.AccountSID, "AC"+randHex(16))
	s.AuthToken = or(opts.AuthToken, randHex(16))
	s.APIKeySID = or(opts.APIKeySID, "SK"+randHex(16))
	s.APIKeySecret = or(opts.APIKeySecret, randAlnum(32))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{account}/Messages.json", s.createMessage)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
	})
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	tb.Cleanup(s.srv.Close)
	return s
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randAlnum(n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

// Messages returns the accepted messages, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// Requests returns every create request received, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// FailNext makes the next n create requests (after authentication) fail
// with the HTTP status and Twilio error code and message.
func (s *Server) FailNext(n, status, code int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fails = append(s.fails, failure{status, code, message})
	}
}

// Delay makes the server wait d before answering each create request,
// after recording the message: a client that gives up sooner cannot know
// the message was accepted.
func (s *Server) Delay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// writeError answers with Twilio's error body.
func writeError(w http.ResponseWriter, status, code int, message string) {
	body := map[string]any{"code": code, "message": message, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status}
	if code == 0 {
		body["code"], body["more_info"] = nil, nil
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

var (
	e164Re    = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	nanpRe    = regexp.MustCompile(`^\+1[2-9][0-9]{2}[2-9][0-9]{6}$`)
	serviceRe = regexp.MustCompile(`^MG[0-9a-f]{32}$`)
)

func eq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	account := r.PathValue("account")
	user, pass, ok := r.BasicAuth()
	req := Request{Path: r.URL.Path, AuthUser: user}
	record := func(status int) {
		req.Status = status
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
	}
	authed := ok && account == s.AccountSID &&
		((user == s.AccountSID && eq(pass, s.AuthToken)) || (user == s.APIKeySID && eq(pass, s.APIKeySecret)))
	if !authed {
		record(http.StatusUnauthorized)
		writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil || ct != "application/x-www-form-urlencoded" {
		record(http.StatusBadRequest)
		writeError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	}
	form := r.PostForm
	req.Form = form
	s.mu.Lock()
	var fail *failure
	if len(s.fails) > 0 {
		f := s.fails[0]
		s.fails = s.fails[1:]
		fail = &f
	}
	delay := s.delay
	s.mu.Unlock()
	if fail != nil {
		record(fail.status)
		writeError(w, fail.status, fail.code, fail.message)
		return
	}

	to, from, service, body := form.Get("To"), form.Get("From"), form.Get("MessagingServiceSid"), form.Get("Body")
	status, code, msg := 0, 0, ""
	switch {
	case to == "":
		status, code, msg = 400, 21604, "A 'To' phone number is required."
	case !e164Re.MatchString(to) || (strings.HasPrefix(to, "+1") && !nanpRe.MatchString(to)):
		status, code, msg = 400, 21211, fmt.Sprintf("Invalid 'To' Phone Number: %s", to)
	case from == "" && service == "":
		status, code, msg = 400, 21603, "A 'From' phone number is required."
	case from != "" && service != "":
		status, code, msg = 400, 21603, "twiliotest: send exactly one of From and MessagingServiceSid."
	case from != "" && !e164Re.MatchString(from):
		status, code, msg = 400, 21212, fmt.Sprintf("The 'From' number %s is not a valid phone number, shortcode, or alphanumeric sender ID.", from)
	case from != "" && s.opts.FromNumbers != nil && !slices.Contains(s.opts.FromNumbers, from):
		status, code, msg = 400, 21606, fmt.Sprintf("The From phone number %s is not a valid, SMS-capable inbound phone number or short code for your account.", from)
	case service != "" && (!serviceRe.MatchString(service) || (s.opts.MessagingServiceSIDs != nil && !slices.Contains(s.opts.MessagingServiceSIDs, service))):
		status, code, msg = 400, 21705, "The Messaging Service Sid "+service+" is invalid."
	case strings.TrimSpace(body) == "":
		status, code, msg = 400, 21602, "Message body is required."
	case utf8.RuneCountInString(body) > 1600:
		status, code, msg = 400, 21617, "The concatenated message body exceeds the 1600 character limit."
	case form.Get("StatusCallback") != "" && !validURL(form.Get("StatusCallback")):
		status, code, msg = 400, 21609, "The StatusCallback URL "+form.Get("StatusCallback")+" is not a valid URL."
	}
	if status != 0 {
		record(status)
		writeError(w, status, code, msg)
		return
	}

	now := time.Now().UTC()
	m := Message{
		SID: "SM" + randHex(16), AccountSID: account, To: to, From: from, MessagingServiceSID: service,
		Body: body, StatusCallback: form.Get("StatusCallback"), AuthUser: user, Form: form, At: now,
	}
	s.mu.Lock()
	s.messages = append(s.messages, m)
	s.mu.Unlock()
	record(http.StatusCreated)
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	st := "queued"
	var fromJSON, serviceJSON any = from, nil
	if service != "" {
		st, fromJSON, serviceJSON = "accepted", nil, service
	}
	date := now.Format("Mon, 02 Jan 2006 15:04:05 +0000")
	uri := "/2010-04-01/Accounts/" + account + "/Messages/" + m.SID + ".json"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"account_sid": account, "api_version": "2010-04-01", "body": body, "date_created": date,
		"date_sent": nil, "date_updated": date, "direction": "outbound-api", "error_code": nil,
		"error_message": nil, "from": fromJSON, "messaging_service_sid": serviceJSON, "num_media": "0",
		"num_segments": "1", "price": nil, "price_unit": "USD", "sid": m.SID, "status": st,
		"subresource_uris": map[string]string{"media": strings.TrimSuffix(uri, ".json") + "/Media.json"},
		"to":               to, "uri": uri,
	})
}

func validURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Sign is Twilio's X-Twilio-Signature of a POST to fullURL with params.
func Sign(authToken, fullURL string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	data := fullURL
	for _, k := range keys {
		vs := slices.Clone(params[k])
		sort.Strings(vs)
		for _, v := range vs {
			data += k + v
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(data))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Post sends a webhook request like Twilio: a form POST to publicURL,
// signed with the account's Auth Token. When via is not empty (for
// example http://127.0.0.1:PORT) the request goes there instead, with the
// public URL's host in the Host header, as through a reverse proxy; the
// signature still covers publicURL.
func (s *Server) Post(ctx context.Context, publicURL string, params url.Values, via string) (*http.Response, error) {
	return s.PostSigned(ctx, publicURL, params, via, Sign(s.AuthToken, publicURL, params))
}

// PostSigned is Post with a given signature ("" for none).
func (s *Server) PostSigned(ctx context.Context, publicURL string, params url.Values, via, signature string) (*http.Response, error) {
	pu, err := url.Parse(publicURL)
	if err != nil {
		return nil, err
	}
	target := publicURL
	if via != "" {
		target = strings.TrimRight(via, "/") + pu.RequestURI()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(params.Encode()))
	if err != nil {
		return nil, err
	}
	req.Host = pu.Host
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set("I-Twilio-Idempotency-Token", randHex(16))
	if signature != "" {
		req.Header.Set("X-Twilio-Signature", signature)
	}
	return http.DefaultClient.Do(req)
}

// StatusParams are the parameters of a status callback for m.
func (s *Server) StatusParams(m Message, status, errorCode string) url.Values {
	v := url.Values{
		"AccountSid": {s.AccountSID}, "ApiVersion": {"2010-04-01"}, "MessageSid": {m.SID}, "SmsSid": {m.SID},
		"MessageStatus": {status}, "SmsStatus": {status}, "To": {m.To},
	}
	if m.From != "" {
		v.Set("From", m.From)
	}
	if m.MessagingServiceSID != "" {
		v.Set("MessagingServiceSid", m.MessagingServiceSID)
	}
	if errorCode != "" {
		v.Set("ErrorCode", errorCode)
	}
	return v
}

// SendStatus posts a signed status callback for m to its StatusCallback.
func (s *Server) SendStatus(ctx context.Context, m Message, status, errorCode, via string) (*http.Response, error) {
	if m.StatusCallback == "" {
		return nil, fmt.Errorf("twiliotest: message %s has no StatusCallback", m.SID)
	}
	return s.Post(ctx, m.StatusCallback, s.StatusParams(m, status, errorCode), via)
}

// InboundParams are the parameters of an incoming message.
func (s *Server) InboundParams(from, to, body string) url.Values {
	sid := "SM" + randHex(16)
	return url.Values{
		"AccountSid": {s.AccountSID}, "ApiVersion": {"2010-04-01"}, "MessageSid": {sid}, "SmsSid": {sid},
		"SmsMessageSid": {sid}, "SmsStatus": {"received"}, "From": {from}, "To": {to}, "Body": {body},
		"NumMedia": {"0"}, "NumSegments": {"1"}, "FromCountry": {"US"}, "ToCountry": {"US"},
	}
}

// SendInbound posts a signed incoming message to inboundURL.
func (s *Server) SendInbound(ctx context.Context, inboundURL, from, to, body, via string) (*http.Response, error) {
	return s.Post(ctx, inboundURL, s.InboundParams(from, to, body), via)
}
