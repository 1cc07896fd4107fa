package web_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/db"
)

// impCustomer stores a customer of the tenant directly (the customers UI is
// another area's).
func impCustomer(t *testing.T, env *apptest.Env, tenantID, name string) *customer.Customer {
	t.Helper()
	now := time.Now().UTC()
	c := &customer.Customer{ID: db.NewID(), TenantID: tenantID, Name: name, Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
	_, err := env.App.DB.Bun.NewInsert().Model(c).Exec(context.Background())
	require.NoError(t, err)
	return c
}

// impUpload posts a CSV file to a customer's import form.
func impUpload(t *testing.T, c *apptest.Client, customerID, name, content string, fields ...string) *apptest.Response {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	require.NoError(t, w.WriteField("_csrf", c.CSRF()))
	for i := 0; i+1 < len(fields); i += 2 {
		require.NoError(t, w.WriteField(fields[i], fields[i+1]))
	}
	fw, err := w.CreateFormFile("file", name)
	require.NoError(t, err)
	_, err = fw.Write([]byte(content))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return c.PostRaw("/customers/"+customerID+"/end-users/import", w.FormDataContentType(), &body)
}

var impConfirmAction = regexp.MustCompile(`action="(/customers/[^"]+/end-users/import/[^"]+/confirm)"`)

// impConfirmURL returns the preview's confirm form action.
func impConfirmURL(t *testing.T, res *apptest.Response) string {
	t.Helper()
	m := impConfirmAction.FindStringSubmatch(res.Body)
	require.NotNil(t, m, "the preview has a confirm form: %s", res.Body)
	return m[1]
}

func impEndUser(t *testing.T, env *apptest.Env, customerID, username string) *enduser.EndUser {
	t.Helper()
	u := new(enduser.EndUser)
	require.NoError(t, env.App.DB.Bun.NewSelect().Model(u).Where("customer_id = ? AND username = ?", customerID, username).Scan(context.Background()))
	return u
}

func TestEndUserImportPreviewConfirmSummary(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cu := impCustomer(t, env, f.Tenant.ID, "Globex")
		env.CreateLogin(f, login.RoleHelpDesk, "hank@acmeit.example")
		c := signedIn(env, "hank@acmeit.example") // the lowest role may import

		res := c.Get("/customers/" + cu.ID + "/end-users/import")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, testid("import-form"))
		require.Contains(t, res.Body, `value="`+enduser.ImportHeader+`"`)
		require.Regexp(t, `<input type="checkbox" role="switch" name="self_serve"`, res.Body)
		require.NotRegexp(t, `name="self_serve"[^>]*checked`, res.Body, "the switch is off by default")

		csv := "Username;First Name;Last Name;Email;Mobile\n" +
			"asmith;Ann;Smith;ann@globex.example;+64 21 555 0199\n" +
			"bjones;Bob;Jones;bob@;\n" +
			"cdoe;Cat;Doe;;\n"
		res = impUpload(t, c, cu.ID, "globex.csv", csv, "self_serve", "on")
		require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
		require.Contains(t, res.Body, testid("import-preview"))
		require.Contains(t, res.Body, testid("row-error-3"))
		require.Contains(t, res.Body, testid("import-rejected"))
		require.Contains(t, res.Body, "Import 2 valid rows (1 rejected row will be skipped)")
		require.Regexp(t, `data-testid="count-create">2 new<`, res.Body)
		require.Regexp(t, `data-testid="count-rejected">1 rejected<`, res.Body)
		require.Equal(t, 0, impCount(t, env, "end_users"), "a preview writes nothing")
		confirm := impConfirmURL(t, res)

		res = c.PostForm(confirm, url.Values{"self_serve": {"on"}})
		require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
		require.Contains(t, res.Body, testid("import-summary"))
		require.Regexp(t, `data-testid="summary-created">2<`, res.Body)
		require.Regexp(t, `data-testid="summary-rejected">1<`, res.Body)
		ann := impEndUser(t, env, cu.ID, "asmith")
		require.Equal(t, "+64215550199", ann.Mobile)
		require.Equal(t, enduser.SourceCSV, ann.Source)
		require.True(t, ann.SelfServeEnabled)
		require.Equal(t, 1, auditCount(t, env, "enduser.import", cu.ID))

		// The same confirmation again: the upload is gone.
		res = c.PostForm(confirm, url.Values{})
		require.Equal(t, http.StatusConflict, res.StatusCode)
		require.Contains(t, res.Body, testid("error-file"))

		// The same file again: nothing new, nothing changes.
		res = impUpload(t, c, cu.ID, "globex.csv", csv)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Regexp(t, `data-testid="count-unchanged">2 unchanged<`, res.Body)
		require.Contains(t, res.Body, testid("import-no-change"))
		res = c.PostForm(impConfirmURL(t, res), url.Values{})
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Regexp(t, `data-testid="summary-unchanged">2<`, res.Body)
		require.Equal(t, 2, impCount(t, env, "end_users"))

		// Another login of the tenant cannot confirm someone else's upload.
		res = impUpload(t, c, cu.ID, "globex.csv", "username\ndora\n")
		confirm = impConfirmURL(t, res)
		other := signedIn(env, f.Primary.Email)
		res = other.PostForm(confirm, url.Values{})
		require.Equal(t, http.StatusConflict, res.StatusCode)
		require.Equal(t, 2, impCount(t, env, "end_users"))
	})
}

func impCount(t *testing.T, env *apptest.Env, table string) int {
	t.Helper()
	n, err := env.App.DB.Bun.NewSelect().Table(table).Count(context.Background())
	require.NoError(t, err)
	return int(n)
}

func TestEndUserImportFileProblems(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cu := impCustomer(t, env, f.Tenant.ID, "Globex")
		c := signedIn(env, f.Primary.Email)
		path := "/customers/" + cu.ID + "/end-users/import"

		res := c.PostForm(path, url.Values{})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, testid("error-file"))

		res = impUpload(t, c, cu.ID, "extra.csv", "Username,Department,Office\nann,IT,HQ\n")
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, testid("error-file"))
		require.Contains(t, res.Body, "Department")
		require.Contains(t, res.Body, "Office")

		// Only rejected rows: a preview without a confirm form.
		res = impUpload(t, c, cu.ID, "bad.csv", "Username,Email\nann,nope\n")
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, testid("import-nothing"))
		require.NotContains(t, res.Body, testid("import-confirm"))
		require.Equal(t, 0, impCount(t, env, "import_uploads"))

		// Over 10 MB: a clear message; over the 12 MB body limit: 413, also chunked.
		big := "Username,First Name\n" + strings.Repeat("u,"+strings.Repeat("x", 1000)+"\n", (10<<20)/1000+10)
		res = impUpload(t, c, cu.ID, "big.csv", big)
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, "larger than 10 MB")
		res = impUpload(t, c, cu.ID, "huge.csv", strings.Repeat("x", 13<<20))
		require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
		require.Contains(t, res.Body, testid("error-file"))
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		require.NoError(t, w.WriteField("_csrf", c.CSRF()))
		fw, err := w.CreateFormFile("file", "chunked.csv")
		require.NoError(t, err)
		_, err = fw.Write([]byte(strings.Repeat("x", 13<<20)))
		require.NoError(t, err)
		require.NoError(t, w.Close())
		res = c.PostRaw(path, w.FormDataContentType(), io.MultiReader(&body))
		require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
		require.Contains(t, res.Body, "larger than 10 MB")
	})
}

func TestEndUserImportOtherTenantIsNotFound(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		g := env.Setup("Other MSP")
		mine := impCustomer(t, env, f.Tenant.ID, "Globex")
		theirs := impCustomer(t, env, g.Tenant.ID, "Theirs")
		c := signedIn(env, f.Primary.Email)

		// An upload of my own, then every route and verb on their customer.
		res := impUpload(t, c, mine.ID, "a.csv", "username\nann\n")
		require.Equal(t, http.StatusOK, res.StatusCode)
		myConfirm := impConfirmURL(t, res)
		upload := strings.TrimSuffix(strings.TrimPrefix(myConfirm, "/customers/"+mine.ID+"/end-users/import/"), "/confirm")

		base := "/customers/" + theirs.ID + "/end-users/import"
		require.Equal(t, http.StatusNotFound, c.Get(base).StatusCode)
		require.Equal(t, http.StatusNotFound, impUpload(t, c, theirs.ID, "a.csv", "username\nann\n").StatusCode)
		require.Equal(t, http.StatusNotFound, c.PostForm(base+"/"+upload+"/confirm", url.Values{}).StatusCode)
		require.Equal(t, http.StatusNotFound, c.Get("/customers/nope/end-users/import").StatusCode)
		res = impUpload(t, c, theirs.ID, "huge.csv", strings.Repeat("x", 13<<20))
		require.Equal(t, http.StatusNotFound, res.StatusCode, "the too-large answer checks the customer too")
		require.Equal(t, 0, impCount(t, env, "end_users"))

		// Their Primary cannot confirm my upload on their customer either.
		them := signedIn(env, g.Primary.Email)
		require.Equal(t, http.StatusConflict, them.PostForm(base+"/"+upload+"/confirm", url.Values{}).StatusCode)
		require.Equal(t, http.StatusNotFound, them.PostForm(myConfirm, url.Values{}).StatusCode)
		require.Equal(t, 0, impCount(t, env, "end_users"))

		// Signed out: sign in first.
		res = env.Client().Get(base)
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
	})
}

// TestEndUserImportArchivedCustomerIsRefused checks every route and verb of
// the import for an archived customer: a 409 page that says why and points to
// the customer's page (Restore), and nothing stored or imported.
func TestEndUserImportArchivedCustomerIsRefused(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cu := impCustomer(t, env, f.Tenant.ID, "Globex")
		c := signedIn(env, f.Primary.Email)
		// An upload previewed before the customer was archived.
		res := impUpload(t, c, cu.ID, "a.csv", "username\nann\n")
		require.Equal(t, http.StatusOK, res.StatusCode)
		confirm := impConfirmURL(t, res)
		_, err := env.App.DB.Bun.NewUpdate().Model((*customer.Customer)(nil)).Set("archived_at = ?", time.Now().UTC()).
			Where("id = ?", cu.ID).Exec(context.Background())
		require.NoError(t, err)
		uploads := impCount(t, env, "import_uploads")

		refused := func(res *apptest.Response, what string) {
			t.Helper()
			require.Equal(t, http.StatusConflict, res.StatusCode, what)
			bodyHas(t, res.Body, setupTestID("import-archived"), what)
			bodyHas(t, res.Body, "Globex is archived, so no end users can be imported into it", what)
			bodyHas(t, res.Body, `href="/customers/`+cu.ID+`" data-testid="import-archived-restore"`, what)
			bodyLacks(t, res.Body, setupTestID("import-form"), what)
		}
		refused(c.Get("/customers/"+cu.ID+"/end-users/import"), "GET")
		refused(impUpload(t, c, cu.ID, "a.csv", "username\nbob\n"), "POST upload")
		refused(c.PostForm(confirm, url.Values{}), "POST confirm")
		refused(impUpload(t, c, cu.ID, "huge.csv", strings.Repeat("x", 13<<20)), "POST too large")
		require.Equal(t, uploads, impCount(t, env, "import_uploads"), "nothing stored")
		require.Equal(t, 0, impCount(t, env, "end_users"), "nothing imported")

		// Restored: the import opens again.
		_, err = env.App.DB.Bun.NewUpdate().Model((*customer.Customer)(nil)).Set("archived_at = NULL").Where("id = ?", cu.ID).Exec(context.Background())
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, c.Get("/customers/"+cu.ID+"/end-users/import").StatusCode)
	})
}
