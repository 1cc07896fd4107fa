package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/login"
)

// rpSite: a tenant with a customer whose directory (complexity on,
// minimum 10) is set up, a locked AD end user Ann, a technician and a Help
// desk login.
func rpSite(t *testing.T, env *apptest.Env) (*enduser.EndUser, *apptest.Client, *apptest.Client) {
	t.Helper()
	f := env.Setup("Acme IT")
	cu := impCustomer(t, env, f.Tenant.ID, "Globex")
	ann := ssEndUser(t, env, f.Tenant.ID, cu.ID, "ann", func(u *enduser.EndUser) { u.Locked = true })
	_, err := env.App.DB.Bun.NewInsert().Table("directory_settings").Model(&map[string]any{
		"customer_id": cu.ID, "tenant_id": f.Tenant.ID, "url": "ldaps://dc1.globex.example", "start_tls": false, "bind_user": "svc",
		"base_dn": "DC=globex,DC=example", "scope_kind": "base", "scope_dn": "", "ca_cert_pem": "", "skip_verify": false,
		"auto_import": false, "import_interval_min": 180, "enable_new_users": false, "version": 1,
		"policy_json": `{"source":"Domain policy","min_length":10,"complexity":true,"history_length":5}`, "updated_at": time.Now().UTC(),
	}).Exec(context.Background())
	require.NoError(t, err)
	env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
	env.CreateLogin(f, login.RoleHelpDesk, "hank@acmeit.example")
	return ann, signedIn(env, "tess@acmeit.example"), signedIn(env, "hank@acmeit.example")
}

// TestResetPanelForRolesThatMayReset: a Help desk login gets a note naming
// the roles that reset passwords, not a panel whose every request is
// refused; a refusal names the roles that may, not only Primary and Super.
func TestResetPanelForRolesThatMayReset(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		ann, tess, hank := rpSite(t, env)

		res := hank.Get("/end-users/" + ann.ID)
		require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
		for _, id := range []string{"reset-form", "reset-password", "rp-generate", "unlock-submit"} {
			require.NotContains(t, res.Body, testid(id), id)
		}
		bodyHas(t, res.Body, testid("enduser-not-ready"))
		bodyHas(t, res.Body, "Password resets and unlocks are done by Primary, Super and Technician logins; your role (Help desk) cannot change this account&#39;s password.")

		res = hank.PostForm("/end-users/"+ann.ID+"/reset", url.Values{"password": {"Brand-New-Pass-1"}}, htmx("#directory-result")...)
		require.Equal(t, http.StatusForbidden, res.StatusCode)
		require.Contains(t, res.Header.Get("HX-Trigger"), "Your role (Help desk) does not allow this. Ask a Primary, Super or Technician login.")
		res = hank.PostForm("/end-users/"+ann.ID+"/verify/unblock", nil, htmx("#verify-panel")...)
		require.Equal(t, http.StatusForbidden, res.StatusCode)
		require.Contains(t, res.Header.Get("HX-Trigger"), "Ask a Primary or Super login.", "admin routes still name the admins")

		res = tess.Get("/end-users/" + ann.ID)
		bodyHas(t, res.Body, testid("reset-form"))
		bodyHas(t, res.Body, `data-rp-name="Ann`)
	})
}

// TestResetPanelGeneratorSaysWhatItDid: with Numbers and Symbols off and
// the directory's complexity rule on, the panel says digits are added, and
// the generated password's description says so; a length outside the
// range says what was used.
func TestResetPanelGeneratorSaysWhatItDid(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		ann, tess, _ := rpSite(t, env)
		bodyHas(t, tess.Get("/end-users/"+ann.ID).Body, testid("rp-complexity-note"))

		value := regexp.MustCompile(`value="([^"]+)" autocomplete="new-password"`)
		res := tess.PostForm("/end-users/"+ann.ID+"/password/generate", url.Values{"kind": {"complex"}, "length": {"12"}}, htmx("#rp-field")...)
		require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
		m := value.FindStringSubmatch(res.Body)
		require.NotNil(t, m, res.Body)
		require.Regexp(t, `[0-9]`, m[1])
		bodyHas(t, res.Body, "with digits: the directory&#39;s complexity rule needs three kinds of character")

		res = tess.PostForm("/end-users/"+ann.ID+"/password/generate", url.Values{"kind": {"complex"}, "length": {"3"}, "numbers": {"on"}}, htmx("#rp-field")...)
		m = value.FindStringSubmatch(res.Body)
		require.NotNil(t, m, res.Body)
		require.Len(t, m[1], 10)
		bodyHas(t, res.Body, "complex password, 10 characters")
		bodyHas(t, res.Body, "(3 asked for: 10 to 99 here)")
	})
}
