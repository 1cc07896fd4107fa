package sms_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/sms/twiliotest"
	"github.com/latchkey/latchkey/db/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

const (
	dana     = "+14155550123"
	ourPhone = "+14155550100"
)

func tokenClient(srv *twiliotest.Server) *sms.Twilio {
	return &sms.Twilio{BaseURL: srv.URL, AccountSID: srv.AccountSID, Username: srv.AccountSID, Password: srv.AuthToken, From: ourPhone}
}

func sendErr(t *testing.T, c *sms.Twilio, m sms.Message) *sms.Error {
	t.Helper()
	_, err := c.Send(context.Background(), m)
	require.Error(t, err)
	var se *sms.Error
	require.ErrorAs(t, err, &se)
	return se
}

func TestTwilioSendsWithAuthTokenAndAPIKey(t *testing.T) {
	t.Parallel()
	srv := twiliotest.New(t, twiliotest.Options{FromNumbers: []string{ourPhone}})
	ctx := context.Background()
	body := "Your code is 012345 & it's valid 5 min = ok? é 🙂 +"

	sid, err := tokenClient(srv).Send(ctx, sms.Message{To: dana, Body: body, StatusCallbackURL: "https://latchkey.example/webhooks/twilio/t/status/m"})
	require.NoError(t, err)
	require.Regexp(t, `^SM[0-9a-f]{32}$`, sid)

	key := &sms.Twilio{BaseURL: srv.URL, AccountSID: srv.AccountSID, Username: srv.APIKeySID, Password: srv.APIKeySecret,
		MessagingServiceSID: "MG0123456789abcdef0123456789abcdef"}
	sid2, err := key.Send(ctx, sms.Message{To: dana, Body: "second"})
	require.NoError(t, err)

	msgs := srv.Messages()
	require.Len(t, msgs, 2)
	require.Equal(t, sid, msgs[0].SID)
	require.Equal(t, srv.AccountSID, msgs[0].AuthUser)
	require.Equal(t, body, msgs[0].Body, "form encoding keeps every character")
	require.Equal(t, ourPhone, msgs[0].From)
	require.Empty(t, msgs[0].MessagingServiceSID)
	require.Equal(t, "https://latchkey.example/webhooks/twilio/t/status/m", msgs[0].StatusCallback)
	require.Equal(t, sid2, msgs[1].SID)
	require.Equal(t, srv.APIKeySID, msgs[1].AuthUser, "API key auth with the account SID in the path")
	require.Empty(t, msgs[1].From)
	require.Equal(t, "MG0123456789abcdef0123456789abcdef", msgs[1].MessagingServiceSID)
	require.NotContains(t, msgs[1].Form, "StatusCallback")
}

func TestTwilioErrorClasses(t *testing.T) {
	t.Parallel()
	srv := twiliotest.New(t, twiliotest.Options{FromNumbers: []string{ourPhone}})
	c := tokenClient(srv)
	m := sms.Message{To: dana, Body: "hello"}

	// Wrong Auth Token: 401, code 20003, permanent, never echoing the token.
	bad := *c
	bad.Password = "00000000000000000000000000000000"
	e := sendErr(t, &bad, m)
	require.Equal(t, sms.Permanent, e.Class)
	require.Equal(t, 401, e.Status)
	require.Equal(t, 20003, e.Code)
	require.Contains(t, e.Error(), "credentials")
	require.NotContains(t, e.Error(), bad.Password)
	// A good API key used against another account's path is refused too.
	other := &sms.Twilio{BaseURL: srv.URL, AccountSID: "AC" + "11111111111111111111111111111111", Username: srv.APIKeySID, Password: srv.APIKeySecret, From: ourPhone}
	require.Equal(t, 20003, sendErr(t, other, m).Code)

	// Invalid number: 400, 21211, permanent.
	e = sendErr(t, c, sms.Message{To: "+1555", Body: "hello"})
	require.Equal(t, sms.Permanent, e.Class)
	require.Equal(t, 21211, e.Code)
	require.Contains(t, e.Error(), "not a valid phone number")
	require.Equal(t, "https://www.twilio.com/docs/errors/21211", e.MoreInfo)

	// A From number the account does not own: 21606, permanent.
	notOurs := *c
	notOurs.From = "+14155550199"
	e = sendErr(t, &notOurs, m)
	require.Equal(t, sms.Permanent, e.Class)
	require.Equal(t, 21606, e.Code)
	require.Contains(t, e.Error(), "From number")

	// Rate limited (429, 20429) and server errors (5xx): retryable.
	srv.FailNext(1, 429, 20429, "Too Many Requests")
	e = sendErr(t, c, m)
	require.Equal(t, sms.Retryable, e.Class)
	require.Equal(t, 20429, e.Code)
	srv.FailNext(1, 503, 20500, "Service Unavailable")
	require.Equal(t, sms.Retryable, sendErr(t, c, m).Class)
	srv.FailNext(1, 500, 0, "")
	e = sendErr(t, c, m)
	require.Equal(t, sms.Retryable, e.Class)
	require.Equal(t, 500, e.Status)

	// Another 4xx, e.g. trial account to an unverified number: permanent.
	srv.FailNext(1, 400, 21608, "The number is unverified.")
	e = sendErr(t, c, m)
	require.Equal(t, sms.Permanent, e.Class)
	require.Contains(t, e.Error(), "trial")
	require.Empty(t, srv.Messages(), "nothing was accepted")

	// Nothing listening: the request never left, so a retry is safe.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	down := *c
	down.BaseURL = "http://" + addr
	e = sendErr(t, &down, m)
	require.Equal(t, sms.Retryable, e.Class)

	// Accepted but no answer in time: it may have been sent, never retried.
	srv.Delay(2 * time.Second)
	slow := *c
	slow.HTTP = &http.Client{Timeout: 200 * time.Millisecond}
	e = sendErr(t, &slow, m)
	require.Equal(t, sms.Unknown, e.Class)
	require.Len(t, srv.Messages(), 1)
	require.Equal(t, sms.Unknown, sms.ClassOf(errors.New("anything else")))
}

// Twilio's documented example (docs "Webhooks security", api-snippets
// security/signature_validation): token 12345, this URL and these
// parameters give this X-Twilio-Signature.
func TestSignatureDocumentedExample(t *testing.T) {
	t.Parallel()
	const (
		token   = "12345"
		fullURL = "https://mycompany.com/myapp.php?foo=1&bar=2"
	)
	params := url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"},
		"From": {"+14158675309"}, "To": {"+18005551212"},
	}
	require.Equal(t, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", sms.Signature(token, fullURL, params))
	require.True(t, sms.ValidSignature(token, fullURL, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="))
	require.Equal(t, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", twiliotest.Sign(token, fullURL, params), "the test server signs alike")

	// The snippet's other version of the example.
	p2 := url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675310"}, "Digits": {"1234"},
		"From": {"+14158675310"}, "To": {"+18005551212"},
	}
	require.True(t, sms.ValidSignature(token, fullURL, p2, "GvWf1cFY/Q7PnoempGyD5oXAezc="))

	// Tampered: a parameter, an added parameter, the URL, the token, the signature.
	tampered := url.Values{}
	for k, v := range params {
		tampered[k] = v
	}
	tampered.Set("Digits", "1235")
	require.False(t, sms.ValidSignature(token, fullURL, tampered, "RSOYDt4T1cUTdK1PDd93/VVr8B8="))
	tampered.Set("Digits", "1234")
	tampered.Set("Extra", "x")
	require.False(t, sms.ValidSignature(token, fullURL, tampered, "RSOYDt4T1cUTdK1PDd93/VVr8B8="))
	require.False(t, sms.ValidSignature(token, "https://mycompany.com/myapp.php?foo=1&bar=3", params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="))
	require.False(t, sms.ValidSignature(token, "http://mycompany.com/myapp.php?foo=1&bar=2", params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="))
	require.False(t, sms.ValidSignature("12346", fullURL, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="))
	require.False(t, sms.ValidSignature(token, fullURL, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8"))
	require.False(t, sms.ValidSignature(token, fullURL, params, ""))
	require.False(t, sms.ValidSignature("", fullURL, params, sms.Signature("", fullURL, params)))
}

func TestKeywordsAndPhones(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]sms.Keyword{
		"STOP": sms.KeywordOptOut, " stop\n": sms.KeywordOptOut, "StopAll": sms.KeywordOptOut, "unsubscribe": sms.KeywordOptOut,
		"CANCEL": sms.KeywordOptOut, "end": sms.KeywordOptOut, "Quit": sms.KeywordOptOut,
		"START": sms.KeywordOptIn, "yes": sms.KeywordOptIn, " Unstop ": sms.KeywordOptIn,
		"stop it": sms.KeywordNone, "123456": sms.KeywordNone, "": sms.KeywordNone, "HELP": sms.KeywordNone,
	} {
		require.Equal(t, want, sms.KeywordOf(body), "%q", body)
	}
	require.Equal(t, "+14•••••••23", sms.MaskPhone(dana))
	require.True(t, sms.ValidE164(dana))
	require.False(t, sms.ValidE164("4155550123"))
	n, msg := sms.NormalizeE164("+44 (0)20 7946 0000")
	require.Empty(t, msg)
	require.Equal(t, "+442079460000", n)
	_, msg = sms.NormalizeE164("020 7946 0000")
	require.Contains(t, msg, "country code")
}
