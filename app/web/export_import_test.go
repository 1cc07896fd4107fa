package web_test

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/enduser"
)

// TestEndUserExportImportsBack: the CSV export keeps mobile numbers as they
// are (E.164, no quote), and the exported file, edited, imports into the
// customer: the export's other columns are ignored and named, a changed
// mobile is an update, and rows of another customer (a tenant-wide export)
// are rejected.
func TestEndUserExportImportsBack(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		globex := gridCustomer(t, env, f.Tenant.ID, "Globex")
		initech := gridCustomer(t, env, f.Tenant.ID, "Initech")
		gridUsers(t, env, globex, 3, func(i int, u *enduser.EndUser) {
			u.Email, u.EmailSource = "g"+string(rune('a'+i))+"@globex.example", enduser.ValueImport
			u.Mobile, u.MobileSource = "+44770090012"+string(rune('0'+i)), enduser.ValueImport
			if i == 2 {
				u.FirstName = "=HYPERLINK(\"http://x\")"
			}
		})
		// Initech's end user sorts after Globex's in the tenant-wide export
		// and has a username of its own, so that its row is rejected for its
		// customer alone (users of both named user000 came in either order).
		gridUsers(t, env, initech, 1, func(_ int, u *enduser.EndUser) { u.Username, u.LastName = "zed.initech", "Zed" })
		c := env.Client()
		c.SignIn(f.Primary.Email)

		res := c.Get("/customers/" + globex.ID + "/end-users.csv")
		require.Equal(t, http.StatusOK, res.StatusCode)
		recs, err := csv.NewReader(strings.NewReader(res.Body)).ReadAll()
		require.NoError(t, err)
		require.Len(t, recs, 4)
		require.Equal(t, "Mobile", recs[0][6])
		require.Equal(t, "+447700900120", recs[1][6], "a mobile number is exported as it is")
		require.Equal(t, `'=HYPERLINK("http://x")`, recs[3][1], "a formula is still defused")

		// The export as it is: every row unchanged, the other columns named.
		res = impUpload(t, c, globex.ID, "export.csv", res.Body)
		require.Equal(t, http.StatusOK, res.StatusCode)
		bodyHas(t, res.Body, setupTestID("import-ignored"))
		bodyHas(t, res.Body, `data-testid="import-ignored-columns">Customer, Email from, Mobile from, Source, Status, Self-serve, Self-serve active, Privileged, Locked, Password expires, Last self-serve access<`)
		bodyHas(t, res.Body, `data-testid="count-unchanged">3 unchanged<`)
		bodyHas(t, res.Body, `data-testid="count-rejected">0 rejected<`)

		// Edited in a spreadsheet: a new mobile (written with 00), the rest as exported.
		recs[1][6] = "0044 7700 900999"
		var b strings.Builder
		w := csv.NewWriter(&b)
		require.NoError(t, w.WriteAll(recs))
		res = impUpload(t, c, globex.ID, "export.csv", b.String())
		require.Equal(t, http.StatusOK, res.StatusCode)
		bodyHas(t, res.Body, `data-testid="count-update">1 to update<`)
		res = c.PostForm(impConfirmURL(t, res), url.Values{})
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "+447700900999", impEndUser(t, env, globex.ID, recs[1][3]).Mobile)
		require.Equal(t, `=HYPERLINK("http://x")`, impEndUser(t, env, globex.ID, recs[3][3]).FirstName, "the defusing quote is not imported")

		// The tenant-wide export imported into Globex: Initech's row is refused.
		res = c.Get("/end-users.csv")
		res = impUpload(t, c, globex.ID, "all.csv", res.Body)
		require.Equal(t, http.StatusOK, res.StatusCode)
		bodyHas(t, res.Body, `data-testid="count-rejected">1 rejected<`)
		bodyHas(t, res.Body, "This row belongs to the customer Initech, not Globex: import it into Initech instead.")
		bodyHas(t, res.Body, "Rows of another customer than Globex are rejected.")
	})
}
