package e2e

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
)

// TestBrowserSettingsSelfServeOffAsksFirst: saving the Settings form asks
// nothing while self-serve stays on, and asks before a save turns it off for
// every end user (on a phone-sized screen).
func TestBrowserSettingsSelfServeOffAsksFirst(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	p := newPage(t, env.URL)
	p.viewport(375, 800)
	signIn(p, f.Primary.Email)
	stored := func() *tenant.Tenant {
		tn, err := tenant.Get(context.Background(), env.App.DB.Bun, f.Tenant.ID)
		require.NoError(t, err)
		return tn
	}

	p.open("/settings")
	p.fill(`#f-name`, "Acme IT Services")
	p.fill(`#f-support_email`, "help@acmeit.example")
	p.fill(`#f-phone`, "202 555 0143")
	p.click(tid("settings-submit"))
	p.wait(chromedp.CSS(`[data-testid="settings-form"] .alert-ok`))
	require.Empty(t, p.lastDialog(), "a save that keeps self-serve on asks nothing")
	require.Equal(t, "Acme IT Services", stored().Name)

	p.click(tid("switch-self_serve"))
	p.waitFor(`!document.querySelector('[data-testid="switch-self_serve"] input').checked`)
	p.click(tid("settings-submit"))
	p.waitFor(`document.querySelector('[data-testid="settings-form"] .alert-ok') !== null && !document.querySelector('[data-testid="switch-self_serve"] input').checked`)
	require.Contains(t, p.lastDialog(), "every end user of every customer")
	require.False(t, stored().SelfServeEnabled)
}

// TestBrowserSettingsKeepsLogoThroughRefusal: a logo chosen in a save refused
// on another field is shown as not saved yet, and fixing the field saves it
// without choosing the file again.
func TestBrowserSettingsKeepsLogoThroughRefusal(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	p := newPage(t, env.URL)
	signIn(p, f.Primary.Email)
	p.open("/settings")
	p.do(chromedp.SetUploadFiles(chromedp.CSS(`#f-logo`), []string{writeLogo(t)}))
	p.fill(`#f-support_email`, "not an address")
	p.click(tid("settings-submit"))
	p.wait(tid("logo-staged"))
	require.Contains(t, p.text(chromedp.CSS(`#e-support_email`)), "Enter an email address")
	require.True(t, p.exists(`[data-testid="keep-staged-logo"]:checked`))
	p.waitFor(`document.querySelector('[data-testid="logo-staged"]').naturalWidth === 95`) // 400×400 scaled to fit 200×95
	p.screenshot("settings-logo-kept")
	tn, err := tenant.Get(context.Background(), env.App.DB.Bun, f.Tenant.ID)
	require.NoError(t, err)
	require.Empty(t, tn.Logo, "nothing saved yet")

	p.fill(`#f-support_email`, "help@acmeit.example")
	p.fill(`#f-phone`, "202 555 0143")
	p.click(tid("settings-submit"))
	p.wait(chromedp.CSS(`[data-testid="settings-form"] .alert-ok`))
	p.wait(tid("logo-current"))
	tn, err = tenant.Get(context.Background(), env.App.DB.Bun, f.Tenant.ID)
	require.NoError(t, err)
	require.NotEmpty(t, tn.Logo, "saved without choosing the file again")
}
