package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/static"
)

// routes is Latchkey's whole URL surface, grouped by who may call it.
func (s *Server) routes() {
	e := s.echo
	e.Pre(middleware.RemoveTrailingSlashWithConfig(middleware.TrailingSlashConfig{RedirectCode: http.StatusMovedPermanently}))
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true}))
	e.Use(middleware.RequestID())
	e.Use(s.requestLogger())
	e.Use(securityHeaders(s.Config.SecureCookies()))

	// Process and database health, outside sessions.
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", staticHandler(static.FS()))))

	// Everything else has a session, CSRF protection and the setup gate.
	app := e.Group("", echo.WrapMiddleware(s.Sessions.LoadAndSave), s.csrf, s.loadLogin, s.setupGate, bodyLimit("256K"))

	auth := &authHandler{s}
	// Public: sign-in, MFA step, forgotten password, invitation links.
	app.GET("/signin", auth.showSignIn)
	app.POST("/signin", auth.signIn)
	app.GET("/signin/totp", auth.showTOTP)
	app.POST("/signin/totp", auth.verifyTOTP)
	app.GET("/signin/mfa", auth.showEnrol)
	app.POST("/signin/mfa", auth.confirmEnrol)
	app.GET("/signin/mfa/qr.png", auth.enrolQR)
	app.POST("/signout", auth.signOut)
	app.GET("/forgot", auth.showForgot)
	app.POST("/forgot", auth.forgot)
	app.GET("/password/:token", auth.showSetPassword)
	app.POST("/password/:token", auth.setPassword)
	app.GET("/logo", s.logo)

	// Setup wizard (setup.go): the Primary's login first, then the MSP's settings.
	// BEGIN setup routes
	// END setup routes

	// Any signed-in login.
	signed := app.Group("", requireLogin)
	signed.GET("", s.dashboard)

	// Primary and Super only.
	admin := signed.Group("", requireRole(login.RolePrimary, login.RoleSuper))
	// BEGIN login management routes (logins.go)
	// END login management routes
	// BEGIN events routes (events.go)
	// END events routes
	// BEGIN settings routes (settings.go)
	// END settings routes
	_ = admin
}
