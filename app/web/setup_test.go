package web_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/tenant"
)

// ---- helpers (prefixed: the web_test package is shared by several areas)

func setupTestID(id string) string { return `data-testid="` + id + `"` }

// setupMultipart builds a multipart form with the client's CSRF token and,
// when file is not nil, a file field "logo".
func setupMultipart(t *testing.T, c *apptest.Client, fields url.Values, fileName string, file []byte) (string, *bytes.Buffer) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	require.NoError(t, w.WriteField("_csrf", c.CSRF()))
	for k, vs := range fields {
		for _, v := range vs {
			require.NoError(t, w.WriteField(k, v))
		}
	}
	if file != nil {
		fw, err := w.CreateFormFile("logo", fileName)
		require.NoError(t, err)
		_, err = fw.Write(file)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return w.FormDataContentType(), &b
}

// postSettings posts the settings form (with an optional logo) to path.
func postSettings(t *testing.T, c *apptest.Client, path string, fields url.Values, fileName string, file []byte, headers ...string) *apptest.Response {
	t.Helper()
	ct, body := setupMultipart(t, c, fields, fileName, file)
	return c.PostRaw(path, ct, body, headers...)
}

// settingsFields is a valid settings form.
func settingsFields() url.Values {
	return url.Values{
		"name": {"Acme IT"}, "address": {"1 Main St\r\nSpringfield"}, "phone_country": {"+44"}, "phone": {"020 7946 0000"},
		"time_zone": {"Europe/London"}, "notification_hour": {"8"}, "support_email": {"help@acmeit.example"}, "self_serve": {"on"},
	}
}

// noisyPNG returns a PNG of random pixels (which do not compress): w×h×4
// bytes and a little more.
func noisyPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(r.UintN(256))
	}
	var b bytes.Buffer
	require.NoError(t, (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&b, img))
	return b.Bytes()
}

func storedTenant(t *testing.T, env *apptest.Env, id string) *tenant.Tenant {
	t.Helper()
	tn, err := tenant.Get(context.Background(), env.App.DB.Bun, id)
	require.NoError(t, err)
	return tn
}

func tenantCount(t *testing.T, env *apptest.Env) int {
	t.Helper()
	n, err := env.App.DB.Bun.NewSelect().Model((*tenant.Tenant)(nil)).Count(context.Background())
	require.NoError(t, err)
	return int(n)
}

func setupLogins(t *testing.T, env *apptest.Env, tenantID string) []login.Login {
	t.Helper()
	var out []login.Login
	require.NoError(t, env.App.DB.Bun.NewSelect().Model(&out).Where("tenant_id = ?", tenantID).Order("created_at").Scan(context.Background()))
	return out
}

func setupAudit(t *testing.T, env *apptest.Env, tenantID, action string) []audit.Event {
	t.Helper()
	var out []audit.Event
	require.NoError(t, env.App.DB.Bun.NewSelect().Model(&out).Where("tenant_id = ? AND action = ?", tenantID, action).Scan(context.Background()))
	return out
}

// wizardAt creates a tenant with its Primary (setup not finished), puts the
// wizard at step, and returns a client signed in as the Primary.
func wizardAt(t *testing.T, env *apptest.Env, step string) (*apptest.Client, *tenant.Tenant, *login.Login) {
	t.Helper()
	ctx := context.Background()
	tn, l, err := env.App.Logins.CreateTenantWithPrimary(ctx, login.PrimaryInput{
		FirstName: "Pat", LastName: "Primary", Email: "pat@acmeit.example", Password: apptest.Password, Confirm: apptest.Password,
	}, "127.0.0.1")
	require.NoError(t, err)
	_, err = env.App.DB.Bun.NewUpdate().Model((*tenant.Tenant)(nil)).Set("setup_step = ?", step).
		Set("name = ?", "Acme IT").Set("support_email = ?", "help@acmeit.example").Where("id = ?", tn.ID).Exec(ctx)
	require.NoError(t, err)
	c := env.Client()
	c.SignIn(l.Email)
	res := c.Get("/setup")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.Equal(t, "/setup/"+step, res.Header.Get("Location"))
	return c, tn, l
}

// requireRedirect checks a 303 to location.
func requireRedirect(t *testing.T, res *apptest.Response, location string) {
	t.Helper()
	require.Equal(t, http.StatusSeeOther, res.StatusCode, "body: %.500s", res.Body)
	require.Equal(t, location, res.Header.Get("Location"))
}

var stepDoneRe = regexp.MustCompile(`data-testid="step-([a-z-]+)" data-done="(true|false)"`)

// checklist returns the dashboard's on-boarding steps and whether each is done.
func checklist(body string) map[string]bool {
	out := map[string]bool{}
	for _, m := range stepDoneRe.FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2] == "true"
	}
	return out
}

// ---- the wizard

func TestSetupWizardFirstRun(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		c := env.Client()
		// A fresh installation sends everything to the wizard's first step.
		requireRedirect(t, c.Get("/"), "/setup")
		requireRedirect(t, c.Get("/signin"), "/setup")
		requireRedirect(t, c.Get("/setup"), "/setup/primary")
		requireRedirect(t, c.Get("/setup/settings"), "/setup/primary")
		res := c.Get("/setup/primary")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("setup-primary-form"))
		require.Contains(t, res.Body, setupTestID("setup-steps"))

		// Step 1: a weak password is refused and nothing is created.
		primary := url.Values{"first_name": {"Pat"}, "last_name": {"Primary"}, "email": {"Pat@AcmeIT.example"},
			"password": {"short"}, "confirm": {"short"}}
		res = c.PostForm("/setup/primary", primary)
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("error-password"))
		require.Zero(t, tenantCount(t, env))

		before := c.Cookie("latchkey_session")
		primary.Set("password", apptest.Password)
		primary.Set("confirm", apptest.Password)
		res = c.PostForm("/setup/primary", primary)
		requireRedirect(t, res, "/setup/settings")
		require.NotEqual(t, before, c.Cookie("latchkey_session"), "the session token changes at sign-in")
		require.Equal(t, 1, tenantCount(t, env))

		// Signed in as the Primary; a refresh resumes at step 2, and later
		// steps cannot be reached before it.
		requireRedirect(t, c.Get("/setup"), "/setup/settings")
		requireRedirect(t, c.Get("/setup/technicians"), "/setup/settings")
		requireRedirect(t, c.Get("/"), "/setup")
		res = c.Get("/setup/settings")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("setup-settings-form"))
		require.Contains(t, res.Body, `<option value="Europe/London">`)
		res = c.Get("/setup/primary")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("setup-primary-created"), "going back to step 1 shows the Primary, not a second form")

		pl := setupLogins(t, env, firstTenantID(t, env))
		require.Len(t, pl, 1)
		require.Equal(t, login.RolePrimary, pl[0].Role)
		require.Equal(t, "pat@acmeit.example", pl[0].Email)
		tenantID := pl[0].TenantID

		// Step 2, with a logo of about 300 KB (over the app's 256 KB form limit).
		logo := noisyPNG(t, 400, 190)
		require.Greater(t, len(logo), 300_000)
		// Refused on another field first: the logo is kept in the form.
		bad := settingsFields()
		bad.Set("support_email", "not an address")
		res = postSettings(t, c, "/setup/settings", bad, "logo.png", logo)
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("logo-staged"))
		require.Contains(t, res.Body, `name="logo_staged" value="`)
		require.Empty(t, storedTenant(t, env, tenantID).Logo)
		res = postSettings(t, c, "/setup/settings", settingsFields(), "logo.png", logo)
		requireRedirect(t, res, "/setup/mfa")
		tn := storedTenant(t, env, tenantID)
		require.Equal(t, "Acme IT", tn.Name)
		require.Equal(t, "1 Main St\nSpringfield", tn.Address)
		require.Equal(t, "+442079460000", tn.Phone)
		require.Equal(t, "Europe/London", tn.TimeZone)
		require.Equal(t, 8, tn.NotificationHour)
		require.Equal(t, "help@acmeit.example", tn.SupportEmail)
		require.True(t, tn.SelfServeEnabled)
		require.Equal(t, "image/png", tn.LogoType)
		img, err := png.DecodeConfig(bytes.NewReader(tn.Logo))
		require.NoError(t, err)
		require.Equal(t, [2]int{200, 95}, [2]int{img.Width, img.Height})
		require.Equal(t, tenant.StepMFA, tn.SetupStep)
		require.Len(t, setupAudit(t, env, tenantID, "tenant.settings_update"), 1)

		// A "refresh" resumes at the MFA step; the saved settings are shown
		// when going back.
		requireRedirect(t, c.Get("/setup"), "/setup/mfa")
		res = c.Get("/setup/settings")
		require.Contains(t, res.Body, `value="Acme IT"`)
		require.Contains(t, res.Body, setupTestID("logo-current"))
		res = c.Get("/setup/logo")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "image/png", res.Header.Get("Content-Type"))

		// Step 3: the authenticator set-up, which may be skipped.
		res = c.Get("/setup/mfa")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("mfa-qr"))
		require.Contains(t, res.Body, setupTestID("mfa-skip"))
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		res = c.Get("/setup/mfa/qr.png")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "image/png", res.Header.Get("Content-Type"))
		requireRedirect(t, c.PostForm("/setup/mfa/skip", nil), "/setup/technicians")
		require.Len(t, setupAudit(t, env, tenantID, "setup.mfa_skipped"), 1)

		// Step 4: skip inviting.
		res = c.Get("/setup/technicians")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("setup-technicians-form"))
		requireRedirect(t, c.PostForm("/setup/technicians/skip", nil), "/setup/done")

		// Step 5: finish, then the dashboard with its checklist.
		requireRedirect(t, c.Get("/setup"), "/setup/done")
		res = c.Get("/setup/done")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("setup-finish"))
		requireRedirect(t, c.PostForm("/setup/done", nil), "/")
		tn = storedTenant(t, env, tenantID)
		require.True(t, tn.SetupDone())
		require.Equal(t, tenant.StepDone, tn.SetupStep)
		require.Len(t, setupAudit(t, env, tenantID, "setup.completed"), 1)

		res = c.Get("/")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("checklist"))
		steps := checklist(res.Body)
		require.Equal(t, map[string]bool{"settings": true, "technicians": false, "customers": false, "directory": false,
			"self-serve": false, "rotation": false, "verification": false}, steps)

		// Setup is over: the wizard sends the Primary home.
		for _, p := range []string{"/setup", "/setup/primary", "/setup/settings", "/setup/mfa", "/setup/done"} {
			requireRedirect(t, c.Get(p), "/")
		}
		requireRedirect(t, c.PostForm("/setup/done", nil), "/")
		require.Len(t, setupAudit(t, env, tenantID, "setup.completed"), 1)

		// A second visitor cannot create another tenant.
		other := env.Client()
		requireRedirect(t, other.Get("/setup/primary"), "/")
		res = other.PostForm("/setup/primary", url.Values{"first_name": {"Mal"}, "last_name": {"Lory"}, "email": {"mal@evil.example"},
			"password": {apptest.Password}, "confirm": {apptest.Password}})
		require.Equal(t, http.StatusConflict, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("setup-taken"))
		require.Equal(t, 1, tenantCount(t, env))
		_, err = login.ByEmail(context.Background(), env.App.DB.Bun, "mal@evil.example")
		require.Error(t, err)
		res = other.PostRaw("/setup/settings", "application/x-www-form-urlencoded", strings.NewReader(url.Values{"_csrf": {other.CSRF()}, "name": {"Evil"}}.Encode()))
		require.NotEqual(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "Acme IT", storedTenant(t, env, tenantID).Name)
	})
}

// firstTenantID returns the id of the installation's (only) tenant.
func firstTenantID(t *testing.T, env *apptest.Env) string {
	t.Helper()
	var id string
	require.NoError(t, env.App.DB.Bun.NewSelect().Model((*tenant.Tenant)(nil)).Column("id").Order("created_at").Limit(1).Scan(context.Background(), &id))
	return id
}

func TestSetupStrangerDuringSetup(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		_, tn, _ := wizardAt(t, env, tenant.StepSettings)
		c := env.Client()
		res := c.Get("/setup/primary")
		require.Equal(t, http.StatusConflict, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("setup-taken"))
		require.NotContains(t, res.Body, setupTestID("setup-primary-form"))
		res = c.PostForm("/setup/primary", url.Values{"first_name": {"Mal"}, "last_name": {"Lory"}, "email": {"mal@evil.example"},
			"password": {apptest.Password}, "confirm": {apptest.Password}})
		require.Equal(t, http.StatusConflict, res.StatusCode)
		require.Equal(t, 1, tenantCount(t, env))
		requireRedirect(t, c.Get("/setup"), "/signin?next=%2Fsetup")
		res = c.Get("/setup/settings")
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.True(t, strings.HasPrefix(res.Header.Get("Location"), "/signin"))
		res = postSettings(t, c, "/setup/settings", url.Values{"name": {"Evil"}}, "", nil)
		require.Equal(t, http.StatusUnauthorized, res.StatusCode)
		require.Equal(t, "Acme IT", storedTenant(t, env, tn.ID).Name)
	})
}

func TestSetupWizardHTMX(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		c, tn, _ := wizardAt(t, env, tenant.StepSettings)
		hx := []string{"HX-Request", "true", "HX-Target", "wizard"}

		// A step link swaps the wizard alone.
		res := c.Get("/setup/settings", hx...)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.True(t, strings.HasPrefix(res.Body, `<div id="wizard"`), "partial: %.80s", res.Body)
		require.NotContains(t, res.Body, "<html")

		// Invalid: 422 with the field messages, in place.
		bad := settingsFields()
		bad.Set("phone", "12")
		res = postSettings(t, c, "/setup/settings", bad, "", nil, hx...)
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.True(t, strings.HasPrefix(res.Body, `<div id="wizard"`))
		require.Contains(t, res.Body, setupTestID("error-phone"))
		require.Equal(t, tenant.StepSettings, storedTenant(t, env, tn.ID).SetupStep)

		// Saved: the next step comes back with its URL to push.
		res = postSettings(t, c, "/setup/settings", settingsFields(), "", nil, hx...)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "/setup/mfa", res.Header.Get("HX-Push-Url"))
		require.True(t, strings.HasPrefix(res.Body, `<div id="wizard"`))
		require.Contains(t, res.Body, `data-step="mfa"`)
		require.Contains(t, res.Body, setupTestID("mfa-form"))

		// "Back" after a pushed URL: htmx asks for the page to restore it, and
		// gets the full page as saved now.
		res = c.Get("/setup/settings", "HX-Request", "true", "HX-History-Restore-Request", "true")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, "<html")
		require.Contains(t, res.Body, `value="help@acmeit.example"`)

		// Enforcing MFA removes "Skip for now" and refuses the skip.
		res = c.PostForm("/setup/mfa/enforce", url.Values{"enforce_mfa": {"on"}}, hx...)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Header.Get("HX-Trigger"), "showToast")
		require.NotContains(t, res.Body, setupTestID("mfa-skip"))
		require.True(t, storedTenant(t, env, tn.ID).EnforceMFA)
		res = c.PostForm("/setup/mfa/skip", nil)
		require.Equal(t, http.StatusConflict, res.StatusCode)
		require.Equal(t, tenant.StepMFA, storedTenant(t, env, tn.ID).SetupStep)
	})
}

func TestSetupMFAEnrolment(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		c, tn, l := wizardAt(t, env, tenant.StepMFA)
		requireRedirect(t, c.PostForm("/setup/mfa/enforce", url.Values{"enforce_mfa": {"on"}}), "/setup/mfa")
		res := c.Get("/setup/mfa")
		require.NotContains(t, res.Body, setupTestID("mfa-skip"), "no skipping while two-step sign-in is required")
		m := regexp.MustCompile(`value="([A-Z2-7]+)" data-testid="mfa-secret"`).FindStringSubmatch(res.Body)
		require.NotNil(t, m, "secret on the page")
		secret := m[1]
		// A reload shows the same pending secret.
		require.Contains(t, c.Get("/setup/mfa").Body, secret)

		res = c.PostForm("/setup/mfa", url.Values{"code": {"000000"}})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("error-code"))

		before := c.Cookie("latchkey_session")
		code, err := totp.GenerateCode(secret, env.Clock.Now())
		require.NoError(t, err)
		requireRedirect(t, c.PostForm("/setup/mfa", url.Values{"code": {code}}), "/setup/technicians")
		require.NotEqual(t, before, c.Cookie("latchkey_session"), "the session token changes at MFA")
		got, err := env.App.Logins.Get(context.Background(), tn.ID, l.ID)
		require.NoError(t, err)
		require.True(t, got.MFAEnabled())
		require.Equal(t, tenant.StepTechnicians, storedTenant(t, env, tn.ID).SetupStep)

		// Back at step 3 it says MFA is on and continues.
		res = c.Get("/setup/mfa")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("setup-mfa-enabled"))
		requireRedirect(t, c.PostForm("/setup/mfa", nil), "/setup/technicians")
	})
}

func TestSetupInviteTechnicians(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		c, tn, _ := wizardAt(t, env, tenant.StepTechnicians)
		rows := func(rs ...[4]string) url.Values {
			v := url.Values{}
			for _, r := range rs {
				v.Add("first_name", r[0])
				v.Add("last_name", r[1])
				v.Add("email", r[2])
				v.Add("role", r[3])
			}
			return v
		}

		// One bad row: per-row messages and nobody is invited.
		res := c.PostForm("/setup/technicians", rows(
			[4]string{"Tess", "Tech", "tess@acmeit.example", "technician"},
			[4]string{"Sam", "Super", "not-an-email", "super"},
			[4]string{"", "", "", "technician"}, // empty: ignored
			[4]string{"Hal", "Help", "hal@acmeit.example", "primary"},
		))
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("error-email-r1"))
		require.Contains(t, res.Body, setupTestID("error-role-r3"))
		require.NotContains(t, res.Body, setupTestID("error-email-r0"))
		require.Contains(t, res.Body, `value="tess@acmeit.example"`, "rows keep what was typed")
		require.Len(t, setupLogins(t, env, tn.ID), 1, "nothing half-applied")

		// The same email twice is refused on both rows.
		res = c.PostForm("/setup/technicians", rows(
			[4]string{"Tess", "Tech", "tess@acmeit.example", "technician"},
			[4]string{"Tessa", "Tech", "Tess@acmeit.example", "helpdesk"},
		))
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("error-email-r0"))
		require.Contains(t, res.Body, setupTestID("error-email-r1"))
		require.Len(t, setupLogins(t, env, tn.ID), 1)

		// Nothing filled in.
		res = c.PostForm("/setup/technicians", rows([4]string{"", "", "", "technician"}))
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("alert-danger"))

		// "Add another" without JavaScript keeps the rows and adds one; with
		// htmx a blank row comes alone.
		res = c.PostForm("/setup/technicians", func() url.Values {
			v := rows([4]string{"Tess", "Tech", "tess@acmeit.example", "technician"})
			v.Set("add", "1")
			return v
		}())
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("tech-row-r0"))
		require.Contains(t, res.Body, setupTestID("tech-row-r1"))
		require.Contains(t, res.Body, `value="tess@acmeit.example"`)
		require.Len(t, setupLogins(t, env, tn.ID), 1)
		res = c.Get("/setup/technicians/row", "HX-Request", "true")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.True(t, strings.HasPrefix(res.Body, `<fieldset class="tech-row"`), "%.80s", res.Body)

		// All valid: every row is invited in one go.
		res = c.PostForm("/setup/technicians", rows(
			[4]string{"Tess", "Tech", "tess@acmeit.example", "technician"},
			[4]string{"Sam", "Super", "sam@acmeit.example", "super"},
			[4]string{"Hal", "Help", "hal@acmeit.example", "helpdesk"},
		))
		requireRedirect(t, res, "/setup/done")
		all := setupLogins(t, env, tn.ID)
		require.Len(t, all, 4)
		roles := map[string]login.Role{}
		for _, l := range all {
			roles[l.Email] = l.Role
			if l.Role != login.RolePrimary {
				require.Equal(t, login.StatusInvited, l.Status)
			}
		}
		require.Equal(t, login.RoleTechnician, roles["tess@acmeit.example"])
		require.Equal(t, login.RoleSuper, roles["sam@acmeit.example"])
		require.Equal(t, login.RoleHelpDesk, roles["hal@acmeit.example"])
		invites, err := env.App.DB.Bun.NewSelect().Table("messages").Where("tenant_id = ? AND kind = ?", tn.ID, "login_invite").Count(context.Background())
		require.NoError(t, err)
		require.EqualValues(t, 3, invites, "one invitation email each")
		res = c.Get("/setup/done")
		require.Contains(t, res.Body, "3 technicians invited")

		// Finish; the dashboard's second step is done.
		requireRedirect(t, c.PostForm("/setup/done", nil), "/")
		steps := checklist(c.Get("/").Body)
		require.True(t, steps["settings"])
		require.True(t, steps["technicians"])
	})
}

func TestSetupLogoChecks(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		c, tn, _ := wizardAt(t, env, tenant.StepSettings)
		fields := settingsFields()
		fields.Set("name", "Renamed IT")

		var gb bytes.Buffer
		pal := image.NewPaletted(image.Rect(0, 0, 40, 20), []color.Color{color.White, color.Black})
		require.NoError(t, gif.Encode(&gb, pal, nil))
		for name, file := range map[string][]byte{
			"logo.gif": gb.Bytes(),
			"logo.png": []byte("Definitely not a PNG, just some text with a .png name.\n"),
		} {
			res := postSettings(t, c, "/setup/settings", fields, name, file)
			require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode, name)
			require.Contains(t, res.Body, setupTestID("error-logo"), name)
			require.Contains(t, res.Body, "Use a PNG or JPEG image", name)
			require.Contains(t, res.Body, `value="Renamed IT"`, "the form keeps what was typed")
		}
		// Just over 2 MB: refused by the service with a field message.
		res := postSettings(t, c, "/setup/settings", fields, "big.png", append(noisyPNG(t, 10, 10), make([]byte, 2<<20)...))
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, "2 MB or smaller")

		// 3 MB: refused before anything reads it, with a clear message.
		res = postSettings(t, c, "/setup/settings", fields, "huge.png", make([]byte, 3<<20))
		require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
		require.Contains(t, res.Body, "at most 2 MB")
		res = postSettings(t, c, "/setup/settings", fields, "huge.png", make([]byte, 3<<20), "HX-Request", "true", "HX-Target", "wizard")
		require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
		require.Contains(t, res.Header.Get("HX-Trigger"), "at most 2 MB")

		got := storedTenant(t, env, tn.ID)
		require.Equal(t, "Acme IT", got.Name, "nothing saved")
		require.Empty(t, got.Logo)
		require.Equal(t, tenant.StepSettings, got.SetupStep)
	})
}

// TestSetupTechnicianCannotUseWizard: an invited login that signed in while
// setup is unfinished cannot change the tenant through the wizard.
func TestSetupTechnicianCannotUseWizard(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		_, tn, _ := wizardAt(t, env, tenant.StepSettings)
		tech := env.CreateLogin(&apptest.Fixture{Tenant: tn}, login.RoleTechnician, "tess@acmeit.example")
		c := env.Client()
		c.SignIn(tech.Email)
		require.Equal(t, http.StatusForbidden, c.Get("/setup/settings").StatusCode)
		res := postSettings(t, c, "/setup/settings", settingsFields(), "", nil)
		require.Equal(t, http.StatusForbidden, res.StatusCode)
		require.Equal(t, http.StatusForbidden, c.PostForm("/setup/done", nil).StatusCode)
		requireRedirect(t, c.Get("/setup"), "/")
		got := storedTenant(t, env, tn.ID)
		require.False(t, got.SetupDone())
		require.Equal(t, "", got.Phone)
	})
}
