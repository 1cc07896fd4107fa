package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/db"
)

// webhooksHandler serves providers' webhooks: machine-to-machine requests
// outside sessions and CSRF, each authenticated by the provider's
// signature (checked by the domain service). The tenant comes from the URL
// Latchkey gave the provider; the signature, keyed with that tenant's
// secret, proves the request is the provider's for that tenant.
type webhooksHandler struct{ s *Server }

// webhookBodyLimit caps a webhook's body (Twilio's are a few hundred bytes).
const webhookBodyLimit = 64 << 10

// emptyTwiML answers an incoming message without replying to it (Twilio
// itself confirms STOP and START to the sender).
const emptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`

// signedForm reads the POST parameters and the URL the provider signed:
// LATCHKEY_BASE_URL with the request's path and query, never the Host
// header.
func (h *webhooksHandler) signedForm(c echo.Context) (url.Values, string, error) {
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, webhookBodyLimit)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, "", err
		}
		return nil, "", errBadForm
	}
	full := h.s.Config.Link(r.URL.Path)
	if r.URL.RawQuery != "" {
		full += "?" + r.URL.RawQuery
	}
	return r.PostForm, full, nil
}

var errBadForm = errors.New("webhook: unreadable form")

// webhookError answers a failed webhook in plain text: 403 for a bad
// signature, 400 for an unreadable body, 503 while the database is away
// (the provider may retry), 500 otherwise.
func (h *webhooksHandler) webhookError(c echo.Context, err error) error {
	var mbe *http.MaxBytesError
	switch {
	case apperr.CodeOf(err) == apperr.Forbidden:
		return c.String(http.StatusForbidden, "invalid signature")
	case errors.As(err, &mbe):
		return c.String(http.StatusRequestEntityTooLarge, "too large")
	case errors.Is(err, errBadForm):
		return c.String(http.StatusBadRequest, "bad form")
	case db.IsUnavailable(err):
		return c.String(http.StatusServiceUnavailable, "unavailable")
	}
	h.s.Log.ErrorContext(c.Request().Context(), "webhook failed", "path", c.Request().URL.Path, "err", err)
	return c.String(http.StatusInternalServerError, "error")
}

// twilioStatus applies a Twilio status callback to one message.
func (h *webhooksHandler) twilioStatus(c echo.Context) error {
	form, full, err := h.signedForm(c)
	if err != nil {
		return h.webhookError(c, err)
	}
	err = h.s.SMS.StatusCallback(c.Request().Context(), c.Param("tenant"), c.Param("message"), full,
		c.Request().Header.Get("X-Twilio-Signature"), form)
	if err != nil {
		return h.webhookError(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}

// twilioInbound applies an incoming message (STOP/START) to the opt-out list.
func (h *webhooksHandler) twilioInbound(c echo.Context) error {
	form, full, err := h.signedForm(c)
	if err != nil {
		return h.webhookError(c, err)
	}
	if _, err := h.s.SMS.Inbound(c.Request().Context(), c.Param("tenant"), full,
		c.Request().Header.Get("X-Twilio-Signature"), form); err != nil {
		return h.webhookError(c, err)
	}
	return c.Blob(http.StatusOK, "text/xml; charset=utf-8", []byte(emptyTwiML))
}
