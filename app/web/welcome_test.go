package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/selfserve"
	"github.com/latchkey/latchkey/db"
)

// welEndUser stores an end user of a customer directly.
func welEndUser(t *testing.T, env *apptest.Env, tenantID, customerID, username, email, mobile string) *enduser.EndUser {
	t.Helper()
	now := time.Now().UTC()
	u := &enduser.EndUser{ID: db.NewID(), TenantID: tenantID, CustomerID: customerID, Username: username, FirstName: strings.ToUpper(username[:1]) + username[1:],
		Email: email, Mobile: mobile, Source: enduser.SourceCSV, CreatedAt: now, UpdatedAt: now}
	if email != "" {
		u.EmailSource = enduser.ValueImport
	}
	if mobile != "" {
		u.MobileSource = enduser.ValueImport
	}
	_, err := env.App.DB.Bun.NewInsert().Model(u).Exec(context.Background())
	require.NoError(t, err)
	return u
}

// welLink delivers the welcome of u now (as the send_welcome job does) and
// returns the link's path from the message.
func welLink(t *testing.T, env *apptest.Env, u *enduser.EndUser) string {
	t.Helper()
	require.NoError(t, env.App.Web.Onboarding.DeliverWelcome(context.Background(), u.ID, time.Time{}))
	ms := emailsTo(t, env, u.Email)
	require.NotEmpty(t, ms)
	link := ms[len(ms)-1].ActionURL
	require.True(t, strings.HasPrefix(link, "http://latchkey.test/welcome/"), link)
	return strings.TrimPrefix(link, "http://latchkey.test")
}

func TestWelcomeSendActions(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		g := env.Setup("Other MSP")
		cu := impCustomer(t, env, f.Tenant.ID, "Globex")
		theirs := impCustomer(t, env, g.Tenant.ID, "Theirs")
		ann := welEndUser(t, env, f.Tenant.ID, cu.ID, "ann", "ann@globex.example", "")
		bob := welEndUser(t, env, f.Tenant.ID, cu.ID, "bob", "", "")
		xena := welEndUser(t, env, g.Tenant.ID, theirs.ID, "xena", "x@theirs.example", "")
		env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
		c := signedIn(env, "tess@acmeit.example")

		res := c.PostForm("/end-users/bulk/welcome", url.Values{"ids": {ann.ID, bob.ID, xena.ID}, "back": {"/customers/" + cu.ID + "/end-users"}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		require.Equal(t, "/customers/"+cu.ID+"/end-users", res.Header.Get("Location"))
		require.Contains(t, c.Get("/").Body, "Welcome email queued for 1 end user. 1 skipped")

		// htmx: a toast; the same day again: nothing new.
		res = c.PostForm("/end-users/bulk/welcome", url.Values{"all": {"1"}, "customer": {cu.ID}}, "HX-Request", "true")
		require.Equal(t, http.StatusNoContent, res.StatusCode)
		require.Contains(t, res.Header.Get("HX-Trigger"), "queued for 0 end users")
		require.Contains(t, res.Header.Get("HX-Trigger"), `"level":"warn"`)

		res = c.PostForm("/end-users/bulk/welcome", url.Values{}, "HX-Request", "true")
		require.Equal(t, http.StatusNoContent, res.StatusCode)
		require.Contains(t, res.Header.Get("HX-Trigger"), "Select end users first")

		// The grid's own form: back to the same customer view; another
		// tenant's customer view is a 404.
		res = c.PostForm("/end-users/bulk/welcome", url.Values{"ids": {ann.ID}, "view": {"customer"}, "customer": {cu.ID}, "q": {"an"}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Equal(t, "/customers/"+cu.ID+"/end-users?q=an", res.Header.Get("Location"))
		res = c.PostForm("/end-users/bulk/welcome", url.Values{"all": {"1"}, "view": {"customer"}, "customer": {theirs.ID}})
		require.Equal(t, http.StatusNotFound, res.StatusCode)

		// One end user: the same day again is refused politely; no email: 422;
		// another tenant's: 404.
		res = c.PostForm("/end-users/"+ann.ID+"/welcome", url.Values{}, "HX-Request", "true")
		require.Equal(t, http.StatusNoContent, res.StatusCode)
		require.Contains(t, res.Header.Get("HX-Trigger"), "already sent a welcome email today")
		res = c.PostForm("/end-users/"+bob.ID+"/welcome", url.Values{})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		res = c.PostForm("/end-users/"+xena.ID+"/welcome", url.Values{})
		require.Equal(t, http.StatusNotFound, res.StatusCode)

		// The job runs (workers are on): ann's welcome email is written once.
		apptest.WaitFor(t, 20*time.Second, func() bool { return len(emailsTo(t, env, ann.Email)) == 1 }, "welcome email written")
		require.Empty(t, emailsTo(t, env, xena.Email))
		require.Equal(t, 1, auditCount(t, env, "enduser.welcome_sent", ann.ID))
	})
}

// TestWelcomeEnrolment follows the welcome link: a code to the mobile on
// record proves it is the end user (and uses the link up), the number is
// then confirmed, an authenticator app is added, and this browser becomes a
// device; the status moves to Accessed self-serve.
func TestWelcomeEnrolment(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		ctx := context.Background()
		f := env.Setup("Acme IT")
		cu := impCustomer(t, env, f.Tenant.ID, "Globex")
		ann := welEndUser(t, env, f.Tenant.ID, cu.ID, "ann", "ann@globex.example", "+64215550199")
		_, err := env.App.DB.Bun.NewUpdate().Table("end_users").Set("self_serve_enabled = TRUE").Set("source = 'ad'").Set("external_id = ?", db.NewID()).
			Where("id = ?", ann.ID).Exec(ctx)
		require.NoError(t, err)
		link := welLink(t, env, ann)

		c := env.Client() // the end user: not signed in
		res := c.Get(link)
		require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		require.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"))
		require.Contains(t, res.Body, testid("welcome-page"))
		require.Contains(t, res.Body, "Hi Ann,")
		require.Contains(t, res.Body, "Acme IT uses Latchkey so you can reset your password and unlock your account yourself")
		require.Contains(t, res.Body, `data-testid="masked-mobile">+64 ••• ••• 199<`)
		require.NotContains(t, res.Body, "5550199", "the full number is not shown")
		require.Contains(t, res.Body, `hx-history="false"`)
		require.Contains(t, res.Body, "/static/css/selfserve.css", "the self-serve layout")

		// A code to the mobile on record.
		res = ssPost(c, link, url.Values{"channel": {"sms"}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		require.Equal(t, "/self-serve/code", res.Header.Get("Location"))
		res = c.Get("/self-serve/code")
		require.Contains(t, res.Body, `+64 ••• ••• 199`)
		res = ssPost(c, "/self-serve/code", url.Values{"code": {ssCode(t, env, ann.Mobile)}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		require.Equal(t, "/self-serve/enrol/mobile", res.Header.Get("Location"))
		u := impEndUser(t, env, cu.ID, "ann")
		require.NotNil(t, u.FirstAccessAt, "the first self-serve sign-in")
		require.Equal(t, enduser.StatusAccessed, u.Status())
		require.NotNil(t, u.MobileConfirmedAt, "the SMS code proved the number")

		// The link works once.
		res = env.Client().Get(link)
		require.Equal(t, http.StatusNotFound, res.StatusCode)
		require.Contains(t, res.Body, testid("welcome-gone"))

		// The number is proven: straight on to the authenticator app.
		res = c.Get("/self-serve/enrol/mobile")
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Equal(t, "/self-serve/enrol/authenticator", res.Header.Get("Location"))
		res = c.Get("/self-serve/enrol/authenticator")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `href="otpauth://totp/Acme%20IT:ann@globex.example?`, "on the phone itself: a link that opens the app")
		secret := regexp.MustCompile(`data-testid="welcome-secret">([A-Z2-7 ]+)<`).FindStringSubmatch(res.Body)
		require.NotNil(t, secret, res.Body)
		qr := c.Get("/self-serve/enrol/authenticator/qr.png")
		require.Equal(t, http.StatusOK, qr.StatusCode)
		require.Equal(t, "image/png", qr.Header.Get("Content-Type"))
		require.Equal(t, "no-store", qr.Header.Get("Cache-Control"))
		res = ssPost(c, "/self-serve/enrol/authenticator", url.Values{"code": {"000000"}})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		code, err := totp.GenerateCode(strings.ReplaceAll(secret[1], " ", ""), time.Now())
		require.NoError(t, err)
		res = ssPost(c, "/self-serve/enrol/authenticator", url.Values{"code": {code}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		require.Equal(t, 1, auditCount(t, env, "selfserve.authenticator_add", ann.ID))

		// This browser as a device (the push subscription is the browser's).
		res = c.Get("/self-serve/enrol/device")
		require.Contains(t, res.Body, testid("welcome-device-enrol"))
		require.Contains(t, res.Body, "/static/js/push.js")
		res = c.PostForm("/self-serve/enrol/device", nil)
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		require.Contains(t, res.Header.Get("Set-Cookie"), "latchkey_device=", "the device credential")
		res = c.Get("/self-serve/enrol/device")
		require.Contains(t, res.Body, testid("welcome-push-allow"))
		require.Equal(t, 1, auditCount(t, env, "device.enrol", ann.ID))

		res = c.Get("/self-serve/enrol/done")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, testid("welcome-thanks"))
		require.Contains(t, res.Body, `data-testid="saved-mobile">+64 ••• ••• 199<`)
		require.Contains(t, res.Body, testid("thanks-authenticator"))
		require.Contains(t, res.Body, testid("thanks-active"))
		require.Contains(t, res.Body, `href="http://latchkey.test/self-serve" data-testid="thanks-address">http://latchkey.test/self-serve</a>`, "the full address")

		// Later: the authenticator app proves a reset.
		r := env.Client()
		require.Equal(t, http.StatusSeeOther, ssStart(r, "reset", "ann").StatusCode)
		require.Equal(t, http.StatusSeeOther, ssPost(r, "/self-serve/prove", url.Values{"channel": {"totp"}}).StatusCode)
		next, err := totp.GenerateCode(strings.ReplaceAll(secret[1], " ", ""), time.Now().Add(30*time.Second))
		require.NoError(t, err)
		res = ssPost(r, "/self-serve/code", url.Values{"code": {code}})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode, "a code already used is refused")
		res = ssPost(r, "/self-serve/code", url.Values{"code": {next}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
	})
}

// TestWelcomeMobile: without a number on record, the end user adds one and
// proves it; a number on record is never replaced from the link; an
// account without self-serve stops after the number, saying so.
func TestWelcomeMobile(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cu := impCustomer(t, env, f.Tenant.ID, "Globex")
		bob := welEndUser(t, env, f.Tenant.ID, cu.ID, "bob", "bob@globex.example", "")
		link := welLink(t, env, bob)
		c := env.Client()
		res := c.Get(link)
		require.NotContains(t, res.Body, testid("welcome-method-sms"))
		require.Equal(t, http.StatusSeeOther, ssPost(c, link, url.Values{"channel": {"email"}}).StatusCode)
		res = ssPost(c, "/self-serve/code", url.Values{"code": {ssCode(t, env, bob.Email)}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		res = c.Get("/self-serve/enrol/mobile")
		require.Contains(t, res.Body, testid("welcome-mobile-form"))
		// The country preselected is the customer's (by its time zone), and
		// reads in full.
		_, err := env.App.DB.Bun.NewUpdate().Table("customers").Set("time_zone = ?", "Pacific/Auckland").Where("id = ?", cu.ID).Exec(context.Background())
		require.NoError(t, err)
		res = c.Get("/self-serve/enrol/mobile")
		require.Contains(t, res.Body, `<option value="+64" selected>New Zealand (+64)</option>`)
		res = ssPost(c, "/self-serve/enrol/mobile", url.Values{"country": {"+64"}, "mobile": {"12"}})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, testid("error-mobile"))
		res = ssPost(c, "/self-serve/enrol/mobile", url.Values{"country": {"+64"}, "mobile": {"021 555 0123"}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		require.Equal(t, "", impEndUser(t, env, cu.ID, "bob").Mobile, "saved once proven")
		res = ssPost(c, "/self-serve/enrol/mobile/code", url.Values{"code": {ssCode(t, env, "+64215550123")}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		require.Equal(t, "/self-serve/enrol/done", res.Header.Get("Location"), "self-serve is off for bob: no app or device steps")
		u := impEndUser(t, env, cu.ID, "bob")
		require.Equal(t, "+64215550123", u.Mobile)
		require.Equal(t, enduser.ValueEndUser, u.MobileSource)
		require.Equal(t, 1, auditCount(t, env, "enduser.mobile_change", bob.ID))
		res = c.Get("/self-serve/enrol/done")
		require.Contains(t, res.Body, testid("thanks-inactive"))
		require.Contains(t, res.Body, `data-testid="saved-mobile">+64 ••• ••• 123<`)
		require.Equal(t, http.StatusSeeOther, c.Get("/self-serve/enrol/authenticator").StatusCode)

		// A number on record: confirmed with a code, never replaced.
		ann := welEndUser(t, env, f.Tenant.ID, cu.ID, "ann", "ann@globex.example", "+64215550199")
		alink := welLink(t, env, ann)
		a := env.Client()
		require.Equal(t, http.StatusSeeOther, ssPost(a, alink, url.Values{"channel": {"email"}}).StatusCode)
		require.Equal(t, http.StatusSeeOther, ssPost(a, "/self-serve/code", url.Values{"code": {ssCode(t, env, ann.Email)}}).StatusCode)
		res = a.Get("/self-serve/enrol/mobile")
		require.Contains(t, res.Body, testid("welcome-not-mine"))
		res = ssPost(a, "/self-serve/enrol/mobile", url.Values{"country": {"+64"}, "mobile": {"021 555 0123"}})
		require.Equal(t, http.StatusConflict, res.StatusCode)
		require.Equal(t, http.StatusSeeOther, ssPost(a, "/self-serve/enrol/mobile", url.Values{"keep": {"1"}}).StatusCode)
		require.Equal(t, http.StatusSeeOther, ssPost(a, "/self-serve/enrol/mobile/code", url.Values{"code": {ssCode(t, env, ann.Mobile)}}).StatusCode)
		require.NotNil(t, impEndUser(t, env, cu.ID, "ann").MobileConfirmedAt)
		require.Equal(t, 1, auditCount(t, env, "enduser.mobile_confirm", ann.ID))

		// Unknown and expired links: the same friendly 404, GET and POST.
		for _, p := range []string{"/welcome/nope", "/welcome/" + strings.Repeat("a", 43)} {
			res = c.Get(p)
			require.Equal(t, http.StatusNotFound, res.StatusCode)
			require.Contains(t, res.Body, testid("welcome-gone"))
			require.Contains(t, res.Body, "ask your IT provider for a new one")
		}
		require.Equal(t, http.StatusNotFound, c.PostForm("/welcome/nope", url.Values{"channel": {"sms"}}).StatusCode)
		cat := welEndUser(t, env, f.Tenant.ID, cu.ID, "cat", "cat@globex.example", "")
		clink := welLink(t, env, cat)
		env.Clock.Set(time.Now().Add(enduser.EnrolmentLifetime + time.Minute))
		res = c.Get(clink)
		require.Equal(t, http.StatusNotFound, res.StatusCode)
		require.Contains(t, res.Body, testid("welcome-gone"))
		require.Equal(t, http.StatusNotFound, ssPost(c, clink, url.Values{"channel": {"email"}}).StatusCode)
	})
}

// TestWelcomeCodePageStaysInEnrolment: the enrolment's code page speaks to
// the known end user (no "self-serve may not be set up"), and its "send a
// new code or choose another way" never leads to the reset start.
func TestWelcomeCodePageStaysInEnrolment(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cu := impCustomer(t, env, f.Tenant.ID, "Globex")
		ann := welEndUser(t, env, f.Tenant.ID, cu.ID, "ann", "ann@globex.example", "+64215550199")
		c := env.Client()
		link := welLink(t, env, ann)
		c.Get(link)
		require.Equal(t, http.StatusSeeOther, c.PostForm(link, url.Values{"channel": {"sms"}}).StatusCode)
		res := c.Get("/self-serve/code")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, "+64 ••• ••• 199")
		require.NotContains(t, res.Body, "may not be set up")
		require.Contains(t, res.Body, "Still nothing? Contact Acme IT")
		require.Contains(t, res.Body, `href="/self-serve/prove" data-testid="ss-again"`)

		res = c.Get("/self-serve/prove")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, testid("ss-method-sms"))
		require.Contains(t, res.Body, testid("ss-enrol-restart"), "start over with the link")
		require.NotContains(t, res.Body, `href="/self-serve"`, "not the reset start")

		// The step expired: the way back is the link, not the reset start.
		env.Clock.Set(time.Now().Add(selfserve.StepLifetime + time.Minute))
		res = c.Get("/self-serve/code")
		require.Equal(t, http.StatusConflict, res.StatusCode)
		require.Contains(t, res.Body, "Open the link in your welcome email again")
		require.NotContains(t, res.Body, `href="/self-serve"`)
	})
}
