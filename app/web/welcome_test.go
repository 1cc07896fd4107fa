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
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/login"
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

func TestWelcomeLandingPage(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cu := impCustomer(t, env, f.Tenant.ID, "Globex")
		ann := welEndUser(t, env, f.Tenant.ID, cu.ID, "ann", "ann@globex.example", "+64215550199")
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

		// "This is my number".
		res = c.PostForm(link+"/mobile", url.Values{"keep": {"1"}})
		require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
		require.Contains(t, res.Body, testid("welcome-thanks"))
		u := impEndUser(t, env, cu.ID, "ann")
		require.Equal(t, enduser.ValueEndUser, u.MobileSource)
		require.NotNil(t, u.MobileConfirmedAt)

		// The number on record cannot be replaced from the link (it proves
		// control of the email only); the page says whom to ask instead.
		require.Contains(t, c.Get(link).Body, testid("welcome-not-mine"))
		res = c.PostForm(link+"/mobile", url.Values{"country": {"+64"}, "mobile": {"021 555 0123"}})
		require.Equal(t, http.StatusConflict, res.StatusCode)
		require.Equal(t, "+64215550199", impEndUser(t, env, cu.ID, "ann").Mobile)

		// Without a number on record: a bad one, then a good one. The link still works.
		bob := welEndUser(t, env, f.Tenant.ID, cu.ID, "bob", "bob@globex.example", "")
		blink := welLink(t, env, bob)
		res = c.PostForm(blink+"/mobile", url.Values{"country": {"+64"}, "mobile": {"12"}})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, testid("error-mobile"))
		res = c.PostForm(blink+"/mobile", url.Values{"country": {"+64"}, "mobile": {"021 555 0123"}})
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="saved-mobile">+64 ••• ••• 123<`)
		require.Equal(t, "+64215550123", impEndUser(t, env, cu.ID, "bob").Mobile)
		require.Equal(t, 1, auditCount(t, env, "enduser.mobile_change", bob.ID))
		require.Equal(t, http.StatusOK, c.Get(blink).StatusCode)

		// Unknown and expired links: the same friendly 404, GET and POST.
		for _, p := range []string{"/welcome/nope", "/welcome/" + strings.Repeat("a", 43)} {
			res = c.Get(p)
			require.Equal(t, http.StatusNotFound, res.StatusCode)
			require.Contains(t, res.Body, testid("welcome-gone"))
			require.Contains(t, res.Body, "ask your IT provider for a new one")
		}
		res = c.PostForm("/welcome/nope/mobile", url.Values{"keep": {"1"}})
		require.Equal(t, http.StatusNotFound, res.StatusCode)
		env.Clock.Set(time.Now().Add(enduser.EnrolmentLifetime + time.Minute))
		res = c.Get(link)
		require.Equal(t, http.StatusNotFound, res.StatusCode)
		require.Contains(t, res.Body, testid("welcome-gone"))
		res = c.PostForm(link+"/mobile", url.Values{"keep": {"1"}})
		require.Equal(t, http.StatusNotFound, res.StatusCode)
	})
}
