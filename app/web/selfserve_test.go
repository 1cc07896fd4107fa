package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/selfserve"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/db"
)

// ssEndUser stores an end user that may use self-serve (an Active
// Directory account, self-serve on, email and mobile on record); edit
// changes it first.
func ssEndUser(t *testing.T, env *apptest.Env, tenantID, customerID, username string, edit func(u *enduser.EndUser)) *enduser.EndUser {
	t.Helper()
	now := time.Now().UTC()
	u := &enduser.EndUser{ID: db.NewID(), TenantID: tenantID, CustomerID: customerID, Username: username,
		FirstName: strings.ToUpper(username[:1]) + username[1:], LastName: "Tester", Email: username + "@globex.example", EmailSource: enduser.ValueDirectory,
		Mobile: fmt.Sprintf("+6421555%04d", crc32.ChecksumIEEE([]byte(username))%10000), MobileSource: enduser.ValueDirectory,
		Source: enduser.SourceAD, ExternalID: db.NewID(), SelfServeEnabled: true, CreatedAt: now, UpdatedAt: now}
	if edit != nil {
		edit(u)
	}
	_, err := env.App.DB.Bun.NewInsert().Model(u).Exec(context.Background())
	require.NoError(t, err)
	return u
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// ssCode waits for the latest self-serve code sent to `to` (an email
// address, or a mobile number once the SMS job put it in the outbox) and
// returns it.
func ssCode(t *testing.T, env *apptest.Env, to string) string {
	t.Helper()
	var code string
	apptest.WaitFor(t, 15*time.Second, func() bool {
		var ms []notify.Message
		require.NoError(t, env.App.DB.Bun.NewSelect().Model(&ms).Where("to_addr = ? AND kind = ?", to, "selfserve_code").
			Order("created_at DESC").Limit(1).Scan(context.Background()))
		if len(ms) == 0 {
			return false
		}
		if ms[0].Channel == sms.Channel && ms[0].Status != notify.StatusOutbox {
			return false
		}
		text := ms[0].BodyText
		if ms[0].Channel == sms.Channel {
			text = smsText(t, env, &ms[0])
		}
		if ms[0].Channel == "email" {
			e, err := ms[0].EmailData(env.App.Keys)
			require.NoError(t, err)
			text = strings.Join(e.Lines, "\n")
		}
		code = sixDigits.FindString(text)
		return code != ""
	}, "a self-serve code to %s", to)
	return code
}

func ssMessages(t *testing.T, env *apptest.Env, to string) int {
	t.Helper()
	n, err := env.App.DB.Bun.NewSelect().Model((*notify.Message)(nil)).Where("to_addr = ? AND kind = ?", to, "selfserve_code").Count(context.Background())
	require.NoError(t, err)
	return int(n)
}

// csrfValue hides the per-session token (and the flow's countdown) so that
// two clients' pages compare.
var csrfValue = regexp.MustCompile(`(value="|&#34;X-CSRF-Token&#34;:&#34;|"X-CSRF-Token":")[A-Za-z0-9_-]{20,}`)

func shape(body string) string { return csrfValue.ReplaceAllString(body, "${1}TOKEN") }

// ssPost posts a self-serve form and, when it is refused (a redirect back to
// its own page, which then shows why), follows the redirect.
func ssPost(c *apptest.Client, path string, values url.Values, headers ...string) *apptest.Response {
	res := c.PostForm(path, values, headers...)
	if res.StatusCode == http.StatusSeeOther && res.Header.Get("Location") == path {
		return c.Get(path)
	}
	return res
}

// ssStart identifies as typed and returns the response.
func ssStart(c *apptest.Client, purpose, typed string) *apptest.Response {
	c.Get("/self-serve/" + purpose)
	return c.PostForm("/self-serve/identify", url.Values{"purpose": {purpose}, "identity": {typed}})
}

func TestSelfServeStartPages(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		c := env.Client()
		res := c.Get("/self-serve")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, testid("ss-start"))
		require.Contains(t, res.Body, testid("ss-go-reset"))
		require.Contains(t, res.Body, `<link rel="manifest" href="/self-serve/manifest.webmanifest">`)
		require.Contains(t, res.Body, "Acme IT", "branded with the MSP's name")
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		require.NotContains(t, res.Body, "app.js", "the light layout")

		res = c.Get("/self-serve/manifest.webmanifest")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "application/manifest+json", res.Header.Get("Content-Type"))
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(res.Body), &m))
		require.Equal(t, "Acme IT password help", m["name"])
		require.Equal(t, "/self-serve", m["start_url"])
		require.Len(t, m["icons"], 3)
		for _, p := range []string{"/static/img/icon-192.png", "/static/img/icon-512.png", "/static/css/selfserve.css", "/static/js/selfserve.js"} {
			require.Equal(t, http.StatusOK, c.Get(p).StatusCode, p)
		}

		// The tenant switch off: a friendly page, nothing to identify.
		_, err := env.App.DB.Bun.NewUpdate().Table("tenants").Set("self_serve_enabled = FALSE").Where("id = ?", f.Tenant.ID).Exec(context.Background())
		require.NoError(t, err)
		res = c.Get("/self-serve/reset")
		require.Contains(t, res.Body, testid("ss-off"))
		res = c.PostForm("/self-serve/identify", url.Values{"purpose": {"reset"}, "identity": {"ann"}})
		require.Equal(t, http.StatusConflict, res.StatusCode)
		require.Contains(t, res.Body, testid("ss-off"))
	})
}

// TestSelfServeEnumeration: an account that may use self-serve and one that
// does not exist get the same status, the same pages and similar timing, up
// to the code page; only the real one gets a code.
func TestSelfServeEnumeration(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cu := impCustomer(t, env, f.Tenant.ID, "Globex")
		ann := ssEndUser(t, env, f.Tenant.ID, cu.ID, "ann", nil)
		off := ssEndUser(t, env, f.Tenant.ID, cu.ID, "otto", func(u *enduser.EndUser) { u.SelfServeEnabled = false; u.Mobile = "+64215550177" })

		type visit struct {
			status     []int
			pages      []string
			identifyMS time.Duration
			sendMS     time.Duration
		}
		run := func(typed string) visit {
			c := env.Client()
			var v visit
			c.Get("/self-serve/reset")
			start := time.Now()
			res := c.PostForm("/self-serve/identify", url.Values{"purpose": {"reset"}, "identity": {typed}})
			v.identifyMS = time.Since(start)
			v.status = append(v.status, res.StatusCode)
			v.pages = append(v.pages, res.Header.Get("Location")+"|"+res.Body)
			res = c.Get("/self-serve/prove")
			v.status = append(v.status, res.StatusCode)
			v.pages = append(v.pages, shape(res.Body))
			start = time.Now()
			res = ssPost(c, "/self-serve/prove", url.Values{"channel": {"sms"}})
			v.sendMS = time.Since(start)
			v.status = append(v.status, res.StatusCode)
			v.pages = append(v.pages, res.Header.Get("Location")+"|"+res.Body)
			res = c.Get("/self-serve/code")
			v.status = append(v.status, res.StatusCode)
			v.pages = append(v.pages, shape(res.Body))
			res = ssPost(c, "/self-serve/code", url.Values{"code": {"123456"}})
			v.status = append(v.status, res.StatusCode)
			v.pages = append(v.pages, shape(res.Body))
			return v
		}
		real, unknown, ineligible := run("ann"), run("nobody@globex.example"), run("otto")
		require.Equal(t, []int{303, 200, 303, 200, 422}, real.status)
		require.Equal(t, real.status, unknown.status)
		require.Equal(t, real.status, ineligible.status)
		require.Equal(t, real.pages, unknown.pages, "the same pages, byte for byte but the CSRF token")
		require.Equal(t, real.pages, ineligible.pages)
		require.Equal(t, 1, ssMessages(t, env, ann.Mobile), "the real account got its code")
		require.Equal(t, 0, ssMessages(t, env, off.Mobile), "self-serve off: nothing sent")

		// Timing: medians of a few runs each, within 100 ms (both steps
		// take at least their floor).
		var ri, ui, rs, us []time.Duration
		for range 3 {
			r, u := run("ann"), run("nobody")
			ri, ui, rs, us = append(ri, r.identifyMS), append(ui, u.identifyMS), append(rs, r.sendMS), append(us, u.sendMS)
		}
		med := func(ds []time.Duration) time.Duration {
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			return ds[len(ds)/2]
		}
		t.Logf("identify: existing %v, unknown %v; send: existing %v, unknown %v", med(ri), med(ui), med(rs), med(us))
		require.InDelta(t, float64(med(ri)), float64(med(ui)), float64(100*time.Millisecond))
		require.InDelta(t, float64(med(rs)), float64(med(us)), float64(100*time.Millisecond))

		// Five flows an hour, then the sixth is refused for 24 hours, for
		// an account and for a name that matches nothing alike (ann has
		// started four: one above and three in the timing runs).
		for _, typed := range []string{"ann", "zed"} {
			c := env.Client()
			for i := 0; ; i++ {
				res := ssStart(c, "reset", typed)
				if res.StatusCode == http.StatusTooManyRequests {
					require.Contains(t, res.Body, testid("ss-blocked"))
					require.Equal(t, 5, i+map[string]int{"ann": 4, "zed": 0}[typed], typed)
					break
				}
				require.Equal(t, http.StatusSeeOther, res.StatusCode)
				require.Less(t, i, 6)
			}
		}
		require.Equal(t, 1, auditCount(t, env, "selfserve.blocked", ann.ID))
	})
}

// ssProve runs a reset flow for the end user up to a proven flow, by SMS.
func ssProve(t *testing.T, env *apptest.Env, c *apptest.Client, purpose string, u *enduser.EndUser) {
	t.Helper()
	require.Equal(t, http.StatusSeeOther, ssStart(c, purpose, u.Username).StatusCode)
	require.Equal(t, http.StatusSeeOther, ssPost(c, "/self-serve/prove", url.Values{"channel": {"sms"}}).StatusCode)
	res := ssPost(c, "/self-serve/code", url.Values{"code": {ssCode(t, env, u.Mobile)}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
}

func TestSelfServeProofThenPassword(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		ctx := context.Background()
		f := env.Setup("Acme IT")
		cu := impCustomer(t, env, f.Tenant.ID, "Globex")
		ann := ssEndUser(t, env, f.Tenant.ID, cu.ID, "ann", nil)
		c := env.Client()

		// Five wrong codes lock the proof (429); a new code works.
		require.Equal(t, http.StatusSeeOther, ssStart(c, "reset", "ANN@globex.example").StatusCode, "email, any case")
		require.Equal(t, http.StatusSeeOther, ssPost(c, "/self-serve/prove", url.Values{"channel": {"email"}}).StatusCode)
		good := ssCode(t, env, ann.Email)
		bad := "000000"
		if good == bad {
			bad = "111111"
		}
		for i := 1; i <= 4; i++ {
			res := ssPost(c, "/self-serve/code", url.Values{"code": {bad}})
			require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
			require.Contains(t, res.Body, testid("error-code"))
		}
		res := ssPost(c, "/self-serve/code", url.Values{"code": {bad}})
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		require.Contains(t, res.Body, testid("ss-locked"))
		res = ssPost(c, "/self-serve/code", url.Values{"code": {good}})
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode, "a locked proof takes no code, not even the right one")
		require.Equal(t, http.StatusSeeOther, ssPost(c, "/self-serve/prove", url.Values{"channel": {"sms"}}).StatusCode)
		res = ssPost(c, "/self-serve/code", url.Values{"code": {ssCode(t, env, ann.Mobile)}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		require.Equal(t, "/self-serve/password", res.Header.Get("Location"))

		// The first proof is the first self-serve sign-in.
		u, err := enduser.Get(ctx, env.App.DB.Bun, f.Tenant.ID, ann.ID)
		require.NoError(t, err)
		require.NotNil(t, u.FirstAccessAt)
		require.Equal(t, enduser.StatusAccessed, u.Status())
		require.Equal(t, 6, auditCount(t, env, "selfserve.proof", ann.ID), "five wrong codes and the right one")

		// The password page: rules, live check, suggestion.
		res = c.Get("/self-serve/password")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, testid("ss-rules"))
		require.Contains(t, res.Body, "At least 7 characters", "Active Directory's default until the directory's is known")
		require.Contains(t, res.Body, `hx-history="false"`)
		res = c.PostForm("/self-serve/password/check", url.Values{"password": {"Password1"}}, "HX-Request", "true")
		require.Contains(t, res.Body, testid("ss-check-warn"))
		require.Contains(t, res.Body, "most common passwords")
		res = c.PostForm("/self-serve/password/check", url.Values{"password": {"annTester-99x"}}, "HX-Request", "true")
		require.Contains(t, res.Body, "Don&#39;t include a part of the user&#39;s name")
		res = c.PostForm("/self-serve/password/check", url.Values{"password": {"Maple-Orbit-Sandy7"}}, "HX-Request", "true")
		require.Contains(t, res.Body, testid("ss-check-ok"))
		res = c.PostForm("/self-serve/password/suggest", nil, "HX-Request", "true")
		require.Contains(t, res.Body, testid("ss-suggested"))
		require.Contains(t, res.Body, `hx-swap-oob="true"`)

		// A weak password is refused here; a good one goes to the directory,
		// which this customer does not have: a plain answer.
		res = ssPost(c, "/self-serve/password", url.Values{"password": {"short"}})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, testid("error-password"))
		res = ssPost(c, "/self-serve/password", url.Values{"password": {"Maple-Orbit-Sandy7"}})
		require.Equal(t, http.StatusConflict, res.StatusCode)
		require.Contains(t, res.Body, "cannot be changed from here right now")

		// Another visitor without the proof gets nowhere.
		other := env.Client()
		require.Equal(t, http.StatusConflict, other.Get("/self-serve/password").StatusCode)
		require.Equal(t, http.StatusConflict, ssPost(other, "/self-serve/password", url.Values{"password": {"Maple-Orbit-Sandy7"}}).StatusCode)

		// Each step works for 10 minutes.
		env.Clock.Set(time.Now().Add(selfserve.StepLifetime + time.Minute))
		res = c.Get("/self-serve/password")
		require.Equal(t, http.StatusConflict, res.StatusCode)
		require.Contains(t, res.Body, testid("ss-expired"))
	})
}

// TestSelfServeWrongCodesBlock: ten wrong codes for one account in a day
// block its self-serve for a day and alert the MSP's admins.
func TestSelfServeWrongCodesBlock(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cu := impCustomer(t, env, f.Tenant.ID, "Globex")
		ann := ssEndUser(t, env, f.Tenant.ID, cu.ID, "ann", nil)
		c := env.Client()
		wrong := 0
		for round := 0; round < 2; round++ {
			require.Equal(t, http.StatusSeeOther, ssStart(c, "unlock", "ann").StatusCode)
			require.Equal(t, http.StatusSeeOther, ssPost(c, "/self-serve/prove", url.Values{"channel": {"totp"}}).StatusCode)
			for i := 0; i < selfserve.WrongPerProof; i++ {
				res := ssPost(c, "/self-serve/code", url.Values{"code": {"000000"}})
				wrong++
				if wrong < selfserve.WrongPerDay {
					require.Contains(t, []int{http.StatusUnprocessableEntity, http.StatusTooManyRequests}, res.StatusCode)
				} else {
					require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
				}
			}
		}
		require.Equal(t, 1, auditCount(t, env, "selfserve.blocked", ann.ID))
		require.NotEmpty(t, emailsTo(t, env, f.Primary.Email), "the admins are told")
		res := ssStart(env.Client(), "reset", "ann")
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	})
}

func TestResetPanel(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		g := env.Setup("Other MSP")
		cu := impCustomer(t, env, f.Tenant.ID, "Globex")
		ann := ssEndUser(t, env, f.Tenant.ID, cu.ID, "ann", func(u *enduser.EndUser) { u.Locked = true })
		theirs := impCustomer(t, env, g.Tenant.ID, "Theirs")
		xena := ssEndUser(t, env, g.Tenant.ID, theirs.ID, "xena", nil)
		_, err := env.App.DB.Bun.NewInsert().Table("directory_settings").Model(&map[string]any{
			"customer_id": cu.ID, "tenant_id": f.Tenant.ID, "url": "ldaps://dc1.globex.example", "start_tls": false, "bind_user": "svc",
			"base_dn": "DC=globex,DC=example", "scope_kind": "base", "scope_dn": "", "ca_cert_pem": "", "skip_verify": false,
			"auto_import": false, "import_interval_min": 180, "enable_new_users": false, "version": 1,
			"policy_json": `{"source":"Domain policy","min_length":10,"complexity":true,"history_length":5}`, "updated_at": time.Now().UTC(),
		}).Exec(context.Background())
		require.NoError(t, err)
		env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
		env.CreateLogin(f, login.RoleHelpDesk, "hank@acmeit.example")
		c := signedIn(env, "tess@acmeit.example")

		res := c.Get("/end-users/" + ann.ID)
		require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
		for _, id := range []string{"reset-form", "reset-password", "rp-eye", "rp-copy", "rp-generate", "rp-length", "rp-digits", "reset-temporary", "unlock-submit"} {
			require.Contains(t, res.Body, testid(id), id)
		}
		require.Contains(t, res.Body, "Domain policy: at least 10 characters")
		require.Contains(t, res.Body, `name="length" min="10" max="99" value="16"`, "the slider never goes below the directory's minimum")
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		require.Contains(t, res.Body, `hx-history="false"`)
		require.Regexp(t, `name="temporary" value="on" checked`, res.Body, "temporary is on by default")

		res = c.PostForm("/end-users/"+ann.ID+"/password/check", url.Values{"password": {"Short1!"}}, "HX-Request", "true")
		require.Contains(t, res.Body, testid("rp-violations"))
		require.Contains(t, res.Body, "Use at least 10 characters.")
		res = c.PostForm("/end-users/"+ann.ID+"/password/check", url.Values{"password": {"Password123!"}}, "HX-Request", "true")
		require.Contains(t, res.Body, testid("rp-warnings"), "a common password warns the technician")
		require.Contains(t, res.Body, testid("rp-check-ok"))
		require.Contains(t, res.Body, "last 5 passwords")

		value := regexp.MustCompile(`value="([^"]+)" autocomplete="new-password"`)
		res = c.PostForm("/end-users/"+ann.ID+"/password/generate", url.Values{"kind": {"passphrase"}, "list": {"short"}, "separator": {"."},
			"words": {"3"}, "digits": {"on"}}, "HX-Request", "true")
		require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
		m := value.FindStringSubmatch(res.Body)
		require.NotNil(t, m, res.Body)
		require.GreaterOrEqual(t, len(m[1]), 10)
		require.Len(t, strings.Split(m[1], "."), 3)
		require.Contains(t, res.Body, testid("rp-check-ok"))
		require.Contains(t, res.Body, "passphrase, 3 short words")
		res = c.PostForm("/end-users/"+ann.ID+"/password/generate", url.Values{"kind": {"complex"}, "length": {"8"}, "numbers": {"on"}}, "HX-Request", "true")
		m = value.FindStringSubmatch(res.Body)
		require.NotNil(t, m)
		require.Len(t, m[1], 10, "raised to the directory's minimum")
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))

		// Roles and tenants.
		hank := signedIn(env, "hank@acmeit.example")
		require.Equal(t, http.StatusForbidden, hank.PostForm("/end-users/"+ann.ID+"/password/generate", url.Values{"kind": {"complex"}}).StatusCode)
		require.Equal(t, http.StatusForbidden, hank.PostForm("/end-users/"+ann.ID+"/password/check", url.Values{"password": {"x"}}).StatusCode)
		require.Equal(t, http.StatusNotFound, c.PostForm("/end-users/"+xena.ID+"/password/check", url.Values{"password": {"x"}}).StatusCode)
		require.Equal(t, http.StatusNotFound, c.PostForm("/end-users/"+xena.ID+"/password/generate", url.Values{"kind": {"complex"}}).StatusCode)
		require.Equal(t, http.StatusUnauthorized, env.Client().PostForm("/end-users/"+ann.ID+"/password/generate", url.Values{"kind": {"complex"}}).StatusCode)
		_ = audit.ResultOK
	})
}

// TestSelfServeFormExpired: an end user's form posted without its session
// (the cookie lost, the page open too long) gets a redirect to a page in
// the MSP's self-serve layout that says so plainly and starts again at the
// right place; reloading that page does not post again. Other errors on
// self-serve pages keep the self-serve layout too.
func TestSelfServeFormExpired(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cu := impCustomer(t, env, f.Tenant.ID, "Globex")
		ann := ssEndUser(t, env, f.Tenant.ID, cu.ID, "ann", nil)
		lost := env.Client() // a browser that lost the session cookie

		requireSelfServePage := func(res *apptest.Response) {
			t.Helper()
			require.Contains(t, res.Body, testid("ss-brand"))
			require.Contains(t, res.Body, "Acme IT")
			require.NotContains(t, res.Body, "/signin")
			require.NotContains(t, res.Body, "Forbidden")
		}
		for _, path := range []string{"/self-serve/identify", "/self-serve/code", "/self-serve/password"} {
			res := lost.PostForm(path, url.Values{"_csrf": {"gone"}, "identity": {"ann"}})
			require.Equal(t, http.StatusSeeOther, res.StatusCode, path)
			require.Equal(t, "/self-serve/expired", res.Header.Get("Location"), path)
		}
		res := lost.Get("/self-serve/expired")
		require.Equal(t, http.StatusOK, res.StatusCode)
		requireSelfServePage(res)
		require.Contains(t, res.Body, testid("ss-expired"))
		require.Contains(t, res.Body, "Nothing was changed.")
		require.Regexp(t, `<a class="ss-btn" href="/self-serve" data-testid="ss-restart">Start again</a>`, res.Body)

		res = lost.PostForm("/self-serve/enrol/mobile", url.Values{"_csrf": {"gone"}})
		require.Equal(t, "/self-serve/expired?step=enrol", res.Header.Get("Location"))
		require.Contains(t, lost.Get("/self-serve/expired?step=enrol").Body, "What you already confirmed is saved.")

		// htmx (the live password check): a redirect htmx follows.
		res = lost.PostForm("/self-serve/password/check", url.Values{"_csrf": {"gone"}}, "HX-Request", "true")
		require.Equal(t, "/self-serve/expired", res.Header.Get("HX-Redirect"))

		// The welcome link's form goes back to the link, which says why.
		link := welLink(t, env, ann)
		res = lost.PostForm(link, url.Values{"_csrf": {"gone"}, "channel": {"sms"}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Equal(t, link+"?expired=1", res.Header.Get("Location"))
		res = lost.Get(link + "?expired=1")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, testid("welcome-error"))
		require.Contains(t, res.Body, "nothing was sent")
		require.Zero(t, ssMessages(t, env, ann.Mobile))

		// Another error on a self-serve page: the self-serve layout.
		res = lost.Get("/self-serve/nowhere")
		require.Equal(t, http.StatusNotFound, res.StatusCode)
		requireSelfServePage(res)
		require.Contains(t, res.Body, testid("ss-error"))
	})
}

// TestSelfServeRefusedFormsRedirect: a refused self-serve form redirects to
// its own page, which shows why once (post/redirect/get), so that Back and
// reload never meet a POST's response; Back to a step already done goes on
// to the next.
func TestSelfServeRefusedFormsRedirect(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cu := impCustomer(t, env, f.Tenant.ID, "Globex")
		ann := ssEndUser(t, env, f.Tenant.ID, cu.ID, "ann", nil)
		c := env.Client()

		c.Get("/self-serve/reset")
		res := c.PostForm("/self-serve/identify", url.Values{"purpose": {"reset"}, "identity": {" "}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Equal(t, "/self-serve/reset", res.Header.Get("Location"))
		res = c.Get("/self-serve/reset")
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, testid("error-identity"))
		res = c.Get("/self-serve/reset")
		require.Equal(t, http.StatusOK, res.StatusCode, "shown once")
		require.NotContains(t, res.Body, testid("error-identity"))

		require.Equal(t, http.StatusSeeOther, ssStart(c, "reset", "ann").StatusCode)
		require.Equal(t, http.StatusSeeOther, c.PostForm("/self-serve/prove", url.Values{"channel": {"sms"}}).StatusCode)
		good := ssCode(t, env, ann.Mobile)
		bad := "000000"
		if good == bad {
			bad = "111111"
		}
		res = c.PostForm("/self-serve/code", url.Values{"code": {bad}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Equal(t, "/self-serve/code", res.Header.Get("Location"))
		res = c.Get("/self-serve/code")
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, "4 tries left")
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		require.NotContains(t, res.Body, bad, "the code typed is not kept")
		res = c.PostForm("/self-serve/code", url.Values{"code": {good}})
		require.Equal(t, "/self-serve/password", res.Header.Get("Location"))

		// Back from the password page: the code page, done, goes on.
		res = c.Get("/self-serve/code")
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Equal(t, "/self-serve/password", res.Header.Get("Location"))
		res = c.Get("/self-serve/prove")
		require.Equal(t, "/self-serve/password", res.Header.Get("Location"))

		res = c.PostForm("/self-serve/password", url.Values{"password": {"short"}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Equal(t, "/self-serve/password", res.Header.Get("Location"))
		res = c.Get("/self-serve/password")
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, testid("error-password"))
		require.NotContains(t, res.Body, "short")
	})
}
