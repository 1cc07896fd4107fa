package web_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
)

// A NUL character in the address or the query is answered 400 with words
// before any handler sends it to the database (neither database takes a
// statement with one in its text: a search, a filter, a sign-in or a bulk
// action with "%00" in it was a 500). In a form, a form's own check answers
// with a field message; where there is none, the database's refusal becomes
// the same 400, not a 500. The same requests without the NUL work as before.
func TestNULCharacterRefusedEverywhere(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cu := impCustomer(t, env, f.Tenant.ID, "Globex")
		const words = "contains a NUL character"
		refused := func(t *testing.T, res *apptest.Response, what string) {
			t.Helper()
			require.Equal(t, http.StatusBadRequest, res.StatusCode, "%s: %.300s", what, res.Body)
			require.Contains(t, res.Body, words, what)
		}

		// Signed out: the sign-in and forgotten-password forms.
		anon := env.Client()
		anon.Get("/signin") // a CSRF token
		refused(t, anon.PostForm("/signin", url.Values{"email": {"pat\x00@acme-it.example"}, "password": {"x"}}), "sign-in")
		refused(t, anon.PostForm("/forgot", url.Values{"email": {"pat@acme-it.example\x00"}}), "forgotten password")
		anon.Get("/self-serve")
		res := anon.PostForm("/self-serve/identify", url.Values{"purpose": {"reset"}, "identity": {"ann\x00@globex.com"}})
		require.Less(t, res.StatusCode, 500, "self-serve: %.300s", res.Body)
		res = anon.PostForm("/signin", url.Values{"email": {"nobody@acme-it.example"}, "password": {"wrong password"}})
		require.Less(t, res.StatusCode, 500, res.Body)
		require.NotEqual(t, http.StatusBadRequest, res.StatusCode)

		c := signedIn(env, f.Primary.Email)
		for _, path := range []string{
			"/end-users?q=a%00b", "/end-users?customer=%00", "/end-users.csv?q=%00", "/customers/" + cu.ID + "/end-users?q=%00",
			"/customers?q=%00", "/logins?q=a%00", "/events?actor=%00", "/events.csv?actor=%00", "/customers/a%00b", "/end-users?%00=1",
		} {
			refused(t, c.Get(path), path)
			clean := c.Get(stripNUL(path))
			require.Less(t, clean.StatusCode, 500, "%s without the NUL: %.300s", path, clean.Body)
		}
		// htmx: a toast, nothing swapped (400 is not swapped).
		res = c.Get("/end-users?q=%00", "HX-Request", "true", "HX-Target", "eu-results")
		require.Equal(t, http.StatusBadRequest, res.StatusCode)
		require.Contains(t, res.Header.Get("HX-Trigger"), words)

		// Forms, URL-encoded and multipart.
		refused(t, c.PostForm("/end-users/bulk/self-serve", url.Values{"all": {"1"}, "on": {"1"}, "q": {"x\x00"}}), "bulk switch")
		res = c.PostForm("/customers", url.Values{"name": {"Initech"}, "domains": {"initech\x00.com"}})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode, "the form's own check: %.300s", res.Body)
		require.Contains(t, res.Body, `value="Initech"`, "what was typed is kept")
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		require.NoError(t, w.WriteField("_csrf", c.CSRF()))
		require.NoError(t, w.WriteField("self_serve", "1\x00"))
		fw, err := w.CreateFormFile("file", "users.csv")
		require.NoError(t, err)
		_, err = fw.Write([]byte("username,first name,last name,email,mobile\nann,Ann,Lee,ann@globex.com,\n"))
		require.NoError(t, err)
		require.NoError(t, w.Close())
		res = c.PostRaw("/customers/"+cu.ID+"/end-users/import", w.FormDataContentType(), &body)
		require.Less(t, res.StatusCode, 500, "import form: %.300s", res.Body)
		res = c.PostForm("/end-users/bulk/self-serve", url.Values{"all": {"1"}, "on": {"1"}, "q": {"x"}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body) // done, back to the grid
	})
}

// stripNUL removes "%00" from a path.
func stripNUL(p string) string { return string(bytes.ReplaceAll([]byte(p), []byte("%00"), nil)) }
