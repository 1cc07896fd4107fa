package sms

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Twilio signs webhooks with HMAC-SHA1
	"encoding/base64"
	"net/url"
	"sort"
	"strings"
)

// Signature is Twilio's X-Twilio-Signature of a webhook request: the
// base64 HMAC-SHA1, keyed with the account's Auth Token, of the full URL
// Twilio requested (with its query) followed by each POST parameter's name
// and value, sorted by name (several values of one name sorted too).
func Signature(authToken, fullURL string, params url.Values) string {
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range names {
		vs := append([]string(nil), params[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ValidSignature reports whether signature is Twilio's signature of the
// request (constant-time comparison). An empty token or signature is never
// valid.
func ValidSignature(authToken, fullURL string, params url.Values, signature string) bool {
	if authToken == "" || signature == "" {
		return false
	}
	want := Signature(authToken, fullURL, params)
	return hmac.Equal([]byte(want), []byte(strings.TrimSpace(signature)))
}

// Keyword is what an inbound message asks for.
type Keyword int

// Keywords of inbound messages.
const (
	KeywordNone   Keyword = iota // an ordinary reply
	KeywordOptOut                // STOP and its synonyms
	KeywordOptIn                 // START and its synonyms
)

// KeywordOf classifies an inbound message's body with Twilio's standard
// opt-out keywords (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) and
// opt-in keywords (START, YES, UNSTOP): the whole message, trimmed,
// case-insensitive.
func KeywordOf(body string) Keyword {
	switch strings.ToUpper(strings.TrimSpace(body)) {
	case "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT":
		return KeywordOptOut
	case "START", "YES", "UNSTOP":
		return KeywordOptIn
	}
	return KeywordNone
}
