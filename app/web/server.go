// Package web is Latchkey's HTTP layer: Echo routes (routes.go holds the whole
// URL surface), middleware, per-area handlers, and rendering of templ views.
package web

import (
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/agent"
	"github.com/latchkey/latchkey/app/config"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/device"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/notice"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/selfserve"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/verify"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/db"
)

// Deps are what the web layer needs; app.New wires them.
type Deps struct {
	Config   config.Config
	Log      *slog.Logger
	DB       *db.DB
	Sessions *scs.SessionManager
	Keys     *secret.Keyring
	Hasher   *credential.Hasher
	Mail     *notify.Queue
	Logins   *login.Service
	// Onboarding is the end users' CSV import and welcome email.
	Onboarding *enduser.Onboarding
	// Agents: directory agents, settings, tasks and imports.
	Agents *agent.Service
	Now    func() time.Time

	// Notices: password-expiry and lockout notices (preview, settings, history).
	Notices *notice.Service

	// SMS: Twilio settings, test message, webhooks. Push: web push
	// subscriptions and the VAPID public key.
	SMS  *sms.Service
	Push *webpush.Service
	// Verify: identity verification; Devices: end users' enrolled devices.
	Verify  *verify.Service
	Devices *device.Service
	// SelfServe: end users' self-serve and the reset panel's password rules.
	SelfServe *selfserve.Service
}

// Server is the HTTP application.
type Server struct {
	Deps
	echo      *echo.Echo
	setupDone atomic.Bool // a tenant exists; cached once true
}

// New builds the Echo application with every route and middleware.
func New(d Deps) *Server {
	s := &Server{Deps: d}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = ipExtractor(d.Config.TrustedProxies)
	s.echo = e
	s.routes()
	return s
}

// Handler returns the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// HTTPServer returns an http.Server with the timeouts of the security bar.
func (s *Server) HTTPServer(addr string) *http.Server {
	srv := &http.Server{
		Addr:              addr,
		Handler:           s.echo,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
	}
	if s.Verify != nil {
		srv.RegisterOnShutdown(s.Verify.Hub().Close) // live panels' streams end at once
	}
	return srv
}
