package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/verify"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// These tests drive the service worker (static/sw.js) in Chromium: a push
// message is delivered to it through the DevTools protocol
// (ServiceWorker.deliverPushMessage: the payload as the push service would
// hand it over after decryption), and its notifications are shown on a
// desktop that the test runs (notifyd: a notification server on a private
// D-Bus, which Chromium on Linux uses, headless too). A click there is a
// real one: Chromium dispatches notificationclick with the right to open a
// window, as it does when a user clicks a notification.

// swE2E is the app, a Chromium of the test's own whose desktop is notifyd,
// and a page on the app's origin (http://127.0.0.1:port, a secure context)
// that registered /sw.js as static/js/push.js does, with notifications
// allowed for the origin.
type swE2E struct {
	desk   *notifyd
	p      *page
	origin string
	reg    serviceworker.RegistrationID
}

func newServiceWorkerE2E(t *testing.T) *swE2E {
	t.Helper()
	env := apptest.New(t, db.SQLite)
	env.Setup("Acme IT")
	desk := startNotifyd(t)
	// A browser of its own: it must start with the private bus as its
	// session bus (and so shows nothing on a developer's real desktop).
	bctx, stop, err := startChromium(chromedp.Env("DBUS_SESSION_BUS_ADDRESS=" + desk.addr))
	if err != nil {
		if dbtest.Strict() {
			t.Fatalf("e2e: Chromium is required (LATCHKEY_TEST_STRICT=1): %s", err)
		}
		t.Skipf("e2e: skipping browser test: %s", err)
	}
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(cancel)
	s := &swE2E{desk: desk, p: &page{t: t, ctx: ctx, url: env.URL}, origin: env.URL}

	s.p.open("/signin")
	_, err = chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission: &cdpbrowser.PermissionDescriptor{Name: string(cdpbrowser.PermissionTypeNotifications)},
		Setting:    cdpbrowser.PermissionSettingGranted, Origin: s.origin,
	})
	require.NoError(t, err)
	require.Equal(t, "granted", s.eval(`Notification.permission`))

	// Register as push.js does, and learn the registration's id from the
	// ServiceWorker domain (deliverPushMessage needs it).
	versions := chromedp.Events(ctx, serviceworker.WorkerVersionUpdated)
	_, err = chromedp.Call(ctx, serviceworker.Enable, cdp.Empty{})
	require.NoError(t, err)
	state := s.eval(`navigator.serviceWorker.register('/sw.js', {scope: '/'})
		.then(() => navigator.serviceWorker.ready).then(r => r.active.scriptURL + ' ' + r.scope)`)
	require.Equal(t, s.origin+"/sw.js "+s.origin+"/", state)
	for ev, err := range versions {
		require.NoError(t, err)
		for _, v := range ev.Versions {
			if v.ScriptURL == s.origin+"/sw.js" && v.Status == serviceworker.VersionStatusActivated {
				s.reg = v.RegistrationID
			}
		}
		if s.reg != "" {
			break
		}
	}
	require.NotEmpty(t, s.reg)
	return s
}

// eval evaluates JavaScript in the page (awaiting a promise) and returns
// the result as a string.
func (s *swE2E) eval(js string) string {
	s.p.t.Helper()
	v, err := chromedp.Run(s.p.ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	require.NoError(s.p.t, err, js)
	return v
}

// push delivers a push message with the data to the service worker.
func (s *swE2E) push(data string) {
	s.p.t.Helper()
	_, err := chromedp.Call(s.p.ctx, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
		Origin: s.origin, RegistrationID: s.reg, Data: data,
	})
	require.NoError(s.p.t, err)
}

// pushPayload delivers the payload as the server sends it (JSON).
func (s *swE2E) pushPayload(pl webpush.Payload) {
	s.p.t.Helper()
	b, err := json.Marshal(pl)
	require.NoError(s.p.t, err)
	s.push(string(b))
}

// webNote is a notification as the page's registration.getNotifications()
// sees it.
type webNote struct {
	Title              string `json:"title"`
	Body               string `json:"body"`
	Tag                string `json:"tag"`
	RequireInteraction bool   `json:"requireInteraction"`
	Data               struct {
		URL string `json:"url"`
	} `json:"data"`
}

// notifications returns the service worker's notifications on show.
func (s *swE2E) notifications() []webNote {
	s.p.t.Helper()
	raw := s.eval(`navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => JSON.stringify(ns.map(n =>
		({title: n.title, body: n.body, tag: n.tag, requireInteraction: n.requireInteraction, data: n.data}))))`)
	var ns []webNote
	require.NoError(s.p.t, json.Unmarshal([]byte(raw), &ns))
	return ns
}

// waitDesktop waits until the desktop (notifyd) shows a notification with
// the summary and a body that holds body, and returns it.
//
// Read registration.getNotifications() only once the desktop shows what
// was pushed: Chromium answers it with the notifications that it stored and
// that the desktop still shows, and one that is stored but not yet handed
// to the desktop counts as closed and is dropped.
func (s *swE2E) waitDesktop(summary, body string) desktopNote {
	s.p.t.Helper()
	var n desktopNote
	apptest.WaitFor(s.p.t, 20*time.Second, func() bool {
		shown := s.desk.shown()
		i := slices.IndexFunc(shown, func(d desktopNote) bool { return d.Summary == summary && strings.Contains(d.Body, body) })
		if i >= 0 {
			n = shown[i]
		}
		return i >= 0
	}, "a desktop notification %q with %q", summary, body)
	return n
}

// tabs returns the URLs of the browser's pages (tabs and windows), sorted.
func (s *swE2E) tabs() []string {
	s.p.t.Helper()
	ts, err := chromedp.Targets(s.p.ctx)
	require.NoError(s.p.t, err)
	var urls []string
	for _, ti := range ts {
		if ti.Type == "page" {
			urls = append(urls, ti.URL)
		}
	}
	slices.Sort(urls)
	return urls
}

// waitTab waits until a page at the URL has loaded the title.
func (s *swE2E) waitTab(url, title string) {
	s.p.t.Helper()
	apptest.WaitFor(s.p.t, 20*time.Second, func() bool {
		ts, err := chromedp.Targets(s.p.ctx)
		require.NoError(s.p.t, err)
		return slices.ContainsFunc(ts, func(ti *target.Info) bool { return ti.Type == "page" && ti.URL == url && ti.Title == title })
	}, "a page at %s titled %q", url, title)
}

// verification is the payload app/verify sends for a verification, with
// the link made absolute on the app's origin as webpush.Queue does.
func (s *swE2E) verification(id, title string) webpush.Payload {
	return webpush.Payload{Title: title, Body: "tess Tester is verifying your identity. Tap to approve or deny.",
		URL: s.origin + verify.ApprovalPath(id), ID: id, Kind: "verification"}
}

func TestBrowserServiceWorkerPushShowsNotification(t *testing.T) {
	t.Parallel()
	s := newServiceWorkerE2E(t)
	require.Empty(t, s.notifications())

	first := s.verification("v1", "Acme IT: is this you?")
	s.pushPayload(first)
	d := s.waitDesktop(first.Title, first.Body)
	ns := s.notifications()
	require.Len(t, ns, 1, "%+v", ns)
	require.Equal(t, first.Title, ns[0].Title)
	require.Equal(t, first.Body, ns[0].Body)
	require.Equal(t, "v1", ns[0].Tag)
	require.True(t, ns[0].RequireInteraction, "a verification waits for the user")
	require.Equal(t, first.URL, ns[0].Data.URL)

	// A newer push for the same verification replaces it.
	again := first
	again.Body = "Second reminder: tap to approve or deny."
	s.pushPayload(again)
	require.Equal(t, d.ID, s.waitDesktop(first.Title, again.Body).ID, "replaced on the desktop")
	ns = s.notifications()
	require.Len(t, ns, 1, "%+v", ns)
	require.Equal(t, "v1", ns[0].Tag)
	require.Equal(t, again.Body, ns[0].Body)

	// Another one adds one; a notice (no kind) does not insist.
	notice := webpush.Payload{Title: "Acme IT: password expires soon", Body: "Your password for dana expires in 3 days.",
		URL: s.origin + "/self-serve", ID: "n1"}
	s.pushPayload(notice)
	s.waitDesktop(notice.Title, notice.Body)
	ns = s.notifications()
	require.Len(t, ns, 2, "%+v", ns)
	i := slices.IndexFunc(ns, func(n webNote) bool { return n.Tag == "n1" })
	require.GreaterOrEqual(t, i, 0, "%+v", ns)
	require.Equal(t, notice.Title, ns[i].Title)
	require.Equal(t, notice.Body, ns[i].Body)
	require.False(t, ns[i].RequireInteraction)
	require.Equal(t, notice.URL, ns[i].Data.URL)

	// Not JSON: the text is the body, under the product's name.
	s.push("Your code is 482913")
	s.waitDesktop("Latchkey", "Your code is 482913")
	ns = s.notifications()
	require.Len(t, ns, 3, "%+v", ns)
	i = slices.IndexFunc(ns, func(n webNote) bool { return n.Tag == "" })
	require.GreaterOrEqual(t, i, 0, "%+v", ns)
	require.Equal(t, "Latchkey", ns[i].Title)
	require.Equal(t, "Your code is 482913", ns[i].Body)
	require.False(t, ns[i].RequireInteraction)
	require.Equal(t, "", ns[i].Data.URL)
	require.Len(t, s.desk.shown(), 3)

	// Text that happens to be JSON but not an object is text too.
	s.push("739105")
	s.waitDesktop("Latchkey", "739105")
	ns = s.notifications()
	require.Len(t, ns, 4, "%+v", ns)
	require.True(t, slices.ContainsFunc(ns, func(n webNote) bool { return n.Title == "Latchkey" && n.Body == "739105" }), "%+v", ns)
}

// approvalTitle is the title of the approval page in a browser without
// the device's cookie (the self-serve layout, with the MSP's name).
const approvalTitle = "Open this on your phone · Acme IT"

func TestBrowserServiceWorkerNotificationClick(t *testing.T) {
	t.Parallel()
	s := newServiceWorkerE2E(t)
	before := s.tabs()
	require.Equal(t, []string{s.origin + "/signin"}, before)

	// A click on a verification's notification opens its approval page and
	// closes the notification.
	v1 := s.verification("v1", "Acme IT: is this you?")
	s.pushPayload(v1)
	n1 := s.waitDesktop(v1.Title, v1.Body)
	s.desk.click(n1)
	s.waitTab(v1.URL, approvalTitle)
	apptest.WaitFor(t, 20*time.Second, func() bool { return s.desk.wasClosed(n1.ID) }, "the notification closed")
	require.Empty(t, s.notifications())
	require.Equal(t, sorted(before, v1.URL), s.tabs())

	// A link to another origin (here the same server by another name) opens
	// nothing; a second click for v1 focuses the tab open there; then a
	// third verification's opens its page. The clicks reach the service
	// worker in this order, so once the third page is there, a page for
	// the first two would be too.
	other := s.verification("v2", "Acme IT: is this you? (elsewhere)")
	other.URL = strings.Replace(s.origin, "127.0.0.1", "localhost", 1) + verify.ApprovalPath("v2")
	again := s.verification("v1", "Acme IT: is this you? (again)")
	v3 := s.verification("v3", "Acme IT: is this you? (third)")
	var clicked []desktopNote
	for _, pl := range []webpush.Payload{other, again, v3} {
		s.pushPayload(pl)
		clicked = append(clicked, s.waitDesktop(pl.Title, pl.Body))
	}
	for _, n := range clicked {
		s.desk.click(n)
	}
	s.waitTab(v3.URL, approvalTitle)
	for _, n := range clicked {
		apptest.WaitFor(t, 20*time.Second, func() bool { return s.desk.wasClosed(n.ID) }, "%q closed", n.Summary)
	}
	require.Equal(t, sorted(before, v1.URL, v3.URL), s.tabs(), "only the two same-origin pages opened, once each")
	require.Empty(t, s.notifications())
	require.Empty(t, s.desk.shown())
}

func sorted(a []string, more ...string) []string {
	out := slices.Concat(a, more)
	slices.Sort(out)
	return out
}
