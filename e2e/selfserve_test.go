package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/apptest/adsite"
	"github.com/latchkey/latchkey/app/config"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/device"
	"github.com/latchkey/latchkey/app/directory/ad"
	"github.com/latchkey/latchkey/app/directory/ad/samba"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/app/webpush/pushtest"
	"github.com/latchkey/latchkey/db"
)

// The self-serve tests run against a real Samba AD domain controller with a
// running latchkey-agent (app/apptest/adsite): Ann Smith (asmith) is
// imported with her email and mobile and self-serve on, and every reset is
// checked in the directory by binding as her.

const ssOldPassword = "Old-Passw0rd!"

type ssE2E struct {
	env  *apptest.Env
	f    *apptest.Fixture
	site *adsite.Site
	ann  *enduser.EndUser
	push *pushtest.Server
}

func newSelfServeE2E(t *testing.T) *ssE2E {
	t.Helper()
	env := apptest.New(t, db.SQLite, apptest.Options{Configure: func(c *config.Config) { c.PushAnyEndpoint = true }})
	f := env.Setup("Acme IT")
	site := adsite.Start(t, env, f)
	ou := site.DC.CreateOU(t, "Staff")
	site.DC.CreateUser(t, ou, "asmith", samba.UserOpts{First: "Ann", Last: "Smith", Mail: "ann@globex.test", Mobile: "+64215550199", Password: ssOldPassword})
	site.Import(true)
	u, err := enduser.Get(context.Background(), env.App.DB.Bun, f.Tenant.ID, site.EndUserID("asmith"))
	require.NoError(t, err)
	require.True(t, u.SelfServeEnabled)
	require.Equal(t, enduser.StatusRegistered, u.Status())
	return &ssE2E{env: env, f: f, site: site, ann: u}
}

// phone is a phone-sized browser.
func (s *ssE2E) phone(t *testing.T) *page {
	t.Helper()
	p := newPage(t, s.env.URL)
	p.viewport(375, 812)
	return p
}

var e2eCode = regexp.MustCompile(`\b\d{6}\b`)

// code waits for the newest self-serve code to `to` (SMS: once the job put
// it in the outbox; email: in its data) newer than since.
func (s *ssE2E) code(t *testing.T, to string, since time.Time) string {
	t.Helper()
	var code string
	apptest.WaitFor(t, 30*time.Second, func() bool {
		var ms []notify.Message
		require.NoError(t, s.env.App.DB.Bun.NewSelect().Model(&ms).Where("to_addr = ? AND kind = ? AND created_at >= ?", to, "selfserve_code", since.UTC().Add(-time.Second)).
			Order("created_at DESC").Limit(1).Scan(context.Background()))
		if len(ms) == 0 {
			return false
		}
		var text string
		if ms[0].Channel == sms.Channel { // an SMS in the outbox, stored encrypted
			if ms[0].Status != notify.StatusOutbox {
				return false
			}
			var err error
			text, err = sms.Text(s.env.App.Keys, &ms[0])
			require.NoError(t, err)
		}
		if ms[0].Channel == "email" {
			e, err := ms[0].EmailData(s.env.App.Keys) // stored encrypted
			require.NoError(t, err)
			text = strings.Join(e.Lines, " ")
		}
		code = e2eCode.FindString(text)
		return code != ""
	}, "a self-serve code to %s", to)
	return code
}

// identify starts a flow on the phone and chooses how to prove it.
func (s *ssE2E) identify(t *testing.T, p *page, purpose, typed, channel string) {
	t.Helper()
	p.open("/self-serve")
	p.wait(tid("ss-start"))
	p.click(tid("ss-go-" + purpose))
	p.fill(tid("ss-identity"), typed)
	p.click(tid("ss-identify-submit"))
	p.wait(tid("ss-methods"))
	p.click(tid("ss-method-" + channel))
}

// enterCode types a code on the code page.
func enterCode(p *page, code string) {
	p.t.Helper()
	p.wait(tid("ss-code-page"))
	p.fill(tid("ss-code"), code)
	p.click(tid("ss-code-submit"))
}

// choosePassword types a new password, waits for the live check's verdict,
// and submits.
func choosePassword(p *page, pw string) {
	p.t.Helper()
	p.wait(tid("ss-password-form"))
	p.fill(tid("ss-password"), pw)
	p.wait(tid("ss-check-ok"))
	p.click(tid("ss-password-submit"))
}

// requireBind checks in the directory that Ann signs in with pw. (Samba
// keeps accepting the previous password for an hour, its "old password
// allowed period", so the old one is not checked.)
func (s *ssE2E) requireBind(t *testing.T, pw string) {
	t.Helper()
	require.NoError(t, s.site.Bind("asmith", pw), "the directory accepts the new password")
}

// TestBrowserSelfServeResetBySMS resets Ann's password on a phone with an
// SMS code: a weak password is flagged as she types, the directory refuses
// one its current policy forbids (stricter than the last import saw), the
// next one works, and she can sign in with it.
func TestBrowserSelfServeResetBySMS(t *testing.T) {
	t.Parallel()
	s := newSelfServeE2E(t)
	p := s.phone(t)
	since := time.Now()
	s.identify(t, p, "reset", "asmith", "sms")
	p.screenshot("selfserve-code")
	enterCode(p, s.code(t, s.ann.Mobile, since))

	p.wait(tid("ss-password-form"))
	require.Contains(t, p.text(tid("ss-rules")), "At least 7 characters")
	p.fill(tid("ss-password"), "password1")
	p.wait(tid("ss-check-warn"))
	warn := p.text(tid("ss-check-warn"))
	require.Contains(t, warn, "three of")
	require.Contains(t, warn, "most common passwords")
	p.screenshot("selfserve-password-warning")

	// The directory now wants 14 characters; Latchkey's copy of the policy
	// (from the import) still says 7: the directory's refusal is shown.
	s.site.DC.SetPasswordSettings(t, "--min-pwd-length=14")
	choosePassword(p, "Maple-Orbit7!")
	p.wait(tid("ss-failed"))
	require.Contains(t, p.text(tid("ss-failed-message")), "14")
	p.screenshot("selfserve-refused")
	p.click(tid("ss-try-again"))
	const good = "Maple-Orbit-Sandy-Thumb7"
	choosePassword(p, good)
	p.wait(tid("ss-done"))
	require.Contains(t, p.text(tid("ss-done")), "Your password is changed.")
	p.screenshot("selfserve-done")
	s.requireBind(t, good)

	u, err := enduser.Get(context.Background(), s.env.App.DB.Bun, s.f.Tenant.ID, s.ann.ID)
	require.NoError(t, err)
	require.Equal(t, enduser.StatusAccessed, u.Status())
	var detail string
	require.NoError(t, s.env.App.DB.Bun.NewSelect().Table("audit_events").Column("detail").
		Where("action = 'enduser.password_reset' AND result = 'ok' AND target_id = ?", s.ann.ID).Scan(context.Background(), &detail))
	require.Contains(t, detail, "self-serve")
}

// TestBrowserSelfServeUnlock unlocks Ann's locked account with an email
// code: the password stays, and works again.
func TestBrowserSelfServeUnlock(t *testing.T) {
	t.Parallel()
	s := newSelfServeE2E(t)
	s.site.DC.SetPasswordSettings(t, "--account-lockout-threshold=3")
	s.site.DC.LockOut(t, "asmith")
	require.True(t, errors.Is(s.site.Bind("asmith", ssOldPassword), ad.KindLocked))

	p := s.phone(t)
	since := time.Now()
	s.identify(t, p, "unlock", "ann@globex.test", "email")
	enterCode(p, s.code(t, s.ann.Email, since))
	p.wait(tid("ss-unlock-form"))
	p.click(tid("ss-unlock-submit"))
	p.wait(tid("ss-done"))
	require.Contains(t, p.text(tid("ss-done")), "Your account is unlocked.")
	p.screenshot("selfserve-unlocked")
	require.NoError(t, s.site.Bind("asmith", ssOldPassword), "unlocked, same password")
}

// TestBrowserSelfServeResetByPush resets with a push approval: Ann's phone
// is enrolled with a push subscription (pushtest: a local push service, see
// verify_test.go's note), the reset page waits with a countdown, the
// approval page opens in another tab of the same phone, and the waiting tab
// moves on by itself.
func TestBrowserSelfServeResetByPush(t *testing.T) {
	t.Parallel()
	s := newSelfServeE2E(t)
	s.push = pushtest.New(t)
	ctx := context.Background()
	pub, err := s.env.App.Web.Push.PublicKey(ctx)
	require.NoError(t, err)
	ps := s.push.Subscribe(t, pub)
	var cred string
	require.NoError(t, s.env.App.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		cred, _, err = s.env.App.Web.Devices.Enrol(ctx, tx, s.f.Tenant.ID, s.ann.ID, "iPhone · Safari",
			&webpush.SubscriptionInput{Endpoint: ps.Endpoint, P256dh: ps.P256dh, Auth: ps.Auth, UserAgent: "Mozilla/5.0 (iPhone)"})
		return err
	}))
	p := s.phone(t)
	yes := true
	_, err = chromedp.Call(p.ctx, network.SetCookie, network.SetCookieParams{
		Name: device.CookieName, Value: cred, URL: s.env.URL + device.CookiePath + "/", Path: device.CookiePath,
		HTTPOnly: &yes, SameSite: network.CookieSameSiteStrict,
	})
	require.NoError(t, err)

	s.identify(t, p, "reset", "asmith", "push")
	p.wait(tid("ss-push-waiting"))
	p.waitFor(`/left$/.test(document.querySelector('[data-testid="ss-countdown"]').textContent)`)
	p.screenshot("selfserve-push-waiting")

	apptest.WaitFor(t, 20*time.Second, func() bool { return len(s.push.Messages()) == 1 }, "the push")
	var pl webpush.Payload
	require.NoError(t, json.Unmarshal(s.push.Messages()[0].Payload, &pl))
	approval := strings.TrimPrefix(pl.URL, "http://latchkey.test")
	require.True(t, strings.HasPrefix(approval, "/self-serve/verify/"), pl.URL)

	// The notification opens the approval page in another tab of the phone.
	tabCtx, cancel := chromedp.NewContext(p.ctx)
	defer cancel()
	other := &page{t: t, ctx: tabCtx, url: p.url}
	other.open(approval)
	other.wait(tid("approve-no"))
	require.Empty(t, smallTargets(t, other), "the approval page's tap targets")
	other.click(tid("approve-yes"))
	other.wait(tid("approve-done"))

	// The waiting tab moves on to the new password by itself.
	choosePassword(p, "Cedar-Lunar-Pilot-Mango4")
	p.wait(tid("ss-done"))
	s.requireBind(t, "Cedar-Lunar-Pilot-Mango4")
}

// TestBrowserSelfServeEnrolment follows the welcome email's link on a phone:
// a code to the mobile on record, then an authenticator app, then this phone
// as a device; a reset the next day uses the authenticator app.
func TestBrowserSelfServeEnrolment(t *testing.T) {
	t.Parallel()
	s := newSelfServeE2E(t)
	ctx := context.Background()
	require.NoError(t, s.env.App.Web.Onboarding.DeliverWelcome(ctx, s.ann.ID, time.Time{}))
	var m notify.Message
	require.NoError(t, s.env.App.DB.Bun.NewSelect().Model(&m).Where("kind = ?", enduser.WelcomeKind).Scan(ctx))
	e, err := m.EmailData(s.env.App.Keys)
	require.NoError(t, err)
	i := strings.Index(e.ActionURL, "/welcome/")
	require.Positive(t, i)
	link := e.ActionURL[i:]

	p := s.phone(t)
	p.open(link)
	p.wait(tid("welcome-page"))
	require.Equal(t, "+64 ••• ••• 199", p.text(tid("masked-mobile")))
	p.screenshot("enrol-welcome")
	since := time.Now()
	p.click(tid("welcome-method-sms"))
	enterCode(p, s.code(t, s.ann.Mobile, since))

	// The SMS code proved the number: straight on to the authenticator app.
	p.wait(tid("welcome-authenticator"))
	p.wait(tid("welcome-qr"))
	ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="welcome-qr"]').naturalWidth > 0`))
	require.NoError(t, err)
	require.True(t, ok, "the QR code loads")
	p.screenshot("enrol-authenticator")
	p.click(chromedp.CSS(`details summary`))
	secret := strings.ReplaceAll(p.text(tid("welcome-secret")), " ", "")
	code, err := totp.GenerateCode(secret, time.Now())
	require.NoError(t, err)
	p.fill(tid("welcome-totp"), code)
	p.click(tid("welcome-totp-submit"))

	// This phone as a device (the browser's own push service is out of
	// reach here: the page offers it, and Done goes on).
	p.wait(tid("welcome-device"))
	p.click(tid("welcome-device-enrol"))
	p.wait(tid("welcome-push-allow"))
	p.screenshot("enrol-device")
	p.click(tid("welcome-skip-device"))
	p.wait(tid("welcome-thanks"))
	require.Equal(t, "+64 ••• ••• 199", p.text(tid("saved-mobile")))
	p.wait(tid("thanks-authenticator"))
	p.screenshot("enrol-done")

	u, err := enduser.Get(ctx, s.env.App.DB.Bun, s.f.Tenant.ID, s.ann.ID)
	require.NoError(t, err)
	require.Equal(t, enduser.StatusAccessed, u.Status())
	require.NotNil(t, u.MobileConfirmedAt)
	n, err := s.env.App.DB.Bun.NewSelect().Table("devices").Where("end_user_id = ? AND revoked_at IS NULL", s.ann.ID).Count(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)

	// Later, a reset proven by the authenticator app (the next time step:
	// the enrolment's code is spent).
	r := s.phone(t)
	s.identify(t, r, "reset", "asmith", "totp")
	code, err = totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	require.NoError(t, err)
	enterCode(r, code)
	choosePassword(r, "Harbor-Quiet-Violet-Tulip8")
	r.wait(tid("ss-done"))
	s.requireBind(t, "Harbor-Quiet-Violet-Tulip8")
}

// TestBrowserSelfServePageWeight measures, in Chromium with an empty cache,
// what the self-serve start page transfers on first load (the page, its
// stylesheet and scripts with htmx, the manifest and icons): at most 100 KB.
func TestBrowserSelfServePageWeight(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite, apptest.Options{NoWorkers: true})
	env.Setup("Acme IT")
	p := newPage(t, env.URL)
	p.viewport(375, 812)
	var (
		mu    sync.Mutex
		total float64
		urls  []string
	)
	reqs := map[network.RequestID]string{}
	require.NoError(t, chromedp.Listen(p.ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			reqs[e.RequestID] = e.Request.URL
		case *network.EventLoadingFinished:
			total += e.EncodedDataLength
			urls = append(urls, reqs[e.RequestID])
		}
	}))
	p.open("/self-serve")
	p.wait(tid("ss-start"))
	p.waitFor(`!!window.htmx`)
	time.Sleep(500 * time.Millisecond) // the manifest and icons come after load
	mu.Lock()
	defer mu.Unlock()
	t.Logf("first load of /self-serve: %.1f KB transferred in %d responses: %v", total/1024, len(urls), urls)
	require.LessOrEqual(t, total, 100*1024.0)
	require.Greater(t, total, 50*1024.0, "htmx itself is counted")
}

// TestBrowserSelfServeDoubleTap taps "Code by text message" twice, 150 ms
// apart: the first tap makes the method buttons busy (the second does
// nothing), one code is sent, and it works.
func TestBrowserSelfServeDoubleTap(t *testing.T) {
	t.Parallel()
	s := newSelfServeE2E(t)
	p := s.phone(t)
	since := time.Now()
	p.open("/self-serve/reset")
	p.fill(tid("ss-identity"), "asmith")
	p.click(tid("ss-identify-submit"))
	p.wait(tid("ss-methods"))
	// The page notes, in the tab's sessionStorage (it outlives the page),
	// the buttons' state just after the first tap, and taps again 150 ms
	// later while the request is on its way (it takes at least 500 ms).
	_, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(() => {
		document.addEventListener("submit", () => {
			const sms = document.querySelector('[data-testid="ss-method-sms"]'), email = document.querySelector('[data-testid="ss-method-email"]');
			setTimeout(() => sessionStorage.setItem("busy", JSON.stringify({sms: sms.disabled, email: email.disabled, aria: sms.getAttribute("aria-busy"), text: sms.textContent})), 20);
			setTimeout(() => { sessionStorage.setItem("second", "tapped"); sms.click() }, 150);
		}, {once: true});
		return true })()`))
	require.NoError(t, err)
	p.do(chromedp.Click(tid("ss-method-sms")))
	enterCode(p, s.code(t, s.ann.Mobile, since))
	p.wait(tid("ss-password-form"))
	n, err := s.env.App.DB.Bun.NewSelect().Table("messages").Where("to_addr = ? AND kind = 'selfserve_code'", s.ann.Mobile).Count(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "one code for the double tap")
	busy, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`sessionStorage.getItem("busy") + " " + sessionStorage.getItem("second")`))
	require.NoError(t, err)
	require.Contains(t, busy, `{"sms":true,"email":true,"aria":"true","text":"Sending the code…`)
	require.Contains(t, busy, "tapped", "the second tap came before the answer")
}

// TestBrowserSelfServeBack presses Back after refused forms: after a wrong
// code then the right one, Back from the password page lands on a real page
// (not Chrome's "Confirm Form Resubmission"); after a refused password then
// a good one, Back from "Your password is changed" too, and does not run
// the reset again.
func TestBrowserSelfServeBack(t *testing.T) {
	t.Parallel()
	s := newSelfServeE2E(t)
	p := s.phone(t)
	realPage := func() string {
		t.Helper()
		p.wait(tid("ss-brand"))
		loc := p.location()
		require.True(t, strings.HasPrefix(loc, "/self-serve"), loc)
		return loc
	}
	since := time.Now()
	s.identify(t, p, "reset", "asmith", "sms")
	good := s.code(t, s.ann.Mobile, since)
	bad := "000000"
	if good == bad {
		bad = "111111"
	}
	enterCode(p, bad)
	p.wait(tid("error-code"))
	require.Contains(t, p.text(tid("error-code")), "4 tries left")
	enterCode(p, good)
	p.wait(tid("ss-password-form"))
	p.do(chromedp.NavigateBack())
	require.Equal(t, "/self-serve/password", realPage(), "the code step is done: on to the password")
	p.wait(tid("ss-password-form"))

	p.fill(tid("ss-password"), "short")
	p.click(tid("ss-password-submit"))
	p.wait(tid("error-password"))
	const pw = "Tide-Maple-Orbit-Lantern5"
	choosePassword(p, pw)
	p.wait(tid("ss-done"))
	p.do(chromedp.NavigateBack())
	realPage()
	p.wait(tid("ss-expired")) // the flow ended with the change: start again
	s.requireBind(t, pw)
	n, err := s.env.App.DB.Bun.NewSelect().Table("audit_events").Where("action = 'enduser.password_reset' AND target_id = ?", s.ann.ID).Count(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "one reset")
}

// smallTargets lists the visible links, buttons, selects and summaries of
// the page's main card that are under 44 px tall (text links inside a
// sentence excepted).
func smallTargets(t *testing.T, p *page) []string {
	t.Helper()
	out, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("main a, main button, main select, main summary, main input:not([type=hidden])")]
		.filter(e => e.getClientRects().length > 0 && !(e.tagName === "A" && e.parentElement.tagName === "P"))
		.filter(e => e.getBoundingClientRect().height < 44)
		.map(e => location.pathname + " " + e.tagName + " " + (e.textContent || e.name).trim().slice(0, 40) + " " + Math.round(e.getBoundingClientRect().height) + "px")`))
	require.NoError(t, err)
	return out
}

// TestBrowserSelfServeTapTargets walks the self-serve and enrolment pages on
// a 375 px phone: every link, button and picker is at least 44 px tall,
// and the add-mobile country picker shows its whole label, preselected
// from the customer's time zone.
func TestBrowserSelfServeTapTargets(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	ctx := context.Background()
	now := time.Now().UTC()
	cu := &customer.Customer{ID: db.NewID(), TenantID: f.Tenant.ID, Name: "Globex", Source: customer.SourceManual, TimeZone: "Pacific/Auckland", CreatedAt: now, UpdatedAt: now}
	_, err := env.App.DB.Bun.NewInsert().Model(cu).Exec(ctx)
	require.NoError(t, err)
	mk := func(username, mobile string, src string) *enduser.EndUser {
		u := &enduser.EndUser{ID: db.NewID(), TenantID: f.Tenant.ID, CustomerID: cu.ID, Username: username, FirstName: "Ann", LastName: "Smith",
			Email: username + "@globex.test", EmailSource: enduser.ValueDirectory, Mobile: mobile, MobileSource: enduser.ValueDirectory,
			Source: src, ExternalID: db.NewID(), SelfServeEnabled: true, CreatedAt: now, UpdatedAt: now}
		_, err := env.App.DB.Bun.NewInsert().Model(u).Exec(ctx)
		require.NoError(t, err)
		return u
	}
	ann := mk("ann", "+64215550199", enduser.SourceAD)
	bob := mk("bob", "", enduser.SourceManual)
	emailCode := func(to string) string {
		var code string
		apptest.WaitFor(t, 30*time.Second, func() bool {
			var ms []notify.Message
			require.NoError(t, env.App.DB.Bun.NewSelect().Model(&ms).Where("to_addr = ? AND kind = 'selfserve_code'", to).Order("created_at DESC").Limit(1).Scan(ctx))
			if len(ms) == 0 {
				return false
			}
			e, err := ms[0].EmailData(env.App.Keys)
			require.NoError(t, err)
			code = e2eCode.FindString(strings.Join(e.Lines, " "))
			return code != ""
		}, "a code to %s", to)
		return code
	}
	p := newPage(t, env.URL)
	p.viewport(375, 812)
	var small []string
	check := func(testid string) {
		t.Helper()
		p.wait(tid(testid))
		p.screenshot("tap-" + testid)
		small = append(small, smallTargets(t, p)...)
	}
	p.open("/self-serve")
	check("ss-start")
	p.click(tid("ss-go-reset"))
	check("ss-identify")
	p.fill(tid("ss-identity"), "ann")
	p.click(tid("ss-identify-submit"))
	check("ss-methods")
	p.click(tid("ss-method-email"))
	check("ss-code-page")
	enterCode(p, emailCode(ann.Email))
	check("ss-password-form")

	require.NoError(t, env.App.Web.Onboarding.DeliverWelcome(ctx, bob.ID, time.Time{}))
	var m notify.Message
	require.NoError(t, env.App.DB.Bun.NewSelect().Model(&m).Where("kind = ? AND to_addr = ?", enduser.WelcomeKind, bob.Email).Scan(ctx))
	e, err := m.EmailData(env.App.Keys)
	require.NoError(t, err)
	w := newPage(t, env.URL)
	w.viewport(375, 812)
	p = w
	p.open(e.ActionURL[strings.Index(e.ActionURL, "/welcome/"):])
	check("welcome-page")
	p.click(tid("welcome-method-email"))
	check("ss-code-page")
	enterCode(p, emailCode(bob.Email))
	check("welcome-mobile-form")
	require.Empty(t, small, "tap targets under 44 px")

	// The country picker: New Zealand preselected (the customer's time
	// zone), and every label fits.
	v, err := chromedpValue(p, `[data-testid="welcome-country"]`)
	require.NoError(t, err)
	require.Equal(t, "+64", v)
	fits, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(() => {
		const s = document.querySelector('[data-testid="welcome-country"]'), cs = getComputedStyle(s);
		const ctx = document.createElement("canvas").getContext("2d"); ctx.font = cs.font;
		const widest = Math.max(...[...s.options].map(o => ctx.measureText(o.text).width));
		return widest + parseFloat(cs.paddingLeft) + parseFloat(cs.paddingRight) + 24 <= s.clientWidth })()`))
	require.NoError(t, err)
	require.True(t, fits, "the picker's labels fit at 375 px")
}
