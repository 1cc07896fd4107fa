package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/db"
)

func TestBrowserSignInWithTOTPThenSignOut(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	ctx := context.Background()
	en, err := env.App.Logins.BeginTOTP(ctx, f.Primary.ID)
	require.NoError(t, err)
	first, err := totp.GenerateCode(en.Secret, time.Now().Add(-30*time.Second))
	require.NoError(t, err)
	require.NoError(t, env.App.Logins.ConfirmTOTP(ctx, f.Primary.ID, first, "127.0.0.1"))

	p := newPage(t, env.URL)
	p.open("/")
	p.wait(tid("signin-form"))
	p.fill(`#f-email`, f.Primary.Email)
	p.fill(`#f-password`, apptest.Password)
	p.click(tid("signin-submit"))
	p.wait(tid("totp-form"))
	require.Equal(t, "/signin/totp", p.location())

	code, err := totp.GenerateCode(en.Secret, time.Now())
	require.NoError(t, err)
	p.fill(`#f-code`, code)
	p.click(tid("totp-submit"))
	p.wait(tid("sidebar"))
	require.Equal(t, "Pat Primary", p.text(tid("user-name")))
	require.Equal(t, "/", p.location())
	p.screenshot("dashboard")

	p.click(tid("signout"))
	p.wait(tid("signin-form"))
	require.Contains(t, p.text(tid("flash")), "signed out")
	// Signed out for real: the dashboard sends us back to sign in.
	p.open("/")
	p.wait(tid("signin-form"))
}

func TestBrowserWrongPasswordShowsError(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	p := newPage(t, env.URL)
	p.viewport(375, 812)
	p.open("/signin")
	p.fill(`#f-email`, f.Primary.Email)
	p.fill(`#f-password`, "not my password at all")
	p.click(tid("signin-submit"))
	p.wait(tid("alert-danger"))
	require.Contains(t, p.text(tid("alert-danger")), "incorrect")
	// The email is kept; the password is not.
	v, err := chromedpValue(p, `#f-email`)
	require.NoError(t, err)
	require.Equal(t, f.Primary.Email, v)
}

func TestBrowserTechnicianCannotOpenLoginManagement(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	tech := env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
	p := newPage(t, env.URL)
	p.open("/signin")
	p.fill(`#f-email`, tech.Email)
	p.fill(`#f-password`, apptest.Password)
	p.click(tid("signin-submit"))
	p.wait(tid("sidebar"))
	require.False(t, p.exists(`.nav a[href="/logins"]`), "no Logins link for a Technician")
	p.open("/logins")
	p.wait(tid("error-page"))
	require.Contains(t, p.text(tid("error-page")), "403")
	require.Contains(t, p.text(tid("error-message")), "Technician")
}
