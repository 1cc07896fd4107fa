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
)

// TestEndUserGridOfArchivedCustomer: an archived customer's end users are
// hidden, and its empty grid says so (offering to restore the customer to
// whoever may) instead of inviting an import.
func TestEndUserGridOfArchivedCustomer(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cust := gridCustomer(t, env, f.Tenant.ID, "Globex")
		gridUsers(t, env, cust, 3, nil)
		_, err := env.App.DB.Bun.NewUpdate().Table("customers").Set("archived_at = ?", time.Now().UTC()).Where("id = ?", cust.ID).Exec(context.Background())
		require.NoError(t, err)
		helpdesk := env.CreateLogin(f, login.RoleHelpDesk, "hank@acmeit.example")

		c := env.Client()
		c.SignIn(f.Primary.Email)
		res := c.Get("/customers/" + cust.ID + "/end-users")
		require.Equal(t, http.StatusOK, res.StatusCode)
		bodyHas(t, res.Body, `data-testid="eu-archived"`)
		bodyHas(t, res.Body, `data-testid="eu-empty-archived"`)
		bodyHas(t, res.Body, `action="/customers/`+cust.ID+`/unarchive"`)
		bodyHas(t, res.Body, `data-testid="eu-empty-restore"`)
		bodyLacks(t, res.Body, `data-testid="eu-empty-import"`)
		bodyLacks(t, res.Body, `data-testid="eu-import"`, "no import into an archived customer from here")
		bodyLacks(t, res.Body, "No end users yet")
		// A search on it: still the archived state, not "no match".
		res = c.Get("/customers/"+cust.ID+"/end-users?q=user", htmx("eu-results")...)
		bodyHas(t, res.Body, `data-testid="eu-empty-archived"`)

		// Restoring brings them back.
		res = c.PostForm("/customers/"+cust.ID+"/unarchive", url.Values{})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		res = c.Get("/customers/" + cust.ID + "/end-users")
		bodyHas(t, res.Body, `data-testid="eu-row-user000"`)
		bodyLacks(t, res.Body, `data-testid="eu-empty-archived"`)
		_, err = env.App.DB.Bun.NewUpdate().Table("customers").Set("archived_at = ?", time.Now().UTC()).Where("id = ?", cust.ID).Exec(context.Background())
		require.NoError(t, err)

		// A help desk login may not restore customers: no button.
		h := env.Client()
		h.SignIn(helpdesk.Email)
		res = h.Get("/customers/" + cust.ID + "/end-users")
		bodyHas(t, res.Body, `data-testid="eu-empty-archived"`)
		bodyLacks(t, res.Body, `data-testid="eu-empty-restore"`)
		bodyLacks(t, res.Body, `data-testid="eu-empty-import"`)
	})
}

// TestEndUserGridFocusAndSelectionMarkup checks what the browser needs to
// keep the keyboard's place and follow the selection: every save and a
// cancel put the focus back on the cell's button, rows stay untickable when
// every matching end user is selected, and the filters say how many are on.
func TestEndUserGridFocusAndSelectionMarkup(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cust := gridCustomer(t, env, f.Tenant.ID, "Globex")
		us := gridUsers(t, env, cust, 60, nil)
		c := env.Client()
		c.SignIn(f.Primary.Email)

		// Saved by leaving the field (no "via"): focus back on the cell's button.
		res := c.PostForm("/end-users/"+us[0].ID+"/contact/mobile", url.Values{"value": {"+44 7700 900123"}}, "HX-Request", "true")
		require.Equal(t, http.StatusOK, res.StatusCode)
		bodyHas(t, res.Body, `/edit/mobile" data-autofocus`)
		// Cancelled: the same.
		res = c.Get("/end-users/"+us[0].ID+"/row?focus=email", "HX-Request", "true")
		bodyHas(t, res.Body, `/edit/email" data-autofocus`)
		res = c.Get("/end-users/"+us[0].ID+"/row?focus=junk", "HX-Request", "true")
		bodyLacks(t, res.Body, `data-autofocus`)
		// The editor's cancel asks for that; the input is focused by the
		// page's script (which does not steal focus), not by autofocus.
		res = c.Get("/end-users/"+us[0].ID+"/edit/email", "HX-Request", "true")
		bodyHas(t, res.Body, `hx-get="/end-users/`+us[0].ID+`/row?focus=email"`)
		bodyLacks(t, res.Body, ` autofocus`)
		bodyHas(t, res.Body, `data-autofocus`)
		res = c.PostForm("/end-users/"+us[0].ID+"/contact/email", url.Values{"value": {"nope"}}, "HX-Request", "true")
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		bodyLacks(t, res.Body, ` autofocus`)
		bodyHas(t, res.Body, `role="alert"`)

		// Every matching end user selected: rows ticked, and untickable.
		res = c.Get("/end-users?select=all", htmx("eu-results")...)
		require.Equal(t, 50, strings.Count(res.Body, `form="eu-bulk" checked aria-label`))
		bodyLacks(t, res.Body, `form="eu-bulk" checked disabled`)
		bodyHas(t, res.Body, `All 60 matching selected`)
		res = c.Get("/end-users", htmx("eu-results")...)
		bodyHas(t, res.Body, `None selected`)

		// The filters' summary counts the filters on (not the search or sort).
		res = c.Get("/end-users?q=user&status=not_registered&source=csv&sort=email")
		bodyHas(t, res.Body, `Filters<span data-filters-active> (2 active)</span>`)
		res = c.Get("/end-users?q=user")
		bodyHas(t, res.Body, `data-testid="eu-filters-toggle"`)
		bodyHas(t, res.Body, `Filters<span data-filters-active></span>`)
	})
}
