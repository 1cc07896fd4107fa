package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

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
	"github.com/latchkey/latchkey/app/sms/twiliotest"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/app/webpush/pushtest"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// vfSite is a tenant with a technician and an end user Dana (email,
// mobile, self-serve on), and a local push service.
type vfSite struct {
	env  *apptest.Env
	f    *apptest.Fixture
	tech *login.Login
	tc   *apptest.Client // the technician, signed in
	user *enduser.EndUser
	push *pushtest.Server
}

func vfEach(t *testing.T, fn func(t *testing.T, s *vfSite)) {
	t.Helper()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			fn(t, vfNew(t, dia, nil))
		})
	}
}

func vfNew(t testing.TB, dia db.Dialect, configure func(*config.Config)) *vfSite {
	t.Helper()
	env := apptest.New(t, dia, apptest.Options{Configure: func(c *config.Config) {
		c.PushAnyEndpoint = true
		if configure != nil {
			configure(c)
		}
	}})
	f := env.Setup("Acme IT")
	s := &vfSite{env: env, f: f, push: pushtest.New(t)}
	s.tech = env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
	s.tc = env.Client()
	s.tc.SignIn(s.tech.Email)
	s.user = vfEndUser(t, env, f.Tenant.ID, "dana")
	return s
}

func vfEndUser(t testing.TB, env *apptest.Env, tenantID, username string) *enduser.EndUser {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	c := &customer.Customer{ID: db.NewID(), TenantID: tenantID, Name: "Globex " + username, Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
	_, err := env.App.DB.Bun.NewInsert().Model(c).Exec(ctx)
	require.NoError(t, err)
	u := &enduser.EndUser{ID: db.NewID(), TenantID: tenantID, CustomerID: c.ID, Username: username, FirstName: "Dana", LastName: "Scully",
		Email: username + "@globex.example", EmailSource: enduser.ValueManual, Mobile: danaMobile, MobileSource: enduser.ValueManual,
		SelfServeEnabled: true, Source: enduser.SourceManual, CreatedAt: now, UpdatedAt: now}
	_, err = env.App.DB.Bun.NewInsert().Model(u).Exec(ctx)
	require.NoError(t, err)
	return u
}

// enrol gives the end user a device (with a push subscription of the local
// push service when push) and returns a client that holds its cookie, as
// the enrolled phone's browser would.
func (s *vfSite) enrol(t testing.TB, u *enduser.EndUser, push bool) (*apptest.Client, pushtest.Subscription) {
	t.Helper()
	ctx := context.Background()
	var (
		in *webpush.SubscriptionInput
		ps pushtest.Subscription
	)
	if push {
		pub, err := s.env.App.Web.Push.PublicKey(ctx)
		require.NoError(t, err)
		ps = s.push.Subscribe(t, pub)
		in = &webpush.SubscriptionInput{Endpoint: ps.Endpoint, P256dh: ps.P256dh, Auth: ps.Auth, UserAgent: "Mozilla/5.0 (iPhone)"}
	}
	var cred string
	require.NoError(t, s.env.App.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var err error
		cred, _, err = s.env.App.Web.Devices.Enrol(ctx, tx, u.TenantID, u.ID, "iPhone · Safari", in)
		return err
	}))
	phone := s.env.Client()
	base, _ := url.Parse(s.env.URL + "/self-serve/")
	phone.HTTP.Jar.SetCookies(base, []*http.Cookie{device.Cookie(cred, false)})
	return phone, ps
}

func vfTid(id string) string { return `data-testid="` + id + `"` }

var vfCodeRe = regexp.MustCompile(`data-testid="verify-code"[^>]*>(\d{6})<`)

func vfCode(t *testing.T, body string) string {
	t.Helper()
	m := vfCodeRe.FindStringSubmatch(body)
	require.NotNil(t, m, "no code in:\n%s", body)
	return m[1]
}

var vfIDRe = regexp.MustCompile(`/verify/([0-9A-Za-z]{26})/decide|/verify/([0-9A-Za-z]{26})/events|/verify/([0-9A-Za-z]{26})/cancel`)

func vfID(t testing.TB, body string) string {
	t.Helper()
	m := vfIDRe.FindStringSubmatch(body)
	require.NotNil(t, m, "no verification id in:\n%s", body)
	return m[1] + m[2] + m[3]
}

func (s *vfSite) start(t *testing.T, method string) (*apptest.Response, string) {
	t.Helper()
	res := s.tc.PostForm("/end-users/"+s.user.ID+"/verify", url.Values{"method": {method}}, htmx("#verify-panel")...)
	require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
	return res, vfID(t, res.Body)
}

func vfMessages(t *testing.T, env *apptest.Env, tenantID, channel string) []notify.Message {
	t.Helper()
	var ms []notify.Message
	require.NoError(t, env.App.DB.Bun.NewSelect().Model(&ms).Where("tenant_id = ? AND channel = ?", tenantID, channel).
		Order("created_at").Scan(context.Background()))
	return ms
}

func TestVerifySMSCodeApprove(t *testing.T) {
	t.Parallel()
	vfEach(t, func(t *testing.T, s *vfSite) {
		page := s.tc.Get("/end-users/" + s.user.ID)
		require.Equal(t, http.StatusOK, page.StatusCode)
		bodyHas(t, page.Body, vfTid("enduser-verification"))
		bodyHas(t, page.Body, `data-stage="choose"`)
		bodyHas(t, page.Body, `/static/js/verify.js`)
		bodyHas(t, page.Body, vfTid("verify-reason-push")+`>No enrolled device.<`)
		bodyHas(t, page.Body, vfTid("verify-history-empty"))

		res, id := s.start(t, "sms")
		bodyHas(t, res.Body, `data-stage="code"`)
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		require.Contains(t, res.Header.Get("HX-Trigger"), "verify-changed")
		code := vfCode(t, res.Body)
		bodyHas(t, res.Body, "+1 ••• ••• 123")

		// SMS is not set up: the message waits in the outbox, readable there, with the code
		// (stored encrypted only).
		apptest.WaitFor(t, 20*time.Second, func() bool {
			ms := vfMessages(t, s.env, s.f.Tenant.ID, "sms")
			return len(ms) == 1 && ms[0].Status == notify.StatusOutbox
		}, "the SMS in the outbox")
		ms := vfMessages(t, s.env, s.f.Tenant.ID, "sms")
		require.Equal(t, danaMobile, ms[0].To)
		require.Empty(t, ms[0].BodyText)
		require.NotContains(t, ms[0].Data, code)
		text, err := sms.Text(s.env.App.Keys, &ms[0])
		require.NoError(t, err)
		require.Contains(t, text, code)
		require.Contains(t, text, "Acme IT")

		// The panel's state survives a reload (the countdown asks at zero).
		st := s.tc.Get("/end-users/"+s.user.ID+"/verify/"+id, htmx("#verify-panel")...)
		require.Equal(t, http.StatusOK, st.StatusCode)
		require.Equal(t, code, vfCode(t, st.Body))

		res = s.tc.PostForm("/end-users/"+s.user.ID+"/verify/"+id+"/decide", url.Values{"decision": {"approve"}}, htmx("#verify-panel")...)
		require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
		bodyHas(t, res.Body, "User Identity Successfully Verified")
		bodyHas(t, res.Body, `data-outcome="verified"`)
		bodyHas(t, res.Body, vfTid("verify-ok"))

		// Single use: a second decision is refused, and the panel reloads itself.
		res = s.tc.PostForm("/end-users/"+s.user.ID+"/verify/"+id+"/decide", url.Values{"decision": {"deny"}}, htmx("#verify-panel")...)
		require.Equal(t, http.StatusConflict, res.StatusCode)
		require.Contains(t, res.Header.Get("HX-Trigger"), "verify-refresh")

		hist := s.tc.Get("/end-users/"+s.user.ID+"/verify/history", htmx("#verify-history")...)
		require.Equal(t, http.StatusOK, hist.StatusCode)
		bodyHas(t, hist.Body, `data-outcome="verified"`)
		bodyHas(t, hist.Body, "tess Tester")
		bodyHas(t, hist.Body, "SMS code")
		bodyHas(t, hist.Body, "+1 ••• ••• 123")
		events := gridAudit(t, s.env, s.f.Tenant.ID, "verification.verified")
		require.Len(t, events, 1)
		require.Regexp(t, `receipt LK-`, events[0].Detail)
		require.Equal(t, s.tech.ID, events[0].ActorID)
	})
}

func TestVerifyEmailDenyAndWrongCodes(t *testing.T) {
	t.Parallel()
	vfEach(t, func(t *testing.T, s *vfSite) {
		_, id := s.start(t, "email")
		res := s.tc.PostForm("/end-users/"+s.user.ID+"/verify/"+id+"/decide", url.Values{"decision": {"deny"}}, htmx("#verify-panel")...)
		require.Equal(t, http.StatusOK, res.StatusCode)
		bodyHas(t, res.Body, "Unable to Verify Identity")
		bodyHas(t, res.Body, `data-outcome="denied"`)
		ms := vfMessages(t, s.env, s.f.Tenant.ID, "email")
		require.Len(t, ms, 1)
		require.Equal(t, "dana@globex.example", ms[0].To)

		// Five wrong codes typed: 422 with tries left, then 429 and locked.
		res, id = s.start(t, "sms")
		code := vfCode(t, res.Body)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		for i := range 4 {
			res = s.tc.PostForm("/end-users/"+s.user.ID+"/verify/"+id+"/check", url.Values{"code": {wrong}}, htmx("#verify-panel")...)
			require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode, res.Body)
			bodyHas(t, res.Body, []string{"4 tries", "3 tries", "2 tries", "1 try "}[i])
		}
		res = s.tc.PostForm("/end-users/"+s.user.ID+"/verify/"+id+"/check", url.Values{"code": {wrong}}, htmx("#verify-panel")...)
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		require.Contains(t, res.Header.Get("HX-Trigger"), "verify-refresh")
		st := s.tc.Get("/end-users/"+s.user.ID+"/verify/"+id, htmx("#verify-panel")...)
		bodyHas(t, st.Body, `data-outcome="locked"`)
		bodyHas(t, st.Body, vfTid("verify-retry"))
	})
}

func TestVerifyRoutesOfAnotherTenantAreNotFound(t *testing.T) {
	t.Parallel()
	vfEach(t, func(t *testing.T, s *vfSite) {
		_, id := s.start(t, "sms")
		phone, _ := s.enrol(t, s.user, false)

		// Another tenant's technician and admin, with an end user and device of their own.
		other := s.env.Setup("Other MSP")
		mine := vfEndUser(t, s.env, other.Tenant.ID, "mulder")
		oc := s.env.Client()
		oc.SignIn(other.Primary.Email)
		for _, eu := range []string{s.user.ID, mine.ID} {
			base := "/end-users/" + eu + "/verify"
			if eu == s.user.ID {
				for _, path := range []string{base, base + "/history"} {
					require.Equal(t, http.StatusNotFound, oc.Get(path).StatusCode, path)
					require.Equal(t, http.StatusNotFound, oc.Get(path, htmx("#verify-panel")...).StatusCode, path)
				}
				require.Equal(t, http.StatusNotFound, oc.PostForm(base, url.Values{"method": {"sms"}}, htmx("#verify-panel")...).StatusCode)
				require.Equal(t, http.StatusNotFound, oc.PostForm(base+"/unblock", nil).StatusCode)
			}
			for _, path := range []string{base + "/" + id, base + "/" + id + "/events?v=1"} {
				require.Equal(t, http.StatusNotFound, oc.Get(path).StatusCode, path)
				require.Equal(t, http.StatusNotFound, oc.Get(path, htmx("#verify-panel")...).StatusCode, path)
			}
			for _, path := range []string{base + "/" + id + "/decide", base + "/" + id + "/check", base + "/" + id + "/cancel"} {
				require.Equal(t, http.StatusNotFound, oc.PostForm(path, url.Values{"decision": {"approve"}, "code": {"123456"}}).StatusCode, path)
				require.Equal(t, http.StatusNotFound, oc.PostForm(path, url.Values{"decision": {"approve"}}, htmx("#verify-panel")...).StatusCode, path)
			}
		}
		// The verification of one end user under another of the same tenant is not found either.
		bob := vfEndUser(t, s.env, s.f.Tenant.ID, "bob")
		require.Equal(t, http.StatusNotFound, s.tc.Get("/end-users/"+bob.ID+"/verify/"+id).StatusCode)
		require.Equal(t, http.StatusNotFound, s.tc.PostForm("/end-users/"+bob.ID+"/verify/"+id+"/decide", url.Values{"decision": {"approve"}}).StatusCode)

		// The other tenant's enrolled phone cannot open or answer it.
		ophone, _ := s.enrol(t, mine, false)
		require.Equal(t, http.StatusNotFound, ophone.Get("/self-serve/verify/"+id).StatusCode)
		require.Equal(t, http.StatusNotFound, ophone.PostForm("/self-serve/verify/"+id, url.Values{"answer": {"approve"}}).StatusCode)
		// Nor the end user's own phone: it is not a push.
		require.Equal(t, http.StatusNotFound, phone.Get("/self-serve/verify/"+id).StatusCode)

		v, err := s.env.App.Web.Verify.Get(context.Background(), s.f.Tenant.ID, id)
		require.NoError(t, err)
		require.Equal(t, "pending", string(v.State), "nothing changed it")
	})
}

// sseEvent reads server-sent events until one named event arrives.
func sseEvent(t *testing.T, r *bufio.Reader, event string) string {
	t.Helper()
	name, data := "", []string{}
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if name == event {
				return strings.Join(data, "\n")
			}
			name, data = "", nil
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
}

// stream opens the panel's live stream as the technician's browser does.
func (s *vfSite) stream(t *testing.T, id string, version int) (*bufio.Reader, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.env.URL+"/end-users/"+s.user.ID+"/verify/"+id+"/events?v="+strconv.Itoa(version), nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	res, err := s.tc.HTTP.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	return bufio.NewReader(res.Body), func() { cancel(); res.Body.Close() }
}

func TestVerifyPushEndToEnd(t *testing.T) {
	t.Parallel()
	vfEach(t, func(t *testing.T, s *vfSite) {
		phone, _ := s.enrol(t, s.user, true)
		page := s.tc.Get("/end-users/" + s.user.ID)
		bodyHas(t, page.Body, vfTid("verify-dest-push")+`>iPhone · Safari<`)

		// The clock stands still until the panel is drawn: on a loaded
		// machine more than half a second can pass, and the countdown
		// then starts at 59.
		s.env.Clock.Set(time.Now())
		res, id := s.start(t, "push")
		bodyHas(t, res.Body, `data-stage="push"`)
		bodyHas(t, res.Body, `sse-connect="/end-users/`+s.user.ID+`/verify/`+id+`/events?v=1"`)
		bodyHas(t, res.Body, vfTid("verify-seconds")+`>60<`)

		// The push service received the notification; decrypted, it carries the approval URL.
		apptest.WaitFor(t, 20*time.Second, func() bool { return len(s.push.Messages()) == 1 }, "the push")
		var payload webpush.Payload
		require.NoError(t, json.Unmarshal(s.push.Messages()[0].Payload, &payload))
		require.Equal(t, "http://latchkey.test/self-serve/verify/"+id, payload.URL)
		require.Equal(t, id, payload.ID)
		require.Contains(t, payload.Title, "Acme IT")
		require.Contains(t, payload.Body, "tess Tester")
		require.LessOrEqual(t, s.push.Messages()[0].TTL, 60)

		// Without the device cookie the approval page does not open.
		stranger := s.env.Client()
		res = stranger.Get("/self-serve/verify/" + id)
		require.Equal(t, http.StatusForbidden, res.StatusCode)
		bodyHas(t, res.Body, vfTid("approve-no-device"))
		require.Equal(t, http.StatusForbidden, stranger.PostForm("/self-serve/verify/"+id, url.Values{"answer": {"approve"}}).StatusCode)

		// On the phone: who asks, from which MSP.
		res = phone.Get("/self-serve/verify/" + id)
		require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		bodyHas(t, res.Body, vfTid("approve-msp")+`>Acme IT<`)
		bodyHas(t, res.Body, "<strong>tess Tester</strong> at Acme IT")
		bodyHas(t, res.Body, vfTid("approve-yes"))

		r, closeStream := s.stream(t, id, 1)
		defer closeStream()
		res = phone.PostForm("/self-serve/verify/"+id, url.Values{"answer": {"approve"}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		ev := sseEvent(t, r, "panel")
		require.Contains(t, ev, "User Identity Successfully Verified")
		require.Contains(t, ev, `data-outcome="verified"`)
		res = phone.Get("/self-serve/verify/" + id)
		bodyHas(t, res.Body, `data-state="verified"`)
		require.Equal(t, http.StatusConflict, phone.PostForm("/self-serve/verify/"+id, url.Values{"answer": {"deny"}}).StatusCode)
	})
}

func TestVerifyPushCodeAndNumberMatching(t *testing.T) {
	t.Parallel()
	vfEach(t, func(t *testing.T, s *vfSite) {
		phone, _ := s.enrol(t, s.user, true)
		res, id := s.start(t, "push_code")
		bodyHas(t, res.Body, vfTid("verify-waiting"))
		res = phone.PostForm("/self-serve/verify/"+id, url.Values{"answer": {"approve"}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		res = phone.Get("/self-serve/verify/" + id)
		phoneCode := regexp.MustCompile(`data-testid="approve-code">(\d{6})<`).FindStringSubmatch(res.Body)
		require.NotNil(t, phoneCode, res.Body)
		st := s.tc.Get("/end-users/"+s.user.ID+"/verify/"+id, htmx("#verify-panel")...)
		bodyHas(t, st.Body, `data-stage="compare"`)
		bodyHas(t, st.Body, vfTid("verify-phone-approved"))
		require.Equal(t, phoneCode[1], vfCode(t, st.Body))
		res = s.tc.PostForm("/end-users/"+s.user.ID+"/verify/"+id+"/decide", url.Values{"decision": {"approve"}}, htmx("#verify-panel")...)
		bodyHas(t, res.Body, `data-outcome="verified"`)

		// Number matching (an admin turns it on): the phone offers three numbers.
		ac := s.env.Client()
		ac.SignIn(s.f.Primary.Email)
		settings := ac.Get("/settings")
		bodyHas(t, settings.Body, vfTid("verify-settings"))
		res = ac.PostForm("/settings/verification", url.Values{"code_minutes": {"11"}}, htmx("#verify-settings")...)
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		res = ac.PostForm("/settings/verification", url.Values{"code_minutes": {"4"}, "number_matching": {"on"}}, htmx("#verify-settings")...)
		require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
		bodyHas(t, res.Body, `<option value="4" selected>`)
		require.Equal(t, http.StatusForbidden, s.tc.PostForm("/settings/verification", url.Values{"code_minutes": {"5"}}).StatusCode)

		res, id = s.start(t, "push")
		m := regexp.MustCompile(`data-testid="verify-match-number">(\d\d)<`).FindStringSubmatch(res.Body)
		require.NotNil(t, m, res.Body)
		page := phone.Get("/self-serve/verify/" + id)
		require.Len(t, regexp.MustCompile(`data-testid="approve-number-\d\d"`).FindAllString(page.Body, -1), 3)
		bodyHas(t, page.Body, vfTid("approve-number-"+m[1]))
		res = phone.PostForm("/self-serve/verify/"+id, url.Values{"answer": {"approve"}, "number": {m[1]}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		st = s.tc.Get("/end-users/"+s.user.ID+"/verify/"+id, htmx("#verify-panel")...)
		bodyHas(t, st.Body, `data-outcome="verified"`)
	})
}

func TestVerifyFallbackWhenPushIsGone(t *testing.T) {
	t.Parallel()
	vfEach(t, func(t *testing.T, s *vfSite) {
		_, ps := s.enrol(t, s.user, true)
		s.push.Gone(ps.Endpoint, http.StatusGone)
		_, id := s.start(t, "push")
		r, closeStream := s.stream(t, id, 1)
		defer closeStream()
		// send_push gets 410 (the subscription is revoked); verify_push_check turns the push into an SMS code.
		ev := sseEvent(t, r, "panel")
		require.Contains(t, ev, `data-stage="code"`)
		require.Contains(t, ev, vfTid("verify-fallback"))
		code := vfCode(t, ev)
		apptest.WaitFor(t, 20*time.Second, func() bool {
			ms := vfMessages(t, s.env, s.f.Tenant.ID, "sms")
			return len(ms) == 1 && ms[0].Status == notify.StatusOutbox && strings.Contains(smsText(t, s.env, &ms[0]), code)
		}, "the fallback SMS with the panel's code")
		require.Len(t, gridAudit(t, s.env, s.f.Tenant.ID, "verification.fallback"), 1)

		// No working subscription now: the next push falls back at once.
		res, _ := s.start(t, "push")
		bodyHas(t, res.Body, vfTid("verify-fallback"))
		bodyHas(t, res.Body, `data-stage="code"`)
	})
}

func TestVerifyTwilio(t *testing.T) {
	t.Parallel()
	twilioEnv(t, func(t *testing.T, env *apptest.Env, tw *twiliotest.Server) {
		f := env.Setup("Acme IT")
		ac := env.Client()
		ac.SignIn(f.Primary.Email)
		res := ac.PostForm("/settings/sms", url.Values{"account_sid": {tw.AccountSID}, "auth_token": {tw.AuthToken}, "from_number": {mspNumber}, "daily_limit": {"100"}})
		require.Contains(t, []int{http.StatusOK, http.StatusSeeOther}, res.StatusCode, res.Body)
		u := vfEndUser(t, env, f.Tenant.ID, "dana")
		res = ac.PostForm("/end-users/"+u.ID+"/verify", url.Values{"method": {"sms"}}, htmx("#verify-panel")...)
		require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
		code := vfCode(t, res.Body)
		apptest.WaitFor(t, 20*time.Second, func() bool { return len(tw.Messages()) == 1 }, "the SMS at Twilio")
		m := tw.Messages()[0]
		require.Equal(t, danaMobile, m.To)
		require.Equal(t, mspNumber, m.From)
		require.Contains(t, m.Body, code)
	})
}

func TestVerifyWithoutJavaScript(t *testing.T) {
	t.Parallel()
	vfEach(t, func(t *testing.T, s *vfSite) {
		res := s.tc.PostForm("/end-users/"+s.user.ID+"/verify", url.Values{"method": {"email"}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		loc := res.Header.Get("Location")
		page := s.tc.Get(loc)
		require.Equal(t, http.StatusOK, page.StatusCode)
		bodyHas(t, page.Body, vfTid("sidebar"))
		bodyHas(t, page.Body, `data-stage="code"`)
		res = s.tc.PostForm(loc+"/decide", url.Values{"decision": {"approve"}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		bodyHas(t, s.tc.Get(loc).Body, `data-outcome="verified"`)
		// A method that is not available is refused with its reason.
		res = s.tc.PostForm("/end-users/"+s.user.ID+"/verify", url.Values{"method": {"push"}}, htmx("#verify-panel")...)
		require.Equal(t, http.StatusConflict, res.StatusCode)
		require.Contains(t, res.Body, "No enrolled device")
	})
}

func TestServiceWorkerAtRoot(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite, apptest.Options{NoWorkers: true})
	env.Setup("Acme IT")
	res := env.Client().Get("/sw.js")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, res.Header.Get("Content-Type"), "javascript")
	require.Contains(t, res.Body, "showNotification")
	require.Contains(t, res.Body, "notificationclick")
	res = env.Client().Get("/static/js/push.js")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, res.Body, "serviceWorker.register('/sw.js'")
}

func TestVerifyDeviceSavesPushSubscription(t *testing.T) {
	t.Parallel()
	vfEach(t, func(t *testing.T, s *vfSite) {
		phone, _ := s.enrol(t, s.user, false)
		page := s.tc.Get("/end-users/" + s.user.ID)
		bodyHas(t, page.Body, vfTid("verify-note-push"), "notifications are off on the device")

		// What push.js does: read the key, subscribe, post the subscription with the CSRF token.
		res := phone.Get("/self-serve/push/key")
		require.Equal(t, http.StatusOK, res.StatusCode)
		ps := s.push.Subscribe(t, res.Body)
		body := `{"endpoint":"` + ps.Endpoint + `","expirationTime":null,"keys":{"p256dh":"` + ps.P256dh + `","auth":"` + ps.Auth + `"}}`
		res = phone.PostRaw("/self-serve/push/subscription", "application/json", strings.NewReader(body), "X-CSRF-Token", phone.CSRF())
		require.Equal(t, http.StatusNoContent, res.StatusCode, res.Body)
		page = s.tc.Get("/end-users/" + s.user.ID)
		bodyLacks(t, page.Body, vfTid("verify-note-push"))

		// Without the device cookie, or without the CSRF token, nothing is saved.
		stranger := s.env.Client()
		res = stranger.PostRaw("/self-serve/push/subscription", "application/json", strings.NewReader(body), "X-CSRF-Token", stranger.CSRF())
		require.Equal(t, http.StatusUnauthorized, res.StatusCode)
		res = phone.PostRaw("/self-serve/push/subscription", "application/json", strings.NewReader(body))
		require.Equal(t, http.StatusForbidden, res.StatusCode)

		// The push now reaches the phone.
		_, id := s.start(t, "push")
		apptest.WaitFor(t, 20*time.Second, func() bool { return len(s.push.Messages()) == 1 }, "the push")
		require.Contains(t, string(s.push.Messages()[0].Payload), id)
	})
}

func TestVerifyStreamsEndAtShutdown(t *testing.T) {
	t.Parallel()
	s := vfNew(t, db.SQLite, nil)
	s.enrol(t, s.user, true)
	_, id := s.start(t, "push")
	r, closeStream := s.stream(t, id, 1)
	defer closeStream()
	t0 := time.Now()
	require.NoError(t, s.env.App.Close(context.Background()))
	require.Less(t, time.Since(t0), 3*time.Second, "an open live panel does not hold up the shutdown")
	_, err := r.ReadString('\n')
	require.Error(t, err, "the stream ended")
}

func TestVerifyRepeatedFailuresBlockAndAlert(t *testing.T) {
	t.Parallel()
	vfEach(t, func(t *testing.T, s *vfSite) {
		// Two verifications locked by five wrong codes each: ten failures in 24 hours.
		for range 2 {
			res, id := s.start(t, "sms")
			wrong := "000000"
			if vfCode(t, res.Body) == wrong {
				wrong = "111111"
			}
			for range 5 {
				s.tc.PostForm("/end-users/"+s.user.ID+"/verify/"+id+"/check", url.Values{"code": {wrong}}, htmx("#verify-panel")...)
			}
		}
		res := s.tc.PostForm("/end-users/"+s.user.ID+"/verify", url.Values{"method": {"email"}}, htmx("#verify-panel")...)
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode, res.Body)
		panel := s.tc.Get("/end-users/"+s.user.ID+"/verify", htmx("#verify-panel")...)
		bodyHas(t, panel.Body, vfTid("verify-blocked"))
		bodyLacks(t, panel.Body, vfTid("verify-unblock"), "technicians cannot lift it")
		alerts := 0
		for _, m := range vfMessages(t, s.env, s.f.Tenant.ID, "email") {
			if m.Kind == "verification_alert" {
				alerts++
				require.Equal(t, s.f.Primary.Email, m.To)
				e, err := m.EmailData(s.env.App.Keys)
				require.NoError(t, err)
				require.Contains(t, e.Subject, "Dana Scully")
			}
		}
		require.Equal(t, 1, alerts, "the Primary is alerted once")

		// The Primary lifts the block.
		ac := s.env.Client()
		ac.SignIn(s.f.Primary.Email)
		panel = ac.Get("/end-users/"+s.user.ID+"/verify", htmx("#verify-panel")...)
		bodyHas(t, panel.Body, vfTid("verify-unblock"))
		res = ac.PostForm("/end-users/"+s.user.ID+"/verify/unblock", nil, htmx("#verify-panel")...)
		require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
		require.Equal(t, http.StatusForbidden, s.tc.PostForm("/end-users/"+s.user.ID+"/verify/unblock", nil).StatusCode)
		res = s.tc.PostForm("/end-users/"+s.user.ID+"/verify", url.Values{"method": {"email"}}, htmx("#verify-panel")...)
		require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
	})
}

func TestVerifySelfServePushSaysSo(t *testing.T) {
	t.Parallel()
	vfEach(t, testVerifySelfServePushSaysSo)
}

func testVerifySelfServePushSaysSo(t *testing.T, s *vfSite) {
	phone, _ := s.enrol(t, s.user, true)
	// The self-serve pages start a push as the end user (no login).
	v, err := s.env.App.Web.Verify.Start(context.Background(),
		audit.Actor{TenantID: s.f.Tenant.ID, Name: "Dana Scully (end user, self-serve)", IP: "192.0.2.8"}, s.user.ID, "push")
	require.NoError(t, err)
	require.True(t, v.SelfServe())
	apptest.WaitFor(t, 20*time.Second, func() bool { return len(s.push.Messages()) == 1 }, "the push")
	require.Contains(t, string(s.push.Messages()[0].Payload), "self-serve pages as you")
	res := phone.Get("/self-serve/verify/" + v.ID)
	require.Equal(t, http.StatusOK, res.StatusCode)
	bodyHas(t, res.Body, "Someone is using Acme IT's self-serve pages as Dana Scully")
	bodyLacks(t, res.Body, "is asking")
	// The MSP's self-serve layout, not the technicians' pages.
	bodyHas(t, res.Body, `<link rel="stylesheet" href="/static/css/selfserve.css">`)
	bodyHas(t, res.Body, vfTid("ss-brand"))
	bodyHas(t, res.Body, `class="ss-btn ss-deny"`)
	bodyLacks(t, res.Body, "/static/css/app.css")

	// With number matching, the number is on the end user's own page: the
	// words say so, and a wrong number is explained the same way.
	ac := s.env.Client()
	ac.SignIn(s.f.Primary.Email)
	res = ac.PostForm("/settings/verification", url.Values{"code_minutes": {"5"}, "number_matching": {"on"}}, htmx("#verify-settings")...)
	require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
	v, err = s.env.App.Web.Verify.Start(context.Background(),
		audit.Actor{TenantID: s.f.Tenant.ID, Name: "Dana Scully (end user, self-serve)", IP: "192.0.2.8"}, s.user.ID, "push")
	require.NoError(t, err)
	require.NotZero(t, v.MatchNumber)
	res = phone.Get("/self-serve/verify/" + v.ID)
	bodyHas(t, res.Body, "Tap the number shown on the page where you asked for this.")
	bodyLacks(t, res.Body, "technician")
	wrong := ""
	for _, n := range regexp.MustCompile(`data-testid="approve-number-(\d\d)"`).FindAllStringSubmatch(res.Body, -1) {
		if n[1] != strconv.Itoa(v.MatchNumber) {
			wrong = n[1]
		}
	}
	require.NotEmpty(t, wrong, res.Body)
	res = phone.PostForm("/self-serve/verify/"+v.ID, url.Values{"answer": {"approve"}, "number": {wrong}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
	res = phone.Get("/self-serve/verify/" + v.ID)
	bodyHas(t, res.Body, `data-state="denied"`)
	bodyHas(t, res.Body, "That was not the number shown on the page where you asked for this")
	bodyLacks(t, res.Body, "technician")
	bodyLacks(t, res.Body, "ask them to send a new one")
}

// smsText is the text of a text message, decrypted.
func smsText(t *testing.T, env *apptest.Env, m *notify.Message) string {
	t.Helper()
	text, err := sms.Text(env.App.Keys, m)
	require.NoError(t, err)
	return text
}
