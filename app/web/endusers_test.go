package web_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
	endusersv "github.com/latchkey/latchkey/views/pages/endusers"
)

// gridCustomer stores a customer of the tenant.
func gridCustomer(t *testing.T, env *apptest.Env, tenantID, name string) *customer.Customer {
	t.Helper()
	now := time.Now().UTC()
	c := &customer.Customer{ID: db.NewID(), TenantID: tenantID, Name: name, Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
	_, err := env.App.DB.Bun.NewInsert().Model(c).Exec(context.Background())
	require.NoError(t, err)
	return c
}

// gridUsers stores n end users of the customer (user000…), edit adjusting each.
func gridUsers(t *testing.T, env *apptest.Env, c *customer.Customer, n int, edit func(i int, u *enduser.EndUser)) []*enduser.EndUser {
	t.Helper()
	now := time.Now().UTC()
	var out []*enduser.EndUser
	for i := range n {
		u := &enduser.EndUser{ID: db.NewID(), TenantID: c.TenantID, CustomerID: c.ID, Username: fmt.Sprintf("user%03d", i),
			FirstName: "User", LastName: fmt.Sprintf("N%03d", i), Source: enduser.SourceCSV, CreatedAt: now, UpdatedAt: now}
		if edit != nil {
			edit(i, u)
		}
		out = append(out, u)
	}
	if len(out) > 0 {
		_, err := env.App.DB.Bun.NewInsert().Model(&out).Exec(context.Background())
		require.NoError(t, err)
	}
	return out
}

func gridGetUser(t *testing.T, env *apptest.Env, id string) *enduser.EndUser {
	t.Helper()
	u := new(enduser.EndUser)
	require.NoError(t, env.App.DB.Bun.NewSelect().Model(u).Where("id = ?", id).Scan(context.Background()))
	return u
}

func gridAudit(t *testing.T, env *apptest.Env, tenantID, action string) []audit.Event {
	t.Helper()
	var evs []audit.Event
	require.NoError(t, env.App.DB.Bun.NewSelect().Model(&evs).Where("tenant_id = ? AND action = ?", tenantID, action).Order("seq").Scan(context.Background()))
	return evs
}

// bodyHas checks that a page contains s without printing the whole page.
func bodyHas(t *testing.T, body, s string, msg ...any) {
	t.Helper()
	if !strings.Contains(body, s) {
		t.Fatalf("the response does not contain %q %v; it starts: %.600s", s, msg, body)
	}
}

func bodyLacks(t *testing.T, body, s string, msg ...any) {
	t.Helper()
	if i := strings.Index(body, s); i >= 0 {
		t.Fatalf("the response contains %q %v: …%.300s…", s, msg, body[max(0, i-150):])
	}
}

func htmx(target string) []string {
	return []string{"HX-Request", "true", "HX-Target", target}
}

func toastOf(t *testing.T, res *apptest.Response) (level, msg string) {
	t.Helper()
	var v struct {
		ShowToast struct{ Message, Level string } `json:"showToast"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.Header.Get("HX-Trigger")), &v), "HX-Trigger %q", res.Header.Get("HX-Trigger"))
	return v.ShowToast.Level, v.ShowToast.Message
}

func TestEndUserGridPagesAndPartials(t *testing.T) {
	t.Parallel()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			env := apptest.New(t, dia, apptest.Options{NoWorkers: true})
			f := env.Setup("Acme IT")
			tech := env.CreateLogin(f, login.RoleHelpDesk, "hank@acmeit.example")
			acme := gridCustomer(t, env, f.Tenant.ID, "Globex")
			gridUsers(t, env, acme, 120, func(i int, u *enduser.EndUser) {
				if i%2 == 0 {
					u.Email, u.Mobile = fmt.Sprintf("u%d@globex.example", i), "+447700900123"
				}
			})
			empty := gridCustomer(t, env, f.Tenant.ID, "Empty Co")
			c := env.Client()
			c.SignIn(tech.Email) // any role may use the grid

			res := c.Get("/end-users")
			require.Equal(t, http.StatusOK, res.StatusCode)
			bodyHas(t, res.Body, `data-testid="sidebar"`)
			bodyHas(t, res.Body, `data-testid="eu-row-user000"`)
			bodyHas(t, res.Body, `1–50 of 120 end users`)
			bodyHas(t, res.Body, `aria-sort="ascending"`)
			bodyLacks(t, res.Body, `hx-swap-oob`)

			// Page 3 as a link would load it, and as htmx gets the results alone.
			res = c.Get("/end-users?page=3&status=registered&sort=username&dir=desc&junk=1", htmx("eu-results")...)
			require.Equal(t, http.StatusOK, res.StatusCode)
			bodyLacks(t, res.Body, `data-testid="sidebar"`)
			bodyHas(t, res.Body, `id="eu-sort-fields" class="eu-sort-fields" hx-swap-oob="true"`)
			bodyHas(t, res.Body, `51–60 of 60 end users`, "the last page of 60 registered end users")
			require.Equal(t, "/end-users?dir=desc&page=2&sort=username&status=registered", res.Header.Get("HX-Push-Url"),
				"a page past the end shows the last page; the URL is canonical")
			require.Contains(t, res.Header.Values("Vary"), "HX-Target")
			// A selection change is not pushed to history.
			res = c.Get("/end-users?status=registered&select=none&select=page", htmx("eu-results")...)
			require.Empty(t, res.Header.Get("HX-Push-Url"))
			bodyHas(t, res.Body, `data-testid="eu-select-banner"`)
			bodyHas(t, res.Body, `Select all 60 matching this filter`)
			res = c.Get("/end-users?status=registered&select=all", htmx("eu-results")...)
			bodyHas(t, res.Body, `<input type="hidden" name="all" value="1">`)
			// A history restore gets the full page.
			res = c.Get("/end-users?status=registered", "HX-Request", "true", "HX-History-Restore-Request", "true")
			bodyHas(t, res.Body, `data-testid="sidebar"`)

			// The customer's grid; empty states.
			res = c.Get("/customers/" + acme.ID + "/end-users")
			require.Equal(t, http.StatusOK, res.StatusCode)
			bodyHas(t, res.Body, "End users of Globex")
			bodyHas(t, res.Body, `href="/customers/`+acme.ID+`/end-users/import"`)
			res = c.Get("/customers/" + empty.ID + "/end-users")
			bodyHas(t, res.Body, `data-testid="eu-empty-import"`)
			res = c.Get("/customers/"+acme.ID+"/end-users?q=nobody", htmx("eu-results")...)
			bodyHas(t, res.Body, `data-testid="eu-clear-filters"`)
			bodyLacks(t, res.Body, `data-testid="eu-empty-import"`)
			require.Equal(t, "/customers/"+acme.ID+"/end-users?q=nobody", res.Header.Get("HX-Push-Url"))

			// Statements: session, login with tenant, the grid (and the
			// customer filter's options on a full tenant-wide page).
			c.Get("/end-users?status=registered&sort=expires")
			before := env.Statements()
			res = c.Get("/end-users?status=registered&sort=expires")
			require.Equal(t, http.StatusOK, res.StatusCode)
			require.LessOrEqual(t, env.Statements()-before, int64(4))
			before = env.Statements()
			c.Get("/end-users?status=registered&sort=expires", htmx("eu-results")...)
			require.LessOrEqual(t, env.Statements()-before, int64(3))
			before = env.Statements()
			c.Get("/customers/" + acme.ID + "/end-users?self_serve=off&sort=email")
			require.LessOrEqual(t, env.Statements()-before, int64(4))
		})
	}
}

func TestEndUserInlineEdit(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cust := gridCustomer(t, env, f.Tenant.ID, "Globex")
		u := gridUsers(t, env, cust, 1, func(_ int, u *enduser.EndUser) {
			u.Email, u.EmailSource, u.Source = "ann@globex.example", enduser.ValueDirectory, enduser.SourceAD
		})[0]
		c := env.Client()
		c.SignIn(f.Primary.Email)

		res := c.Get("/end-users/"+u.ID+"/edit/mobile", "HX-Request", "true")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.True(t, strings.HasPrefix(strings.TrimSpace(res.Body), "<td"), "the editing cell alone")
		bodyHas(t, res.Body, `data-testid="eu-input-mobile"`)
		bodyHas(t, res.Body, `data-escape-cancel`)
		res = c.Get("/end-users/"+u.ID+"/edit/username", "HX-Request", "true")
		require.Equal(t, http.StatusNotFound, res.StatusCode)

		// Invalid: the row comes back editing, with the message (422 is swapped).
		res = c.PostForm("/end-users/"+u.ID+"/contact/mobile", url.Values{"value": {"07700 900123"}}, "HX-Request", "true")
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.True(t, strings.HasPrefix(strings.TrimSpace(res.Body), "<tr"))
		bodyHas(t, res.Body, `data-testid="eu-error-mobile"`)
		bodyHas(t, res.Body, "country code")
		bodyHas(t, res.Body, `value="07700 900123"`)

		// Valid: the whole row, with the new status and source marker.
		res = c.PostForm("/end-users/"+u.ID+"/contact/mobile", url.Values{"value": {"+44 7700 900123"}, "via": {"enter"}}, "HX-Request", "true")
		require.Equal(t, http.StatusOK, res.StatusCode)
		bodyHas(t, res.Body, `data-status="registered"`)
		bodyHas(t, res.Body, "+447700900123")
		bodyHas(t, res.Body, `title="typed by a technician"`)
		bodyHas(t, res.Body, `title="from Active Directory"`)
		bodyHas(t, res.Body, `data-autofocus`, "Enter keeps the keyboard on the cell")
		require.Equal(t, "+447700900123", gridGetUser(t, env, u.ID).Mobile)

		// Clearing the email drops the status; the cancel route gives the row.
		res = c.PostForm("/end-users/"+u.ID+"/contact/email", url.Values{"value": {""}}, "HX-Request", "true")
		require.Equal(t, http.StatusOK, res.StatusCode)
		bodyHas(t, res.Body, `data-status="not_registered"`)
		res = c.Get("/end-users/"+u.ID+"/row", "HX-Request", "true")
		bodyHas(t, res.Body, `data-status="not_registered"`)
		require.Len(t, gridAudit(t, env, f.Tenant.ID, "enduser.contact_update"), 2)
	})
}

func TestEndUserSelfServeSwitchAndTenantOverride(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cust := gridCustomer(t, env, f.Tenant.ID, "Globex")
		us := gridUsers(t, env, cust, 3, nil)
		tech := env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
		c := env.Client()
		c.SignIn(tech.Email)

		res := c.PostForm("/end-users/"+us[0].ID+"/self-serve", url.Values{"on": {"1"}}, "HX-Request", "true")
		require.Equal(t, http.StatusOK, res.StatusCode)
		bodyHas(t, res.Body, `data-testid="eu-waiting"`, "on, but waiting for an email and a mobile")
		_, msg := toastOf(t, res)
		require.Contains(t, msg, "Self-serve is on for")
		require.True(t, gridGetUser(t, env, us[0].ID).SelfServeEnabled)
		res = c.PostForm("/end-users/"+us[0].ID+"/self-serve", url.Values{}, "HX-Request", "true")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.False(t, gridGetUser(t, env, us[0].ID).SelfServeEnabled)

		// The tenant-wide switch off: greyed out, explained, refused.
		_, err := env.App.DB.Bun.NewUpdate().Table("tenants").Set("self_serve_enabled = FALSE").Where("id = ?", f.Tenant.ID).Exec(context.Background())
		require.NoError(t, err)
		res = c.Get("/end-users")
		bodyHas(t, res.Body, `data-testid="eu-tenant-off"`)
		bodyHas(t, res.Body, `<strong id="eu-tenant-off-desc">`+enduser.TenantSwitchOff+`</strong>`)
		require.Equal(t, 3, strings.Count(res.Body, `aria-describedby="eu-tenant-off-desc" data-testid="eu-switch"`), "every switch is disabled and described")
		require.Equal(t, 3, strings.Count(res.Body, `<label class="switch eu-switch" title="`+enduser.TenantSwitchOff+`">`), "with a tooltip")
		bodyHas(t, res.Body, `disabled title="`+enduser.TenantSwitchOff+`" aria-describedby="eu-tenant-off-desc" data-testid="eu-bulk-enable"`)
		res = c.PostForm("/end-users/"+us[1].ID+"/self-serve", url.Values{"on": {"1"}}, "HX-Request", "true")
		require.Equal(t, http.StatusConflict, res.StatusCode)
		_, msg = toastOf(t, res)
		require.Equal(t, enduser.TenantSwitchOff, msg)
		res = c.PostForm("/end-users/bulk/self-serve", url.Values{"all": {"1"}, "on": {"1"}}, "HX-Request", "true", "HX-Target", "eu-results")
		require.Equal(t, http.StatusConflict, res.StatusCode)
		res = c.PostForm("/end-users/"+us[1].ID+"/self-serve", url.Values{"on": {"1"}})
		require.Equal(t, http.StatusConflict, res.StatusCode)
		for _, u := range us {
			require.False(t, gridGetUser(t, env, u.ID).SelfServeEnabled)
		}
		require.Equal(t, endusersv.TenantOffText, enduser.TenantSwitchOff)
	})
}

func TestEndUserBulkSelfServe(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		other := env.Setup("Other MSP")
		cust := gridCustomer(t, env, f.Tenant.ID, "Globex")
		us := gridUsers(t, env, cust, 70, func(i int, u *enduser.EndUser) {
			if i < 60 {
				u.Source = enduser.SourceAD
			}
		})
		foreign := gridUsers(t, env, gridCustomer(t, env, other.Tenant.ID, "Umbrella"), 3, func(_ int, u *enduser.EndUser) { u.Source = enduser.SourceAD })
		c := env.Client()
		c.SignIn(f.Primary.Email)

		// Nothing selected: a toast, nothing swapped.
		res := c.PostForm("/end-users/bulk/self-serve", url.Values{"on": {"1"}}, htmx("eu-results")...)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "none", res.Header.Get("HX-Reswap"))
		level, _ := toastOf(t, res)
		require.Equal(t, "warn", level)

		// By ids, another tenant's ids and a tenant_id field included: ignored.
		res = c.PostForm("/end-users/bulk/self-serve", url.Values{"on": {"1"}, "ids": {us[0].ID, us[1].ID, foreign[0].ID},
			"tenant_id": {other.Tenant.ID}, "source": {"ad"}, "page": {"2"}}, htmx("eu-results")...)
		require.Equal(t, http.StatusOK, res.StatusCode)
		_, msg := toastOf(t, res)
		require.Equal(t, "Self-serve enabled for 2 end users.", msg)
		require.Contains(t, res.Header.Get("HX-Trigger"), `"eu-refresh":true`, "the grid refreshes itself")
		require.Equal(t, "none", res.Header.Get("HX-Reswap"))
		require.Empty(t, res.Body, "the answer is the change alone")
		require.False(t, gridGetUser(t, env, foreign[0].ID).SelfServeEnabled)
		// The refresh: the results fetch their own view, nothing selected.
		page := c.Get("/end-users?source=ad&page=2")
		bodyHas(t, page.Body, `hx-get="/end-users?page=2&amp;select=none&amp;source=ad" hx-trigger="eu-refresh from:body"`)
		res = c.Get("/end-users?page=2&select=none&source=ad", htmx("eu-results")...)
		bodyHas(t, res.Body, "51–60 of 60 end users", "the same view (filter and page) comes back")
		require.Empty(t, res.Header.Get("HX-Push-Url"), "a refresh is no new history entry")

		// All matching the filter (every page), on a customer's grid.
		res = c.PostForm("/end-users/bulk/self-serve", url.Values{"on": {"1"}, "all": {"1"}, "source": {"ad"},
			"customer": {cust.ID}, "view": {"customer"}}, htmx("eu-results")...)
		require.Equal(t, http.StatusOK, res.StatusCode)
		_, msg = toastOf(t, res)
		require.Equal(t, "Self-serve enabled for 58 end users.", msg)
		require.Contains(t, res.Header.Get("HX-Trigger"), `"eu-refresh":true`)
		for i, u := range us {
			require.Equal(t, i < 60, gridGetUser(t, env, u.ID).SelfServeEnabled, u.Username)
		}
		for _, u := range foreign {
			require.False(t, gridGetUser(t, env, u.ID).SelfServeEnabled)
		}
		evs := gridAudit(t, env, f.Tenant.ID, "enduser.bulk_self_serve")
		require.Len(t, evs, 2, "one event per bulk action")
		require.Contains(t, evs[1].Target, "source=ad")
		require.Empty(t, gridAudit(t, env, other.Tenant.ID, "enduser.bulk_self_serve"))

		// Without htmx: back to the grid with a message.
		res = c.PostForm("/end-users/bulk/self-serve", url.Values{"on": {"0"}, "all": {"1"}, "source": {"ad"}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Equal(t, "/end-users?source=ad", res.Header.Get("Location"))
		bodyHas(t, c.Get("/end-users?source=ad").Body, "Self-serve disabled for 60 end users.")
	})
}

// TestEndUserBulkSelfServeMessages checks that the bulk toast says what
// happened: privileged accounts left off are named, and ids that are not in
// the lists are not "already on".
func TestEndUserBulkSelfServeMessages(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		other := env.Setup("Other MSP")
		cust := gridCustomer(t, env, f.Tenant.ID, "Globex")
		us := gridUsers(t, env, cust, 4, func(i int, u *enduser.EndUser) { u.Privileged = i < 2 })
		foreign := gridUsers(t, env, gridCustomer(t, env, other.Tenant.ID, "Umbrella"), 1, nil)
		c := env.Client()
		c.SignIn(f.Primary.Email)
		bulk := func(on string, ids ...string) (string, string) {
			t.Helper()
			res := c.PostForm("/end-users/bulk/self-serve", url.Values{"on": {on}, "ids": ids}, htmx("eu-results")...)
			require.Equal(t, http.StatusOK, res.StatusCode)
			return toastOf(t, res)
		}
		const left1 = "1 privileged account was left off: self-serve is not turned on in bulk for privileged accounts (domain admins and the like). If it really needs self-serve, use its own switch."

		level, msg := bulk("1", us[0].ID)
		require.Equal(t, "warn", level)
		require.Equal(t, "Nothing changed. "+left1, msg, "not \"already on\"")
		require.False(t, gridGetUser(t, env, us[0].ID).SelfServeEnabled)

		level, msg = bulk("1", us[1].ID, us[2].ID)
		require.Equal(t, "ok", level)
		require.Equal(t, "Self-serve enabled for 1 end user. "+left1, msg)

		_, msg = bulk("1", us[0].ID, us[1].ID, us[3].ID)
		require.Equal(t, "Self-serve enabled for 1 end user. 2 privileged accounts were left off: self-serve is not turned on in bulk for privileged accounts (domain admins and the like). If one really needs self-serve, use its own switch.", msg)

		level, msg = bulk("1", us[2].ID, us[3].ID)
		require.Equal(t, "ok", level)
		require.Equal(t, "Nothing to change: self-serve was already on for the selected end users.", msg)

		// Another tenant's ids: nothing changes, and nothing is "already on".
		for _, on := range []string{"1", "0"} {
			level, msg = bulk(on, foreign[0].ID)
			require.Equal(t, "warn", level)
			require.Equal(t, "Nothing changed: none of the selected end users is in your lists any more (removed, or their customer archived). Reload the page to see the current list.", msg)
		}
		require.False(t, gridGetUser(t, env, foreign[0].ID).SelfServeEnabled)

		// A filter that matches nobody.
		res := c.PostForm("/end-users/bulk/self-serve", url.Values{"on": {"1"}, "all": {"1"}, "q": {"nobody-has-this"}}, htmx("eu-results")...)
		_, msg = toastOf(t, res)
		require.Equal(t, "No end user matches this view, so nothing changed.", msg)

		// Without htmx the same message comes back on the grid, as a warning.
		res = c.PostForm("/end-users/bulk/self-serve", url.Values{"on": {"1"}, "ids": {us[0].ID}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		bodyHas(t, c.Get(res.Header.Get("Location")).Body, "privileged account was left off")
	})
}

func TestEndUserCSVExport(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cust := gridCustomer(t, env, f.Tenant.ID, "Globex & Co")
		gridUsers(t, env, cust, 75, func(i int, u *enduser.EndUser) {
			if i == 7 {
				u.FirstName, u.LastName = "=cmd|' /C calc'!A0", "@SUM(1)"
			}
		})
		c := env.Client()
		c.SignIn(f.Primary.Email)
		res := c.Get("/customers/" + cust.ID + "/end-users.csv?sort=username&dir=desc&page=2")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))
		require.Regexp(t, `^attachment; filename="end-users-globex-co-\d{4}-\d{2}-\d{2}\.csv"$`, res.Header.Get("Content-Disposition"))
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		recs, err := csv.NewReader(strings.NewReader(res.Body)).ReadAll()
		require.NoError(t, err)
		require.Len(t, recs, 76, "all matching rows, not the page")
		require.Equal(t, "user074", recs[1][3])
		var evil []string
		for _, r := range recs {
			if r[3] == "user007" {
				evil = r
			}
		}
		require.Equal(t, "'=cmd|' /C calc'!A0", evil[1])
		require.Equal(t, "'@SUM(1)", evil[2])
		require.Len(t, gridAudit(t, env, f.Tenant.ID, "enduser.export"), 1)

		res = c.Get("/end-users.csv?q=user00")
		recs, err = csv.NewReader(strings.NewReader(res.Body)).ReadAll()
		require.NoError(t, err)
		require.Len(t, recs, 11)
	})
}

// TestEndUserRoutesOfAnotherTenantAreNotFound checks every object route and
// verb, with and without htmx, for another tenant's end user and customer.
func TestEndUserRoutesOfAnotherTenantAreNotFound(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		other := env.Setup("Other MSP")
		mine := gridCustomer(t, env, f.Tenant.ID, "Globex")
		gridUsers(t, env, mine, 2, nil)
		theirs := gridCustomer(t, env, other.Tenant.ID, "Umbrella")
		foreign := gridUsers(t, env, theirs, 1, func(_ int, u *enduser.EndUser) { u.Email = "x@umbrella.example" })[0]
		archived := gridCustomer(t, env, f.Tenant.ID, "Old Co")
		hidden := gridUsers(t, env, archived, 1, nil)[0]
		_, err := env.App.DB.Bun.NewUpdate().Table("customers").Set("archived_at = ?", time.Now().UTC()).Where("id = ?", archived.ID).Exec(context.Background())
		require.NoError(t, err)

		c := env.Client()
		c.SignIn(f.Primary.Email)
		for _, id := range []string{foreign.ID, hidden.ID, "01NOTANID"} {
			for _, hdr := range [][]string{nil, {"HX-Request", "true"}, htmx("eu-results")} {
				for _, p := range []string{"/end-users/" + id + "/row", "/end-users/" + id + "/edit/email", "/end-users/" + id + "/edit/mobile"} {
					require.Equal(t, http.StatusNotFound, c.Get(p, hdr...).StatusCode, "GET %s %v", p, hdr)
				}
				for _, p := range []string{"/end-users/" + id + "/contact/email", "/end-users/" + id + "/contact/mobile", "/end-users/" + id + "/self-serve"} {
					res := c.PostForm(p, url.Values{"value": {"a@b.example"}, "on": {"1"}, "tenant_id": {other.Tenant.ID}}, hdr...)
					require.Equal(t, http.StatusNotFound, res.StatusCode, "POST %s %v", p, hdr)
				}
			}
		}
		for _, id := range []string{theirs.ID, "01NOTANID"} {
			for _, hdr := range [][]string{nil, {"HX-Request", "true"}, htmx("eu-results")} {
				for _, p := range []string{"/customers/" + id + "/end-users", "/customers/" + id + "/end-users.csv"} {
					require.Equal(t, http.StatusNotFound, c.Get(p, hdr...).StatusCode, "GET %s %v", p, hdr)
				}
				res := c.PostForm("/end-users/bulk/self-serve", url.Values{"all": {"1"}, "on": {"1"}, "view": {"customer"}, "customer": {id}}, hdr...)
				require.Equal(t, http.StatusNotFound, res.StatusCode, "bulk on customer %s %v", id, hdr)
			}
		}
		// The tenant-wide grid and export never show another tenant's rows,
		// whatever tenant or customer the query names.
		for _, p := range []string{"/end-users?tenant_id=" + other.Tenant.ID, "/end-users?customer=" + theirs.ID, "/end-users.csv?customer=" + theirs.ID} {
			res := c.Get(p, "X-Tenant-ID", other.Tenant.ID)
			require.Equal(t, http.StatusOK, res.StatusCode)
			bodyLacks(t, res.Body, "umbrella")
			bodyLacks(t, res.Body, "Umbrella")
		}
		u := gridGetUser(t, env, foreign.ID)
		require.Equal(t, "x@umbrella.example", u.Email)
		require.False(t, u.SelfServeEnabled)

		// Signed out: sign in first.
		anon := env.Client()
		require.Equal(t, http.StatusSeeOther, anon.Get("/end-users").StatusCode)
	})
}
