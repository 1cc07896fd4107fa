package web_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/db/dbtest"
)

// withLoginsApp runs fn against a fresh application per database engine,
// with the tenant "Acme IT" set up.
func withLoginsApp(t *testing.T, fn func(t *testing.T, env *apptest.Env, f *apptest.Fixture)) {
	t.Helper()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			env := apptest.New(t, dia)
			fn(t, env, env.Setup("Acme IT"))
		})
	}
}

// signedIn returns a client signed in as email.
func signedIn(env *apptest.Env, email string) *apptest.Client {
	c := env.Client()
	c.SignIn(email)
	return c
}

func loginByEmail(t *testing.T, env *apptest.Env, email string) *login.Login {
	t.Helper()
	l, err := login.ByEmail(context.Background(), env.App.DB.Bun, email)
	require.NoError(t, err, email)
	return l
}

func loginCount(t *testing.T, env *apptest.Env) int {
	t.Helper()
	n, err := env.App.DB.Bun.NewSelect().Model((*login.Login)(nil)).Count(context.Background())
	require.NoError(t, err)
	return int(n)
}

// emailsTo returns the emails written to the messages table for an address.
func emailsTo(t *testing.T, env *apptest.Env, to string) []notify.Email {
	t.Helper()
	var ms []notify.Message
	require.NoError(t, env.App.DB.Bun.NewSelect().Model(&ms).Where("to_addr = ?", to).Order("created_at").Scan(context.Background()))
	out := make([]notify.Email, len(ms))
	for i, m := range ms {
		e, err := m.EmailData(env.App.Keys)
		require.NoError(t, err)
		out[i] = e
	}
	return out
}

func auditCount(t *testing.T, env *apptest.Env, action, targetID string) int {
	t.Helper()
	n, err := env.App.DB.Bun.NewSelect().Model((*audit.Event)(nil)).Where("action = ? AND target_id = ?", action, targetID).Count(context.Background())
	require.NoError(t, err)
	return int(n)
}

// upload posts a CSV file to the import form.
func upload(t *testing.T, c *apptest.Client, name, content string) *apptest.Response {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	require.NoError(t, w.WriteField("_csrf", c.CSRF()))
	fw, err := w.CreateFormFile("file", name)
	require.NoError(t, err)
	_, err = fw.Write([]byte(content))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return c.PostRaw("/logins/import", w.FormDataContentType(), &body)
}

var hiddenCSV = regexp.MustCompile(`name="csv" value="([^"]*)"`)

// confirmFrom posts the preview's confirm form as a browser would.
func confirmFrom(t *testing.T, c *apptest.Client, preview *apptest.Response) *apptest.Response {
	t.Helper()
	m := hiddenCSV.FindStringSubmatch(preview.Body)
	require.NotNil(t, m, "the preview carries the file to confirm")
	return c.PostForm("/logins/import/confirm", url.Values{"csv": {html.UnescapeString(m[1])}, "filename": {"logins.csv"}})
}

func testid(id string) string { return `data-testid="` + id + `"` }

func TestLoginsInviteAndAccept(t *testing.T) {
	t.Parallel()
	withLoginsApp(t, func(t *testing.T, env *apptest.Env, f *apptest.Fixture) {
		sup := env.CreateLogin(f, login.RoleSuper, "sue@acmeit.example")
		admin := signedIn(env, f.Primary.Email)

		res := admin.Get("/logins/new")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, testid("invite-form"))

		res = admin.PostForm("/logins", url.Values{"first_name": {"Dana"}, "last_name": {"Tech"}, "email": {"dana@acmeit.example"}, "role": {"technician"}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		require.Equal(t, "/logins", res.Header.Get("Location"))

		res = admin.Get("/logins")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, testid("flash"))
		require.Contains(t, res.Body, testid("login-row-dana@acmeit.example"))

		l := loginByEmail(t, env, "dana@acmeit.example")
		require.Equal(t, login.StatusInvited, l.Status)
		require.Equal(t, login.RoleTechnician, l.Role)
		require.Equal(t, f.Tenant.ID, l.TenantID)
		require.Equal(t, 1, auditCount(t, env, "login.invite", l.ID))
		require.NotEmpty(t, emailsTo(t, env, f.Primary.Email), "the Primary is told")
		require.NotEmpty(t, emailsTo(t, env, sup.Email), "the Super is told")

		// Validation: the same email again re-renders the form with 422.
		res = admin.PostForm("/logins", url.Values{"first_name": {"Dana"}, "last_name": {"Again"}, "email": {"DANA@acmeit.example"}, "role": {"helpdesk"}})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, testid("error-email"))
		res = admin.PostForm("/logins", url.Values{"first_name": {"Pam"}, "last_name": {"P"}, "email": {"pam@acmeit.example"}, "role": {"primary"}})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, testid("error-role"))

		// The invitee follows the emailed link, chooses a password and signs in.
		inv := emailsTo(t, env, l.Email)
		require.Len(t, inv, 1)
		u, err := url.Parse(inv[0].ActionURL)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(u.Path, "/password/"))
		invitee := env.Client()
		res = invitee.Get(u.Path)
		require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
		res = invitee.PostForm(u.Path, url.Values{"password": {apptest.Password}, "confirm": {apptest.Password}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		invitee.SignIn(l.Email)
		require.Equal(t, login.StatusActive, loginByEmail(t, env, l.Email).Status)
		// The link works once.
		require.Equal(t, http.StatusNotFound, env.Client().Get(u.Path).StatusCode)
	})
}

func TestLoginsRefusedToTechnicianAndHelpDesk(t *testing.T) {
	t.Parallel()
	withLoginsApp(t, func(t *testing.T, env *apptest.Env, f *apptest.Fixture) {
		other := env.CreateLogin(f, login.RoleTechnician, "other@acmeit.example")
		for _, role := range []login.Role{login.RoleTechnician, login.RoleHelpDesk} {
			l := env.CreateLogin(f, role, string(role)+"@acmeit.example")
			c := signedIn(env, l.Email)
			for _, path := range []string{"/logins", "/logins/new", "/logins/import", "/logins/" + other.ID} {
				require.Equal(t, http.StatusForbidden, c.Get(path).StatusCode, "%s GET %s", role, path)
			}
			res := c.PostForm("/logins", url.Values{"first_name": {"X"}, "last_name": {"Y"}, "email": {"x@acmeit.example"}, "role": {"super"}})
			require.Equal(t, http.StatusForbidden, res.StatusCode, role)
			for _, action := range []string{"", "/disable", "/enable", "/reset-mfa", "/resend-invite", "/delete"} {
				res := c.PostForm("/logins/"+other.ID+action, url.Values{"first_name": {"X"}, "last_name": {"Y"}, "email": {other.Email}, "role": {"super"}})
				require.Equal(t, http.StatusForbidden, res.StatusCode, "%s POST %s", role, action)
			}
			require.Equal(t, http.StatusForbidden, upload(t, c, "a.csv", "First Name,Last Name,Email,Role\nA,B,ab@acmeit.example,Super\n").StatusCode)
			res = c.PostForm("/logins/import/confirm", url.Values{"csv": {"Rmlyc3Q"}})
			require.Equal(t, http.StatusForbidden, res.StatusCode)
			// Nor does a helper role see the link.
			require.NotContains(t, c.Get("/").Body, `href="/logins"`)
		}
		_, err := login.ByEmail(context.Background(), env.App.DB.Bun, "x@acmeit.example")
		require.Error(t, err)
		o := loginByEmail(t, env, other.Email)
		require.Equal(t, login.StatusActive, o.Status)
		require.Equal(t, login.RoleTechnician, o.Role)
	})
}

func TestLoginsOfAnotherTenantAreNotFound(t *testing.T) {
	t.Parallel()
	withLoginsApp(t, func(t *testing.T, env *apptest.Env, f *apptest.Fixture) {
		f2 := env.Setup("Other MSP")
		victim := env.CreateLogin(f2, login.RoleTechnician, "victim@other.example")
		admin := signedIn(env, f.Primary.Email)
		for _, id := range []string{victim.ID, f2.Primary.ID} {
			require.Equal(t, http.StatusNotFound, admin.Get("/logins/"+id).StatusCode)
			for _, action := range []string{"", "/disable", "/enable", "/reset-mfa", "/resend-invite", "/delete"} {
				res := admin.PostForm("/logins/"+id+action, url.Values{"first_name": {"X"}, "last_name": {"Y"}, "email": {"x@other.example"}, "role": {"helpdesk"}})
				require.Equal(t, http.StatusNotFound, res.StatusCode, "POST %s", action)
				res = admin.PostForm("/logins/"+id+action, url.Values{}, "HX-Request", "true")
				require.Equal(t, http.StatusNotFound, res.StatusCode, "htmx POST %s", action)
			}
		}
		v := loginByEmail(t, env, victim.Email)
		require.Equal(t, login.StatusActive, v.Status)
		require.Equal(t, "victim", v.FirstName)
		require.NotContains(t, admin.Get("/logins").Body, "victim@other.example")
		require.NotContains(t, admin.Get("/logins?q=victim").Body, "victim@other.example")
	})
}

func TestLoginsPrimaryIsProtected(t *testing.T) {
	t.Parallel()
	withLoginsApp(t, func(t *testing.T, env *apptest.Env, f *apptest.Fixture) {
		sup := env.CreateLogin(f, login.RoleSuper, "sue@acmeit.example")
		p := f.Primary
		sc := signedIn(env, sup.Email)
		require.Equal(t, http.StatusConflict, sc.PostForm("/logins/"+p.ID+"/disable", nil).StatusCode)
		require.Equal(t, http.StatusConflict, sc.PostForm("/logins/"+p.ID+"/delete", nil).StatusCode)
		require.Equal(t, http.StatusForbidden, sc.PostForm("/logins/"+p.ID+"/reset-mfa", nil).StatusCode)
		require.Equal(t, http.StatusForbidden, sc.PostForm("/logins/"+p.ID,
			url.Values{"first_name": {"Evil"}, "last_name": {"Twin"}, "email": {"evil@acmeit.example"}, "role": {"technician"}}).StatusCode)
		res := sc.Get("/logins/" + p.ID)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, testid("login-readonly"))
		require.NotContains(t, res.Body, testid("action-disable"))
		// A Super cannot change its own role either.
		require.Equal(t, http.StatusForbidden, sc.PostForm("/logins/"+sup.ID,
			url.Values{"first_name": {"Sue"}, "last_name": {"S"}, "email": {sup.Email}, "role": {"technician"}}).StatusCode)

		pc := signedIn(env, p.Email)
		require.Equal(t, http.StatusConflict, pc.PostForm("/logins/"+p.ID, url.Values{"first_name": {"Pat"}, "last_name": {"Primary"}, "email": {p.Email}, "role": {"super"}}).StatusCode)
		require.Equal(t, http.StatusConflict, pc.PostForm("/logins/"+p.ID+"/disable", nil).StatusCode)
		require.Equal(t, http.StatusConflict, pc.PostForm("/logins/"+p.ID+"/delete", nil).StatusCode)
		// Nobody is promoted to Primary.
		res = pc.PostForm("/logins/"+sup.ID, url.Values{"first_name": {"Sue"}, "last_name": {"S"}, "email": {sup.Email}, "role": {"primary"}})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, testid("error-role"))

		got := loginByEmail(t, env, p.Email)
		require.Equal(t, login.RolePrimary, got.Role)
		require.Equal(t, login.StatusActive, got.Status)
		require.Equal(t, "Pat", got.FirstName)
		require.Equal(t, login.RoleSuper, loginByEmail(t, env, sup.Email).Role)
	})
}

func TestLoginsDisableEndsSession(t *testing.T) {
	t.Parallel()
	withLoginsApp(t, func(t *testing.T, env *apptest.Env, f *apptest.Fixture) {
		tech := env.CreateLogin(f, login.RoleTechnician, "tom@acmeit.example")
		tc := signedIn(env, tech.Email)
		require.Equal(t, http.StatusOK, tc.Get("/").StatusCode)

		admin := signedIn(env, f.Primary.Email)
		res := admin.PostForm("/logins/"+tech.ID+"/disable", nil)
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		require.Equal(t, "/logins/"+tech.ID, res.Header.Get("Location"))
		require.Equal(t, 1, auditCount(t, env, "login.disable", tech.ID))

		res = tc.Get("/")
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.True(t, strings.HasPrefix(res.Header.Get("Location"), "/signin"), res.Header.Get("Location"))
		tc.Get("/signin")
		res = tc.PostForm("/signin", url.Values{"email": {tech.Email}, "password": {apptest.Password}})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode, "a disabled login cannot sign in")

		require.Equal(t, http.StatusSeeOther, admin.PostForm("/logins/"+tech.ID+"/enable", nil).StatusCode)
		signedIn(env, tech.Email)
	})
}

func TestLoginsRoleChangeEndsSession(t *testing.T) {
	t.Parallel()
	withLoginsApp(t, func(t *testing.T, env *apptest.Env, f *apptest.Fixture) {
		tech := env.CreateLogin(f, login.RoleTechnician, "tom@acmeit.example")
		tc := signedIn(env, tech.Email)
		admin := signedIn(env, f.Primary.Email)

		res := admin.Get("/logins/" + tech.ID)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, testid("edit-form"))
		require.Contains(t, res.Body, testid("action-disable"))
		require.Contains(t, res.Body, "data-confirm=")

		res = admin.PostForm("/logins/"+tech.ID, url.Values{"first_name": {"Tom"}, "last_name": {"Tester"}, "email": {tech.Email}, "role": {"super"}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		require.Equal(t, login.RoleSuper, loginByEmail(t, env, tech.Email).Role)
		require.Equal(t, 1, auditCount(t, env, "login.update", tech.ID))

		res = tc.Get("/")
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.True(t, strings.HasPrefix(res.Header.Get("Location"), "/signin"))
		// Signed in again, with the new role.
		tc = signedIn(env, tech.Email)
		require.Equal(t, http.StatusOK, tc.Get("/logins").StatusCode)

		// Validation errors re-render with 422.
		res = admin.PostForm("/logins/"+tech.ID, url.Values{"first_name": {""}, "last_name": {"Tester"}, "email": {"nope"}, "role": {"super"}})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, testid("error-first_name"))
		require.Contains(t, res.Body, testid("error-email"))
	})
}

func TestLoginsDeleteResetMFAAndResendInvite(t *testing.T) {
	t.Parallel()
	withLoginsApp(t, func(t *testing.T, env *apptest.Env, f *apptest.Fixture) {
		admin := signedIn(env, f.Primary.Email)
		require.Equal(t, http.StatusSeeOther, admin.PostForm("/logins", url.Values{"first_name": {"Ivy"}, "last_name": {"I"}, "email": {"ivy@acmeit.example"}, "role": {"helpdesk"}}).StatusCode)
		ivy := loginByEmail(t, env, "ivy@acmeit.example")
		res := admin.Get("/logins/" + ivy.ID)
		require.Contains(t, res.Body, testid("action-resend-invite"))
		require.Equal(t, http.StatusSeeOther, admin.PostForm("/logins/"+ivy.ID+"/resend-invite", nil).StatusCode)
		require.Len(t, emailsTo(t, env, ivy.Email), 2)
		require.Equal(t, 1, auditCount(t, env, "login.invite_resent", ivy.ID))

		tech := env.CreateLogin(f, login.RoleTechnician, "tom@acmeit.example")
		require.Equal(t, http.StatusConflict, admin.PostForm("/logins/"+tech.ID+"/resend-invite", nil).StatusCode)
		res = admin.PostForm("/logins/"+tech.ID+"/reset-mfa", nil)
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Equal(t, 1, auditCount(t, env, "login.mfa_reset", tech.ID))

		res = admin.PostForm("/logins/"+tech.ID+"/delete", nil)
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Equal(t, "/logins", res.Header.Get("Location"))
		require.Equal(t, http.StatusNotFound, admin.Get("/logins/"+tech.ID).StatusCode)
		require.Equal(t, 1, auditCount(t, env, "login.delete", tech.ID))
	})
}

func TestLoginsListAndSearch(t *testing.T) {
	t.Parallel()
	withLoginsApp(t, func(t *testing.T, env *apptest.Env, f *apptest.Fixture) {
		env.CreateLogin(f, login.RoleTechnician, "dana@acmeit.example")
		env.CreateLogin(f, login.RoleHelpDesk, "hal@acmeit.example")
		admin := signedIn(env, f.Primary.Email)

		res := admin.Get("/logins")
		require.Equal(t, http.StatusOK, res.StatusCode)
		for _, e := range []string{f.Primary.Email, "dana@acmeit.example", "hal@acmeit.example"} {
			require.Contains(t, res.Body, testid("login-row-"+e))
		}
		require.Contains(t, res.Body, `hx-trigger="input changed delay:300ms, submit"`)
		require.Contains(t, res.Body, `hx-push-url="true"`)

		// The filter's htmx request gets the results alone.
		res = admin.Get("/logins?q=DAN", "HX-Request", "true", "HX-Target", "logins-results")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.NotContains(t, res.Body, "<html")
		require.NotContains(t, res.Body, testid("logins-filter"))
		require.Contains(t, res.Body, testid("login-row-dana@acmeit.example"))
		require.NotContains(t, res.Body, testid("login-row-hal@acmeit.example"))

		// The filter state lives in the URL.
		res = admin.Get("/logins?role=helpdesk&status=active")
		require.Contains(t, res.Body, testid("login-row-hal@acmeit.example"))
		require.NotContains(t, res.Body, testid("login-row-dana@acmeit.example"))
		require.Contains(t, res.Body, `<option value="helpdesk" selected>`)

		res = admin.Get("/logins?q=nobody")
		require.Contains(t, res.Body, testid("logins-empty"))
		require.Contains(t, res.Body, `value="nobody"`)
	})
}

func TestLoginsImport(t *testing.T) {
	t.Parallel()
	withLoginsApp(t, func(t *testing.T, env *apptest.Env, f *apptest.Fixture) {
		admin := signedIn(env, f.Primary.Email)
		res := admin.Get("/logins/import")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, testid("import-form"))
		before := loginCount(t, env)

		// One bad row: the preview shows it, and the confirm is refused.
		bad := "First Name,Last Name,Email,Role\nAnn,One,ann@acmeit.example,Technician\nBob,Two,bob-at-acmeit,Technician\nCy,Three,cy@acmeit.example,Wizard\n"
		res = upload(t, admin, "bad.csv", bad)
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode, res.Body)
		require.Contains(t, res.Body, testid("row-ok-2"))
		require.Contains(t, res.Body, testid("row-error-3"))
		require.Contains(t, res.Body, testid("row-error-4"))
		require.Contains(t, res.Body, "Super, Technician or Help desk")
		require.Regexp(t, `<button[^>]*data-testid="import-confirm"[^>]*disabled`, res.Body)
		res = confirmFrom(t, admin, res)
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, testid("row-error-3"))
		require.Equal(t, before, loginCount(t, env), "nothing is created")

		// A good file, headers in another order and case, creates every row.
		good := "\ufeffROLE,email,first name,LAST NAME\r\ntechnician,ann@acmeit.example,Ann,One\r\nHelp desk,bob@acmeit.example,Bob,Two\r\nsuper,cy@acmeit.example,\"=HYPERLINK(\"\"x\"\")\",Three\r\n"
		res = upload(t, admin, "good.csv", good)
		require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
		require.Contains(t, res.Body, testid("import-ready"))
		require.NotRegexp(t, `<button[^>]*data-testid="import-confirm"[^>]*disabled`, res.Body)
		res = confirmFrom(t, admin, res)
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		require.Equal(t, "/logins", res.Header.Get("Location"))
		require.Equal(t, before+3, loginCount(t, env))
		for email, role := range map[string]login.Role{"ann@acmeit.example": login.RoleTechnician, "bob@acmeit.example": login.RoleHelpDesk, "cy@acmeit.example": login.RoleSuper} {
			l := loginByEmail(t, env, email)
			require.Equal(t, role, l.Role)
			require.Equal(t, login.StatusInvited, l.Status)
			require.Equal(t, f.Tenant.ID, l.TenantID)
			require.Len(t, emailsTo(t, env, email), 1)
			require.Equal(t, 1, auditCount(t, env, "login.invite", l.ID))
		}
		require.Equal(t, `=HYPERLINK("x")`, loginByEmail(t, env, "cy@acmeit.example").FirstName)

		// Confirming the same file again is refused: the emails exist now.
		res = confirmFrom(t, admin, upload(t, admin, "good.csv", good))
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Equal(t, before+3, loginCount(t, env))

		// A forged confirm is checked again on the server.
		res = admin.PostForm("/logins/import/confirm", url.Values{"csv": {"not base64!"}})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, testid("error-file"))
	})
}

func TestLoginsImportFileErrors(t *testing.T) {
	t.Parallel()
	withLoginsApp(t, func(t *testing.T, env *apptest.Env, f *apptest.Fixture) {
		admin := signedIn(env, f.Primary.Email)
		res := upload(t, admin, "extra.csv", "First Name,Last Name,Email,Role,Phone\nA,B,ab@acmeit.example,Super,123\n")
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, testid("error-file"))
		require.Contains(t, res.Body, "Phone")

		res = upload(t, admin, "missing.csv", "First Name,Email,Role\nA,ab@acmeit.example,Super\n")
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, "Last Name")

		// Over 1 MB: a clear message; far over: refused by the body limit.
		big := "First Name,Last Name,Email,Role\n" + strings.Repeat("A,B,ab@acmeit.example,Super\n", (1<<20)/27+10)
		res = upload(t, admin, "big.csv", big)
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, "larger than 1 MB")
		res = upload(t, admin, "huge.csv", strings.Repeat("x", 3<<20))
		require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
		require.Contains(t, res.Body, testid("error-file"))
		// Also when the body comes without a length (chunked).
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		require.NoError(t, w.WriteField("_csrf", admin.CSRF()))
		fw, err := w.CreateFormFile("file", "chunked.csv")
		require.NoError(t, err)
		_, err = fw.Write([]byte(strings.Repeat("x", 3<<20)))
		require.NoError(t, err)
		require.NoError(t, w.Close())
		res = admin.PostRaw("/logins/import", w.FormDataContentType(), io.MultiReader(&body))
		require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
		require.Contains(t, res.Body, testid("error-file"))

		// The other forms of the app keep their small limit.
		res = admin.PostForm("/logins", url.Values{"first_name": {strings.Repeat("x", 300<<10)}})
		require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	})
}

// TestLoginsNamesArePlainText: a name with a control character (a NUL was a
// server error) or invalid UTF-8 is refused with a field message and the
// typed values kept; a long name is counted in characters, not bytes.
func TestLoginsNamesArePlainText(t *testing.T) {
	t.Parallel()
	withLoginsApp(t, func(t *testing.T, env *apptest.Env, f *apptest.Fixture) {
		admin := signedIn(env, f.Primary.Email)
		tech := env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
		for i, name := range []string{"Da\x00na", "Da\nna", "Da\x1bna", "Da\xffna"} {
			email := fmt.Sprintf("bad%d@acmeit.example", i)
			res := admin.PostForm("/logins", url.Values{"first_name": {name}, "last_name": {"Tech"}, "email": {email}, "role": {"technician"}})
			require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode, "%q", name)
			require.Contains(t, res.Body, testid("error-first_name"), "%q", name)
			require.Contains(t, res.Body, email, "the typed email is kept")
			res = admin.PostForm("/logins/"+tech.ID, url.Values{"first_name": {"Tess"}, "last_name": {name}, "email": {tech.Email}, "role": {"technician"}})
			require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode, "%q", name)
			require.Contains(t, res.Body, testid("error-last_name"), "%q", name)
		}
		require.Equal(t, 2, loginCount(t, env), "nobody was invited")

		// 60 characters of two bytes each is within the 100-character limit.
		long := strings.Repeat("é", 60)
		res := admin.PostForm("/logins", url.Values{"first_name": {long}, "last_name": {"Tech"}, "email": {"long@acmeit.example"}, "role": {"technician"}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		require.Equal(t, long, loginByEmail(t, env, "long@acmeit.example").FirstName)
		res = admin.PostForm("/logins", url.Values{"first_name": {strings.Repeat("é", 101)}, "last_name": {"Tech"}, "email": {"longer@acmeit.example"}, "role": {"technician"}})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, "Use at most 100 characters.")
	})
}
