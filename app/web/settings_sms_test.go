package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/config"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/sms/twiliotest"
	"github.com/latchkey/latchkey/db/dbtest"
)

const (
	mspNumber  = "+14155550100"
	danaMobile = "+14155550123"
)

// twilioEnv starts the app with its Twilio API pointed at a fake Twilio.
func twilioEnv(t *testing.T, fn func(t *testing.T, env *apptest.Env, tw *twiliotest.Server)) {
	t.Helper()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			tw := twiliotest.New(t, twiliotest.Options{FromNumbers: []string{mspNumber}})
			env := apptest.New(t, dia, apptest.Options{Configure: func(c *config.Config) { c.TwilioAPIURL = tw.URL }})
			fn(t, env, tw)
		})
	}
}

func smsMessages(t *testing.T, env *apptest.Env, tenantID string) []notify.Message {
	t.Helper()
	var ms []notify.Message
	require.NoError(t, env.App.DB.Bun.NewSelect().Model(&ms).Where("tenant_id = ? AND channel = 'sms'", tenantID).
		Order("created_at").Scan(context.Background()))
	return ms
}

func TestSettingsSMS(t *testing.T) {
	t.Parallel()
	twilioEnv(t, func(t *testing.T, env *apptest.Env, tw *twiliotest.Server) {
		f := env.Setup("Acme IT")
		tech := env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
		tc := env.Client()
		tc.SignIn(tech.Email)
		require.Equal(t, http.StatusForbidden, tc.PostForm("/settings/sms", url.Values{"account_sid": {tw.AccountSID}}).StatusCode)
		require.Equal(t, http.StatusForbidden, tc.PostForm("/settings/sms/test", url.Values{"test_to": {danaMobile}}).StatusCode)

		c := env.Client()
		c.SignIn(f.Primary.Email)
		res := c.Get("/settings")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("sms-section"))
		require.Contains(t, res.Body, `data-testid="sms-status">Not set up<`)

		// Not set up: the test message waits in the outbox, readable there.
		res = c.PostForm("/settings/sms/test", url.Values{"test_to": {"+1 415 555 0123"}}, "HX-Request", "true")
		require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
		require.Contains(t, res.Body, setupTestID("sms-test-result"))
		require.Contains(t, res.Body, "in the Outbox")
		var outboxID string
		apptest.WaitFor(t, 20*time.Second, func() bool {
			ms := smsMessages(t, env, f.Tenant.ID)
			if len(ms) == 1 && ms[0].Status == notify.StatusOutbox {
				outboxID = ms[0].ID
				return true
			}
			return false
		}, "test SMS in the outbox")
		res = c.Get("/settings/outbox")
		require.Contains(t, res.Body, `data-testid="message-channel">SMS<`)
		require.Contains(t, res.Body, "Text messages wait here too")
		res = c.Get("/settings/outbox/" + outboxID)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, "Test message from Latchkey for Acme IT")
		require.Contains(t, res.Body, danaMobile)
		stored := smsMessages(t, env, f.Tenant.ID)[0]
		require.Empty(t, stored.BodyText, "the outbox decrypts the text; it is not kept in clear")
		require.NotContains(t, stored.Data, "Test message")

		// Invalid: 422 with the messages; the typed secret is not echoed.
		const typedSecret = "Zq9typedSecretNeverEchoed7731xyz"
		res = c.PostForm("/settings/sms", url.Values{
			"account_sid": {"AC123"}, "auth_token": {typedSecret}, "from_number": {"415 555 0100"}, "messaging_service_sid": {"MGnope"},
		})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		for _, field := range []string{"account_sid", "auth_token", "messaging_service_sid"} {
			require.Contains(t, res.Body, setupTestID("error-"+field))
		}
		require.Contains(t, res.Body, "AC followed by 32")
		require.NotContains(t, res.Body, typedSecret)
		require.Contains(t, res.Body, `value="AC123"`, "non-secret fields come back as typed")
		require.Empty(t, setupAudit(t, env, f.Tenant.ID, "sms.settings_update"))

		// Saved: the token is never shown back, only that it is saved.
		requireRedirect(t, c.PostForm("/settings/sms", url.Values{
			"account_sid": {tw.AccountSID}, "auth_token": {tw.AuthToken}, "from_number": {mspNumber}, "daily_limit": {"200"},
		}), "/settings")
		res = c.Get("/settings")
		require.Contains(t, res.Body, `data-testid="sms-status">Set up<`)
		require.Contains(t, res.Body, setupTestID("auth_token-saved"))
		require.Contains(t, res.Body, `value="`+tw.AccountSID+`"`)
		require.NotContains(t, res.Body, tw.AuthToken)
		require.Contains(t, res.Body, "http://latchkey.test/webhooks/twilio/"+f.Tenant.ID+"/inbound")
		evs := setupAudit(t, env, f.Tenant.ID, "sms.settings_update")
		require.Len(t, evs, 1)
		require.NotContains(t, evs[0].Detail, tw.AuthToken)
		require.Equal(t, "Pat Primary", evs[0].Actor)

		// htmx: a failed save comes back as the card, without the new
		// secret; the saved token is kept.
		res = c.PostForm("/settings/sms", url.Values{
			"account_sid": {tw.AccountSID}, "auth_token": {typedSecret}, "from_number": {"+1 555"},
		}, "HX-Request", "true")
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.True(t, strings.HasPrefix(res.Body, `<section id="sms-card"`), "%.80s", res.Body)
		require.Contains(t, res.Body, setupTestID("error-auth_token"))
		require.Contains(t, res.Body, setupTestID("error-from_number"))
		require.NotContains(t, res.Body, typedSecret)
		res = c.PostForm("/settings/sms", url.Values{"account_sid": {tw.AccountSID}, "from_number": {mspNumber}, "daily_limit": {"300"}}, "HX-Request", "true")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Header.Get("HX-Trigger"), "SMS settings saved.")
		require.Len(t, setupAudit(t, env, f.Tenant.ID, "sms.settings_update"), 2)

		// Send test SMS: Twilio's answer is shown at once.
		res = c.PostForm("/settings/sms/test", url.Values{"test_to": {danaMobile}}, "HX-Request", "true")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, "Twilio accepted the test message to +14•••••••23.")
		sent := tw.Messages()
		require.Len(t, sent, 1)
		require.Equal(t, danaMobile, sent[0].To)
		require.Equal(t, mspNumber, sent[0].From)
		require.Contains(t, sent[0].Body, "Acme IT")
		tests := setupAudit(t, env, f.Tenant.ID, "sms.test_send")
		require.Len(t, tests, 2)
		require.Equal(t, "+14•••••••23", tests[1].Target)

		// Twilio refuses: its reason is shown, readable.
		tw.FailNext(1, 400, 21608, "The number is unverified. Trial accounts cannot send messages to unverified numbers")
		res = c.PostForm("/settings/sms/test", url.Values{"test_to": {danaMobile}}, "HX-Request", "true")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, "was not sent")
		require.Contains(t, res.Body, "trial account")
		res = c.PostForm("/settings/sms/test", url.Values{"test_to": {"0800 NOPE"}}, "HX-Request", "true")
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("error-test_to"))

		// Remove: back to the outbox.
		requireRedirect(t, c.PostForm("/settings/sms/remove", nil), "/settings")
		require.Contains(t, c.Get("/settings").Body, `data-testid="sms-status">Not set up<`)
		require.Len(t, setupAudit(t, env, f.Tenant.ID, "sms.settings_remove"), 1)
	})
}
