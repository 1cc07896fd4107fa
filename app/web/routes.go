package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/latchkey/latchkey/app/agent/wire"
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

	// Machine-to-machine APIs, outside sessions and CSRF: each authenticates
	// its caller itself (agent credential, provider signature).
	// BEGIN agent API routes (agentapi.go)
	api := &agentAPI{s}
	e.POST(wire.PathEnroll, api.enroll)
	e.POST(wire.PathPoll, api.poll, api.requireAgent)
	e.POST(wire.PathTasks+":id/users", api.uploadUsers, api.requireAgent)
	e.POST(wire.PathTasks+":id/result", api.result, api.requireAgent)
	// END agent API routes
	// BEGIN provider webhook routes (webhooks.go)
	wh := &webhooksHandler{s}
	e.POST("/webhooks/twilio/:tenant/status/:message", wh.twilioStatus)
	e.POST("/webhooks/twilio/:tenant/inbound", wh.twilioInbound)
	// END provider webhook routes

	// Everything else has a session, a body limit (before anything reads the
	// body), CSRF protection and the setup gate. File uploads have their own limits.
	setup := &setupHandler{s}
	lh := &loginsHandler{s}
	uploads := map[string]bodyRule{
		"/setup/settings":                 {limit: uploadBodyLimit, tooLarge: s.uploadTooLarge},
		"/settings":                       {limit: uploadBodyLimit, tooLarge: s.uploadTooLarge},
		"/logins/import":                  {limit: importBodyLimit, tooLarge: lh.importTooLarge},
		"/logins/import/confirm":          {limit: importBodyLimit, tooLarge: lh.importTooLarge},
		"/customers/:id/end-users/import": {limit: endUserImportBodyLimit, tooLarge: (&endUserImportHandler{s}).importTooLarge},
	}
	app := e.Group("", prefetchSessionLogin, echo.WrapMiddleware(s.Sessions.LoadAndSave), s.idleTimeout, s.loadLogin, s.limitBody(uploads), refuseNUL, s.csrf, s.setupGate)

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

	// End users' public pages (welcome.go): the welcome link, phone first.
	// BEGIN end-user public routes
	welcome := &welcomeHandler{s}
	app.GET("/welcome/:token", welcome.showWelcome)
	app.POST("/welcome/:token", welcome.sendCode)
	// END end-user public routes
	// BEGIN self-serve routes (selfserve.go): end users' phone-first pages
	// No sign-in: the flow in the session says who proved what (selfserve.go);
	// the enrolment steps after the welcome link's proof are welcome.go's.
	ss := &selfServeHandler{s}
	app.GET("/self-serve", ss.showStart)
	app.GET("/self-serve/manifest.webmanifest", ss.manifest)
	app.GET("/self-serve/logo", ss.logo)
	app.GET("/self-serve/reset", ss.showIdentify)
	app.GET("/self-serve/unlock", ss.showIdentify)
	app.POST("/self-serve/identify", ss.identify)
	app.GET("/self-serve/prove", ss.showMethods)
	app.POST("/self-serve/prove", ss.sendProof)
	app.GET("/self-serve/code", ss.showCode)
	app.POST("/self-serve/code", ss.checkCode)
	app.GET("/self-serve/push", ss.pushStatus)
	app.GET("/self-serve/password", ss.showPassword)
	app.POST("/self-serve/password", ss.resetPassword)
	app.POST("/self-serve/password/check", ss.checkPassword)
	app.POST("/self-serve/password/suggest", ss.suggest)
	app.GET("/self-serve/account", ss.showAccount)
	app.POST("/self-serve/account/unlock", ss.unlock)
	app.GET("/self-serve/result", ss.showResult)
	app.GET("/self-serve/expired", ss.showExpired)
	app.GET("/self-serve/enrol/mobile", welcome.showMobile)
	app.POST("/self-serve/enrol/mobile", welcome.saveMobile)
	app.GET("/self-serve/enrol/mobile/code", welcome.showMobileCode)
	app.POST("/self-serve/enrol/mobile/code", welcome.checkMobileCode)
	app.GET("/self-serve/enrol/authenticator", welcome.showAuthenticator)
	app.GET("/self-serve/enrol/authenticator/qr.png", welcome.authenticatorQR)
	app.POST("/self-serve/enrol/authenticator", welcome.confirmAuthenticator)
	app.GET("/self-serve/enrol/device", welcome.showDevice)
	app.POST("/self-serve/enrol/device", welcome.enrolDevice)
	app.GET("/self-serve/enrol/done", welcome.showDone)
	// The technician's reset panel (resetpanel.go): live check and generator,
	// for the roles that may reset (the reset and unlock are directory routes).
	rp := &resetPanelHandler{s}
	resetter := requireRole(resetRoles...)
	app.POST("/end-users/:id/password/check", rp.checkPassword, resetter)
	app.POST("/end-users/:id/password/generate", rp.generate, resetter)
	// END self-serve routes

	// Setup wizard (setup.go): the Primary's login first, then the MSP's settings.
	// BEGIN setup routes
	wiz := setup.requireWizard // steps 2–5: the signed-in Primary (or a Super) until setup is finished
	app.GET("/setup", setup.resume)
	app.GET("/setup/primary", setup.showPrimary)
	app.POST("/setup/primary", setup.createPrimary)
	app.GET("/setup/settings", setup.showSettings, wiz)
	app.GET("/setup/logo", setup.logo, wiz)
	app.GET("/setup/mfa", setup.showMFA, wiz)
	app.POST("/setup/mfa", setup.confirmMFA, wiz)
	app.GET("/setup/mfa/qr.png", setup.mfaQR, wiz)
	app.POST("/setup/mfa/enforce", setup.setEnforceMFA, wiz)
	app.POST("/setup/mfa/skip", setup.skipMFA, wiz)
	app.GET("/setup/technicians", setup.showTechnicians, wiz)
	app.GET("/setup/technicians/row", setup.techRow, wiz)
	app.POST("/setup/technicians", setup.inviteTechnicians, wiz)
	app.POST("/setup/technicians/skip", setup.skipTechnicians, wiz)
	app.GET("/setup/done", setup.showDone, wiz)
	app.POST("/setup/done", setup.finish, wiz)
	app.POST("/setup/settings", setup.saveSettings, wiz) // logo upload: see uploads
	// END setup routes

	// Any signed-in login.
	signed := app.Group("", requireLogin)
	signed.GET("", s.dashboard)
	// BEGIN customer routes (customers.go)
	ch := newCustomersHandler(s)
	signed.GET("/customers", ch.showCustomers)
	customerAdmin := signed.Group("", requireRole(login.RolePrimary, login.RoleSuper, login.RoleTechnician))
	customerAdmin.GET("/customers/new", ch.showNew)
	customerAdmin.POST("/customers", ch.create)
	signed.GET("/customers/:id", ch.showCustomer)
	customerAdmin.GET("/customers/:id/edit", ch.showEdit)
	customerAdmin.POST("/customers/:id", ch.save)
	customerAdmin.POST("/customers/:id/archive", ch.archive)
	customerAdmin.POST("/customers/:id/unarchive", ch.unarchive)
	customerAdmin.POST("/customers/:id/delete", ch.deleteCustomer)
	// END customer routes
	// BEGIN end-user grid routes (endusers.go)
	eu := newEndUsersHandler(s)
	signed.GET("/end-users", eu.showGrid)
	signed.GET("/end-users.csv", eu.exportCSV)
	signed.GET("/customers/:id/end-users", eu.showCustomerGrid)
	signed.GET("/customers/:id/end-users.csv", eu.exportCustomerCSV)
	signed.GET("/end-users/:id/row", eu.showRow)
	signed.GET("/end-users/:id/edit/:field", eu.editContact)
	signed.POST("/end-users/:id/contact/:field", eu.saveContact)
	signed.POST("/end-users/:id/self-serve", eu.setSelfServe)
	signed.POST("/end-users/bulk/self-serve", eu.bulkSelfServe)
	// END end-user grid routes
	// BEGIN end-user import and welcome routes (enduser_import.go, welcome.go)
	eih := &endUserImportHandler{s}
	signed.GET("/customers/:id/end-users/import", eih.showImport)
	signed.POST("/customers/:id/end-users/import", eih.previewImport) // CSV upload: see uploads
	signed.POST("/customers/:id/end-users/import/:upload/confirm", eih.confirmImport)
	signed.POST("/end-users/bulk/welcome", welcome.sendBulk)
	signed.POST("/end-users/:id/welcome", welcome.sendOne)
	// END end-user import and welcome routes
	// BEGIN directory routes (directory.go): agents, directory settings, imports, reset/unlock
	dh := &directoryHandler{s}
	signed.GET("/customers/:id/directory/card", dh.showCard)
	customerAdmin.POST("/customers/:id/agents/token", dh.createToken)
	admin := signed.Group("", requireRole(login.RolePrimary, login.RoleSuper))
	admin.POST("/agents/:id/revoke", dh.revoke)
	customerAdmin.GET("/customers/:id/directory", dh.showSettings)
	customerAdmin.POST("/customers/:id/directory", dh.saveSettings)
	customerAdmin.POST("/customers/:id/directory/check", dh.check)
	customerAdmin.POST("/customers/:id/directory/import", dh.startImport)
	signed.GET("/customers/:id/directory/imports/:import", dh.showImport)
	customerAdmin.POST("/customers/:id/directory/imports/:import/apply", dh.applyImport)
	customerAdmin.POST("/customers/:id/directory/imports/:import/discard", dh.discardImport)
	signed.GET("/directory/tasks/:id", dh.showTask)
	signed.GET("/end-users/:id", dh.showEndUser)
	customerAdmin.POST("/end-users/:id/reset", dh.reset)
	customerAdmin.POST("/end-users/:id/unlock", dh.unlock)
	// END directory routes
	// BEGIN verification routes (verify.go)
	// The technician's panel (any signed-in role), its live stream, history.
	vh := &verifyHandler{s}
	signed.GET("/end-users/:id/verify", vh.showPanel)
	signed.POST("/end-users/:id/verify", vh.start)
	signed.GET("/end-users/:id/verify/history", vh.showHistory)
	admin.POST("/end-users/:id/verify/unblock", vh.unblock)
	signed.GET("/end-users/:id/verify/:vid", vh.showVerification)
	signed.GET("/end-users/:id/verify/:vid/events", vh.events)
	signed.POST("/end-users/:id/verify/:vid/decide", vh.decide)
	signed.POST("/end-users/:id/verify/:vid/check", vh.checkCode)
	signed.POST("/end-users/:id/verify/:vid/cancel", vh.cancel)
	admin.POST("/settings/verification", vh.saveSettings)
	// The end user's approval page (requires the device cookie, not a session)
	// and the enrolled device's push subscription.
	app.GET("/self-serve/verify/:vid", vh.showApproval)
	app.POST("/self-serve/verify/:vid", vh.answer)
	app.GET("/self-serve/push/key", vh.pushKey)
	app.POST("/self-serve/push/subscription", vh.savePushSubscription)
	// The service worker at the root, so that its scope covers every page.
	e.GET("/sw.js", vh.serviceWorker)
	// END verification routes

	// Primary and Super only (the group is made above, with the directory routes).
	// BEGIN login management routes (logins.go)
	admin.GET("/logins", lh.showLogins)
	admin.GET("/logins/new", lh.showInvite)
	admin.POST("/logins", lh.invite)
	admin.GET("/logins/import", lh.showImport)
	admin.GET("/logins/:id", lh.showLogin)
	admin.POST("/logins/:id", lh.saveLogin)
	admin.POST("/logins/:id/disable", lh.disable)
	admin.POST("/logins/:id/enable", lh.enable)
	admin.POST("/logins/:id/reset-mfa", lh.resetMFA)
	admin.POST("/logins/:id/resend-invite", lh.resendInvite)
	admin.POST("/logins/:id/delete", lh.deleteLogin)
	admin.POST("/logins/import", lh.previewImport) // CSV upload: see uploads
	admin.POST("/logins/import/confirm", lh.confirmImport)
	// END login management routes
	// BEGIN events routes (events.go)
	events := &eventsHandler{s}
	admin.GET("/events", events.showEvents)
	admin.GET("/events.csv", events.exportEvents)
	admin.GET("/events/verify", events.verifyChain)
	outbox := &outboxHandler{s}
	admin.GET("/settings/outbox", outbox.showOutbox)
	admin.GET("/settings/outbox/:id", outbox.showMessage)
	// END events routes
	// BEGIN settings routes (settings.go)
	sh := &settingsHandler{s}
	admin.GET("/settings", sh.showSettings)
	admin.POST("/settings/security", sh.saveSecurity)
	admin.POST("/settings", sh.saveSettings) // logo upload: see uploads
	admin.POST("/settings/sms", sh.saveSMS)
	admin.POST("/settings/sms/test", sh.testSMS)
	admin.POST("/settings/sms/remove", sh.removeSMS)
	// END settings routes
	// BEGIN notification routes (notices.go)
	nh := &noticesHandler{s}
	customerAdmin.GET("/notifications", nh.showPreview)
	customerAdmin.GET("/notifications/customers/:id", nh.showCustomer)
	admin.POST("/settings/notifications", nh.saveSettings)
	// END notification routes
}
