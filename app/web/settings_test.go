package web_test

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/jpeg"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/login"
)

func TestSettingsPageSaves(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		c := env.Client()
		c.SignIn(f.Primary.Email)

		res := c.Get("/settings")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("settings-form"))
		require.Contains(t, res.Body, setupTestID("self-serve-section"))
		require.Contains(t, res.Body, setupTestID("switch-enforce_mfa"))
		require.Contains(t, res.Body, `href="/settings/outbox"`)
		require.Contains(t, res.Body, `value="Acme IT"`)

		// A JPEG logo of a few hundred KB, stored as a PNG that fits 200×95.
		img := image.NewRGBA(image.Rect(0, 0, 1900, 950))
		for i := range img.Pix {
			img.Pix[i] = byte(i * 7 % 251)
		}
		var jb bytes.Buffer
		require.NoError(t, jpeg.Encode(&jb, img, &jpeg.Options{Quality: 75}))
		require.Greater(t, jb.Len(), 256<<10)
		require.Less(t, jb.Len(), 2<<20)
		fields := settingsFields()
		fields.Del("self_serve")
		res = postSettings(t, c, "/settings", fields, "logo.jpg", jb.Bytes())
		requireRedirect(t, res, "/settings")
		tn := storedTenant(t, env, f.Tenant.ID)
		require.Equal(t, "+442079460000", tn.Phone)
		require.False(t, tn.SelfServeEnabled, "the tenant-wide self-serve switch is off")
		require.Equal(t, "image/png", tn.LogoType)
		require.Equal(t, [2]int{190, 95}, pngSize(t, tn.Logo))
		res = c.Get("/settings")
		require.Contains(t, res.Body, setupTestID("flash"))
		require.Contains(t, res.Body, setupTestID("logo-current"))
		res = c.Get("/logo")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, tn.Logo, []byte(res.Body))
		visitor := env.Client()
		require.Contains(t, visitor.Get("/signin").Body, `<img src="/logo" alt="Acme IT"`, "the sign-in card shows the logo")
		require.Equal(t, tn.Logo, []byte(visitor.Get("/logo").Body))

		// Invalid: 422 with the messages and nothing saved.
		bad := settingsFields()
		bad.Set("name", "Other name")
		bad.Set("phone", "020 CALL US")
		bad.Set("support_email", "nobody")
		bad.Set("time_zone", "Mars/Base")
		bad.Set("notification_hour", "24")
		res = postSettings(t, c, "/settings", bad, "", nil)
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		for _, field := range []string{"phone", "support_email", "time_zone", "notification_hour"} {
			require.Contains(t, res.Body, setupTestID("error-"+field))
		}
		require.Equal(t, "Acme IT", storedTenant(t, env, f.Tenant.ID).Name)

		// htmx: the form comes back in place with a toast; remove the logo.
		fields.Set("remove_logo", "on")
		fields.Set("self_serve", "on")
		res = postSettings(t, c, "/settings", fields, "", nil, "HX-Request", "true")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.True(t, strings.HasPrefix(res.Body, `<form id="settings-form"`), "%.80s", res.Body)
		require.Contains(t, res.Header.Get("HX-Trigger"), "Settings saved.")
		tn = storedTenant(t, env, f.Tenant.ID)
		require.Empty(t, tn.Logo)
		require.Equal(t, http.StatusNotFound, c.Get("/logo").StatusCode)
		require.NotContains(t, env.Client().Get("/signin").Body, `src="/logo"`)
		require.True(t, tn.SelfServeEnabled)
		require.Len(t, setupAudit(t, env, f.Tenant.ID, "tenant.settings_update"), 2)

		// Require two-step sign-in for all logins.
		requireRedirect(t, c.PostForm("/settings/security", url.Values{"enforce_mfa": {"on"}}), "/settings")
		require.True(t, storedTenant(t, env, f.Tenant.ID).EnforceMFA)
		require.Contains(t, c.Get("/settings").Body, `name="enforce_mfa" value="on" checked`)
		res = c.PostForm("/settings/security", nil, "HX-Request", "true")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.True(t, strings.HasPrefix(res.Body, `<form id="security-form"`))
		require.False(t, storedTenant(t, env, f.Tenant.ID).EnforceMFA)
		require.Len(t, setupAudit(t, env, f.Tenant.ID, "tenant.enforce_mfa_update"), 2)

		// Enforced MFA applies at the next sign-in of a login without it.
		requireRedirect(t, c.PostForm("/settings/security", url.Values{"enforce_mfa": {"on"}}), "/settings")
		tech := env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
		tc := env.Client()
		res = tc.PostForm("/signin", url.Values{"email": {tech.Email}, "password": {apptest.Password}})
		requireRedirect(t, res, "/signin/mfa")
	})
}

func TestSettingsUploadTooLarge(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		c := env.Client()
		c.SignIn(f.Primary.Email)
		fields := settingsFields()
		fields.Set("name", "Changed")
		res := postSettings(t, c, "/settings", fields, "huge.png", make([]byte, 3<<20))
		require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
		require.Contains(t, res.Body, "at most 2 MB")
		require.Contains(t, res.Body, setupTestID("user-name"), "the page keeps the signed-in layout")
		require.Equal(t, "Acme IT", storedTenant(t, env, f.Tenant.ID).Name)
		// Other forms keep the small limit.
		res = c.PostRaw("/settings/security", "application/x-www-form-urlencoded",
			strings.NewReader("_csrf="+url.QueryEscape(c.CSRF())+"&enforce_mfa=on&pad="+strings.Repeat("x", 300<<10)))
		require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
		require.False(t, storedTenant(t, env, f.Tenant.ID).EnforceMFA)
	})
}

func TestSettingsRefusedToTechnicians(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		for _, role := range []login.Role{login.RoleTechnician, login.RoleHelpDesk} {
			l := env.CreateLogin(f, role, string(role)+"@acmeit.example")
			c := env.Client()
			c.SignIn(l.Email)
			require.Equal(t, http.StatusForbidden, c.Get("/settings").StatusCode, role)
			fields := settingsFields()
			fields.Set("name", "Hijacked")
			fields.Del("self_serve")
			res := postSettings(t, c, "/settings", fields, "logo.png", noisyPNG(t, 20, 20))
			require.Equal(t, http.StatusForbidden, res.StatusCode, role)
			res = postSettings(t, c, "/settings", fields, "", nil, "HX-Request", "true")
			require.Equal(t, http.StatusForbidden, res.StatusCode, role)
			require.Equal(t, http.StatusForbidden, c.PostForm("/settings/security", url.Values{"enforce_mfa": {"on"}}).StatusCode, role)
			require.NotContains(t, c.Get("/").Body, `href="/settings"`, "no link for %s", role)
		}
		tn := storedTenant(t, env, f.Tenant.ID)
		require.Equal(t, "Acme IT", tn.Name)
		require.True(t, tn.SelfServeEnabled)
		require.False(t, tn.EnforceMFA)
		require.Empty(t, tn.Logo)
		require.Empty(t, setupAudit(t, env, f.Tenant.ID, "tenant.settings_update"))
	})
}

func pngSize(t *testing.T, b []byte) [2]int {
	t.Helper()
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	require.NoError(t, err)
	return [2]int{cfg.Width, cfg.Height}
}

// TestSettingsPlainText: an MSP name or address with a control character (a
// NUL was a server error on PostgreSQL) or invalid UTF-8 is refused with a
// field message and what was typed kept; an address keeps its line breaks.
func TestSettingsPlainText(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		c := env.Client()
		c.SignIn(f.Primary.Email)
		for _, field := range []string{"name", "address"} {
			for _, v := range []string{"Acme\x00IT", "Acme\x1bIT", "Acme\xffIT"} {
				fields := settingsFields()
				fields.Set(field, v)
				fields.Set("support_email", "typed@acmeit.example")
				res := postSettings(t, c, "/settings", fields, "", nil)
				require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode, "%s %q", field, v)
				require.Contains(t, res.Body, `data-testid="error-`+field+`"`, "%s %q", field, v)
				require.Contains(t, res.Body, "typed@acmeit.example", "what was typed is kept")
			}
		}
		fields := settingsFields()
		fields.Set("address", "1 Main St\r\n\tSpringfield")
		res := postSettings(t, c, "/settings", fields, "", nil)
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		require.Equal(t, "1 Main St\nSpringfield", storedTenant(t, env, f.Tenant.ID).Address)
	})
}

// TestSettingsLogoKeptThroughRefusedSave: a logo chosen in a save that fails
// on another field is shown and posted again (scaled as it will be stored),
// so fixing the field saves it without choosing the file again; unticked, it
// is dropped and the stored logo stays.
func TestSettingsLogoKeptThroughRefusedSave(t *testing.T) {
	t.Parallel()
	stagedRe := regexp.MustCompile(`name="logo_staged" value="([^"]+)"`)
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		c := env.Client()
		c.SignIn(f.Primary.Email)
		bad := settingsFields()
		bad.Set("support_email", "not an address")
		var first string
		for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
			res := postSettings(t, c, "/settings", bad, "logo.png", noisyPNG(t, 400, 190), hdr...)
			require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode, hdr)
			require.Contains(t, res.Body, "Enter an email address like help@example.com.", hdr)
			require.Contains(t, res.Body, setupTestID("logo-staged"), hdr)
			require.NotContains(t, res.Body, setupTestID("remove-logo"), "nothing to remove yet")
			m := stagedRe.FindStringSubmatch(res.Body)
			require.NotNil(t, m, "the new logo is in the form: %s", hdr)
			png, err := base64.StdEncoding.DecodeString(m[1])
			require.NoError(t, err)
			require.Equal(t, [2]int{200, 95}, pngSize(t, png), "kept as it will be stored")
			first = m[1]
			require.Empty(t, storedTenant(t, env, f.Tenant.ID).Logo, "nothing saved yet")
		}

		// Refused again with the kept logo (no file): still kept.
		res := postSettings(t, c, "/settings", withValues(bad, "logo_staged", first), "", nil)
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		staged := stagedRe.FindStringSubmatch(res.Body)
		require.NotNil(t, staged, "kept through a second refusal")

		// Fixed: saved with the kept logo, no file chosen again.
		res = postSettings(t, c, "/settings", withValues(settingsFields(), "logo_staged", staged[1]), "", nil)
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		saved := storedTenant(t, env, f.Tenant.ID).Logo
		require.Equal(t, [2]int{200, 95}, pngSize(t, saved))

		// A second logo kept from a refusal, then unticked: dropped, the
		// saved one stays. A value that is not base64 is no logo either.
		second := stagedOf(t, stagedRe, c, bad, noisyPNG(t, 60, 30))
		res = postSettings(t, c, "/settings", settingsFields(), "", nil)
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		require.Equal(t, saved, storedTenant(t, env, f.Tenant.ID).Logo)
		res = postSettings(t, c, "/settings", withValues(settingsFields(), "logo_staged", "%%%"+second), "", nil)
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		require.Equal(t, saved, storedTenant(t, env, f.Tenant.ID).Logo)
		// A file chosen with a kept logo replaces it.
		res = postSettings(t, c, "/settings", withValues(settingsFields(), "logo_staged", second), "logo.png", noisyPNG(t, 10, 10))
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		require.Equal(t, [2]int{10, 10}, pngSize(t, storedTenant(t, env, f.Tenant.ID).Logo))
	})
}

// stagedOf posts the refused form with a logo file and returns the logo
// kept in the answer.
func stagedOf(t *testing.T, re *regexp.Regexp, c *apptest.Client, bad url.Values, file []byte) string {
	t.Helper()
	res := postSettings(t, c, "/settings", bad, "logo.png", file)
	require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	m := re.FindStringSubmatch(res.Body)
	require.NotNil(t, m)
	return m[1]
}

// withValues is a copy of v with key set to value.
func withValues(v url.Values, key, value string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	out.Set(key, value)
	return out
}
