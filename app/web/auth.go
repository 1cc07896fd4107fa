package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/login"
	authv "github.com/latchkey/latchkey/views/pages/auth"
)

// pendingLifetime bounds the time between the password and the second step.
const pendingLifetime = 5 * time.Minute

// authHandler serves sign-in, the MFA step, sign-out and password links.
type authHandler struct{ s *Server }

// safeNext returns a local path to continue to after sign-in, or "/".
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.HasPrefix(next, "/signin") {
		return "/"
	}
	return next
}

func (h *authHandler) showSignIn(c echo.Context) error {
	if currentLogin(c) != nil {
		return redirect(c, "/")
	}
	return h.s.renderAuth(c, http.StatusOK, "Sign in", authv.SignIn(authv.SignInProps{CSRF: h.s.csrfToken(c), Next: c.QueryParam("next")}))
}

func (h *authHandler) signIn(c echo.Context) error {
	ctx := c.Request().Context()
	email, next := c.FormValue("email"), c.FormValue("next")
	res, err := h.s.Logins.Authenticate(ctx, email, c.FormValue("password"), c.RealIP())
	if code := apperr.CodeOf(err); code == apperr.Invalid || code == apperr.RateLimited {
		level := "danger"
		if code == apperr.RateLimited {
			level = "warn"
		}
		return h.s.renderAuth(c, statusOf(code), "Sign in", authv.SignIn(authv.SignInProps{
			CSRF: h.s.csrfToken(c), Email: email, Next: next, Error: apperr.MessageOf(err), Level: level,
		}))
	}
	if err != nil {
		return err
	}
	if res.NeedsTOTP || res.NeedsMFA {
		// The password is right; the second step is still to come. Renew the
		// token so that the pre-sign-in session id is not carried over.
		if err := h.s.Sessions.RenewToken(ctx); err != nil {
			return err
		}
		step := "totp"
		if !res.NeedsTOTP {
			step = "enrol"
		}
		h.s.Sessions.Put(ctx, sessPendingID, res.Login.ID)
		h.s.Sessions.Put(ctx, sessPendingAt, h.s.Now().UnixNano())
		h.s.Sessions.Put(ctx, sessPendingFor, step)
		h.s.Sessions.Put(ctx, "next", next)
		if step == "totp" {
			return redirect(c, "/signin/totp")
		}
		return redirect(c, "/signin/mfa")
	}
	return h.complete(c, res.Login, next)
}

// complete finishes a sign-in: audit, a new session token, and the session's
// login and time of sign-in.
func (h *authHandler) complete(c echo.Context, l *login.Login, next string) error {
	ctx := c.Request().Context()
	if err := h.s.Logins.CompleteSignIn(ctx, l, c.RealIP()); err != nil {
		return err
	}
	if err := h.s.Sessions.RenewToken(ctx); err != nil {
		return err
	}
	for _, k := range []string{sessPendingID, sessPendingAt, sessPendingFor, "next"} {
		h.s.Sessions.Remove(ctx, k)
	}
	h.s.Sessions.Put(ctx, sessLoginID, l.ID)
	h.s.Sessions.Put(ctx, sessAuthAt, h.s.Now().UnixNano())
	return redirect(c, safeNext(next))
}

// pending returns the login whose password was checked and which step it
// still needs, or an Unauthorized error when there is none or it expired.
func (h *authHandler) pending(c echo.Context, step string) (*login.Login, error) {
	ctx := c.Request().Context()
	id := h.s.Sessions.GetString(ctx, sessPendingID)
	at := time.Unix(0, h.s.Sessions.GetInt64(ctx, sessPendingAt))
	if id == "" || h.s.Sessions.GetString(ctx, sessPendingFor) != step || h.s.Now().Sub(at) > pendingLifetime {
		return nil, apperr.New(apperr.Unauthorized, "Please sign in again.")
	}
	l, err := h.s.Logins.ForSession(ctx, id, at)
	if err != nil {
		return nil, apperr.New(apperr.Unauthorized, "Please sign in again.")
	}
	return l, nil
}

func (h *authHandler) showTOTP(c echo.Context) error {
	l, err := h.pending(c, "totp")
	if err != nil {
		return redirect(c, "/signin")
	}
	return h.s.renderAuth(c, http.StatusOK, "Two-step sign-in", authv.TOTP(authv.TOTPProps{CSRF: h.s.csrfToken(c), Email: l.Email}))
}

func (h *authHandler) verifyTOTP(c echo.Context) error {
	l, err := h.pending(c, "totp")
	if err != nil {
		return err
	}
	ok, err := h.s.Logins.VerifyTOTP(c.Request().Context(), l.ID, c.FormValue("code"), c.RealIP())
	if code := apperr.CodeOf(err); code == apperr.Invalid || code == apperr.RateLimited {
		return h.s.renderAuth(c, statusOf(code), "Two-step sign-in", authv.TOTP(authv.TOTPProps{
			CSRF: h.s.csrfToken(c), Email: l.Email, Error: apperr.MessageOf(err),
		}))
	}
	if err != nil {
		return err
	}
	return h.complete(c, ok, h.s.Sessions.GetString(c.Request().Context(), "next"))
}

func (h *authHandler) enrolProps(c echo.Context, secret, errMsg string) authv.EnrolProps {
	return authv.EnrolProps{
		CSRF: h.s.csrfToken(c), Action: "/signin/mfa", QRURL: "/signin/mfa/qr.png", Secret: secret, Error: errMsg,
		Heading: "Set up two-step sign-in",
		Intro:   "Your MSP requires an authenticator app for every login. Set it up once; you will enter a code from it each time you sign in.",
	}
}

func (h *authHandler) showEnrol(c echo.Context) error {
	l, err := h.pending(c, "enrol")
	if err != nil {
		return redirect(c, "/signin")
	}
	en, err := h.s.Logins.BeginTOTP(c.Request().Context(), l.ID)
	if err != nil {
		return err
	}
	noStore(c)
	return h.s.renderAuth(c, http.StatusOK, "Set up two-step sign-in", authv.Enrol(h.enrolProps(c, en.Secret, "")))
}

func (h *authHandler) enrolQR(c echo.Context) error {
	ctx := c.Request().Context()
	id := h.s.Sessions.GetString(ctx, sessPendingID)
	if id == "" {
		if l := currentLogin(c); l != nil {
			id = l.ID
		}
	}
	if id == "" {
		return apperr.New(apperr.Unauthorized, "Please sign in.")
	}
	en, err := h.s.Logins.PendingTOTP(ctx, id)
	if err != nil {
		return err
	}
	png, err := credential.QRPNG(en.URL, 200)
	if err != nil {
		return err
	}
	noStore(c)
	return c.Blob(http.StatusOK, "image/png", png)
}

func (h *authHandler) confirmEnrol(c echo.Context) error {
	l, err := h.pending(c, "enrol")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = h.s.Logins.ConfirmTOTP(ctx, l.ID, c.FormValue("code"), c.RealIP())
	if apperr.CodeOf(err) == apperr.Invalid {
		en, perr := h.s.Logins.PendingTOTP(ctx, l.ID)
		if perr != nil {
			return perr
		}
		noStore(c)
		return h.s.renderAuth(c, http.StatusUnprocessableEntity, "Set up two-step sign-in", authv.Enrol(h.enrolProps(c, en.Secret, apperr.MessageOf(err))))
	}
	if err != nil {
		return err
	}
	l, err = h.s.Logins.Get(ctx, l.TenantID, l.ID)
	if err != nil {
		return err
	}
	return h.complete(c, l, h.s.Sessions.GetString(ctx, "next"))
}

func (h *authHandler) signOut(c echo.Context) error {
	ctx := c.Request().Context()
	if l := currentLogin(c); l != nil {
		if err := h.s.Logins.RecordSignOut(ctx, actor(c)); err != nil {
			return err
		}
	}
	if err := h.s.Sessions.Destroy(ctx); err != nil {
		return err
	}
	h.s.flash(c, "ok", "You are signed out.")
	return redirect(c, "/signin")
}

func (h *authHandler) showForgot(c echo.Context) error {
	return h.s.renderAuth(c, http.StatusOK, "Reset your password", authv.Forgot(authv.ForgotProps{CSRF: h.s.csrfToken(c)}))
}

func (h *authHandler) forgot(c echo.Context) error {
	email := strings.TrimSpace(c.FormValue("email"))
	if email == "" || !strings.Contains(email, "@") {
		return h.s.renderAuth(c, http.StatusUnprocessableEntity, "Reset your password", authv.Forgot(authv.ForgotProps{
			CSRF: h.s.csrfToken(c), Email: email, Error: "Enter the email address of your login.",
		}))
	}
	if err := h.s.Logins.RequestPasswordReset(c.Request().Context(), email, c.RealIP()); err != nil {
		return err
	}
	return h.s.renderAuth(c, http.StatusOK, "Check your email", authv.Forgot(authv.ForgotProps{Email: email, Sent: true}))
}

func (h *authHandler) showSetPassword(c echo.Context) error {
	tok := c.Param("token")
	l, purpose, err := h.s.Logins.TokenLogin(c.Request().Context(), tok)
	if err != nil {
		return err
	}
	noStore(c)
	return h.s.renderAuth(c, http.StatusOK, "Choose a password", authv.SetPassword(authv.SetPasswordProps{
		CSRF: h.s.csrfToken(c), Action: "/password/" + tok, Invite: purpose == login.TokenInvite, Name: l.FirstName, Email: l.Email,
	}))
}

func (h *authHandler) setPassword(c echo.Context) error {
	tok := c.Param("token")
	ctx := c.Request().Context()
	_, err := h.s.Logins.SetPasswordWithToken(ctx, tok, c.FormValue("password"), c.FormValue("confirm"), c.RealIP())
	if apperr.CodeOf(err) == apperr.Invalid {
		l, purpose, terr := h.s.Logins.TokenLogin(ctx, tok)
		if terr != nil {
			return terr
		}
		noStore(c)
		return h.s.renderAuth(c, http.StatusUnprocessableEntity, "Choose a password", authv.SetPassword(authv.SetPasswordProps{
			CSRF: h.s.csrfToken(c), Action: "/password/" + tok, Invite: purpose == login.TokenInvite, Name: l.FirstName, Email: l.Email,
			Errors: apperr.FieldsOf(err),
		}))
	}
	if err != nil {
		return err
	}
	if currentLogin(c) != nil {
		_ = h.s.Sessions.Destroy(ctx)
	}
	h.s.flash(c, "ok", "Your password is saved. Sign in with it now.")
	return redirect(c, "/signin")
}
