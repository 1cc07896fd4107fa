package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/sms/twiliotest"
)

// webhookCall reads the answer to a webhook request.
func webhookCall(t *testing.T, res *http.Response, err error) (int, string) {
	t.Helper()
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

func TestTwilioWebhooks(t *testing.T) {
	t.Parallel()
	twilioEnv(t, func(t *testing.T, env *apptest.Env, tw *twiliotest.Server) {
		ctx := context.Background()
		f := env.Setup("Acme IT")
		other := env.Setup("Other MSP")
		svc := env.App.Web.SMS
		admin := audit.Actor{TenantID: f.Tenant.ID, LoginID: f.Primary.ID, Name: "Pat", Role: "primary"}
		require.NoError(t, svc.SaveSettings(ctx, admin, sms.SettingsInput{AccountSID: tw.AccountSID, AuthToken: tw.AuthToken, FromNumber: mspNumber}))
		c := env.Client()
		c.SignIn(f.Primary.Email)
		call := func(res *http.Response, err error) (int, string) { return webhookCall(t, res, err) }

		res, err := svc.SendTest(ctx, admin, danaMobile)
		require.NoError(t, err)
		require.Equal(t, "sent", res.Status)
		msg := tw.Messages()[0]
		require.Equal(t, "http://latchkey.test/webhooks/twilio/"+f.Tenant.ID+"/status/"+res.MessageID, msg.StatusCallback)

		// A signed status callback, through the listener with the public
		// URL's host (a reverse proxy in front): delivery recorded.
		code, _ := call(tw.SendStatus(ctx, msg, "delivered", "", env.URL))
		require.Equal(t, http.StatusNoContent, code)
		page := c.Get("/settings/outbox/" + res.MessageID)
		require.Contains(t, page.Body, `data-testid="message-delivery">delivered<`)
		require.Contains(t, page.Body, msg.SID)
		require.Contains(t, page.Body, setupTestID("message-not-kept"))

		// Forged or misdirected callbacks: 403, nothing changes.
		p := tw.StatusParams(msg, "failed", "30007")
		code, _ = call(tw.PostSigned(ctx, msg.StatusCallback, p, env.URL, "bm90IGEgc2lnbmF0dXJl"))
		require.Equal(t, http.StatusForbidden, code)
		code, _ = call(tw.PostSigned(ctx, msg.StatusCallback, p, env.URL, ""))
		require.Equal(t, http.StatusForbidden, code)
		otherURL := strings.Replace(msg.StatusCallback, f.Tenant.ID, other.Tenant.ID, 1)
		code, _ = call(tw.Post(ctx, otherURL, p, env.URL))
		require.Equal(t, http.StatusForbidden, code, "a tenant without Twilio settings")
		require.Contains(t, c.Get("/settings/outbox/"+res.MessageID).Body, `data-testid="message-delivery">delivered<`)

		// STOP with a valid signature: the number is opted out and a test
		// message to it is refused with a clear message.
		inbound := "http://latchkey.test/webhooks/twilio/" + f.Tenant.ID + "/inbound"
		code, body := call(tw.PostSigned(ctx, inbound, tw.InboundParams(danaMobile, mspNumber, "STOP"), env.URL, "forged"))
		require.Equal(t, http.StatusForbidden, code)
		out, err := sms.OptedOut(ctx, env.App.DB.Bun, f.Tenant.ID, danaMobile)
		require.NoError(t, err)
		require.False(t, out, "an unsigned STOP changes nothing")
		code, body = call(tw.SendInbound(ctx, inbound, danaMobile, mspNumber, "stop", env.URL))
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "<Response></Response>")
		out, err = sms.OptedOut(ctx, env.App.DB.Bun, f.Tenant.ID, danaMobile)
		require.NoError(t, err)
		require.True(t, out)
		r := c.PostForm("/settings/sms/test", url.Values{"test_to": {danaMobile}}, "HX-Request", "true")
		require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
		require.Contains(t, r.Body, "replied STOP")
		ev := setupAudit(t, env, f.Tenant.ID, "sms.opt_out")
		require.Len(t, ev, 1)
		require.Equal(t, "+14•••••••23", ev[0].Target)

		// START with a bad signature is ignored; with a good one it opts in.
		code, _ = call(tw.PostSigned(ctx, inbound, tw.InboundParams(danaMobile, mspNumber, "START"), env.URL, "forged"))
		require.Equal(t, http.StatusForbidden, code)
		out, _ = sms.OptedOut(ctx, env.App.DB.Bun, f.Tenant.ID, danaMobile)
		require.True(t, out)
		code, _ = call(tw.SendInbound(ctx, inbound, danaMobile, mspNumber, "START", env.URL))
		require.Equal(t, http.StatusOK, code)
		out, _ = sms.OptedOut(ctx, env.App.DB.Bun, f.Tenant.ID, danaMobile)
		require.False(t, out)
		require.Len(t, setupAudit(t, env, f.Tenant.ID, "sms.opt_in"), 1)
		require.NotContains(t, env.Log.String(), danaMobile, "phone numbers are masked in logs")

		// Bodies are capped before they are read.
		code, _ = call(tw.Post(ctx, inbound, url.Values{"Body": {strings.Repeat("x", 70<<10)}}, env.URL))
		require.Equal(t, http.StatusRequestEntityTooLarge, code)
	})
}
