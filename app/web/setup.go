package web

import (
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/views"
	authv "github.com/latchkey/latchkey/views/pages/auth"
	"github.com/latchkey/latchkey/views/pages/errpage"
	settingsv "github.com/latchkey/latchkey/views/pages/settings"
	setupv "github.com/latchkey/latchkey/views/pages/setup"
)

// setupHandler serves the first-run setup wizard: step 1 creates the tenant
// and its Primary login and signs it in; steps 2–5 need that Primary (or a
// Super) of a tenant whose setup is not finished. Each step is saved as it
// is posted, so a refresh or a later sign-in resumes at the tenant's step.
type setupHandler struct{ s *Server }

// setupStepLabels are the indicator's labels, in tenant.Steps order.
var setupStepLabels = map[string]string{
	tenant.StepPrimary:     "Primary login",
	tenant.StepSettings:    "Your MSP",
	tenant.StepMFA:         "Two-step",
	tenant.StepTechnicians: "Technicians",
	tenant.StepDone:        "Finish",
}

// tenants returns the tenant domain service.
func (s *Server) tenants() *tenant.Service { return tenant.NewService(s.DB, s.Now) }

// startSession signs l in on this session: a new session token (so an id
// known before sign-in is worthless), the login and the time of sign-in.
func (s *Server) startSession(c echo.Context, l *login.Login) error {
	ctx := c.Request().Context()
	if err := s.Sessions.RenewToken(ctx); err != nil {
		return err
	}
	for _, k := range []string{sessPendingID, sessPendingAt, sessPendingFor, "next"} {
		s.Sessions.Remove(ctx, k)
	}
	s.Sessions.Put(ctx, sessLoginID, l.ID)
	s.Sessions.Put(ctx, sessAuthAt, s.Now().UnixNano())
	return nil
}

// ---- uploads

// uploadBodyLimit bounds the posts that carry a logo: the logo
// (tenant.LogoMaxBytes) and the rest of the settings form with its framing.
const uploadBodyLimit = tenant.LogoMaxBytes + 256<<10

const msgUploadTooLarge = "That file is too large. The logo can be at most 2 MB: choose a smaller PNG or JPEG image and try again."

func (s *Server) uploadTooLarge(c echo.Context) error {
	if c.Request().Header.Get("HX-Request") == "true" {
		setToast(c, "danger", msgUploadTooLarge)
		return c.String(http.StatusRequestEntityTooLarge, msgUploadTooLarge)
	}
	content := errpage.Error(errpage.Props{Status: http.StatusRequestEntityTooLarge, Title: "File too large", Message: msgUploadTooLarge, SignedIn: currentLogin(c) != nil})
	if currentLogin(c) != nil {
		return s.render(c, http.StatusRequestEntityTooLarge, "File too large", content)
	}
	return s.renderAuth(c, http.StatusRequestEntityTooLarge, "File too large", content)
}

// setToast makes htmx show a toast with the response.
func setToast(c echo.Context, level, msg string) {
	b, _ := json.Marshal(map[string]any{"showToast": map[string]string{"message": msg, "level": level}})
	c.Response().Header().Set("HX-Trigger", string(b))
}

// ---- rendering and navigation

// swapsWizard reports whether the request is htmx's, aimed at #wizard (it
// gets the wizard alone). A history restore after "back" gets the full page.
func swapsWizard(c echo.Context) bool {
	h := c.Request().Header
	return isHTMX(c) && h.Get("HX-Target") == "wizard" && h.Get("HX-History-Restore-Request") != "true"
}

// render writes the wizard: alone for htmx, else in the centred card layout.
func (h *setupHandler) render(c echo.Context, status int, p setupv.Props) error {
	p.CSRF = h.s.csrfToken(c)
	if p.Steps == nil {
		p.Steps = h.steps(c, p.Step)
	}
	comp := setupv.Wizard(p)
	if swapsWizard(c) {
		return writeHTML(c, status, comp, c.Request().Context())
	}
	page := h.s.page(c, "Set up Latchkey · "+setupStepLabels[p.Step])
	// /logo is behind the setup gate until setup is finished; the settings
	// step shows the logo from /setup/logo instead.
	page.HasLogo = false
	ctx := templ.WithChildren(c.Request().Context(), comp)
	return writeHTML(c, status, views.AuthLayout(page), ctx)
}

// steps builds the indicator: steps up to the tenant's current one are done
// and can be revisited.
func (h *setupHandler) steps(c echo.Context, current string) []setupv.Step {
	reached := 0
	if t := currentTenant(c); t != nil {
		reached = tenant.StepIndex(t.SetupStep)
	}
	out := make([]setupv.Step, 0, len(tenant.Steps))
	for i, k := range tenant.Steps {
		out = append(out, setupv.Step{
			Key: k, Label: setupStepLabels[k], Href: "/setup/" + k,
			Done: i < reached, Current: k == current, Reachable: i <= reached,
		})
	}
	return out
}

// refresh reloads the signed-in login and its tenant into the context after
// a step changed them.
func (h *setupHandler) refresh(c echo.Context) error {
	l := currentLogin(c)
	if l == nil {
		return nil
	}
	ctx := c.Request().Context()
	l, err := h.s.Logins.Get(ctx, l.TenantID, l.ID)
	if err != nil {
		return err
	}
	t, err := tenant.Get(ctx, h.s.DB.Bun, l.TenantID)
	if err != nil {
		return err
	}
	c.Set(ctxLogin, l)
	c.Set(ctxTenant, t)
	return nil
}

// next continues to a step after a successful post: htmx gets the step at
// once with its URL pushed into the address bar; a plain form post is
// redirected to the step's URL (so a refresh does not post again).
func (h *setupHandler) next(c echo.Context, step, okMsg string) error {
	url := "/setup/" + step
	if !swapsWizard(c) {
		if okMsg != "" {
			h.s.flash(c, "ok", okMsg)
		}
		return c.Redirect(http.StatusSeeOther, url)
	}
	if err := h.refresh(c); err != nil {
		return err
	}
	c.Response().Header().Set("HX-Push-Url", url)
	if okMsg != "" {
		setToast(c, "ok", okMsg)
	}
	return h.show(c, step)
}

// show renders a step's page.
func (h *setupHandler) show(c echo.Context, step string) error {
	switch step {
	case tenant.StepSettings:
		return h.showSettings(c)
	case tenant.StepMFA:
		return h.showMFA(c)
	case tenant.StepTechnicians:
		return h.showTechnicians(c)
	case tenant.StepDone:
		return h.showDone(c)
	}
	return h.showPrimary(c)
}

// installation says whether a tenant exists and whether its setup is finished
// (for visitors who are not signed in).
func (h *setupHandler) installation(c echo.Context) (exists, done bool, err error) {
	t := new(tenant.Tenant)
	err = h.s.DB.Bun.NewSelect().Model(t).Column("id", "setup_completed_at").Order("created_at").Limit(1).Scan(c.Request().Context())
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return true, t.SetupDone(), nil
}

// requireWizard guards steps 2–5: a signed-in Primary or Super of a tenant
// whose setup is not finished, on a step the wizard has reached.
func (h *setupHandler) requireWizard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		l, t := currentLogin(c), currentTenant(c)
		if l == nil {
			exists, _, err := h.installation(c)
			if err != nil {
				return err
			}
			if !exists {
				return redirect(c, "/setup/primary")
			}
			return apperr.New(apperr.Unauthorized, "Please sign in to continue setting Latchkey up.")
		}
		if t.SetupDone() {
			return redirect(c, "/")
		}
		if !l.Role.IsAdmin() {
			return apperr.New(apperr.Forbidden, "Only the Primary or a Super login can set Latchkey up.")
		}
		step := strings.SplitN(strings.TrimPrefix(c.Path(), "/setup/"), "/", 2)[0]
		if step == "logo" {
			step = tenant.StepSettings
		}
		if i := tenant.StepIndex(step); i < 0 || i > tenant.StepIndex(t.SetupStep) {
			return redirect(c, "/setup/"+t.SetupStep)
		}
		return next(c)
	}
}

// resume sends GET /setup to the step the tenant is at.
func (h *setupHandler) resume(c echo.Context) error {
	l, t := currentLogin(c), currentTenant(c)
	if l != nil {
		if t.SetupDone() || !l.Role.IsAdmin() {
			return redirect(c, "/")
		}
		return redirect(c, "/setup/"+t.SetupStep)
	}
	exists, _, err := h.installation(c)
	if err != nil {
		return err
	}
	if !exists {
		return redirect(c, "/setup/primary")
	}
	return redirect(c, "/signin?next=%2Fsetup")
}

// ---- step 1: the Primary login

func (h *setupHandler) showPrimary(c echo.Context) error {
	if l, t := currentLogin(c), currentTenant(c); l != nil {
		if t.SetupDone() {
			return redirect(c, "/")
		}
		return h.render(c, http.StatusOK, setupv.Props{Step: tenant.StepPrimary,
			Primary: &setupv.PrimaryProps{Created: &setupv.Created{Name: l.Name(), Email: l.Email}}})
	}
	exists, done, err := h.installation(c)
	if err != nil {
		return err
	}
	if done {
		return redirect(c, "/")
	}
	if exists {
		return h.renderTaken(c)
	}
	return h.render(c, http.StatusOK, setupv.Props{Step: tenant.StepPrimary, Primary: &setupv.PrimaryProps{}})
}

// renderTaken answers a visitor who is not signed in when a tenant exists:
// no second tenant is created; sign in instead.
func (h *setupHandler) renderTaken(c echo.Context) error {
	if c.Request().Header.Get("HX-Request") == "true" {
		// htmx does not swap a 409: go to sign-in with the reason.
		h.s.flash(c, "warn", "Latchkey is already set up, so another Primary login cannot be created. Sign in instead.")
		return redirect(c, "/signin")
	}
	return h.render(c, http.StatusConflict, setupv.Props{Step: tenant.StepPrimary, Steps: []setupv.Step{},
		Primary: &setupv.PrimaryProps{Taken: true}})
}

func (h *setupHandler) createPrimary(c echo.Context) error {
	if currentLogin(c) != nil {
		return redirect(c, "/setup")
	}
	in := login.PrimaryInput{
		FirstName: c.FormValue("first_name"), LastName: c.FormValue("last_name"), Email: c.FormValue("email"),
		Password: c.FormValue("password"), Confirm: c.FormValue("confirm"),
	}
	ctx := c.Request().Context()
	t, l, err := h.s.Logins.CreateTenantWithPrimary(ctx, in, c.RealIP())
	switch apperr.CodeOf(err) {
	case "":
	case apperr.Conflict:
		return h.renderTaken(c)
	case apperr.Invalid:
		return h.render(c, http.StatusUnprocessableEntity, setupv.Props{Step: tenant.StepPrimary, Primary: &setupv.PrimaryProps{
			FirstName: in.FirstName, LastName: in.LastName, Email: in.Email, Errors: apperr.FieldsOf(err),
		}})
	default:
		return err
	}
	h.s.setupDone.Store(true)
	if err := h.s.Logins.CompleteSignIn(ctx, l, c.RealIP()); err != nil {
		return err
	}
	if err := h.s.startSession(c, l); err != nil {
		return err
	}
	c.Set(ctxLogin, l)
	c.Set(ctxTenant, t)
	return h.next(c, tenant.StepSettings, "")
}

// ---- step 2: the MSP's settings

func (h *setupHandler) showSettings(c echo.Context) error {
	t := currentTenant(c)
	form := settingsFormOf(t, "/setup/logo")
	return h.render(c, http.StatusOK, setupv.Props{Step: tenant.StepSettings, Settings: &form})
}

func (h *setupHandler) saveSettings(c echo.Context) error {
	in, err := settingsInputOf(c)
	if err != nil {
		return err
	}
	err = h.s.tenants().UpdateSettings(c.Request().Context(), actor(c), in)
	if apperr.CodeOf(err) == apperr.Invalid {
		form := settingsFormFromInput(in, currentTenant(c), "/setup/logo", apperr.FieldsOf(err))
		return h.render(c, http.StatusUnprocessableEntity, setupv.Props{Step: tenant.StepSettings, Settings: &form})
	}
	if err != nil {
		return err
	}
	if err := h.s.tenants().AdvanceSetup(c.Request().Context(), actor(c), tenant.StepMFA); err != nil {
		return err
	}
	return h.next(c, tenant.StepMFA, "")
}

// logo serves the tenant's logo during setup (/logo waits for setup's end).
func (h *setupHandler) logo(c echo.Context) error {
	return h.s.serveLogo(c, currentTenant(c).ID, "private, no-cache")
}

// ---- step 3: two-step sign-in for the Primary

func (h *setupHandler) mfaProps(c echo.Context, errMsg string) (*setupv.MFAProps, error) {
	l, t := currentLogin(c), currentTenant(c)
	p := &setupv.MFAProps{Enabled: l.MFAEnabled(), EnforceMFA: t.EnforceMFA}
	if p.Enabled {
		return p, nil
	}
	ctx := c.Request().Context()
	// Show the pending secret again rather than a new one, so that a code
	// from an app that already scanned it still works after a reload.
	en, err := h.s.Logins.PendingTOTP(ctx, l.ID)
	if apperr.CodeOf(err) == apperr.NotFound {
		en, err = h.s.Logins.BeginTOTP(ctx, l.ID)
	}
	if err != nil {
		return nil, err
	}
	noStore(c)
	p.Enrol = authv.EnrolProps{
		CSRF: h.s.csrfToken(c), Action: "/setup/mfa", QRURL: "/setup/mfa/qr.png", Secret: en.Secret, Error: errMsg,
		Heading: "Protect your login with two-step sign-in",
		Intro:   "Your login controls who can reset your customers' passwords. With an authenticator app, a stolen password alone is not enough to sign in.",
	}
	return p, nil
}

func (h *setupHandler) showMFA(c echo.Context) error {
	p, err := h.mfaProps(c, "")
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, setupv.Props{Step: tenant.StepMFA, MFA: p})
}

func (h *setupHandler) confirmMFA(c echo.Context) error {
	ctx := c.Request().Context()
	l := currentLogin(c)
	if !l.MFAEnabled() {
		err := h.s.Logins.ConfirmTOTP(ctx, l.ID, c.FormValue("code"), c.RealIP())
		if code := apperr.CodeOf(err); code == apperr.Invalid || code == apperr.NotFound {
			p, perr := h.mfaProps(c, apperr.MessageOf(err))
			if perr != nil {
				return perr
			}
			return h.render(c, http.StatusUnprocessableEntity, setupv.Props{Step: tenant.StepMFA, MFA: p})
		}
		if err != nil {
			return err
		}
		// Security bar: a new session token at MFA.
		if err := h.s.Sessions.RenewToken(ctx); err != nil {
			return err
		}
	}
	if err := h.s.tenants().AdvanceSetup(ctx, actor(c), tenant.StepTechnicians); err != nil {
		return err
	}
	msg := ""
	if !l.MFAEnabled() {
		msg = "Two-step sign-in is on for your login."
	}
	return h.next(c, tenant.StepTechnicians, msg)
}

// mfaQR serves the QR code of the signed-in login's pending authenticator.
func (h *setupHandler) mfaQR(c echo.Context) error {
	en, err := h.s.Logins.PendingTOTP(c.Request().Context(), currentLogin(c).ID)
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

func (h *setupHandler) setEnforceMFA(c echo.Context) error {
	on := c.FormValue("enforce_mfa") == "on"
	if err := h.s.tenants().SetEnforceMFA(c.Request().Context(), actor(c), on); err != nil {
		return err
	}
	if !swapsWizard(c) {
		return c.Redirect(http.StatusSeeOther, "/setup/mfa")
	}
	if err := h.refresh(c); err != nil {
		return err
	}
	msg := "Two-step sign-in is optional for logins."
	if on {
		msg = "Two-step sign-in is now required for all logins."
	}
	setToast(c, "ok", msg)
	return h.showMFA(c)
}

func (h *setupHandler) skipMFA(c echo.Context) error {
	if err := h.s.tenants().SkipSetupMFA(c.Request().Context(), actor(c)); err != nil {
		return err
	}
	return h.next(c, tenant.StepTechnicians, "")
}

// ---- step 4: invite technicians

// setupRoleOptions are the roles a technician can be invited with.
func setupRoleOptions() []settingsv.Option {
	out := make([]settingsv.Option, 0, len(login.AssignableRoles))
	for _, r := range login.AssignableRoles {
		out = append(out, settingsv.Option{Value: string(r), Label: r.Label()})
	}
	return out
}

// blankTechRow is an empty row; new rows default to Technician.
func blankTechRow(key string) setupv.TechRow {
	return setupv.TechRow{Key: key, Role: string(login.RoleTechnician)}
}

// invitedCount is the number of logins of the tenant besides the Primary.
func (s *Server) invitedCount(c echo.Context) (int, error) {
	all, err := s.Logins.List(c.Request().Context(), actor(c), login.ListFilter{})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range all {
		if l.Role != login.RolePrimary {
			n++
		}
	}
	return n, nil
}

func (h *setupHandler) renderTechnicians(c echo.Context, status int, p *setupv.TechniciansProps) error {
	n, err := h.s.invitedCount(c)
	if err != nil {
		return err
	}
	p.Invited, p.Roles = n, setupRoleOptions()
	return h.render(c, status, setupv.Props{Step: tenant.StepTechnicians, Technicians: p})
}

func (h *setupHandler) showTechnicians(c echo.Context) error {
	return h.renderTechnicians(c, http.StatusOK, &setupv.TechniciansProps{Rows: []setupv.TechRow{blankTechRow("r0")}})
}

// techRow is a blank row for "Add another" (htmx appends it).
func (h *setupHandler) techRow(c echo.Context) error {
	key := "n" + strings.ToLower(db.NewID()[:8])
	return h.s.partial(c, http.StatusOK, setupv.TechRowView(blankTechRow(key), setupRoleOptions()))
}

// techRowsOf reads the posted rows (repeated first_name, last_name, email,
// role fields, in order).
func techRowsOf(c echo.Context) ([]setupv.TechRow, error) {
	form, err := c.FormParams()
	if err != nil {
		return nil, err
	}
	get := func(name string, i int) string {
		if vs := form[name]; i < len(vs) {
			return strings.TrimSpace(vs[i])
		}
		return ""
	}
	n := max(len(form["first_name"]), len(form["last_name"]), len(form["email"]), len(form["role"]))
	if n > login.MaxBatch {
		return nil, apperr.New(apperr.Invalid, "Invite at most %d logins at a time.", login.MaxBatch)
	}
	rows := make([]setupv.TechRow, 0, n)
	for i := range n {
		rows = append(rows, setupv.TechRow{Key: "r" + strconv.Itoa(i), FirstName: get("first_name", i), LastName: get("last_name", i),
			Email: get("email", i), Role: get("role", i)})
	}
	return rows, nil
}

func (h *setupHandler) inviteTechnicians(c echo.Context) error {
	rows, err := techRowsOf(c)
	if err != nil {
		return err
	}
	if c.FormValue("add") != "" {
		// "Add another" without JavaScript: the same rows and a blank one.
		rows = append(rows, blankTechRow("r"+strconv.Itoa(len(rows))))
		return h.renderTechnicians(c, http.StatusOK, &setupv.TechniciansProps{Rows: rows})
	}
	var (
		ins []login.InviteInput
		at  []int // index in rows of each invitation
	)
	for i, r := range rows {
		if r.FirstName == "" && r.LastName == "" && r.Email == "" {
			continue
		}
		role, ok := login.ParseRole(r.Role)
		if !ok {
			role = login.Role(r.Role)
		}
		ins = append(ins, login.InviteInput{FirstName: r.FirstName, LastName: r.LastName, Email: r.Email, Role: role})
		at = append(at, i)
	}
	if len(rows) == 0 {
		rows = []setupv.TechRow{blankTechRow("r0")}
	}
	if len(ins) == 0 {
		return h.renderTechnicians(c, http.StatusUnprocessableEntity, &setupv.TechniciansProps{Rows: rows,
			Message: "Fill in at least one technician, or choose Skip."})
	}
	// All or nothing: InviteMany checks every row (and emails repeated in the
	// batch or already taken) before it creates anyone.
	invited, err := h.s.Logins.InviteMany(c.Request().Context(), actor(c), ins)
	if apperr.CodeOf(err) == apperr.Invalid {
		if re := login.RowErrorsOf(err); re != nil {
			for i, fields := range re.Rows {
				if i >= 0 && i < len(at) {
					rows[at[i]].Errors = fields
				}
			}
		}
		return h.renderTechnicians(c, http.StatusUnprocessableEntity, &setupv.TechniciansProps{Rows: rows, Message: apperr.MessageOf(err)})
	}
	if err != nil {
		return err
	}
	if err := h.s.tenants().AdvanceSetup(c.Request().Context(), actor(c), tenant.StepDone); err != nil {
		return err
	}
	msg := "Invitation sent to " + invited[0].Email + "."
	if len(invited) > 1 {
		msg = strconv.Itoa(len(invited)) + " invitations sent."
	}
	return h.next(c, tenant.StepDone, msg)
}

func (h *setupHandler) skipTechnicians(c echo.Context) error {
	if err := h.s.tenants().AdvanceSetup(c.Request().Context(), actor(c), tenant.StepDone); err != nil {
		return err
	}
	return h.next(c, tenant.StepDone, "")
}

// ---- step 5: finish

func (h *setupHandler) showDone(c echo.Context) error {
	l, t := currentLogin(c), currentTenant(c)
	n, err := h.s.invitedCount(c)
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, setupv.Props{Step: tenant.StepDone, Done: &setupv.DoneProps{
		MSPName: t.DisplayName(), MFA: l.MFAEnabled(), EnforceMFA: t.EnforceMFA, SelfServe: t.SelfServeEnabled, Invited: n,
	}})
}

func (h *setupHandler) finish(c echo.Context) error {
	if err := h.s.tenants().CompleteSetup(c.Request().Context(), actor(c)); err != nil {
		return err
	}
	h.s.flash(c, "ok", "Setup is finished. Welcome to Latchkey!")
	return redirect(c, "/")
}
