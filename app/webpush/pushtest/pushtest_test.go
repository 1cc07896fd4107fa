package pushtest_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	webpushgo "github.com/SherClockHolmes/webpush-go"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/webpush/pushtest"
)

// tamper rewrites each request before it leaves.
type tamper func(*http.Request)

func (f tamper) Do(r *http.Request) (*http.Response, error) {
	f(r)
	return http.DefaultClient.Do(r)
}

func TestPushServiceVerifiesAndDecrypts(t *testing.T) {
	t.Parallel()
	srv := pushtest.New(t)
	priv, pub, err := webpushgo.GenerateVAPIDKeys()
	require.NoError(t, err)
	sub := srv.Subscribe(t, pub)
	send := func(client webpushgo.HTTPClient) int {
		res, err := webpushgo.SendNotificationWithContext(context.Background(), []byte(`{"title":"hi"}`),
			&webpushgo.Subscription{Endpoint: sub.Endpoint, Keys: webpushgo.Keys{Auth: sub.Auth, P256dh: sub.P256dh}},
			&webpushgo.Options{HTTPClient: client, Subscriber: "ops@msp.example", TTL: 30, Urgency: webpushgo.UrgencyHigh,
				VAPIDPublicKey: pub, VAPIDPrivateKey: priv})
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	require.Equal(t, http.StatusCreated, send(http.DefaultClient))
	got := srv.Messages()
	require.Len(t, got, 1)
	require.Equal(t, `{"title":"hi"}`, string(got[0].Payload))
	require.Equal(t, "mailto:ops@msp.example", got[0].Subject)
	require.Equal(t, 30, got[0].TTL)

	// A forged JWT signature.
	require.Equal(t, http.StatusForbidden, send(tamper(func(r *http.Request) {
		h := r.Header.Get("Authorization")
		i := strings.Index(h, ", k=")
		r.Header.Set("Authorization", h[:i-4]+"AAAA"+h[i:])
	})))
	// A payload changed on the way.
	require.Equal(t, http.StatusBadRequest, send(tamper(func(r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		b[len(b)-20] ^= 1
		r.Body = io.NopCloser(bytes.NewReader(b))
	})))
	// Another server's VAPID key.
	_, otherPub, err := webpushgo.GenerateVAPIDKeys()
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, send(tamper(func(r *http.Request) {
		h := r.Header.Get("Authorization")
		r.Header.Set("Authorization", h[:strings.Index(h, ", k=")]+", k="+otherPub)
	})))
	rej := srv.Rejected()
	require.Len(t, rej, 3)
	require.Contains(t, rej[0].Reason, "signature")
	require.Contains(t, rej[1].Reason, "decrypt")
	require.Contains(t, rej[2].Reason, "not the key")
	require.Len(t, srv.Messages(), 1)

	srv.Gone(sub.Endpoint, http.StatusGone)
	require.Equal(t, http.StatusGone, send(http.DefaultClient))
}
