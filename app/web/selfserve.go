package web

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/device"
	"github.com/latchkey/latchkey/app/password"
	"github.com/latchkey/latchkey/app/selfserve"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/static"
	ssv "github.com/latchkey/latchkey/views/pages/selfserve"
)

// selfServeHandler serves the end users' self-serve pages under /self-serve:
// reset a password or unlock an account after proving who they are, phone
// first and installable. The flow lives in the session (sessSelfServe),
// apart from any technician's sign-in; the tenant is the flow's, else the
// enrolled device's, else the installation's (as the sign-in page).
type selfServeHandler struct{ s *Server }

const (
	// sessSelfServe holds the JSON of the visit's selfserve.Flow.
	sessSelfServe = "selfserve_flow"
	// identifyFloor and sendFloor: the least time the steps before the
	// proof take, so that an account that exists (and gets a code) answers
	// as fast as one that does not.
	identifyFloor = 300 * time.Millisecond
	sendFloor     = 500 * time.Millisecond
	// resultWait is how long one request waits for the directory task.
	resultWait = 8 * time.Second
)

// pad sleeps until floor has passed since start.
func pad(start time.Time, floor time.Duration) {
	if d := floor - time.Since(start); d > 0 {
		time.Sleep(d)
	}
}

// flow returns the visit's flow, or nil (none, unreadable, or expired).
func (h *selfServeHandler) flow(c echo.Context) *selfserve.Flow {
	ctx := c.Request().Context()
	raw := h.s.Sessions.GetString(ctx, sessSelfServe)
	if raw == "" {
		return nil
	}
	var f selfserve.Flow
	if err := json.Unmarshal([]byte(raw), &f); err != nil || f.Expired(h.s.Now().UTC()) {
		h.s.Sessions.Remove(ctx, sessSelfServe)
		if f.Purpose == selfserve.PurposeEnrol {
			c.Set(ctxEnrolFlowGone, true)
		}
		return nil
	}
	return &f
}

func (h *selfServeHandler) setFlow(c echo.Context, f *selfserve.Flow) {
	b, _ := json.Marshal(f)
	h.s.Sessions.Put(c.Request().Context(), sessSelfServe, string(b))
}

func (h *selfServeHandler) clearFlow(c echo.Context) {
	h.s.Sessions.Remove(c.Request().Context(), sessSelfServe)
}

// proven renews the session token (a new identity was proven in it) and
// stores the flow.
func (h *selfServeHandler) proven(c echo.Context, f *selfserve.Flow) error {
	if err := h.s.Sessions.RenewToken(c.Request().Context()); err != nil {
		return err
	}
	h.setFlow(c, f)
	return nil
}

// sessSelfServeForm holds the answer to a refused self-serve form until its
// page shows it (see refused).
const sessSelfServeForm = "selfserve_form"

// formAnswer is a refused form's answer: the page's status, its error, and
// what to put back in the form. Secrets (codes, passwords) are never kept.
type formAnswer struct {
	Page   string            `json:"page"` // a hash of the page's path
	Status int               `json:"status"`
	Error  string            `json:"error,omitempty"`
	Locked bool              `json:"locked,omitempty"`
	Values map[string]string `json:"values,omitempty"`
}

func pageKey(path string) string { return credential.HashToken("selfserve page " + path) }

// refused answers a refused form with a redirect to its page, which then
// shows the answer once (post/redirect/get): Back and reload never land on
// a POST's response ("Confirm Form Resubmission"), and every page in the
// history is one that can be shown again.
func (h *selfServeHandler) refused(c echo.Context, page string, a formAnswer) error {
	a.Page = pageKey(page)
	if a.Status == 0 {
		a.Status = http.StatusUnprocessableEntity
	}
	b, _ := json.Marshal(a)
	h.s.Sessions.Put(c.Request().Context(), sessSelfServeForm, string(b))
	return c.Redirect(http.StatusSeeOther, page)
}

// answer returns, and forgets, the answer kept by refused for this page;
// else an answer with status 200 and nothing to show.
func (h *selfServeHandler) answer(c echo.Context) formAnswer {
	ctx := c.Request().Context()
	raw := h.s.Sessions.GetString(ctx, sessSelfServeForm)
	if raw == "" {
		return formAnswer{Status: http.StatusOK}
	}
	var a formAnswer
	if err := json.Unmarshal([]byte(raw), &a); err != nil || a.Page != pageKey(c.Request().URL.Path) {
		return formAnswer{Status: http.StatusOK}
	}
	h.s.Sessions.Remove(ctx, sessSelfServeForm)
	return a
}

const (
	ctxSelfServeTenant = "latchkey.selfservetenant"
	// ctxEnrolFlowGone: the request's flow was an enrolment's, expired.
	ctxEnrolFlowGone = "latchkey.enrolflowgone"
)

// tenant is the tenant the page belongs to: the flow's, the enrolled
// device's, or the installation's.
func (h *selfServeHandler) tenant(c echo.Context, f *selfserve.Flow) (*tenant.Tenant, error) {
	if t, ok := c.Get(ctxSelfServeTenant).(*tenant.Tenant); ok {
		return t, nil
	}
	ctx := c.Request().Context()
	id := ""
	switch {
	case f != nil:
		id = f.TenantID
	default:
		if h.s.Devices != nil {
			if d, err := h.s.Devices.Authenticate(ctx, c.Request()); err == nil {
				id = d.TenantID
			}
		}
		if id == "" {
			if pt := h.s.publicTenant(c); pt != nil {
				id = pt.ID
			}
		}
	}
	if id == "" {
		return nil, apperr.New(apperr.NotFound, "Self-serve is not set up here yet.")
	}
	t, err := tenant.Get(ctx, h.s.DB.Bun, id)
	if err != nil {
		return nil, err
	}
	c.Set(ctxSelfServeTenant, t)
	return t, nil
}

// render writes a self-serve page (no-store: they show codes, passwords and
// who one is) in the self-serve layout, or alone for htmx.
func (h *selfServeHandler) render(c echo.Context, status int, t *tenant.Tenant, title string, comp templ.Component, push ...bool) error {
	noStore(c)
	ctx := c.Request().Context()
	if isHTMX(c) {
		return writeHTML(c, status, comp, ctx)
	}
	p := ssv.Page{Title: title, CSRF: h.s.csrfToken(c), NoHistory: true, Push: len(push) > 0 && push[0]}
	if t != nil {
		p.MSP, p.HasLogo, p.Support = t.DisplayName(), t.HasLogo(), supportContact(t.SupportEmail, t.Phone)
	} else {
		p.MSP = "Password help"
	}
	return writeHTML(c, status, ssv.Layout(p), templ.WithChildren(ctx, comp))
}

// stop renders a friendly stop for a domain error that ends the step
// (expired flow, block, refusal), or returns other errors.
func (h *selfServeHandler) stop(c echo.Context, t *tenant.Tenant, err error) error {
	code := apperr.CodeOf(err)
	mp := ssv.MessageProps{Message: apperr.MessageOf(err), Restart: true}
	if t != nil {
		mp.MSP, mp.Support = t.DisplayName(), supportContact(t.SupportEmail, t.Phone)
	}
	switch code {
	case apperr.Conflict:
		mp.Title, mp.TestID = "Let's start again", "ss-expired"
		if h.enrolling(c) {
			// The welcome link's flow: its start is the link, which only the
			// email has; the self-serve start would leave the enrolment.
			mp.Restart = false
			if !strings.Contains(mp.Message, "welcome email") {
				mp.Message = "This page has expired. Open the link in your welcome email again, or ask your IT provider for a new one."
			}
		}
	case apperr.RateLimited:
		mp.Title, mp.TestID, mp.Restart = "Please wait", "ss-blocked", false
	case apperr.Forbidden:
		mp.Title, mp.TestID, mp.Restart = "Self-serve is not available", "ss-unavailable", false
	case apperr.NotFound:
		mp.Title, mp.TestID, mp.Restart = "Not available", "ss-unavailable", false
	default:
		return err
	}
	return h.render(c, statusOf(code), t, mp.Title, ssv.Message(mp))
}

// enrolling reports whether the request is part of a welcome link's
// enrolment (its flow, or its pages).
func (h *selfServeHandler) enrolling(c echo.Context) bool {
	p := c.Request().URL.Path
	if strings.HasPrefix(p, "/welcome/") || strings.HasPrefix(p, "/self-serve/enrol/") {
		return true
	}
	if gone, _ := c.Get(ctxEnrolFlowGone).(bool); gone {
		return true
	}
	f := h.flow(c)
	return f != nil && f.Purpose == selfserve.PurposeEnrol
}

// expired is the page of a step without a (live) flow.
func (h *selfServeHandler) expired(c echo.Context) error {
	t, _ := h.tenant(c, nil)
	return h.stop(c, t, apperr.New(apperr.Conflict, "This page has expired (each step works for 10 minutes). Start again."))
}

// selfServePage reports whether path is one of the end users' pages
// (self-serve, the welcome link), which answer in the MSP's self-serve
// layout and never send an end user to the technicians' sign-in. The push
// subscription endpoint is script's, not a page.
func selfServePage(path string) bool {
	if path == "/self-serve/push/subscription" || path == "/self-serve/push/key" {
		return false
	}
	return path == "/self-serve" || strings.HasPrefix(path, "/self-serve/") || strings.HasPrefix(path, "/welcome/")
}

// selfServeFormExpired answers an end user's form whose session (and so
// CSRF token) is gone: a redirect to a page that says so and offers the
// right start, so that reloading it does not post again. A welcome link's
// form goes back to the link (which says why, or that it no longer works);
// an approval's to the approval page.
func (s *Server) selfServeFormExpired(c echo.Context) error {
	p := c.Request().URL.Path
	to := "/self-serve/expired"
	switch {
	case strings.HasPrefix(p, "/welcome/"):
		to = p + "?expired=1"
	case strings.HasPrefix(p, "/self-serve/verify/"):
		to = p
	case strings.HasPrefix(p, "/self-serve/enrol/"):
		to = "/self-serve/expired?step=enrol"
	}
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Redirect", to)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// showExpired is the page of a form that expired (selfServeFormExpired).
func (h *selfServeHandler) showExpired(c echo.Context) error {
	t, _ := h.tenant(c, nil)
	mp := ssv.MessageProps{Title: "This page has expired", TestID: "ss-expired", Restart: true,
		Message: "For your security, a page stops working after a few minutes, or when your browser forgets it. Nothing was changed."}
	if c.QueryParam("step") == "enrol" {
		mp.Message = "For your security, a page stops working after a few minutes, or when your browser forgets it. " +
			"What you already confirmed is saved. To set up more, ask your IT provider for a new welcome email."
		mp.RestartLabel = "Go to password help"
	}
	if t != nil {
		mp.MSP, mp.Support = t.DisplayName(), supportContact(t.SupportEmail, t.Phone)
	}
	return h.render(c, http.StatusOK, t, mp.Title, ssv.Message(mp))
}

// next is where a proven flow goes.
func next(f *selfserve.Flow) string {
	switch f.Purpose {
	case selfserve.PurposeUnlock:
		return "/self-serve/account"
	case selfserve.PurposeEnrol:
		return "/self-serve/enrol/mobile"
	}
	return "/self-serve/password"
}

func (h *selfServeHandler) showStart(c echo.Context) error {
	t, err := h.tenant(c, nil)
	if err != nil {
		return h.stop(c, nil, err)
	}
	return h.render(c, http.StatusOK, t, "Password help", ssv.Start(ssv.StartProps{
		MSP: t.DisplayName(), Support: supportContact(t.SupportEmail, t.Phone), Off: !t.SelfServeEnabled}))
}

func (h *selfServeHandler) showIdentify(c echo.Context) error {
	t, err := h.tenant(c, nil)
	if err != nil {
		return h.stop(c, nil, err)
	}
	if !t.SelfServeEnabled {
		return h.showStart(c)
	}
	purpose := selfserve.PurposeReset
	if strings.HasSuffix(c.Path(), "/unlock") {
		purpose = selfserve.PurposeUnlock
	}
	a := h.answer(c)
	return h.render(c, a.Status, t, "Who are you?", ssv.Identify(ssv.IdentifyProps{CSRF: h.s.csrfToken(c), Purpose: purpose,
		Typed: a.Values["identity"], Error: a.Error}))
}

// identify starts a flow. Whether or not an account matches, the answer is
// a redirect to the same page, after at least identifyFloor.
func (h *selfServeHandler) identify(c echo.Context) error {
	start := time.Now()
	t, err := h.tenant(c, nil)
	if err != nil {
		return h.stop(c, nil, err)
	}
	purpose, typed := c.FormValue("purpose"), c.FormValue("identity")
	f, err := h.s.SelfServe.Start(c.Request().Context(), t.ID, purpose, typed, c.RealIP())
	switch apperr.CodeOf(err) {
	case "":
	case apperr.Invalid:
		page := "/self-serve/reset"
		if purpose == selfserve.PurposeUnlock {
			page = "/self-serve/unlock"
		}
		return h.refused(c, page, formAnswer{Error: fieldsOrMessage(err, "identity")["identity"], Values: map[string]string{"identity": typed}})
	case apperr.Conflict:
		return h.render(c, http.StatusConflict, t, "Password help", ssv.Start(ssv.StartProps{MSP: t.DisplayName(),
			Support: supportContact(t.SupportEmail, t.Phone), Off: true}))
	default:
		pad(start, identifyFloor)
		return h.stop(c, t, err)
	}
	h.setFlow(c, f)
	pad(start, identifyFloor)
	return c.Redirect(http.StatusSeeOther, "/self-serve/prove")
}

func (h *selfServeHandler) methodsProps(c echo.Context, t *tenant.Tenant, f *selfserve.Flow) (ssv.MethodsProps, error) {
	ms, err := h.s.SelfServe.Methods(c.Request().Context(), f)
	if err != nil {
		return ssv.MethodsProps{}, err
	}
	p := ssv.MethodsProps{CSRF: h.s.csrfToken(c), Action: "/self-serve/prove", Purpose: f.Purpose, MSP: t.DisplayName(),
		Support: supportContact(t.SupportEmail, t.Phone)}
	for _, m := range ms {
		p.Methods = append(p.Methods, ssv.Method{Channel: m.Channel, Destination: m.Destination})
	}
	return p, nil
}

func (h *selfServeHandler) showMethods(c echo.Context) error {
	f := h.flow(c)
	if f == nil {
		return h.expired(c)
	}
	t, err := h.tenant(c, f)
	if err != nil {
		return h.stop(c, nil, err)
	}
	if f.Proven() { // Back after the proof: the step is done
		return c.Redirect(http.StatusSeeOther, next(f))
	}
	p, err := h.methodsProps(c, t, f)
	if err != nil {
		return h.stop(c, t, err)
	}
	a := h.answer(c)
	p.Message = a.Error
	return h.render(c, a.Status, t, "Prove it is you", ssv.Methods(p))
}

// sendProof sends the chosen proof, after at least sendFloor (whether or
// not anything went out).
func (h *selfServeHandler) sendProof(c echo.Context) error {
	start := time.Now()
	f := h.flow(c)
	if f == nil {
		return h.expired(c)
	}
	t, err := h.tenant(c, f)
	if err != nil {
		return h.stop(c, nil, err)
	}
	nf, _, err := h.s.SelfServe.SendProof(c.Request().Context(), f, c.FormValue("channel"), c.RealIP())
	if f.Purpose != selfserve.PurposeEnrol {
		pad(start, sendFloor)
	}
	if apperr.CodeOf(err) == apperr.Invalid {
		return h.refused(c, "/self-serve/prove", formAnswer{Error: apperr.MessageOf(err)})
	}
	if err != nil {
		return h.stop(c, t, err)
	}
	h.setFlow(c, nf)
	if nf.Channel == selfserve.ChannelPush {
		return c.Redirect(http.StatusSeeOther, "/self-serve/push")
	}
	return c.Redirect(http.StatusSeeOther, "/self-serve/code")
}

func (h *selfServeHandler) codeProps(c echo.Context, t *tenant.Tenant, f *selfserve.Flow, action, again string) ssv.CodeProps {
	return ssv.CodeProps{CSRF: h.s.csrfToken(c), Action: action, Channel: f.Channel, Destination: f.Destination, Purpose: f.Purpose,
		Again: again, MSP: t.DisplayName(), Support: supportContact(t.SupportEmail, t.Phone),
		Minutes: int(h.s.SelfServe.CodeLifetime(c.Request().Context(), t.ID).Round(time.Minute) / time.Minute)}
}

func (h *selfServeHandler) showCode(c echo.Context) error {
	f := h.flow(c)
	if f == nil || f.ProofID == "" {
		return h.expired(c)
	}
	t, err := h.tenant(c, f)
	if err != nil {
		return h.stop(c, nil, err)
	}
	if f.Proven() { // Back after the proof: the step is done
		return c.Redirect(http.StatusSeeOther, next(f))
	}
	return h.showCodePage(c, t, h.codeProps(c, t, f, "/self-serve/code", "/self-serve/prove"))
}

func (h *selfServeHandler) checkCode(c echo.Context) error {
	f := h.flow(c)
	if f == nil || f.ProofID == "" {
		return h.expired(c)
	}
	t, err := h.tenant(c, f)
	if err != nil {
		return h.stop(c, nil, err)
	}
	nf, err := h.s.SelfServe.Prove(c.Request().Context(), f, c.FormValue("code"), c.RealIP())
	if err != nil {
		return h.codeError(c, t, err, "/self-serve/code")
	}
	if err := h.proven(c, nf); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, next(nf))
}

// showCodePage renders a code page (p.Action is also its address), with
// the answer to the last code typed.
func (h *selfServeHandler) showCodePage(c echo.Context, t *tenant.Tenant, p ssv.CodeProps) error {
	a := h.answer(c)
	p.Error, p.Locked = a.Error, a.Locked
	return h.render(c, a.Status, t, "Enter the code", ssv.Code(p))
}

// codeError answers a wrong, expired or locked code on the code page at
// page (a GET of the form's own address).
func (h *selfServeHandler) codeError(c echo.Context, t *tenant.Tenant, err error, page string) error {
	switch apperr.CodeOf(err) {
	case apperr.Invalid:
		return h.refused(c, page, formAnswer{Error: fieldsOrMessage(err, "code")["code"]})
	case apperr.RateLimited:
		return h.refused(c, page, formAnswer{Status: http.StatusTooManyRequests, Error: apperr.MessageOf(err), Locked: true})
	}
	return h.stop(c, t, err)
}

// pushStatus shows (or, for htmx, refreshes) the wait for a push approval.
func (h *selfServeHandler) pushStatus(c echo.Context) error {
	f := h.flow(c)
	if f == nil || f.ProofID == "" || f.Channel != selfserve.ChannelPush {
		return h.expired(c)
	}
	t, err := h.tenant(c, f)
	if err != nil {
		return h.stop(c, nil, err)
	}
	nf, state, err := h.s.SelfServe.PushStatus(c.Request().Context(), f, c.RealIP())
	if err != nil {
		return h.stop(c, t, err)
	}
	if state == selfserve.PushApproved {
		if err := h.proven(c, nf); err != nil {
			return err
		}
		return redirect(c, next(nf))
	}
	p := ssv.PushProps{State: state, Next: next(f), Again: "/self-serve/prove", DeadlineMS: f.ProofExpiresAt.UnixMilli()}
	if f.MatchNumber != 0 {
		p.MatchNumber = strconv.Itoa(f.MatchNumber)
	}
	if isHTMX(c) {
		return h.render(c, http.StatusOK, t, "", ssv.PushState(p))
	}
	return h.render(c, http.StatusOK, t, "Approve on your phone", ssv.Push(p))
}

// passwordProps fills the password page of a proven reset flow.
func (h *selfServeHandler) passwordProps(c echo.Context, f *selfserve.Flow) (ssv.PasswordProps, *selfserve.Rules, error) {
	r, err := h.s.SelfServe.FlowRules(c.Request().Context(), f)
	if err != nil {
		return ssv.PasswordProps{}, nil, err
	}
	return ssv.PasswordProps{CSRF: h.s.csrfToken(c), Name: firstWord(f.Name), Hints: r.Hints(), MinLength: r.Policy.MinLength,
		Remaining: int(h.s.SelfServe.Remaining(f).Seconds())}, r, nil
}

func firstWord(s string) string {
	if i := strings.IndexByte(s, ' '); i > 0 {
		return s[:i]
	}
	return s
}

func (h *selfServeHandler) showPassword(c echo.Context) error {
	f := h.flow(c)
	if f == nil {
		return h.expired(c)
	}
	t, err := h.tenant(c, f)
	if err != nil {
		return h.stop(c, nil, err)
	}
	p, _, err := h.passwordProps(c, f)
	if err != nil {
		return h.stop(c, t, err)
	}
	a := h.answer(c)
	p.Error = a.Error
	return h.render(c, a.Status, t, "New password", ssv.Password(p))
}

// checkPassword is the live check under the field (htmx, as one types).
func (h *selfServeHandler) checkPassword(c echo.Context) error {
	f := h.flow(c)
	if f == nil {
		return h.expired(c)
	}
	r, err := h.s.SelfServe.FlowRules(c.Request().Context(), f)
	if err != nil {
		t, _ := h.tenant(c, f)
		return h.stop(c, t, err)
	}
	noStore(c)
	return h.s.partial(c, http.StatusOK, ssv.Check(selfServeCheck(r, c.FormValue("password"))))
}

func selfServeCheck(r *selfserve.Rules, pw string) ssv.CheckProps {
	if pw == "" {
		return ssv.CheckProps{Empty: true}
	}
	p := ssv.CheckProps{Hint: r.Policy.HistoryHint()}
	for _, v := range r.Blocking(r.Check(pw)) {
		p.Violations = append(p.Violations, v.Message)
	}
	return p
}

// suggest puts a generated passphrase in the field, shown.
func (h *selfServeHandler) suggest(c echo.Context) error {
	f := h.flow(c)
	if f == nil {
		return h.expired(c)
	}
	r, err := h.s.SelfServe.FlowRules(c.Request().Context(), f)
	if err != nil {
		t, _ := h.tenant(c, f)
		return h.stop(c, t, err)
	}
	pw, err := password.Passphrase(password.PassphraseOptions{Digits: true, Requirements: r.Requirements()})
	if err != nil {
		return err
	}
	noStore(c)
	var buf bytes.Buffer
	ctx := c.Request().Context()
	if err := ssv.PasswordField("", pw).Render(ctx, &buf); err != nil {
		return err
	}
	buf.WriteString(`<div id="ss-check" aria-live="polite" data-testid="ss-check" hx-swap-oob="true">`)
	if err := ssv.Check(selfServeCheck(r, pw)).Render(ctx, &buf); err != nil {
		return err
	}
	buf.WriteString(`</div>`)
	c.Response().Header().Add("Vary", "HX-Request")
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

func (h *selfServeHandler) resetPassword(c echo.Context) error {
	f := h.flow(c)
	if f == nil {
		return h.expired(c)
	}
	t, err := h.tenant(c, f)
	if err != nil {
		return h.stop(c, nil, err)
	}
	nf, _, err := h.s.SelfServe.ResetPassword(c.Request().Context(), f, c.FormValue("password"), c.RealIP())
	if apperr.CodeOf(err) == apperr.Invalid {
		return h.refused(c, "/self-serve/password", formAnswer{Error: fieldsOrMessage(err, "password")["password"]})
	}
	if err != nil {
		return h.stop(c, t, err)
	}
	h.setFlow(c, nf)
	return c.Redirect(http.StatusSeeOther, "/self-serve/result")
}

func (h *selfServeHandler) showAccount(c echo.Context) error {
	f := h.flow(c)
	if f == nil || !f.Proven() || f.Purpose != selfserve.PurposeUnlock {
		return h.expired(c)
	}
	t, err := h.tenant(c, f)
	if err != nil {
		return h.stop(c, nil, err)
	}
	return h.render(c, http.StatusOK, t, "Unlock", ssv.Unlock(ssv.UnlockProps{CSRF: h.s.csrfToken(c), Name: firstWord(f.Name)}))
}

func (h *selfServeHandler) unlock(c echo.Context) error {
	f := h.flow(c)
	if f == nil {
		return h.expired(c)
	}
	t, err := h.tenant(c, f)
	if err != nil {
		return h.stop(c, nil, err)
	}
	nf, _, err := h.s.SelfServe.Unlock(c.Request().Context(), f, c.RealIP())
	if err != nil {
		return h.stop(c, t, err)
	}
	h.setFlow(c, nf)
	return c.Redirect(http.StatusSeeOther, "/self-serve/result")
}

// showResult shows the directory task's outcome, waiting for it a while
// (htmx asks again until it ends). A success ends the flow.
func (h *selfServeHandler) showResult(c echo.Context) error {
	f := h.flow(c)
	if f == nil || f.TaskID == "" {
		return h.expired(c)
	}
	t, err := h.tenant(c, f)
	if err != nil {
		return h.stop(c, nil, err)
	}
	wait := 2 * time.Second
	if isHTMX(c) {
		wait = resultWait
	}
	o, err := h.s.SelfServe.Outcome(c.Request().Context(), f, wait)
	if err != nil {
		return h.stop(c, t, err)
	}
	if o.OK {
		h.clearFlow(c)
	}
	p := ssv.ResultProps{Waiting: o.Waiting, OK: o.OK, Policy: o.Policy, Title: o.Title, Message: o.Message,
		MSP: t.DisplayName(), Support: supportContact(t.SupportEmail, t.Phone), Purpose: f.Purpose}
	return h.render(c, http.StatusOK, t, "Result", ssv.Result(p))
}

// manifest is the web app manifest (static/manifest.webmanifest) with the
// MSP's name, so that the page installs as theirs.
func (h *selfServeHandler) manifest(c echo.Context) error {
	b, err := fs.ReadFile(static.FS(), "manifest.webmanifest")
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if t, err := h.tenant(c, nil); err == nil && t.Name != "" {
		m["name"] = t.Name + " password help"
		m["short_name"] = clipRunes(t.Name, 12)
	}
	out, err := json.Marshal(m)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, "application/manifest+json", out)
}

func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// logo serves the logo of the page's tenant.
func (h *selfServeHandler) logo(c echo.Context) error {
	t, err := h.tenant(c, h.flow(c))
	if err != nil {
		return err
	}
	if len(t.Logo) == 0 {
		return apperr.New(apperr.NotFound, "No logo.")
	}
	c.Response().Header().Set("Cache-Control", "private, max-age=300")
	return c.Blob(http.StatusOK, t.LogoType, t.Logo)
}

// deviceOf returns the browser's enrolled device when it is the flow's end
// user's, else nil.
func (h *selfServeHandler) deviceOf(c echo.Context, f *selfserve.Flow) *device.Device {
	if h.s.Devices == nil || f == nil {
		return nil
	}
	d, err := h.s.Devices.Authenticate(c.Request().Context(), c.Request())
	if err != nil || d.TenantID != f.TenantID || d.EndUserID != f.EndUserID {
		return nil
	}
	return d
}
