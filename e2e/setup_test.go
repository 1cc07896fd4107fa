package e2e

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/db"
)

// TestBrowserFirstRunWizard drives a fresh server through every wizard step
// (with a refresh that resumes, and browser back) to the dashboard.
func TestBrowserFirstRunWizard(t *testing.T) {
	t.Parallel()
	for _, dia := range []db.Dialect{db.SQLite, db.Postgres} {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			env := apptest.New(t, dia)
			p := newPage(t, env.URL)
			p.open("/")
			p.wait(tid("setup-primary-form"))
			require.Equal(t, "/setup/primary", p.location())

			// Step 1: the Primary login. A weak password is refused first.
			p.fill(`#f-first_name`, "Dana")
			p.fill(`#f-last_name`, "Owner")
			p.fill(`#f-email`, "dana@northwind.example")
			p.fill(`#f-password`, "password")
			p.fill(`#f-confirm`, "password")
			p.click(tid("setup-primary-submit"))
			p.wait(tid("error-password"))
			const pw = "tangerine orbit canyon ladder"
			p.fill(`#f-password`, pw)
			p.fill(`#f-confirm`, pw)
			p.click(tid("setup-primary-submit"))

			// Step 2: MSP settings, with a logo.
			p.wait(tid("setup-settings-form"))
			p.waitFor(`location.pathname === "/setup/settings"`)
			p.fill(`#f-name`, "Northwind IT")
			p.fill(`#f-address`, "1 Harbour Road\nWellington")
			p.do(chromedp.SetValue(chromedp.CSS(`[data-testid="phone-country"]`), "+64"))
			p.fill(`#f-phone`, "04 555 0199")
			p.fill(`#f-support_email`, "help@northwind.example")
			p.do(chromedp.SetValue(chromedp.CSS(`#f-time_zone`), "Pacific/Auckland"))
			p.do(chromedp.SetUploadFiles(chromedp.CSS(`#f-logo`), []string{writeLogo(t)}))
			p.click(tid("setup-settings-submit"))

			// Step 3: MFA. A refresh resumes here; then set up the authenticator.
			p.wait(tid("mfa-form"))
			p.waitFor(`location.pathname === "/setup/mfa"`)
			p.open("/setup")
			p.wait(tid("mfa-form"))
			require.Equal(t, "/setup/mfa", p.location())
			secret := p.text(chromedp.CSS(`[data-testid="mfa-secret"]`))
			if secret == "" {
				v, err := chromedpValue(p, `[data-testid="mfa-secret"]`)
				require.NoError(t, err)
				secret = v
			}
			code, err := totp.GenerateCode(secret, time.Now())
			require.NoError(t, err)
			p.fill(`#f-code`, code)
			p.click(tid("mfa-submit"))

			// Step 4: invite one technician.
			p.wait(tid("setup-technicians-form"))
			require.Contains(t, p.text(tid("flash")), "Two-step sign-in is on")
			p.fill(`[data-testid="setup-technicians-form"] input[name="first_name"]`, "Tess")
			p.fill(`[data-testid="setup-technicians-form"] input[name="last_name"]`, "Tech")
			p.fill(`[data-testid="setup-technicians-form"] input[name="email"]`, "tess@northwind.example")
			p.click(tid("tech-submit"))

			// Step 5: done; back goes to the previous step, forward again.
			p.wait(tid("setup-done"))
			// Each step is waited for as a user sees it, not by its address:
			// the address changes at once, and htmx's restore of the previous
			// step, when it arrived late (under load), replaced the done page
			// that Forward had already shown (the address said /setup/done
			// over the technicians step, and Finish was gone).
			p.do(chromedp.NavigateBack())
			p.wait(tid("setup-technicians-form"))
			p.waitFor(`location.pathname === "/setup/technicians"`)
			p.do(chromedp.NavigateForward())
			p.wait(tid("setup-done"))
			p.waitFor(`location.pathname === "/setup/done"`)
			p.click(tid("setup-finish"))

			// The dashboard with the on-boarding checklist.
			p.wait(tid("onboarding"))
			require.Equal(t, "/", p.location())
			require.Contains(t, p.text(tid("tenant-name")), "Northwind IT")
			require.Contains(t, p.text(tid("checklist")), "Technician logins")
			p.screenshot("wizard-dashboard-" + string(dia))

			// The logo is served and was scaled to fit 200×95.
			res := env.Client().Get("/logo")
			require.Equal(t, 200, res.StatusCode)
			img, err := png.Decode(bytes.NewReader([]byte(res.Body)))
			require.NoError(t, err)
			require.LessOrEqual(t, img.Bounds().Dx(), 200)
			require.LessOrEqual(t, img.Bounds().Dy(), 95)
		})
	}
}

// writeLogo writes a 400×400 PNG and returns its path.
func writeLogo(t *testing.T) string {
	img := image.NewRGBA(image.Rect(0, 0, 400, 400))
	for y := 0; y < 400; y++ {
		for x := 0; x < 400; x++ {
			img.Set(x, y, color.RGBA{R: uint8(x / 2), G: 120, B: uint8(y / 2), A: 255})
		}
	}
	path := filepath.Join(t.TempDir(), "logo.png")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, png.Encode(f, img))
	require.NoError(t, f.Close())
	return path
}
