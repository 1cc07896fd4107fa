package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/tenant"
)

// Context keys.
const (
	ctxLogin     = "latchkey.login"
	ctxTenant    = "latchkey.tenant"
	ctxNoHistory = "latchkey.nohistory"
	ctxReqID     = "latchkey.reqid"
)

// Session keys.
const (
	sessLoginID    = "login_id"
	sessAuthAt     = "auth_at"     // unix nanoseconds of the completed sign-in
	sessPendingID  = "pending_id"  // password checked, authenticator (or enrolment) next
	sessPendingAt  = "pending_at"  // unix seconds; the pending step expires
	sessPendingFor = "pending_for" // "totp" or "enrol"
	sessCSRF       = "csrf"
)

// currentLogin returns the signed-in login, or nil.
func currentLogin(c echo.Context) *login.Login {
	l, _ := c.Get(ctxLogin).(*login.Login)
	return l
}

// currentTenant returns the signed-in login's tenant, or nil.
func currentTenant(c echo.Context) *tenant.Tenant {
	t, _ := c.Get(ctxTenant).(*tenant.Tenant)
	return t
}

// actor describes the signed-in login for service calls and the audit trail.
// The tenant always comes from the session, never from the request.
func actor(c echo.Context) audit.Actor {
	a := audit.Actor{IP: c.RealIP()}
	if l := currentLogin(c); l != nil {
		a.TenantID, a.LoginID, a.Name, a.Role = l.TenantID, l.ID, l.Name(), string(l.Role)
	}
	return a
}

// ipExtractor trusts X-Forwarded-For only from the configured proxies.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		_, n, err := netParseCIDR(p.String())
		if err == nil {
			opts = append(opts, echo.TrustIPRange(n))
		}
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// requestLogger logs one line per request with its id, status and duration.
func (s *Server) requestLogger() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			req, res := c.Request(), c.Response()
			p := req.URL.Path
			if strings.HasPrefix(p, "/static/") || p == "/healthz" || p == "/readyz" {
				return nil
			}
			lvl := slog.LevelInfo
			if res.Status >= 500 {
				lvl = slog.LevelError
			}
			s.Log.LogAttrs(req.Context(), lvl, "request",
				slog.String("id", res.Header().Get(echo.HeaderXRequestID)),
				slog.String("method", req.Method), slog.String("path", loggedPath(p)),
				slog.Int("status", res.Status), slog.Duration("took", time.Since(start)),
				slog.String("ip", c.RealIP()))
			return nil
		}
	}
}

// tokenPaths are the routes whose last segment is a bearer secret (a
// technician's set-password link, an end user's welcome link).
var tokenPaths = []string{"/password/", "/welcome/"}

// loggedPath is p as the request log writes it: a link's secret becomes
// "[token]", so that logs never hold a working link.
func loggedPath(p string) string {
	for _, prefix := range tokenPaths {
		if rest, ok := strings.CutPrefix(p, prefix); ok && rest != "" {
			return prefix + "[token]"
		}
	}
	return p
}

// securityHeaders sets CSP and the other protective headers on every response.
func securityHeaders(https bool) echo.MiddlewareFunc {
	const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
		"font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("Content-Security-Policy", csp)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "same-origin")
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
			if https {
				h.Set("Strict-Transport-Security", "max-age=31536000")
			}
			if !strings.HasPrefix(c.Request().URL.Path, "/static/") {
				h.Set("Cache-Control", "no-cache")
			}
			return next(c)
		}
	}
}

// csrfToken returns the session's CSRF token, creating it on first use.
func (s *Server) csrfToken(c echo.Context) string {
	ctx := c.Request().Context()
	tok := s.Sessions.GetString(ctx, sessCSRF)
	if tok == "" {
		var b [32]byte
		_, _ = rand.Read(b[:])
		tok = base64.RawURLEncoding.EncodeToString(b[:])
		s.Sessions.Put(ctx, sessCSRF, tok)
	}
	return tok
}

// csrf rejects unsafe requests whose token (X-CSRF-Token header, as htmx
// sends it, or the _csrf form field) does not match the session's, and any
// unsafe request a browser marks as cross-site.
func (s *Server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		req := c.Request()
		if req.Header.Get("Sec-Fetch-Site") == "cross-site" {
			return apperr.New(apperr.Forbidden, "This request came from another site and was refused.")
		}
		want := s.Sessions.GetString(req.Context(), sessCSRF)
		got := req.Header.Get("X-CSRF-Token")
		if got == "" {
			got = c.FormValue("_csrf")
		}
		if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
			if selfServePage(req.URL.Path) {
				return s.selfServeFormExpired(c)
			}
			return &apperr.Error{Code: apperr.Forbidden, Message: "Your form expired or came from somewhere else. Reload the page and try again."}
		}
		return next(c)
	}
}

// loadLogin puts the signed-in login and its tenant into the context when
// the session holds a valid sign-in; a session of a disabled login, or one
// older than the login's last invalidation, is destroyed. It sends no
// statement when the session store read the login with the session.
func (s *Server) loadLogin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		id := s.Sessions.GetString(ctx, sessLoginID)
		if id == "" {
			return next(c)
		}
		at := time.Unix(0, s.Sessions.GetInt64(ctx, sessAuthAt))
		if s.Now().Sub(at) > SessionLifetime {
			// The absolute limit counts from sign-in, not from the session's
			// first (anonymous) request.
			_ = s.Sessions.Destroy(ctx)
			return next(c)
		}
		// The session store usually read the login (with its tenant) in the
		// same statement as the session; otherwise (a row written before it
		// recorded login ids, a login that no longer exists) load it here.
		// Both ways decide with login.CheckSession.
		var l *login.Login
		var err error
		if l = prefetchedLogin(ctx, id); l != nil {
			err = login.CheckSession(l, at)
		} else {
			l, err = s.Logins.ForSession(ctx, id, at)
		}
		if apperr.CodeOf(err) == apperr.Unauthorized {
			_ = s.Sessions.Destroy(ctx)
			return next(c)
		}
		if err != nil {
			return err
		}
		c.Set(ctxLogin, l)
		c.Set(ctxTenant, l.Tenant)
		return next(c)
	}
}

// requireLogin refuses requests without a signed-in login (401 → sign-in page).
func requireLogin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if currentLogin(c) == nil {
			return apperr.New(apperr.Unauthorized, "Please sign in.")
		}
		return next(c)
	}
}

// requireRole refuses signed-in logins whose role is not one of roles. It
// runs on the server for every route of a group, whatever the UI shows.
func requireRole(roles ...login.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			l := currentLogin(c)
			if l == nil {
				return apperr.New(apperr.Unauthorized, "Please sign in.")
			}
			for _, r := range roles {
				if l.Role == r {
					return next(c)
				}
			}
			return apperr.New(apperr.Forbidden, "Your role (%s) does not allow this. Ask a %s login.", l.Role.Label(), roleLabels(roles, "or"))
		}
	}
}

// roleLabels names roles for a sentence: "Primary, Super or Technician".
func roleLabels(roles []login.Role, conj string) string {
	out := ""
	for i, r := range roles {
		switch {
		case i == 0:
		case i == len(roles)-1:
			out += " " + conj + " "
		default:
			out += ", "
		}
		out += r.Label()
	}
	return out
}

// setupGate sends every page to the setup wizard until a tenant exists, and
// finishes the wizard for the Primary before anything else.
func (s *Server) setupGate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p := c.Request().URL.Path
		if strings.HasPrefix(p, "/setup") || strings.HasPrefix(p, "/static/") || p == "/healthz" || p == "/readyz" ||
			p == "/logo" || p == "/signin/mfa/qr.png" {
			return next(c)
		}
		if !s.setupDone.Load() {
			ok, err := tenant.Any(c.Request().Context(), s.DB.Bun)
			if err != nil {
				return err
			}
			if !ok {
				return redirect(c, "/setup")
			}
			s.setupDone.Store(true)
		}
		if t := currentTenant(c); t != nil && !t.SetupDone() && currentLogin(c).Role == login.RolePrimary && c.Request().Method == http.MethodGet {
			return redirect(c, "/setup")
		}
		return next(c)
	}
}

// nulMessage is the answer to a request that carries a NUL character (see
// refuseNUL), errNUL the error refuseNUL returns with it.
const nulMessage = "This request contains a NUL character, which no field in Latchkey accepts. Remove it and try again."

var errNUL = &echo.HTTPError{Code: http.StatusBadRequest, Message: nulMessage}

// refuseNUL answers 400 to a request whose address or query carries a NUL
// character: no field takes one, and neither database takes a statement with
// one in its text (bun writes values into it; PostgreSQL refuses it, SQLite
// reads it as the statement's end), so a search or a filter with "%00" in it
// was a 500 and an error in the log. A NUL in a form is left to the form's
// own checks, which answer with a field message and keep what was typed;
// where a form has none, handleError answers formNUL's 400 instead of a 500.
func refuseNUL(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if strings.IndexByte(req.URL.Path, 0) >= 0 {
			return errNUL
		}
		if strings.Contains(req.URL.RawQuery, "%00") || strings.IndexByte(req.URL.RawQuery, 0) >= 0 {
			if valuesHaveNUL(c.QueryParams()) {
				return errNUL
			}
		}
		return next(c)
	}
}

// formNUL reports whether the request's parsed form carries a NUL character.
func formNUL(req *http.Request) bool {
	return valuesHaveNUL(req.PostForm) || req.MultipartForm != nil && valuesHaveNUL(req.MultipartForm.Value)
}

// valuesHaveNUL reports whether a name or a value holds a NUL character.
func valuesHaveNUL(v map[string][]string) bool {
	for k, vs := range v {
		if strings.IndexByte(k, 0) >= 0 {
			return true
		}
		for _, s := range vs {
			if strings.IndexByte(s, 0) >= 0 {
				return true
			}
		}
	}
	return false
}

// defaultBodyLimit bounds every form post that has no rule of its own.
const defaultBodyLimit = 256 << 10

// bodyRule is the body limit of one route and how to answer a body over it.
type bodyRule struct {
	limit    int64
	tooLarge func(c echo.Context) error // nil: the generic 413 page
}

// limitBody caps request bodies before anything reads them (the CSRF check
// reads the form): forms get defaultBodyLimit, and routes with a rule (file
// uploads) their own limit and "too large" answer. A body without a length
// that runs over is caught while the form is parsed here.
func (s *Server) limitBody(rules map[string]bodyRule) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			switch req.Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
				return next(c)
			}
			rule, ok := rules[c.Path()]
			if !ok {
				rule = bodyRule{limit: defaultBodyLimit}
			}
			tooLarge := rule.tooLarge
			if tooLarge == nil {
				tooLarge = func(echo.Context) error { return echo.ErrStatusRequestEntityTooLarge }
			}
			if req.ContentLength > rule.limit {
				return tooLarge(c)
			}
			req.Body = http.MaxBytesReader(c.Response(), req.Body, rule.limit)
			var err error
			if strings.HasPrefix(req.Header.Get(echo.HeaderContentType), echo.MIMEMultipartForm) {
				err = req.ParseMultipartForm(rule.limit)
			} else {
				err = req.ParseForm()
			}
			if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
				return tooLarge(c)
			}
			return next(c)
		}
	}
}
