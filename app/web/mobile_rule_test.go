package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
)

// TestMobileOneRuleGridAndImport: the grid's inline edit takes a number the
// CSV import takes ("0044 7700 900456"), and both refuse a national number
// with the same message saying what is accepted.
func TestMobileOneRuleGridAndImport(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cust := gridCustomer(t, env, f.Tenant.ID, "Globex")
		u := gridUsers(t, env, cust, 1, nil)[0]
		c := env.Client()
		c.SignIn(f.Primary.Email)

		res := c.PostForm("/end-users/"+u.ID+"/contact/mobile", url.Values{"value": {"0044 7700 900456"}}, "HX-Request", "true")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "+447700900456", gridGetUser(t, env, u.ID).Mobile)
		res = impUpload(t, c, cust.ID, "a.csv", "Username,Mobile\nann,0044 7700 900457\n")
		require.Equal(t, http.StatusOK, res.StatusCode)
		bodyHas(t, res.Body, setupTestID("import-ready"))

		const hint = "Type the number with + or 00 and its country code, like +44 7700 900123 or 0044 7700 900123."
		res = c.PostForm("/end-users/"+u.ID+"/contact/mobile", url.Values{"value": {"07700 900456"}}, "HX-Request", "true")
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		bodyHas(t, res.Body, hint)
		res = impUpload(t, c, cust.ID, "a.csv", "Username,Mobile\nann,07700 900456\n")
		bodyHas(t, res.Body, "Mobile &#34;07700 900456&#34;: "+hint)
	})
}
