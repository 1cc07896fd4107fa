package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/tenant"
	welcomev "github.com/latchkey/latchkey/views/pages/welcome"
)

// welcomeHandler serves the welcome email: the technicians' "Send welcome
// email" actions (one end user, or a bulk selection of the grid) and the end
// user's public landing page behind the emailed link.
//
// The landing page records the mobile number but does not use the link's
// enrolment token up: the self-serve enrolment (identity proof, then this
// device) is a later feature and will consume it. Until then the link works
// until it expires (7 days) or a newer welcome supersedes it.
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

// brand makes the auth layout show the end user's MSP (name and logo).
func (h *welcomeHandler) brand(c echo.Context, t *tenant.Tenant) {
	if currentTenant(c) == nil {
		c.Set("latchkey.publictenant", t)
	}
}

// gone is the page of an unknown, used or expired link (404).
func (h *welcomeHandler) gone(c echo.Context) error {
	return h.s.renderAuth(c, http.StatusNotFound, "Link expired", welcomev.Gone())
}

// welcomeProps builds the landing page of p for the link token.
func (h *welcomeHandler) welcomeProps(c echo.Context, p *enduser.WelcomePage, token string) welcomev.Props {
	u := p.EndUser
	country, _ := tenant.SplitPhone(u.Mobile)
	if country == "" {
		country, _ = tenant.SplitPhone(p.Tenant.Phone)
	}
	if country == "" {
		country = tenant.DefaultCountry
	}
	opts := make([]welcomev.Option, len(tenant.Countries))
	for i, ct := range tenant.Countries {
		opts[i] = welcomev.Option{Value: ct.Code, Label: ct.Code + " " + ct.Name}
	}
	return welcomev.Props{
		CSRF: h.s.csrfToken(c), Action: "/welcome/" + token + "/mobile", FirstName: u.FirstName,
		MSP: p.Tenant.DisplayName(), Customer: p.Customer.Name, MaskedMobile: enduser.MaskMobile(u.Mobile),
		Support:   supportContact(p.Tenant.SupportEmail, p.Tenant.Phone),
		Countries: opts, Country: country,
	}
}

func (h *welcomeHandler) showWelcome(c echo.Context) error {
	noStore(c)
	tok := c.Param("token")
	p, err := h.s.Onboarding.Welcome(c.Request().Context(), tok)
	if apperr.CodeOf(err) == apperr.NotFound {
		return h.gone(c)
	}
	if err != nil {
		return err
	}
	h.brand(c, p.Tenant)
	return h.s.renderAuth(c, http.StatusOK, "Welcome", welcomev.Welcome(h.welcomeProps(c, p, tok)))
}

func (h *welcomeHandler) saveMobile(c echo.Context) error {
	noStore(c)
	ctx := c.Request().Context()
	tok := c.Param("token")
	keep := c.FormValue("keep") == "1"
	p, err := h.s.Onboarding.ConfirmMobile(ctx, tok, keep, c.FormValue("country"), c.FormValue("mobile"), c.RealIP())
	switch apperr.CodeOf(err) {
	case "":
	case apperr.NotFound:
		return h.gone(c)
	case apperr.Invalid:
		page, perr := h.s.Onboarding.Welcome(ctx, tok)
		if apperr.CodeOf(perr) == apperr.NotFound {
			return h.gone(c)
		}
		if perr != nil {
			return perr
		}
		h.brand(c, page.Tenant)
		props := h.welcomeProps(c, page, tok)
		props.Country, props.Number, props.Error, props.Changing = c.FormValue("country"), c.FormValue("mobile"), fieldsOrMessage(err, "mobile")["mobile"], true
		return h.s.renderAuth(c, http.StatusUnprocessableEntity, "Welcome", welcomev.Welcome(props))
	default:
		return err
	}
	h.brand(c, p.Tenant)
	expires := p.ExpiresAt.In(p.Tenant.Location()).Format("Jan 2, 2006")
	return h.s.renderAuth(c, http.StatusOK, "Thank you", welcomev.Thanks(welcomev.ThanksProps{
		FirstName: p.EndUser.FirstName, MSP: p.Tenant.DisplayName(), MaskedMobile: enduser.MaskMobile(p.EndUser.Mobile), Expires: expires,
	}))
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
