package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/config"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/device"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/verify"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/app/webpush/pushtest"
	"github.com/latchkey/latchkey/db"
)

// A note on the phone: a real browser push subscription needs the browser's
// push service (FCM, Mozilla, Apple), which a test cannot reach. These tests
// enrol the end user's device through app/device with a subscription of
// pushtest (a local push service that checks VAPID and decrypts the
// payload, as the real ones do), read the approval URL out of the decrypted
// notification, and open it in the phone-sized browser context with the
// device's credential cookie set, as the enrolment page would have left it.
// The service worker's push and notificationclick handlers (static/sw.js)
// are not driven here: e2e/serviceworker_test.go delivers payloads to them
// through the DevTools protocol and clicks their notifications.

// vfE2E is a tenant with a technician signed in on a desktop browser and an
// end user Dana (email, mobile, self-serve on).
type vfE2E struct {
	env  *apptest.Env
	f    *apptest.Fixture
	user *enduser.EndUser
	tech *page
	push *pushtest.Server
}

func newVerifyE2E(t *testing.T, configure func(*config.Config)) *vfE2E {
	t.Helper()
	env := apptest.New(t, db.SQLite, apptest.Options{Configure: func(c *config.Config) {
		c.PushAnyEndpoint = true
		if configure != nil {
			configure(c)
		}
	}})
	f := env.Setup("Acme IT")
	tech := env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
	ctx := context.Background()
	now := time.Now().UTC()
	c := &customer.Customer{ID: db.NewID(), TenantID: f.Tenant.ID, Name: "Globex", Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
	_, err := env.App.DB.Bun.NewInsert().Model(c).Exec(ctx)
	require.NoError(t, err)
	u := &enduser.EndUser{ID: db.NewID(), TenantID: f.Tenant.ID, CustomerID: c.ID, Username: "dana", FirstName: "Dana", LastName: "Scully",
		Email: "dana@globex.example", EmailSource: enduser.ValueManual, Mobile: "+14155550123", MobileSource: enduser.ValueManual,
		SelfServeEnabled: true, Source: enduser.SourceManual, CreatedAt: now, UpdatedAt: now}
	_, err = env.App.DB.Bun.NewInsert().Model(u).Exec(ctx)
	require.NoError(t, err)
	s := &vfE2E{env: env, f: f, user: u, push: pushtest.New(t)}
	s.tech = newPage(t, env.URL)
	s.tech.viewport(1280, 900)
	signIn(s.tech, tech.Email)
	s.tech.open("/end-users/" + u.ID)
	s.tech.wait(tid("verify-panel"))
	return s
}

// phone enrols a device for Dana (with a pushtest subscription when push,
// answering gone when gone) and returns a phone-sized browser context that
// holds the device cookie.
func (s *vfE2E) phone(t *testing.T, push bool, gone bool) *page {
	t.Helper()
	ctx := context.Background()
	var in *webpush.SubscriptionInput
	if push {
		pub, err := s.env.App.Web.Push.PublicKey(ctx)
		require.NoError(t, err)
		ps := s.push.Subscribe(t, pub)
		if gone {
			s.push.Gone(ps.Endpoint, http.StatusGone)
		}
		in = &webpush.SubscriptionInput{Endpoint: ps.Endpoint, P256dh: ps.P256dh, Auth: ps.Auth, UserAgent: "Mozilla/5.0 (iPhone)"}
	}
	var cred string
	require.NoError(t, s.env.App.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var err error
		cred, _, err = s.env.App.Web.Devices.Enrol(ctx, tx, s.f.Tenant.ID, s.user.ID, "iPhone · Safari", in)
		return err
	}))
	p := newPage(t, s.env.URL)
	p.viewport(375, 812)
	yes := true
	_, err := chromedp.Call(p.ctx, network.SetCookie, network.SetCookieParams{
		Name: device.CookieName, Value: cred, URL: s.env.URL + device.CookiePath + "/", Path: device.CookiePath,
		HTTPOnly: &yes, SameSite: network.CookieSameSiteStrict,
	})
	require.NoError(t, err)
	// The technician's page learns about the device.
	s.tech.open("/end-users/" + s.user.ID)
	s.tech.wait(tid("verify-panel"))
	return p
}

// send picks a method on the technician's panel and sends.
func (s *vfE2E) send(t *testing.T, method string) {
	t.Helper()
	s.tech.click(chromedp.CSS(`[data-testid="verify-method-` + method + `"] input`))
	s.tech.click(tid("verify-send"))
}

// approvalPath waits for the n-th push and returns the path of the URL its
// decrypted payload carries.
func (s *vfE2E) approvalPath(t *testing.T, n int) string {
	t.Helper()
	apptest.WaitFor(t, 20*time.Second, func() bool { return len(s.push.Messages()) >= n }, "push %d", n)
	var pl webpush.Payload
	require.NoError(t, json.Unmarshal(s.push.Messages()[n-1].Payload, &pl))
	require.True(t, strings.HasPrefix(pl.URL, "http://latchkey.test/self-serve/verify/"), pl.URL)
	return strings.TrimPrefix(pl.URL, "http://latchkey.test")
}

// outboxSMS waits for the n-th SMS in the outbox and returns its text.
func (s *vfE2E) outboxSMS(t *testing.T, n int) string {
	t.Helper()
	var ms []notify.Message
	apptest.WaitFor(t, 20*time.Second, func() bool {
		ms = nil
		require.NoError(t, s.env.App.DB.Bun.NewSelect().Model(&ms).Where("tenant_id = ? AND channel = 'sms' AND status = ?", s.f.Tenant.ID, notify.StatusOutbox).
			Order("created_at").Scan(context.Background()))
		return len(ms) >= n
	}, "SMS %d in the outbox", n)
	text, err := sms.Text(s.env.App.Keys, &ms[n-1]) // stored encrypted
	require.NoError(t, err)
	return text
}

func (s *vfE2E) waitOutcome(t *testing.T, outcome string) {
	t.Helper()
	s.tech.waitFor(`document.querySelector('[data-testid="verify-panel"]')?.dataset.outcome === "` + outcome + `"`)
}

func TestBrowserVerifySMSApproveAndDeny(t *testing.T) {
	t.Parallel()
	s := newVerifyE2E(t, nil)
	tech := s.tech
	require.Contains(t, tech.text(tid("verify-reason-push")), "No enrolled device")

	// Approve: the caller reads the code from their SMS (here, the outbox).
	s.send(t, "sms")
	tech.wait(tid("verify-code"))
	code := tech.text(tid("verify-code"))
	require.Regexp(t, `^\d{6}$`, code)
	require.Contains(t, s.outboxSMS(t, 1), code)
	require.Contains(t, tech.text(tid("verify-destination")), "123")
	tech.screenshot("verify-sms-code")
	tech.click(tid("verify-approve"))
	s.waitOutcome(t, "verified")
	require.Contains(t, tech.text(tid("verify-outcome")), "User Identity Successfully Verified")
	tech.waitFor(`document.querySelector('[data-testid="verify-history"] [data-outcome="verified"]') !== null`)
	tech.screenshot("verify-sms-verified")
	tech.click(tid("verify-ok"))
	tech.wait(tid("verify-send"))

	// Deny: the code read out does not match.
	s.send(t, "sms")
	tech.wait(tid("verify-code"))
	code2 := tech.text(tid("verify-code"))
	require.NotEqual(t, "", code2)
	require.Contains(t, s.outboxSMS(t, 2), code2)
	tech.click(tid("verify-deny"))
	s.waitOutcome(t, "denied")
	require.Contains(t, tech.text(tid("verify-outcome")), "Unable to Verify Identity")
	tech.click(tid("verify-close"))
	tech.wait(tid("verify-send"))

	// Typed: the caller's code typed in is checked by the server.
	s.send(t, "sms")
	tech.wait(tid("verify-code"))
	code3 := tech.text(tid("verify-code"))
	sms := s.outboxSMS(t, 3)
	require.Contains(t, sms, code3)
	tech.click(chromedp.CSS(`[data-testid="verify-panel"] details summary`))
	tech.fill(`[data-testid="verify-typed-code"]`, code3)
	tech.click(tid("verify-check"))
	s.waitOutcome(t, "verified")
}

func TestBrowserVerifyPushApproveWithCountdown(t *testing.T) {
	t.Parallel()
	s := newVerifyE2E(t, nil)
	phone := s.phone(t, true, false)
	tech := s.tech
	require.Equal(t, "iPhone · Safari", tech.text(tid("verify-dest-push")))
	s.send(t, "push")
	tech.wait(tid("verify-waiting"))
	first, err := strconv.Atoi(tech.text(tid("verify-seconds")))
	require.NoError(t, err)
	require.LessOrEqual(t, first, 60)
	require.GreaterOrEqual(t, first, 55)

	path := s.approvalPath(t, 1)
	phone.open(path)
	phone.wait(tid("approve-yes"))
	require.Contains(t, phone.text(tid("approve-who")), "tess Tester")
	require.Equal(t, "Acme IT", phone.text(tid("approve-msp")))
	phone.screenshot("verify-push-phone")
	// The countdown runs on the technician's screen meanwhile.
	tech.waitFor(`Number(document.querySelector('[data-testid="verify-seconds"]')?.textContent) < ` + strconv.Itoa(first))
	tech.screenshot("verify-push-waiting")

	start := time.Now()
	phone.click(tid("approve-yes"))
	phone.wait(tid("approve-done"))
	require.Equal(t, "Approved", phone.text(tid("approve-done")))
	s.waitOutcome(t, "verified") // live: no reload on the technician's side
	took := time.Since(start)
	require.Less(t, took, 5*time.Second)
	t.Logf("phone tap to technician's panel (browser to browser, incl. the phone's page load): %s", took)
	require.Contains(t, tech.text(tid("verify-outcome")), "User Identity Successfully Verified")
	tech.waitFor(`document.querySelector('[data-testid="verify-history"] [data-outcome="verified"]') !== null`)
	tech.screenshot("verify-push-verified")
}

func TestBrowserVerifyPushDeny(t *testing.T) {
	t.Parallel()
	s := newVerifyE2E(t, nil)
	phone := s.phone(t, true, false)
	s.send(t, "push")
	s.tech.wait(tid("verify-waiting"))
	phone.open(s.approvalPath(t, 1))
	phone.click(tid("approve-no"))
	phone.wait(tid("approve-done"))
	require.Equal(t, "Denied", phone.text(tid("approve-done")))
	s.waitOutcome(t, "denied")
	require.Contains(t, s.tech.text(tid("verify-outcome")), "Unable to Verify Identity")
	require.Contains(t, s.tech.text(tid("verify-outcome")), "denied the request on their phone")
}

func TestBrowserVerifyPushTimeout(t *testing.T) {
	t.Parallel()
	s := newVerifyE2E(t, func(c *config.Config) { c.VerifyPushTimeout = 3 * time.Second })
	phone := s.phone(t, true, false)
	s.send(t, "push")
	s.tech.wait(tid("verify-waiting"))
	require.LessOrEqual(t, mustAtoi(t, s.tech.text(tid("verify-seconds"))), 3)
	s.waitOutcome(t, "expired")
	require.Contains(t, s.tech.text(tid("verify-outcome")), "Timed out")
	s.tech.screenshot("verify-push-timeout")

	// Too late on the phone.
	phone.open(s.approvalPath(t, 1))
	phone.wait(tid("approve-done"))
	require.Contains(t, phone.text(tid("approve-done")), "expired")

	// Try again sends a new push.
	s.tech.click(tid("verify-retry"))
	s.tech.wait(tid("verify-waiting"))
	phone.open(s.approvalPath(t, 2))
	phone.click(tid("approve-yes"))
	s.waitOutcome(t, "verified")
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

func TestBrowserVerifyPushPlusCode(t *testing.T) {
	t.Parallel()
	s := newVerifyE2E(t, nil)
	phone := s.phone(t, true, false)
	s.send(t, "push_code")
	s.tech.wait(tid("verify-waiting"))
	phone.open(s.approvalPath(t, 1))
	phone.click(tid("approve-yes"))
	phone.wait(tid("approve-code"))
	phoneCode := phone.text(tid("approve-code"))
	require.Regexp(t, `^\d{6}$`, phoneCode)
	phone.screenshot("verify-push-code-phone")

	// The panel shows the check mark over "Waiting for approval" and the expected code.
	s.tech.wait(tid("verify-phone-approved"))
	require.Equal(t, phoneCode, s.tech.text(tid("verify-code")))
	s.tech.screenshot("verify-push-code-compare")
	s.tech.click(tid("verify-approve"))
	s.waitOutcome(t, "verified")
}

func TestBrowserVerifyNumberMatching(t *testing.T) {
	t.Parallel()
	s := newVerifyE2E(t, nil)
	_, err := s.env.App.Web.Verify.SaveSettings(context.Background(),
		audit.Actor{TenantID: s.f.Tenant.ID, LoginID: s.f.Primary.ID, Name: "Pat", Role: string(login.RolePrimary)},
		verify.SettingsInput{CodeMinutes: "5", NumberMatching: true})
	require.NoError(t, err)
	phone := s.phone(t, true, false)
	s.send(t, "push")
	s.tech.wait(tid("verify-match-number"))
	n := s.tech.text(tid("verify-match-number"))
	phone.open(s.approvalPath(t, 1))
	phone.wait(tid("approve-number-" + n))
	phone.screenshot("verify-number-matching-phone")
	phone.click(tid("approve-number-" + n))
	phone.wait(tid("approve-done"))
	s.waitOutcome(t, "verified")
}

func TestBrowserVerifyFallbackToSMS(t *testing.T) {
	t.Parallel()
	s := newVerifyE2E(t, nil)
	s.phone(t, true, true) // the push service answers 410 Gone
	s.send(t, "push")
	// The push cannot be delivered: the panel switches to an SMS code by itself.
	s.tech.wait(tid("verify-fallback"))
	require.Contains(t, s.tech.text(tid("verify-fallback")), "SMS code was sent instead")
	code := s.tech.text(tid("verify-code"))
	require.Contains(t, s.outboxSMS(t, 1), code)
	s.tech.screenshot("verify-fallback")
	s.tech.click(tid("verify-approve"))
	s.waitOutcome(t, "verified")
	require.Contains(t, s.tech.text(tid("verify-panel")), "instead of push")
}
