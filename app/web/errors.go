package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/views/pages/errpage"
	ssv "github.com/latchkey/latchkey/views/pages/selfserve"
)

// statusOf maps an application error code to an HTTP status.
func statusOf(code apperr.Code) int {
	switch code {
	case apperr.Invalid:
		return http.StatusUnprocessableEntity
	case apperr.NotFound:
		return http.StatusNotFound
	case apperr.Forbidden:
		return http.StatusForbidden
	case apperr.Unauthorized:
		return http.StatusUnauthorized
	case apperr.Conflict:
		return http.StatusConflict
	case apperr.RateLimited:
		return http.StatusTooManyRequests
	case apperr.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// handleError is Echo's single error handler: it maps errors to a status and
// renders an error page, or for htmx a toast, never an internal message.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var (
		status int
		msg    string
		he     *echo.HTTPError
	)
	switch {
	case db.IsUnavailable(err):
		status, msg = http.StatusServiceUnavailable, "The database is not reachable right now. Latchkey retries on its own; try again in a moment."
	case errors.As(err, &he):
		status = he.Code
		switch status {
		case http.StatusNotFound:
			msg = "There is nothing at this address."
		case http.StatusMethodNotAllowed:
			msg = "That action is not available here."
		case http.StatusRequestEntityTooLarge:
			msg = "That upload is too large."
		case http.StatusBadRequest:
			msg = "Latchkey could not read that request."
			if he == errNUL {
				msg = nulMessage
			}
		default:
			msg = http.StatusText(status)
		}
	default:
		code := apperr.CodeOf(err)
		status, msg = statusOf(code), apperr.MessageOf(err)
		if status >= 500 && formNUL(c.Request()) {
			// The database refused a NUL that a form without a check of its
			// own let through (refuseNUL).
			status, msg = http.StatusBadRequest, nulMessage
		}
	}
	if status >= 500 {
		s.Log.ErrorContext(c.Request().Context(), "request failed", "err", err,
			"id", c.Response().Header().Get(echo.HeaderXRequestID), "path", c.Request().URL.Path)
	}
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", "5")
	}
	if selfServePage(c.Request().URL.Path) && c.Request().Header.Get("HX-Request") != "true" && c.Request().Method != http.MethodHead {
		// An end user's page: the MSP's layout, plain words, the self-serve
		// start; never the technicians' sign-in (an unknown address under
		// /self-serve meets the technicians' routes' sign-in check: 404).
		if status == http.StatusUnauthorized {
			status, msg = http.StatusNotFound, "There is nothing at this address."
		}
		if rerr := s.selfServeError(c, status, msg); rerr != nil {
			s.Log.ErrorContext(c.Request().Context(), "render error page", "err", rerr)
			_ = c.String(status, msg)
		}
		return
	}
	if status == http.StatusUnauthorized {
		if c.Request().Header.Get("HX-Request") == "true" {
			c.Response().Header().Set("HX-Redirect", "/signin")
			_ = c.NoContent(http.StatusUnauthorized)
			return
		}
		if c.Request().Method == http.MethodGet {
			_ = c.Redirect(http.StatusSeeOther, "/signin?next="+url.QueryEscape(c.Request().URL.RequestURI()))
			return
		}
	}
	if c.Request().Header.Get("HX-Request") == "true" {
		level := "danger"
		if status < 500 {
			level = "warn"
		}
		b, _ := json.Marshal(map[string]any{"showToast": map[string]string{"message": msg, "level": level}})
		c.Response().Header().Set("HX-Trigger", string(b))
		_ = c.String(status, msg)
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	content := errpage.Error(errpage.Props{Status: status, Title: http.StatusText(status), Message: msg, SignedIn: currentLogin(c) != nil})
	var rerr error
	if currentLogin(c) != nil {
		rerr = s.render(c, status, http.StatusText(status), content)
	} else {
		rerr = s.renderAuth(c, status, http.StatusText(status), content)
	}
	if rerr != nil {
		s.Log.ErrorContext(c.Request().Context(), "render error page", "err", rerr)
		_ = c.String(status, msg)
	}
}

// selfServeError renders an error on an end user's page in the self-serve
// layout.
func (s *Server) selfServeError(c echo.Context, status int, msg string) error {
	h := &selfServeHandler{s}
	var t *tenant.Tenant
	if status != http.StatusServiceUnavailable {
		t, _ = h.tenant(c, h.flow(c))
	}
	mp := ssv.MessageProps{Title: "Something went wrong", Message: msg, TestID: "ss-error", Restart: true}
	switch {
	case status == http.StatusNotFound:
		mp.Title = "Not found"
	case status == http.StatusTooManyRequests:
		mp.Title, mp.Restart = "Please wait", false
	case status < 500:
		mp.Title = "Sorry, that did not work"
	}
	if status >= 500 && status != http.StatusServiceUnavailable {
		mp.Message = "Something went wrong on our side. Nothing was changed. Try again in a moment."
	}
	if t != nil {
		mp.MSP, mp.Support = t.DisplayName(), supportContact(t.SupportEmail, t.Phone)
	}
	return h.render(c, status, t, mp.Title, ssv.Message(mp))
}
