package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/sms"
	settingsv "github.com/latchkey/latchkey/views/pages/settings"
)

// The Settings page's text-message (Twilio) card: settingsHandler methods.
// The sms service checks the role again; secrets are never sent back to the
// browser, not even after a failed save.

// smsProps fills the SMS card from the stored settings.
func (h *settingsHandler) smsProps(c echo.Context) (settingsv.SMSProps, error) {
	st, err := h.s.SMS.Settings(c.Request().Context(), currentTenant(c).ID)
	if err != nil {
		return settingsv.SMSProps{}, err
	}
	return settingsv.SMSProps{
		CSRF: h.s.csrfToken(c), Configured: st.Configured,
		AccountSID: st.AccountSID, AuthTokenSaved: st.AuthTokenSaved, APIKeySID: st.APIKeySID, APIKeySecretSaved: st.APIKeySecretSaved,
		FromNumber: st.FromNumber, MessagingServiceSID: st.MessagingServiceSID, DailyLimit: strconv.Itoa(st.DailyLimit),
		Webhooks: st.Webhooks, InboundURL: st.InboundURL,
	}, nil
}

// pageProps is the whole Settings page's props, SMS card included.
func (h *settingsHandler) pageProps(c echo.Context, form settingsv.FormProps) (settingsv.PageProps, error) {
	p := h.props(c, form)
	var err error
	p.SMS, err = h.smsProps(c)
	return p, err
}

// smsCard answers an SMS form: the card alone for htmx, else the page.
func (h *settingsHandler) smsCard(c echo.Context, status int, p settingsv.SMSProps) error {
	if isHTMX(c) {
		return h.s.partial(c, status, settingsv.SMS(p))
	}
	page := h.props(c, settingsFormOf(currentTenant(c), "/logo"))
	page.SMS = p
	return h.s.render(c, status, "Settings", settingsv.Page(page))
}

func (h *settingsHandler) saveSMS(c echo.Context) error {
	in := sms.SettingsInput{
		AccountSID: c.FormValue("account_sid"), AuthToken: c.FormValue("auth_token"),
		APIKeySID: c.FormValue("api_key_sid"), APIKeySecret: c.FormValue("api_key_secret"),
		FromNumber: c.FormValue("from_number"), MessagingServiceSID: c.FormValue("messaging_service_sid"),
		DailyLimit: c.FormValue("daily_limit"),
	}
	err := h.s.SMS.SaveSettings(c.Request().Context(), actor(c), in)
	if apperr.CodeOf(err) == apperr.Invalid {
		p, perr := h.smsProps(c)
		if perr != nil {
			return perr
		}
		// What was typed comes back, except the secrets.
		p.AccountSID, p.APIKeySID, p.FromNumber = in.AccountSID, in.APIKeySID, in.FromNumber
		p.MessagingServiceSID, p.DailyLimit = in.MessagingServiceSID, in.DailyLimit
		p.Errors = apperr.FieldsOf(err)
		return h.smsCard(c, http.StatusUnprocessableEntity, p)
	}
	if err != nil {
		return err
	}
	const msg = "SMS settings saved."
	if !isHTMX(c) {
		h.s.flash(c, "ok", msg)
		return redirect(c, "/settings")
	}
	p, err := h.smsProps(c)
	if err != nil {
		return err
	}
	p.Saved = msg
	setToast(c, "ok", msg)
	return h.smsCard(c, http.StatusOK, p)
}

func (h *settingsHandler) removeSMS(c echo.Context) error {
	if err := h.s.SMS.RemoveSettings(c.Request().Context(), actor(c)); err != nil {
		return err
	}
	const msg = "Twilio settings removed. Text messages wait in the Outbox."
	if !isHTMX(c) {
		h.s.flash(c, "ok", msg)
		return redirect(c, "/settings")
	}
	p, err := h.smsProps(c)
	if err != nil {
		return err
	}
	setToast(c, "ok", msg)
	return h.smsCard(c, http.StatusOK, p)
}

// testMessage words a test message's outcome for the admin.
func testMessage(r sms.TestResult) *settingsv.SMSTest {
	switch {
	case r.Status == notify.StatusSent:
		return &settingsv.SMSTest{Level: "ok", Message: "Twilio accepted the test message to " + r.To + "."}
	case r.Status == notify.StatusOutbox:
		return &settingsv.SMSTest{Level: "info", Message: "SMS is not set up, so the test message to " + r.To + " is in the Outbox."}
	case r.Retrying:
		return &settingsv.SMSTest{Level: "warn", Message: "Twilio could not take the test message yet: " + r.Problem + " It is tried again shortly; see the Outbox."}
	case r.Status == notify.StatusFailed:
		return &settingsv.SMSTest{Level: "danger", Message: "The test message to " + r.To + " was not sent. " + r.Problem}
	}
	return &settingsv.SMSTest{Level: "info", Message: "The test message to " + r.To + " is queued; see the Outbox for its delivery."}
}

func (h *settingsHandler) testSMS(c echo.Context) error {
	to := c.FormValue("test_to")
	res, err := h.s.SMS.SendTest(c.Request().Context(), actor(c), to)
	if apperr.CodeOf(err) == apperr.Invalid {
		p, perr := h.smsProps(c)
		if perr != nil {
			return perr
		}
		p.TestTo = to
		p.Errors = apperr.FieldsOf(err)
		if len(p.Errors) == 0 {
			p.Errors = map[string]string{"test_to": apperr.MessageOf(err)}
		}
		return h.smsCard(c, http.StatusUnprocessableEntity, p)
	}
	if err != nil {
		return err
	}
	t := testMessage(res)
	if !isHTMX(c) {
		h.s.flash(c, t.Level, t.Message)
		return redirect(c, "/settings")
	}
	p, err := h.smsProps(c)
	if err != nil {
		return err
	}
	p.TestTo, p.Test = to, t
	setToast(c, t.Level, t.Message)
	return h.smsCard(c, http.StatusOK, p)
}
