package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// eachDialect runs fn against a fresh application per database engine.
func eachDialect(t *testing.T, fn func(t *testing.T, env *apptest.Env)) {
	t.Helper()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			fn(t, apptest.New(t, dia))
		})
	}
}

func TestSignInRenewsSessionToken(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		c := env.Client()
		c.Get("/signin")
		before := c.Cookie("latchkey_session")
		require.NotEmpty(t, before, "an anonymous visitor gets a session for the CSRF token")
		c.SignIn(f.Primary.Email)
		after := c.Cookie("latchkey_session")
		require.NotEmpty(t, after)
		require.NotEqual(t, before, after, "the session token must change at sign-in")

		res := c.Get("/")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="user-name"`)

		// The old token is worthless now.
		old := env.Client()
		u, _ := url.Parse(env.URL)
		old.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "latchkey_session", Value: before}})
		res = old.Get("/")
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.True(t, strings.HasPrefix(res.Header.Get("Location"), "/signin"))
	})
}

func TestSignInWrongPasswordAndUnknownEmailLookAlike(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		c := env.Client()
		wrong := c.PostForm("/signin", url.Values{"email": {f.Primary.Email}, "password": {"not the password at all"}})
		unknown := c.PostForm("/signin", url.Values{"email": {"nobody@acmeit.example"}, "password": {"not the password at all"}})
		require.Equal(t, http.StatusUnprocessableEntity, wrong.StatusCode)
		require.Equal(t, wrong.StatusCode, unknown.StatusCode)
		require.Contains(t, wrong.Body, "The email or password is incorrect.")
		require.Contains(t, unknown.Body, "The email or password is incorrect.")
	})
}

func TestCSRFRejected(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		c := env.Client()
		c.Get("/signin")
		// No token at all.
		res := c.PostRaw("/signin", "application/x-www-form-urlencoded",
			strings.NewReader(url.Values{"email": {f.Primary.Email}, "password": {apptest.Password}}.Encode()))
		require.Equal(t, http.StatusForbidden, res.StatusCode)
		// A wrong token, in the form and in the htmx header.
		res = c.PostForm("/signin", url.Values{"_csrf": {"forged"}, "email": {f.Primary.Email}, "password": {apptest.Password}})
		require.Equal(t, http.StatusForbidden, res.StatusCode)
		res = c.PostRaw("/signin", "application/x-www-form-urlencoded",
			strings.NewReader(url.Values{"email": {f.Primary.Email}, "password": {apptest.Password}}.Encode()),
			"HX-Request", "true", "X-CSRF-Token", "forged")
		require.Equal(t, http.StatusForbidden, res.StatusCode)
		require.NotEmpty(t, res.Header.Get("HX-Trigger"), "htmx requests get the refusal as a toast")
		// A cross-site request is refused even with the right token.
		res = c.PostForm("/signin", url.Values{"email": {f.Primary.Email}, "password": {apptest.Password}}, "Sec-Fetch-Site", "cross-site")
		require.Equal(t, http.StatusForbidden, res.StatusCode)
		// The right token in the htmx header works.
		res = c.PostRaw("/signin", "application/x-www-form-urlencoded",
			strings.NewReader(url.Values{"email": {f.Primary.Email}, "password": {apptest.Password}}.Encode()),
			"HX-Request", "true", "X-CSRF-Token", c.CSRF())
		require.Equal(t, http.StatusNoContent, res.StatusCode)
		require.Equal(t, "/", res.Header.Get("HX-Redirect"))
	})
}

func TestSignInThrottlesPerAccount(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		tech := env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
		for i := 0; i < login.MaxFailedLogins; i++ {
			// A fresh client each time: the lock is on the account, not the session or IP.
			res := env.Client().PostForm("/signin", url.Values{"email": {tech.Email}, "password": {"wrong password number"}})
			require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode, "attempt %d", i+1)
		}
		// Now even the right password is refused for a while.
		res := env.Client().PostForm("/signin", url.Values{"email": {tech.Email}, "password": {apptest.Password}})
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		require.Contains(t, res.Body, "Too many failed sign-ins")
		// Other accounts are not affected.
		env.Client().SignIn(f.Primary.Email)
		// The lock is persisted, and it expires: after a minute the right password works.
		l, err := login.Get(context.Background(), env.App.DB.Bun, f.Tenant.ID, tech.ID)
		require.NoError(t, err)
		require.NotNil(t, l.LockedUntil)
		require.Equal(t, 1, l.Lockouts)
		env.Clock.Advance(61 * time.Second)
		env.Client().SignIn(tech.Email)
	})
}

// enableTOTP gives a login a confirmed authenticator and returns its secret.
func enableTOTP(t *testing.T, env *apptest.Env, l *login.Login) string {
	t.Helper()
	ctx := context.Background()
	en, err := env.App.Logins.BeginTOTP(ctx, l.ID)
	require.NoError(t, err)
	code, err := totp.GenerateCode(en.Secret, env.Clock.Now().Add(-30*time.Second))
	require.NoError(t, err)
	require.NoError(t, env.App.Logins.ConfirmTOTP(ctx, l.ID, code, "127.0.0.1"))
	return en.Secret
}

func TestSignInWithTOTPAndReplayRefused(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		secret := enableTOTP(t, env, f.Primary)

		c := env.Client()
		res := c.PostForm("/signin", url.Values{"email": {f.Primary.Email}, "password": {apptest.Password}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Equal(t, "/signin/totp", res.Header.Get("Location"))
		// Not signed in yet.
		require.Equal(t, http.StatusSeeOther, c.Get("/").StatusCode)
		c.Get("/signin/totp")

		code, err := totp.GenerateCode(secret, env.Clock.Now())
		require.NoError(t, err)
		res = c.PostForm("/signin/totp", url.Values{"code": {"000000"}})
		if code != "000000" {
			require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		}
		res = c.PostForm("/signin/totp", url.Values{"code": {code}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Equal(t, "/", res.Header.Get("Location"))
		require.Equal(t, http.StatusOK, c.Get("/").StatusCode)

		// The same code again, from another browser with the right password: refused.
		c2 := env.Client()
		res = c2.PostForm("/signin", url.Values{"email": {f.Primary.Email}, "password": {apptest.Password}})
		require.Equal(t, "/signin/totp", res.Header.Get("Location"))
		res = c2.PostForm("/signin/totp", url.Values{"code": {code}})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode, "a used code must not work twice")
		require.Equal(t, http.StatusSeeOther, c2.Get("/").StatusCode)
	})
}

func TestTOTPFailuresLockAndAlertAdmins(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		tech := env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
		secret := enableTOTP(t, env, tech)
		good, err := totp.GenerateCode(secret, env.Clock.Now())
		require.NoError(t, err)
		bad := "123456"
		if bad == good {
			bad = "654321"
		}
		for i := 0; i < login.MaxTOTPFailures; i++ {
			c := env.Client()
			res := c.PostForm("/signin", url.Values{"email": {tech.Email}, "password": {apptest.Password}})
			require.Equal(t, "/signin/totp", res.Header.Get("Location"))
			res = c.PostForm("/signin/totp", url.Values{"code": {bad}})
			if i < login.MaxTOTPFailures-1 {
				require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
			} else {
				require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
			}
		}
		c := env.Client()
		c.PostForm("/signin", url.Values{"email": {tech.Email}, "password": {apptest.Password}})
		res := c.PostForm("/signin/totp", url.Values{"code": {good}})
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode, "locked even with the right code")
		n := 0
		for _, e := range emailsTo(t, env, f.Primary.Email) { // subjects are stored encrypted
			if strings.Contains(e.Subject, "MFA") {
				n++
			}
		}
		require.Equal(t, 1, n, "the Primary is alerted once")
	})
}

func TestEnforcedMFAEnrolsAtSignIn(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		_, err := env.App.DB.Bun.NewUpdate().Table("tenants").Set("enforce_mfa = ?", true).Where("id = ?", f.Tenant.ID).Exec(context.Background())
		require.NoError(t, err)
		tech := env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
		c := env.Client()
		res := c.PostForm("/signin", url.Values{"email": {tech.Email}, "password": {apptest.Password}})
		require.Equal(t, "/signin/mfa", res.Header.Get("Location"))
		res = c.Get("/signin/mfa")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		en, err := env.App.Logins.PendingTOTP(context.Background(), tech.ID)
		require.NoError(t, err)
		require.Contains(t, res.Body, en.Secret)
		require.Equal(t, http.StatusSeeOther, c.Get("/").StatusCode, "not signed in before enrolling")
		qr := c.Get("/signin/mfa/qr.png")
		require.Equal(t, "image/png", qr.Header.Get("Content-Type"))
		code, err := totp.GenerateCode(en.Secret, env.Clock.Now())
		require.NoError(t, err)
		res = c.PostForm("/signin/mfa", url.Values{"code": {code}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Equal(t, "/", res.Header.Get("Location"))
		require.Equal(t, http.StatusOK, c.Get("/").StatusCode)
		l, err := login.Get(context.Background(), env.App.DB.Bun, f.Tenant.ID, tech.ID)
		require.NoError(t, err)
		require.True(t, l.MFAEnabled())
	})
}

func TestForgotPasswordSingleUseLink(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		c := env.Client()
		c.Get("/forgot")
		known := c.PostForm("/forgot", url.Values{"email": {f.Primary.Email}})
		unknown := c.PostForm("/forgot", url.Values{"email": {"ghost@acmeit.example"}})
		require.Equal(t, http.StatusOK, known.StatusCode)
		require.Equal(t, known.StatusCode, unknown.StatusCode)
		require.Contains(t, known.Body, `data-testid="forgot-sent"`)
		require.Contains(t, unknown.Body, `data-testid="forgot-sent"`)

		link := messageLink(t, env, f.Primary.Email, "login_password_reset")
		path := strings.TrimPrefix(link, "http://latchkey.test")
		require.True(t, strings.HasPrefix(path, "/password/"))
		res := c.Get(path)
		require.Equal(t, http.StatusOK, res.StatusCode)
		const newPW = "a brand new passphrase here"
		res = c.PostForm(path, url.Values{"password": {newPW}, "confirm": {"mismatch mismatch"}})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		res = c.PostForm(path, url.Values{"password": {newPW}, "confirm": {newPW}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		// Single use.
		require.Equal(t, http.StatusNotFound, c.Get(path).StatusCode)
		// The new password works, the old does not.
		res = env.Client().PostForm("/signin", url.Values{"email": {f.Primary.Email}, "password": {apptest.Password}})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		res = env.Client().PostForm("/signin", url.Values{"email": {f.Primary.Email}, "password": {newPW}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
	})
}

// messageLink returns the action URL of the newest message of kind to addr.
func messageLink(t *testing.T, env *apptest.Env, to, kind string) string {
	t.Helper()
	var m notify.Message
	err := env.App.DB.Bun.NewSelect().Model(&m).Where("to_addr = ? AND kind = ?", to, kind).
		Order("created_at DESC").Limit(1).Scan(context.Background())
	require.NoError(t, err)
	e, err := m.EmailData(env.App.Keys)
	require.NoError(t, err)
	require.NotEmpty(t, e.ActionURL)
	return e.ActionURL
}

func TestTechnicianRefusedAdminRoutes(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		tech := env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
		help := env.CreateLogin(f, login.RoleHelpDesk, "hank@acmeit.example")
		for _, l := range []*login.Login{tech, help} {
			c := env.Client()
			c.SignIn(l.Email)
			for _, p := range []string{"/logins", "/events", "/settings"} {
				require.Equal(t, http.StatusForbidden, c.Get(p).StatusCode, "%s GET %s", l.Role, p)
				res := c.PostForm(p, url.Values{"name": {"x"}})
				require.Contains(t, []int{http.StatusForbidden, http.StatusMethodNotAllowed}, res.StatusCode, "%s POST %s", l.Role, p)
				require.NotEqual(t, http.StatusOK, res.StatusCode)
			}
		}
	})
}

func TestDisabledLoginSessionEnds(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		tech := env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
		c := env.Client()
		c.SignIn(tech.Email)
		require.Equal(t, http.StatusOK, c.Get("/").StatusCode)
		_, err := env.App.DB.Bun.NewUpdate().Table("logins").Set("status = ?", login.StatusDisabled).
			Set("sessions_valid_after = ?", time.Now().UTC()).Where("id = ?", tech.ID).Exec(context.Background())
		require.NoError(t, err)
		require.Equal(t, http.StatusSeeOther, c.Get("/").StatusCode)
	})
}

func TestHealthAndSecurityHeaders(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	c := env.Client()
	res := c.Get("/healthz")
	require.Equal(t, http.StatusOK, res.StatusCode)
	res = c.Get("/readyz")
	require.Equal(t, http.StatusOK, res.StatusCode)
	res = c.Get("/signin")
	h := res.Header
	require.Contains(t, h.Get("Content-Security-Policy"), "script-src 'self'")
	require.Contains(t, h.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	require.Equal(t, "DENY", h.Get("X-Frame-Options"))
	for _, ck := range res.Cookies() {
		if ck.Name == "latchkey_session" {
			require.True(t, ck.HttpOnly)
			require.Equal(t, http.SameSiteLaxMode, ck.SameSite)
			require.Zero(t, ck.MaxAge, "session cookies are not persistent")
			require.True(t, ck.Expires.IsZero())
		}
	}
}

func TestOversizedFormRefusedBeforeCSRFReadsIt(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	env.Setup("Acme IT")
	c := env.Client()
	big := strings.Repeat("a", 300<<10)
	res := c.PostForm("/signin", url.Values{"email": {"x@y.example"}, "password": {big}})
	require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	// Also without a Content-Length (chunked), as multipart.
	body := strings.NewReader("--b\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n" + big + "\r\n--b--\r\n")
	req, err := http.NewRequest(http.MethodPost, env.URL+"/signin", io.NopCloser(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	req.ContentLength = -1
	res = c.Do(req)
	require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
}

func TestSignedInRequestIsLean(t *testing.T) {
	t.Parallel()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			env := apptest.New(t, dia, apptest.Options{NoWorkers: true})
			f := env.Setup("Acme IT")
			c := env.Client()
			c.SignIn(f.Primary.Email)
			c.Get("/logins")
			before := env.Statements()
			res := c.Get("/logins")
			require.Equal(t, http.StatusOK, res.StatusCode)
			// The session read with its login and tenant, then the list: the
			// session is not rewritten on every request.
			require.Equal(t, int64(2), env.Statements()-before)
		})
	}
}

func TestIdleSessionEnds(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		c := env.Client()
		c.SignIn(f.Primary.Email)
		env.Clock.Advance(14 * time.Minute)
		require.Equal(t, http.StatusOK, c.Get("/").StatusCode, "14 minutes idle is fine")
		env.Clock.Advance(14 * time.Minute)
		require.Equal(t, http.StatusOK, c.Get("/").StatusCode, "activity moved the idle deadline")
		env.Clock.Advance(16 * time.Minute)
		res := c.Get("/")
		require.Equal(t, http.StatusSeeOther, res.StatusCode, "16 minutes idle ends the session")
		require.True(t, strings.HasPrefix(res.Header.Get("Location"), "/signin"))
	})
}

func TestSessionEndsEightHoursAfterSignIn(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	c := env.Client()
	c.SignIn(f.Primary.Email)
	for i := 1; i <= 47; i++ { // stay active: a request every 10 minutes, 7 h 50 min in all
		env.Clock.Advance(10 * time.Minute)
		require.Equal(t, http.StatusOK, c.Get("/").StatusCode, "request after %d minutes", i*10)
	}
	env.Clock.Advance(11 * time.Minute) // 8 h 1 min after sign-in, 11 minutes idle
	require.Equal(t, http.StatusSeeOther, c.Get("/").StatusCode, "over 8 hours since sign-in")
}
