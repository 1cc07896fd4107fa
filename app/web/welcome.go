package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/device"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/selfserve"
	"github.com/latchkey/latchkey/app/tenant"
	welcomev "github.com/latchkey/latchkey/views/pages/welcome"
)

// welcomeHandler serves the welcome email: the technicians' "Send welcome
// email" actions (one end user, or a bulk selection of the grid) and the end
// user's public landing page behind the emailed link.
//
// The link opens the self-serve enrolment (below): a code to the mobile
// number or email on record proves it is the end user, and uses the link
// up; it expires after 7 days, or when a newer welcome supersedes it.
type welcomeHandler struct{ s *Server }

// welcomeDone answers a send: a toast for htmx (the grid stays as it is),
// else a flash message and a redirect to back.
func (h *welcomeHandler) welcomeDone(c echo.Context, level, msg, back string) error {
	if isHTMX(c) {
		b, _ := json.Marshal(map[string]any{"showToast": map[string]string{"message": msg, "level": level}, "welcomeQueued": true})
		c.Response().Header().Set("HX-Trigger", string(b))
		c.Response().Header().Set("HX-Reswap", "none")
		return c.NoContent(http.StatusNoContent)
	}
	h.s.flash(c, level, msg)
	return redirect(c, back)
}

// welcomeBack is where a send without htmx returns: the form's `back` path
// when it is local, else the grid view the bulk form came from (its filter
// fields, and view=customer with the customer), else the end-user grid.
func welcomeBack(v url.Values, f enduser.Filter) string {
	if b := v.Get("back"); b != "" {
		if b = safeNext(b); b != "/" {
			return b
		}
	}
	if v.Get("view") == "customer" && f.CustomerID != "" {
		back := "/customers/" + url.PathEscape(f.CustomerID) + "/end-users"
		if q := f.Values(false).Encode(); q != "" {
			back += "?" + q
		}
		return back
	}
	if q := f.Values(true).Encode(); q != "" {
		return "/end-users?" + q
	}
	return "/end-users"
}

// sendBulk sends the welcome email to a selection of the grid: repeated
// `ids`, or `all=1` with the grid's filter fields. A customer's grid
// (view=customer) of another tenant is a 404.
func (h *welcomeHandler) sendBulk(c echo.Context) error {
	ctx := c.Request().Context()
	v, err := c.FormParams()
	if err != nil {
		return apperr.Wrap(apperr.Invalid, err, "The form could not be read.")
	}
	sel := enduser.ParseSelection(v)
	if v.Get("view") == "customer" {
		if _, err := customer.Get(ctx, h.s.DB.Bun, actor(c).TenantID, v.Get("customer")); err != nil {
			return err
		}
	}
	back := welcomeBack(v, sel.Filter)
	if sel.Empty() {
		return h.welcomeDone(c, "warn", "Select end users first: tick their rows, or the box above the table for the whole page.", back)
	}
	queued, skipped, err := h.s.Onboarding.SendWelcome(ctx, actor(c), sel, h.s.Now())
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Welcome email queued for %d end %s.", queued, pluralWord(queued, "user", "users"))
	if skipped > 0 {
		msg += fmt.Sprintf(" %d skipped: no email address, gone from the directory, or already sent one today.", skipped)
	}
	level := "ok"
	if queued == 0 {
		level = "warn"
	}
	return h.welcomeDone(c, level, msg+h.outboxNote(), back)
}

// sendOne sends the welcome email to one end user.
func (h *welcomeHandler) sendOne(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := enduser.Get(ctx, h.s.DB.Bun, actor(c).TenantID, c.Param("id"))
	if err != nil {
		return err
	}
	back := safeNext(c.FormValue("back"))
	if back == "/" {
		back = "/customers/" + url.PathEscape(u.CustomerID) + "/end-users"
	}
	queued, err := h.s.Onboarding.SendWelcomeTo(ctx, actor(c), u.ID, h.s.Now())
	if err != nil {
		return err
	}
	if !queued {
		return h.welcomeDone(c, "warn", fmt.Sprintf("%s was already sent a welcome email today; its link still works.", u.Name()), back)
	}
	return h.welcomeDone(c, "ok", fmt.Sprintf("Welcome email queued for %s (%s); its link works for 7 days.", u.Name(), u.Email)+h.outboxNote(), back)
}

func (h *welcomeHandler) outboxNote() string {
	if h.s.Config.SMTP.Enabled() {
		return ""
	}
	return " Email delivery is not configured yet, so it waits in the outbox."
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ---- the enrolment behind the link (phone first, self-serve layout)
//
// /welcome/:token: greet, and send a first code to the mobile number or
// email on record (the code page is the self-serve one); the proof uses the
// link up and is the end user's first self-serve sign-in. Then
// /self-serve/enrol/…: confirm the mobile number on record or add one (an
// SMS code proves it), optionally add an authenticator app and allow
// notifications on this device (app/device + static/js/push.js), and a
// summary that says plainly when self-serve is not on for the account.

// ss is the self-serve side of the handler (layout, flow, errors).
func (h *welcomeHandler) ss() *selfServeHandler { return &selfServeHandler{h.s} }

// gone is the page of an unknown, used or expired link (404).
func (h *welcomeHandler) gone(c echo.Context) error {
	ss := h.ss()
	t, _ := ss.tenant(c, nil)
	return ss.render(c, http.StatusNotFound, t, "Link expired", welcomev.Gone())
}

// landing opens the link's enrolment, or answers why it cannot.
func (h *welcomeHandler) landing(c echo.Context) (*selfserve.Enrolment, error) {
	e, err := h.s.SelfServe.StartEnrolment(c.Request().Context(), c.Param("token"))
	if err == nil {
		c.Set(ctxSelfServeTenant, e.Tenant)
	}
	return e, err
}

func (h *welcomeHandler) landingProps(c echo.Context, e *selfserve.Enrolment) welcomev.Props {
	u := e.EndUser
	p := welcomev.Props{CSRF: h.s.csrfToken(c), Action: "/welcome/" + c.Param("token"), FirstName: u.FirstName,
		MSP: e.Tenant.DisplayName(), Customer: e.Customer, Support: supportContact(e.Tenant.SupportEmail, e.Tenant.Phone)}
	if u.Mobile != "" {
		p.Methods = append(p.Methods, welcomev.Method{Channel: selfserve.ChannelSMS, Destination: enduser.MaskMobile(u.Mobile)})
	}
	if u.Email != "" {
		p.Methods = append(p.Methods, welcomev.Method{Channel: selfserve.ChannelEmail, Destination: enduser.MaskValue(enduser.FieldEmail, u.Email)})
	}
	return p
}

// landingError answers a link that does not open.
func (h *welcomeHandler) landingError(c echo.Context, err error) error {
	if apperr.CodeOf(err) == apperr.NotFound {
		return h.gone(c)
	}
	ss := h.ss()
	t, _ := ss.tenant(c, nil)
	if apperr.CodeOf(err) == apperr.Conflict {
		err = apperr.New(apperr.Forbidden, "Self-serve is not available right now. Your IT provider can help you with your password.")
	}
	return ss.stop(c, t, err)
}

func (h *welcomeHandler) showWelcome(c echo.Context) error {
	e, err := h.landing(c)
	if err != nil {
		return h.landingError(c, err)
	}
	p := h.landingProps(c, e)
	a := h.ss().answer(c)
	p.Error = a.Error
	if c.QueryParam("expired") != "" {
		p.Error = "That page had expired, so nothing was sent. Choose again how to get your code."
	}
	return h.ss().render(c, a.Status, e.Tenant, "Welcome", welcomev.Welcome(p))
}

// sendCode sends the first code by the chosen channel and goes to the
// self-serve code page.
func (h *welcomeHandler) sendCode(c echo.Context) error {
	e, err := h.landing(c)
	if err != nil {
		return h.landingError(c, err)
	}
	ss := h.ss()
	f, _, err := h.s.SelfServe.SendProof(c.Request().Context(), e.Flow, c.FormValue("channel"), c.RealIP())
	switch apperr.CodeOf(err) {
	case "":
	case apperr.Invalid, apperr.RateLimited:
		return ss.refused(c, c.Request().URL.Path, formAnswer{Status: statusOf(apperr.CodeOf(err)), Error: apperr.MessageOf(err)})
	default:
		return ss.stop(c, e.Tenant, err)
	}
	ss.setFlow(c, f)
	return c.Redirect(http.StatusSeeOther, "/self-serve/code")
}

// enrolment returns the visit's proven enrolment, or answers for it.
func (h *welcomeHandler) enrolment(c echo.Context) (*selfserve.Enrolment, error) {
	f := h.ss().flow(c)
	if f == nil || f.Purpose != selfserve.PurposeEnrol || !f.Proven() {
		return nil, apperr.New(apperr.Conflict, "This page has expired. Open the link in your welcome email again, or ask your IT provider for a new one.")
	}
	e, err := h.s.SelfServe.EnrolmentOf(c.Request().Context(), f)
	if err == nil {
		c.Set(ctxSelfServeTenant, e.Tenant)
	}
	return e, err
}

func (h *welcomeHandler) enrolError(c echo.Context, err error) error {
	ss := h.ss()
	t, _ := ss.tenant(c, ss.flow(c))
	return ss.stop(c, t, err)
}

// afterMobile is the step after the mobile number.
func afterMobile(e *selfserve.Enrolment) string {
	if e.Active {
		return "/self-serve/enrol/authenticator"
	}
	return "/self-serve/enrol/done"
}

func (h *welcomeHandler) mobileProps(c echo.Context, e *selfserve.Enrolment) welcomev.MobileProps {
	u := e.EndUser
	country := defaultCountry(c, h.s, e)
	opts := make([]welcomev.Option, len(tenant.Countries))
	for i, ct := range tenant.Countries {
		opts[i] = welcomev.Option{Value: ct.Code, Label: ct.Name + " (" + ct.Code + ")"}
	}
	return welcomev.MobileProps{CSRF: h.s.csrfToken(c), MSP: e.Tenant.DisplayName(), Support: supportContact(e.Tenant.SupportEmail, e.Tenant.Phone),
		MaskedMobile: enduser.MaskMobile(u.Mobile), Countries: opts, Country: country}
}

// defaultCountry is the calling code preselected for the end user's
// mobile number: the number on record's, else the country of the
// customer's time zone (where the end user works), else of the MSP's phone
// number, else of the MSP's time zone, else DefaultCountry.
func defaultCountry(c echo.Context, s *Server, e *selfserve.Enrolment) string {
	if country, _ := tenant.SplitPhone(e.EndUser.Mobile); country != "" {
		return country
	}
	if cu, err := customer.Get(c.Request().Context(), s.DB.Bun, e.Tenant.ID, e.EndUser.CustomerID); err == nil {
		if country := tenant.CountryOfZone(cu.TimeZone); country != "" {
			return country
		}
	}
	if country, _ := tenant.SplitPhone(e.Tenant.Phone); country != "" {
		return country
	}
	if country := tenant.CountryOfZone(e.Tenant.TimeZone); country != "" {
		return country
	}
	return tenant.DefaultCountry
}

func (h *welcomeHandler) showMobile(c echo.Context) error {
	e, err := h.enrolment(c)
	if err != nil {
		return h.enrolError(c, err)
	}
	if e.MobileConfirmed() {
		return c.Redirect(http.StatusSeeOther, afterMobile(e))
	}
	p := h.mobileProps(c, e)
	a := h.ss().answer(c)
	p.Error = a.Error
	if a.Values["country"] != "" {
		p.Country = a.Values["country"]
	}
	p.Number = a.Values["mobile"]
	return h.ss().render(c, a.Status, e.Tenant, "Your mobile number", welcomev.Mobile(p))
}

// saveMobile sends an SMS code to the number on record (keep=1) or to the
// number typed when none is on record.
func (h *welcomeHandler) saveMobile(c echo.Context) error {
	e, err := h.enrolment(c)
	if err != nil {
		return h.enrolError(c, err)
	}
	ss := h.ss()
	f, _, err := h.s.SelfServe.SendMobileCode(c.Request().Context(), e.Flow, c.FormValue("keep") == "1", c.FormValue("country"), c.FormValue("mobile"), c.RealIP())
	switch apperr.CodeOf(err) {
	case "":
	case apperr.Invalid, apperr.Conflict:
		return ss.refused(c, "/self-serve/enrol/mobile", formAnswer{Status: statusOf(apperr.CodeOf(err)), Error: fieldsOrMessage(err, "mobile")["mobile"],
			Values: map[string]string{"country": c.FormValue("country"), "mobile": c.FormValue("mobile")}})
	default:
		return ss.stop(c, e.Tenant, err)
	}
	ss.setFlow(c, f)
	return c.Redirect(http.StatusSeeOther, "/self-serve/enrol/mobile/code")
}

func (h *welcomeHandler) showMobileCode(c echo.Context) error {
	e, err := h.enrolment(c)
	if err != nil {
		return h.enrolError(c, err)
	}
	if e.Flow.ProofID == "" {
		return c.Redirect(http.StatusSeeOther, "/self-serve/enrol/mobile")
	}
	ss := h.ss()
	return ss.showCodePage(c, e.Tenant, ss.codeProps(c, e.Tenant, e.Flow, "/self-serve/enrol/mobile/code", "/self-serve/enrol/mobile"))
}

func (h *welcomeHandler) checkMobileCode(c echo.Context) error {
	e, err := h.enrolment(c)
	if err != nil {
		return h.enrolError(c, err)
	}
	ss := h.ss()
	f, err := h.s.SelfServe.ProveMobile(c.Request().Context(), e.Flow, c.FormValue("code"), c.RealIP())
	if err != nil {
		return ss.codeError(c, e.Tenant, err, "/self-serve/enrol/mobile/code")
	}
	ss.setFlow(c, f)
	e.Flow = f
	return c.Redirect(http.StatusSeeOther, afterMobile(e))
}

// groupSecret spaces a base32 secret in fours, for reading.
func groupSecret(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (h *welcomeHandler) showAuthenticator(c echo.Context) error {
	e, err := h.enrolment(c)
	if err != nil {
		return h.enrolError(c, err)
	}
	if !e.Active {
		return c.Redirect(http.StatusSeeOther, "/self-serve/enrol/done")
	}
	a, err := h.s.SelfServe.StartAuthenticator(c.Request().Context(), e.Flow)
	if err != nil {
		return h.enrolError(c, err)
	}
	ans := h.ss().answer(c)
	return h.ss().render(c, ans.Status, e.Tenant, "Authenticator app", welcomev.Authenticator(welcomev.AuthenticatorProps{
		CSRF: h.s.csrfToken(c), URL: templ.SafeURL(a.URL), Secret: groupSecret(a.Secret), Replaces: a.Confirmed, Error: ans.Error}))
}

// authenticatorQR is the QR code of the authenticator app being added.
func (h *welcomeHandler) authenticatorQR(c echo.Context) error {
	e, err := h.enrolment(c)
	if err != nil {
		return err
	}
	a, err := h.s.SelfServe.StartAuthenticator(c.Request().Context(), e.Flow)
	if err != nil {
		return err
	}
	png, err := credential.QRPNG(a.URL, 220)
	if err != nil {
		return err
	}
	noStore(c)
	return c.Blob(http.StatusOK, "image/png", png)
}

func (h *welcomeHandler) confirmAuthenticator(c echo.Context) error {
	e, err := h.enrolment(c)
	if err != nil {
		return h.enrolError(c, err)
	}
	ctx := c.Request().Context()
	err = h.s.SelfServe.ConfirmAuthenticator(ctx, e.Flow, c.FormValue("code"), c.RealIP())
	if apperr.CodeOf(err) == apperr.Invalid {
		return h.ss().refused(c, "/self-serve/enrol/authenticator", formAnswer{Error: fieldsOrMessage(err, "code")["code"]})
	}
	if err != nil {
		return h.enrolError(c, err)
	}
	return c.Redirect(http.StatusSeeOther, "/self-serve/enrol/device")
}

func (h *welcomeHandler) showDevice(c echo.Context) error {
	e, err := h.enrolment(c)
	if err != nil {
		return h.enrolError(c, err)
	}
	if !e.Active {
		return c.Redirect(http.StatusSeeOther, "/self-serve/enrol/done")
	}
	ss := h.ss()
	p := welcomev.DeviceProps{CSRF: h.s.csrfToken(c), Unsupported: !h.s.SelfServe.PushAvailable(), Enrolled: ss.deviceOf(c, e.Flow) != nil}
	return ss.render(c, http.StatusOK, e.Tenant, "Notifications", welcomev.Device(p), true)
}

// enrolDevice enrols this browser (device cookie) and shows the page that
// asks for notifications.
func (h *welcomeHandler) enrolDevice(c echo.Context) error {
	e, err := h.enrolment(c)
	if err != nil {
		return h.enrolError(c, err)
	}
	req := c.Request()
	cred, _, err := h.s.SelfServe.EnrolDevice(req.Context(), e.Flow, "", req.UserAgent(), c.RealIP())
	if err != nil {
		return h.enrolError(c, err)
	}
	c.SetCookie(device.Cookie(cred, h.s.Config.SecureCookies()))
	return c.Redirect(http.StatusSeeOther, "/self-serve/enrol/device")
}

func (h *welcomeHandler) showDone(c echo.Context) error {
	e, err := h.enrolment(c)
	if err != nil {
		return h.enrolError(c, err)
	}
	ss := h.ss()
	ctx := c.Request().Context()
	hasApp, err := h.s.SelfServe.HasAuthenticator(ctx, e.Flow)
	if err != nil {
		return err
	}
	p := welcomev.ThanksProps{FirstName: e.EndUser.FirstName, MSP: e.Tenant.DisplayName(), Support: supportContact(e.Tenant.SupportEmail, e.Tenant.Phone),
		Active: e.Active, Authenticator: hasApp, Address: "/self-serve"}
	if h.s.Config.BaseURL != nil {
		p.Address = h.s.Config.Link("/self-serve")
	}
	if e.MobileConfirmed() {
		p.MaskedMobile = enduser.MaskMobile(e.EndUser.Mobile)
	}
	if d := ss.deviceOf(c, e.Flow); d != nil && d.HasPush() {
		p.Device = true
	}
	return ss.render(c, http.StatusOK, e.Tenant, "All set", welcomev.Thanks(p))
}

// supportContact is how an end user reaches the MSP: "email" or "email or phone".
func supportContact(email, phone string) string {
	switch {
	case email != "" && phone != "":
		return email + " or " + phone
	case email != "":
		return email
	}
	return phone
}
