package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/db/dbtest"
)

// leanApp runs fn per database engine on an application without workers, so
// that env.Statements() counts only the requests' statements.
func leanApp(t *testing.T, fn func(t *testing.T, env *apptest.Env, f *apptest.Fixture)) {
	t.Helper()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			env := apptest.New(t, dia, apptest.Options{NoWorkers: true})
			fn(t, env, env.Setup("Acme IT"))
		})
	}
}

// statementsOf returns the response to GET path and how many statements it cost.
func statementsOf(env *apptest.Env, c *apptest.Client, path string) (*apptest.Response, int64) {
	before := env.Statements()
	res := c.Get(path)
	return res, env.Statements() - before
}

func requireSignInRedirect(t *testing.T, res *apptest.Response) {
	t.Helper()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.True(t, strings.HasPrefix(res.Header.Get("Location"), "/signin"), res.Header.Get("Location"))
}

// The session store reads the login and its tenant with the session row, so
// a signed-in page costs the session read and its own statements only.
func TestSignedInRequestReadsLoginWithSession(t *testing.T) {
	t.Parallel()
	leanApp(t, func(t *testing.T, env *apptest.Env, f *apptest.Fixture) {
		c := env.Client()
		c.SignIn(f.Primary.Email)
		c.Get("/logins")
		res, n := statementsOf(env, c, "/logins")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="user-name"`)
		// The session row with its login and tenant; the list. (Three before
		// the session store read the login: ForSession was a second query.)
		require.Equal(t, int64(2), n)

		// A session row without login_id (written before the column existed)
		// still works, with the login loaded by a query of its own.
		_, err := env.App.DB.Bun.NewUpdate().Table("sessions").Set("login_id = NULL").Where("true").Exec(context.Background())
		require.NoError(t, err)
		res, n = statementsOf(env, c, "/logins")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="user-name"`)
		require.Equal(t, int64(3), n)
	})
}

// Ending sessions works the same with the login read alongside the session:
// the request that finds the session ended costs the session read and its
// deletion, and no query of the login.
func TestSessionEndsWithLoginReadWithSession(t *testing.T) {
	t.Parallel()
	invalidate := map[string]func(t *testing.T, env *apptest.Env, f *apptest.Fixture, tech *login.Login){
		"disabled": func(t *testing.T, env *apptest.Env, _ *apptest.Fixture, tech *login.Login) {
			_, err := env.App.DB.Bun.NewUpdate().Table("logins").Set("status = ?", login.StatusDisabled).
				Where("id = ?", tech.ID).Exec(context.Background())
			require.NoError(t, err)
		},
		// What a password change does to the login's other sessions.
		"sessions invalidated": func(t *testing.T, env *apptest.Env, _ *apptest.Fixture, tech *login.Login) {
			_, err := env.App.DB.Bun.NewUpdate().Table("logins").Set("sessions_valid_after = ?", time.Now().UTC().Add(time.Second)).
				Where("id = ?", tech.ID).Exec(context.Background())
			require.NoError(t, err)
		},
		"role changed": func(t *testing.T, env *apptest.Env, f *apptest.Fixture, tech *login.Login) {
			admin := env.Client()
			admin.SignIn(f.Primary.Email)
			res := admin.PostForm("/logins/"+tech.ID, url.Values{"first_name": {"Tess"}, "last_name": {"Tester"},
				"email": {tech.Email}, "role": {string(login.RoleSuper)}})
			require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		},
	}
	for name, fn := range invalidate {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			leanApp(t, func(t *testing.T, env *apptest.Env, f *apptest.Fixture) {
				tech := env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
				c := env.Client()
				c.SignIn(tech.Email)
				res, n := statementsOf(env, c, "/")
				require.Equal(t, http.StatusOK, res.StatusCode)
				require.Positive(t, n)

				fn(t, env, f, tech)
				res, n = statementsOf(env, c, "/")
				requireSignInRedirect(t, res)
				require.Equal(t, int64(2), n, "the session with its login, then its deletion")
				requireSignInRedirect(t, c.Get("/"))
				cnt, err := env.App.DB.Bun.NewSelect().Table("sessions").Where("login_id = ?", tech.ID).Count(context.Background())
				require.NoError(t, err)
				require.Zero(t, cnt, "the ended session's row is gone")
			})
		})
	}

	// A deleted login has no row to read with the session: the login is
	// looked up on its own, is not found, and the session ends.
	t.Run("deleted", func(t *testing.T) {
		t.Parallel()
		leanApp(t, func(t *testing.T, env *apptest.Env, f *apptest.Fixture) {
			tech := env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
			c := env.Client()
			c.SignIn(tech.Email)
			require.Equal(t, http.StatusOK, c.Get("/").StatusCode)
			_, err := env.App.DB.Bun.NewDelete().Model((*login.Login)(nil)).Where("id = ?", tech.ID).Exec(context.Background())
			require.NoError(t, err)
			res, n := statementsOf(env, c, "/")
			requireSignInRedirect(t, res)
			require.Equal(t, int64(3), n, "the session, the login on its own, the session's deletion")
			requireSignInRedirect(t, c.Get("/"))
		})
	})
}

// A password set through an emailed link ends the login's other sessions.
func TestPasswordResetEndsOtherSessions(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		other := env.Client()
		other.SignIn(f.Primary.Email)
		require.Equal(t, http.StatusOK, other.Get("/").StatusCode)

		c := env.Client()
		c.Get("/forgot")
		require.Equal(t, http.StatusOK, c.PostForm("/forgot", url.Values{"email": {f.Primary.Email}}).StatusCode)
		path := strings.TrimPrefix(messageLink(t, env, f.Primary.Email, "login_password_reset"), "http://latchkey.test")
		const newPW = "a brand new passphrase here"
		require.Equal(t, http.StatusSeeOther, c.PostForm(path, url.Values{"password": {newPW}, "confirm": {newPW}}).StatusCode)

		requireSignInRedirect(t, other.Get("/"))
	})
}
