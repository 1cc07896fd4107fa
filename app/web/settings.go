package web

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/tenant"
	settingsv "github.com/latchkey/latchkey/views/pages/settings"
)

// settingsHandler serves the Settings page of Primary and Super logins: the
// MSP's details (the same form as setup step 2), the tenant-wide self-serve
// switch, and "require two-step sign-in for all logins". The tenant service
// checks the role again.
type settingsHandler struct{ s *Server }

// settingsChoices are the form's fixed choices, built once.
var settingsChoices = sync.OnceValue(func() (c struct {
	countries []settingsv.Option
	zones     []settingsv.OptGroup
	hours     []settingsv.Option
}) {
	for _, k := range tenant.Countries {
		c.countries = append(c.countries, settingsv.Option{Value: k.Code, Label: k.Code + " " + k.Name})
	}
	// Time zones grouped by region (the part before the first "/"), UTC first.
	byRegion := map[string]int{}
	for _, z := range tenant.ZoneNames() {
		region, city, ok := strings.Cut(z, "/")
		if !ok {
			region, city = "", z
		}
		label := strings.ReplaceAll(strings.ReplaceAll(city, "_", " "), "/", " / ")
		i, seen := byRegion[region]
		if !seen {
			i = len(c.zones)
			byRegion[region] = i
			c.zones = append(c.zones, settingsv.OptGroup{Label: region})
		}
		c.zones[i].Options = append(c.zones[i].Options, settingsv.Option{Value: z, Label: label})
	}
	if i, ok := byRegion[""]; ok && i != 0 {
		g := c.zones[i]
		copy(c.zones[1:i+1], c.zones[:i])
		c.zones[0] = g
	}
	for h := range 24 {
		c.hours = append(c.hours, settingsv.Option{Value: strconv.Itoa(h), Label: fmt.Sprintf("%02d:00", h)})
	}
	return c
})

// logoURL is the address of t's logo under base, with a version so that a
// new logo is not hidden by the browser's cache.
func logoURL(base string, t *tenant.Tenant) string {
	return base + "?v=" + strconv.FormatInt(t.UpdatedAt.UnixMilli(), 36)
}

// settingsFormOf fills the settings form from the stored tenant.
func settingsFormOf(t *tenant.Tenant, logoBase string) settingsv.FormProps {
	cc, national := tenant.SplitPhone(t.Phone)
	if t.Phone == "" {
		cc = tenant.DefaultCountry
	}
	ch := settingsChoices()
	return settingsv.FormProps{
		Name: t.Name, Address: t.Address, PhoneCountry: cc, PhoneNumber: national, TimeZone: t.TimeZone,
		NotificationHour: t.NotificationHour, SupportEmail: t.SupportEmail, SelfServe: t.SelfServeEnabled,
		HasLogo: t.HasLogo(), LogoURL: logoURL(logoBase, t),
		Countries: ch.countries, Zones: ch.zones, Hours: ch.hours,
	}
}

// settingsFormFromInput fills the settings form with what was posted (after
// a failed save) and the messages.
func settingsFormFromInput(in tenant.SettingsInput, t *tenant.Tenant, logoBase string, errs map[string]string) settingsv.FormProps {
	p := settingsFormOf(t, logoBase)
	p.Name, p.Address, p.PhoneCountry, p.PhoneNumber = in.Name, in.Address, in.PhoneCountry, in.PhoneNumber
	p.TimeZone, p.NotificationHour, p.SupportEmail, p.SelfServe = in.TimeZone, in.NotificationHour, in.SupportEmail, in.SelfServeEnabled
	p.RemoveLogo = in.RemoveLogo
	p.Errors = errs
	if in.Logo != nil && errs["logo"] == "" {
		// The logo itself was fine: keep it in the form (scaled as it
		// would be stored) so that fixing another field does not lose it.
		if png, err := tenant.ProcessLogo(in.Logo); err == nil {
			p.StagedLogo = base64.StdEncoding.EncodeToString(png)
		}
	}
	return p
}

// settingsInputOf reads the posted settings form, with the logo file if one
// was chosen (read up to one byte over the limit, so the service can say it is
// too large).
func settingsInputOf(c echo.Context) (tenant.SettingsInput, error) {
	hour, err := strconv.Atoi(strings.TrimSpace(c.FormValue("notification_hour")))
	if err != nil {
		hour = -1
	}
	in := tenant.SettingsInput{
		Name: c.FormValue("name"), Address: c.FormValue("address"),
		PhoneCountry: c.FormValue("phone_country"), PhoneNumber: c.FormValue("phone"),
		TimeZone: c.FormValue("time_zone"), NotificationHour: hour, SupportEmail: c.FormValue("support_email"),
		SelfServeEnabled: c.FormValue("self_serve") == "on", RemoveLogo: c.FormValue("remove_logo") == "on",
	}
	fh, err := c.FormFile("logo")
	switch {
	case errors.Is(err, http.ErrMissingFile), errors.Is(err, http.ErrNotMultipart):
		// No file chosen: the logo kept from a save that failed on another
		// field, if it is still ticked. It is checked and scaled again like
		// any upload; a value that is not base64 (only an edited form sends
		// one) counts as no logo.
		if staged := c.FormValue("logo_staged"); staged != "" {
			if b, err := base64.StdEncoding.DecodeString(staged); err == nil && len(b) > 0 {
				in.Logo = b
			}
		}
		return in, nil
	case err != nil:
		return in, err
	}
	f, err := fh.Open()
	if err != nil {
		return in, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, tenant.LogoMaxBytes+1))
	if err != nil {
		return in, err
	}
	if b == nil {
		b = []byte{}
	}
	in.Logo = b
	return in, nil
}

func (h *settingsHandler) props(c echo.Context, form settingsv.FormProps) settingsv.PageProps {
	// Turning self-serve off for the whole tenant is asked first (not in the
	// wizard, where no end user has it yet).
	form.ConfirmSelfServeOff = currentTenant(c).SelfServeEnabled
	return settingsv.PageProps{CSRF: h.s.csrfToken(c), Form: form, EnforceMFA: currentTenant(c).EnforceMFA,
		Verification: (&verifyHandler{h.s}).settingsSection(c), // verify.go
		Notices:      h.s.noticeSettingsCard(c)}                // notices.go
}

func (h *settingsHandler) showSettings(c echo.Context) error {
	p, err := h.pageProps(c, settingsFormOf(currentTenant(c), "/logo"))
	if err != nil {
		return err
	}
	return h.s.render(c, http.StatusOK, "Settings", settingsv.Page(p))
}

func (h *settingsHandler) saveSettings(c echo.Context) error {
	in, err := settingsInputOf(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = h.s.tenants().UpdateSettings(ctx, actor(c), in)
	if apperr.CodeOf(err) == apperr.Invalid {
		p := h.props(c, settingsFormFromInput(in, currentTenant(c), "/logo", apperr.FieldsOf(err)))
		if isHTMX(c) {
			return h.s.partial(c, http.StatusUnprocessableEntity, settingsv.Form(p))
		}
		if p.SMS, err = h.smsProps(c); err != nil {
			return err
		}
		return h.s.render(c, http.StatusUnprocessableEntity, "Settings", settingsv.Page(p))
	}
	if err != nil {
		return err
	}
	const msg = "Settings saved."
	if !isHTMX(c) {
		h.s.flash(c, "ok", msg)
		return redirect(c, "/settings")
	}
	t, err := tenant.Get(ctx, h.s.DB.Bun, currentTenant(c).ID)
	if err != nil {
		return err
	}
	c.Set(ctxTenant, t)
	setToast(c, "ok", msg)
	p := h.props(c, settingsFormOf(t, "/logo"))
	p.Saved = msg
	return h.s.partial(c, http.StatusOK, settingsv.Form(p))
}

func (h *settingsHandler) saveSecurity(c echo.Context) error {
	on := c.FormValue("enforce_mfa") == "on"
	ctx := c.Request().Context()
	if err := h.s.tenants().SetEnforceMFA(ctx, actor(c), on); err != nil {
		return err
	}
	msg := "Two-step sign-in is optional for logins."
	if on {
		msg = "Two-step sign-in is now required for all logins."
	}
	if !isHTMX(c) {
		h.s.flash(c, "ok", msg)
		return redirect(c, "/settings")
	}
	t, err := tenant.Get(ctx, h.s.DB.Bun, currentTenant(c).ID)
	if err != nil {
		return err
	}
	c.Set(ctxTenant, t)
	setToast(c, "ok", msg)
	return h.s.partial(c, http.StatusOK, settingsv.Security(h.props(c, settingsv.FormProps{})))
}
