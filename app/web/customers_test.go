package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
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
)

// custActor is a login of the fixture's tenant as a service actor.
func custActor(f *apptest.Fixture, l *login.Login) audit.Actor {
	return audit.Actor{TenantID: f.Tenant.ID, LoginID: l.ID, Name: l.Name(), Role: string(l.Role), IP: "127.0.0.1"}
}

// custCreate creates a customer in the fixture's tenant as its Primary.
func custCreate(t *testing.T, env *apptest.Env, f *apptest.Fixture, name, domains string) *customer.Customer {
	t.Helper()
	c, err := customer.NewService(env.App.DB, time.Now).Create(context.Background(), custActor(f, f.Primary), customer.Input{Name: name, Domains: domains})
	require.NoError(t, err)
	return c
}

// custEndUsers inserts n end users of customer c: every other one with
// email and mobile (Registration complete), the first one locked.
func custEndUsers(t *testing.T, env *apptest.Env, c *customer.Customer, n int) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	us := make([]*enduser.EndUser, n)
	for i := range us {
		us[i] = &enduser.EndUser{ID: db.NewID(), TenantID: c.TenantID, CustomerID: c.ID, Username: fmt.Sprintf("user%d", i),
			FirstName: "User", LastName: fmt.Sprint(i), Source: enduser.SourceManual, Locked: i == 0, CreatedAt: now, UpdatedAt: now}
		if i%2 == 1 {
			us[i].Email, us[i].Mobile = fmt.Sprintf("user%d@example.com", i), "+14155550100"
		}
	}
	_, err := env.App.DB.Bun.NewInsert().Model(&us).Exec(context.Background())
	require.NoError(t, err)
}

var custLocationRe = regexp.MustCompile(`^/customers/([a-z0-9]{26})$`)

// custCount is the text of a count cell of a customer's row or page.
func custCount(t *testing.T, body, key string) string {
	t.Helper()
	m := regexp.MustCompile(`data-testid="count-` + key + `"[^>]*>(?:<a [^>]*>)?(\d+)<`).FindStringSubmatch(body)
	require.NotNil(t, m, "count %s in page", key)
	return m[1]
}

func TestStatusSQLMatchesEndUser(t *testing.T) {
	t.Parallel()
	// app/customer repeats the status expression (app/enduser imports it).
	require.Equal(t, enduser.StatusSQL("eu."), customer.StatusSQL)
}

func TestCustomersCreateListAndShow(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		c := signedIn(env, f.Primary.Email)

		res := c.Get("/customers")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("customers-empty"))
		require.Contains(t, res.Body, `href="/customers/new" data-testid="create-first-customer"`)
		require.False(t, checklist(c.Get("/").Body)["customers"])

		require.Equal(t, http.StatusOK, c.Get("/customers/new").StatusCode)
		form := url.Values{"name": {"Contoso Ltd"}, "domains": {"contoso.com, https://contoso.net"}, "time_zone": {"Europe/Paris"}, "notes": {"VIP"}}
		res = c.PostForm("/customers", form)
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("error-domains"))
		require.Contains(t, res.Body, "contoso.com, https://contoso.net", "the form keeps what was typed")

		form.Set("domains", "contoso.com, Contoso.NET contoso.com")
		res = c.PostForm("/customers", form)
		require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
		m := custLocationRe.FindStringSubmatch(res.Header.Get("Location"))
		require.NotNil(t, m, res.Header.Get("Location"))
		id := m[1]
		require.Equal(t, 1, auditCount(t, env, "customer.create", id))

		// The same name again, in another case, is refused.
		form.Set("name", "CONTOSO LTD")
		res = c.PostForm("/customers", form)
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, "A customer with this name already exists.")

		res = c.Get("/customers/" + id)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="customer-name">Contoso Ltd<`)
		require.Contains(t, res.Body, `data-testid="customer-domains">contoso.com, contoso.net<`)
		require.Contains(t, res.Body, `href="/customers/`+id+`/end-users"`)
		require.Contains(t, res.Body, setupTestID("customer-actions"))
		require.Equal(t, "0", custCount(t, res.Body, "end_users"))

		res = c.Get("/customers")
		require.Contains(t, res.Body, setupTestID("customer-row-"+id))
		require.Contains(t, res.Body, `data-testid="customer-source">Manual<`)
		for _, k := range []string{"end_users", "self_serve", "registered", "accessed", "locked"} {
			require.Equal(t, "0", custCount(t, res.Body, k), k)
		}
		require.True(t, checklist(c.Get("/").Body)["customers"], "step 3 is done with a customer")

		// Edit.
		res = c.Get("/customers/" + id + "/edit")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, "contoso.com, contoso.net")
		res = c.PostForm("/customers/"+id, url.Values{"name": {""}, "domains": {"contoso.com"}})
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("error-name"))
		res = c.PostForm("/customers/"+id, url.Values{"name": {"Contoso"}, "domains": {"contoso.com"}, "time_zone": {""}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		got, err := customer.Get(context.Background(), env.App.DB.Bun, f.Tenant.ID, id)
		require.NoError(t, err)
		require.Equal(t, "Contoso", got.Name)
		require.Equal(t, "", got.TimeZone)
		require.Equal(t, 1, auditCount(t, env, "customer.update", id))
	})
}

func TestCustomersCountsArchiveAndDelete(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		tech := env.CreateLogin(f, login.RoleTechnician, "tess@acmeit.example")
		c := signedIn(env, tech.Email)
		full := custCreate(t, env, f, "Fabrikam", "fabrikam.com")
		custEndUsers(t, env, full, 5)
		empty := custCreate(t, env, f, "Empty Co", "")

		res := c.Get("/customers/" + full.ID)
		require.Equal(t, "5", custCount(t, res.Body, "end_users"))
		require.Equal(t, "2", custCount(t, res.Body, "registered"))
		require.Equal(t, "1", custCount(t, res.Body, "locked"))
		require.Contains(t, res.Body, setupTestID("delete-blocked"))
		require.Contains(t, res.Body, "Only a customer without end users can be deleted, and Fabrikam has 5 end users.")
		require.Contains(t, res.Body, "Archive it instead: nothing is lost, and you can restore it later.")
		require.NotContains(t, res.Body, "Remove or move", "Latchkey has no way to remove or move an end user")

		// Delete is refused while it has end users; the page says why.
		res = c.PostForm("/customers/"+full.ID+"/delete", nil)
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Equal(t, "/customers/"+full.ID, res.Header.Get("Location"))
		require.Contains(t, c.Get("/customers/"+full.ID).Body, "Fabrikam has 5 end users, so it cannot be deleted: only a customer without end users can be. Archive it instead")
		_, err := customer.Get(context.Background(), env.App.DB.Bun, f.Tenant.ID, full.ID)
		require.NoError(t, err)

		// Archive hides it from the list; the archived view shows it; restore brings it back.
		res = c.PostForm("/customers/"+full.ID+"/archive", nil)
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		list := c.Get("/customers").Body
		require.NotContains(t, list, setupTestID("customer-row-"+full.ID))
		require.Contains(t, list, setupTestID("customer-row-"+empty.ID))
		archived := c.Get("/customers?archived=1").Body
		require.Contains(t, archived, setupTestID("customer-row-"+full.ID))
		require.NotContains(t, archived, setupTestID("customer-row-"+empty.ID))
		page := c.Get("/customers/" + full.ID).Body
		require.Contains(t, page, setupTestID("customer-archived"))
		require.Contains(t, page, "Only a customer without end users can be deleted, and Fabrikam has 5 end users.")
		require.Contains(t, page, "It stays archived, out of the lists.")
		require.NotContains(t, page, "archive the customer instead", "it is archived already")
		require.NotContains(t, page, "Archive it instead")
		res = c.PostForm("/customers/"+full.ID+"/delete", nil)
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Contains(t, c.Get("/customers/"+full.ID).Body, "so it cannot be deleted: only a customer without end users can be. It stays archived, out of the lists.")
		res = c.PostForm("/customers/"+full.ID+"/unarchive", nil)
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Contains(t, c.Get("/customers").Body, setupTestID("customer-row-"+full.ID))

		// An empty customer is deleted.
		res = c.PostForm("/customers/"+empty.ID+"/delete", nil)
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Equal(t, "/customers", res.Header.Get("Location"))
		require.Equal(t, http.StatusNotFound, c.Get("/customers/"+empty.ID).StatusCode)
		require.Equal(t, 1, auditCount(t, env, "customer.delete", empty.ID))
		require.Equal(t, 1, auditCount(t, env, "customer.archive", full.ID))
		require.Equal(t, 1, auditCount(t, env, "customer.unarchive", full.ID))
	})
}

func TestCustomersHelpDeskViewsOnly(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cu := custCreate(t, env, f, "Contoso", "")
		help := env.CreateLogin(f, login.RoleHelpDesk, "hank@acmeit.example")
		c := signedIn(env, help.Email)

		res := c.Get("/customers")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("customer-row-"+cu.ID))
		require.NotContains(t, res.Body, setupTestID("new-customer"))
		res = c.Get("/customers/" + cu.ID)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.NotContains(t, res.Body, setupTestID("customer-actions"))
		require.NotContains(t, res.Body, setupTestID("action-edit"))

		require.Equal(t, http.StatusForbidden, c.Get("/customers/new").StatusCode)
		require.Equal(t, http.StatusForbidden, c.Get("/customers/"+cu.ID+"/edit").StatusCode)
		require.Equal(t, http.StatusForbidden, c.PostForm("/customers", url.Values{"name": {"Fabrikam"}}).StatusCode)
		for _, p := range []string{"", "/archive", "/unarchive", "/delete"} {
			require.Equal(t, http.StatusForbidden, c.PostForm("/customers/"+cu.ID+p, url.Values{"name": {"Mine"}}).StatusCode, p)
		}
		n, err := env.App.DB.Bun.NewSelect().Model((*customer.Customer)(nil)).Where("tenant_id = ?", f.Tenant.ID).Count(context.Background())
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		got, err := customer.Get(context.Background(), env.App.DB.Bun, f.Tenant.ID, cu.ID)
		require.NoError(t, err)
		require.Equal(t, "Contoso", got.Name)
		require.Nil(t, got.ArchivedAt)
	})
}

func TestCustomersOfAnotherTenantNotFound(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		cu := custCreate(t, env, f, "Contoso", "contoso.com")
		other := env.Setup("Other MSP")
		c := signedIn(env, other.Primary.Email)

		for _, hx := range [][]string{nil, {"HX-Request", "true"}, {"HX-Request", "true", "HX-Target", "customers-results"}} {
			require.Equal(t, http.StatusNotFound, c.Get("/customers/"+cu.ID, hx...).StatusCode, hx)
			require.Equal(t, http.StatusNotFound, c.Get("/customers/"+cu.ID+"/edit", hx...).StatusCode, hx)
			for _, p := range []string{"", "/archive", "/unarchive", "/delete"} {
				res := c.PostForm("/customers/"+cu.ID+p, url.Values{"name": {"Mine"}, "tenant_id": {other.Tenant.ID}}, hx...)
				require.Equal(t, http.StatusNotFound, res.StatusCode, "POST %s %v", p, hx)
			}
		}
		res := c.Get("/customers?q=contoso")
		require.NotContains(t, res.Body, cu.ID)
		require.Contains(t, res.Body, setupTestID("customers-empty"))

		got, err := customer.Get(context.Background(), env.App.DB.Bun, f.Tenant.ID, cu.ID)
		require.NoError(t, err)
		require.Equal(t, "Contoso", got.Name)
		require.Nil(t, got.ArchivedAt)
		// The other tenant may use the same name: names are unique per tenant.
		res = c.PostForm("/customers", url.Values{"name": {"Contoso"}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
	})
}

func TestCustomersListSearchSortAndPages(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		var many *customer.Customer
		for i := range 60 {
			cu := custCreate(t, env, f, fmt.Sprintf("Customer %02d", i), fmt.Sprintf("c%02d.example.com", i))
			if i == 42 {
				many = cu
			}
		}
		custEndUsers(t, env, many, 3)
		c := signedIn(env, f.Primary.Email)

		res := c.Get("/customers")
		require.Equal(t, 50, strings.Count(res.Body, `data-testid="customer-row-`))
		require.Contains(t, res.Body, setupTestID("pagination"))
		require.Contains(t, res.Body, `data-testid="customers-count">60 customers · page 1 of 2`)
		require.Contains(t, res.Body, `href="/customers?page=2" data-testid="page-2"`)
		res = c.Get("/customers?page=2")
		require.Equal(t, 10, strings.Count(res.Body, `data-testid="customer-row-`))
		res = c.Get("/customers?page=99")
		require.Equal(t, 10, strings.Count(res.Body, `data-testid="customer-row-`), "past the end shows the last page")

		// Sorted by end users, most first; the header links keep the search and flip the direction.
		res = c.Get("/customers?sort=end_users&dir=desc")
		require.Regexp(t, `(?s)<tbody>\s*<tr data-testid="customer-row-`+many.ID, res.Body)
		require.Contains(t, res.Body, `aria-sort="descending"`)
		res = c.Get("/customers?q=c4&sort=end_users&dir=desc")
		require.Equal(t, 10, strings.Count(res.Body, `data-testid="customer-row-`))
		require.Contains(t, res.Body, `href="/customers?q=c4&amp;sort=end_users" data-testid="sort-end_users"`)
		require.Contains(t, res.Body, `href="/customers?dir=desc&amp;q=c4&amp;sort=created" data-testid="sort-created"`)
		require.Contains(t, res.Body, `<input type="hidden" name="sort" value="end_users">`)

		// The live search swaps the results alone.
		res = c.Get("/customers?q=customer+07", "HX-Request", "true", "HX-Target", "customers-results")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.True(t, strings.HasPrefix(res.Body, `<div id="customers-results"`), res.Body[:min(200, len(res.Body))])
		require.NotContains(t, res.Body, "page-header")
		require.Equal(t, 1, strings.Count(res.Body, `data-testid="customer-row-`))
		require.Contains(t, res.Header.Values("Vary"), "HX-Target")
		res = c.Get("/customers?q=nothing-like-this", "HX-Request", "true", "HX-Target", "customers-results")
		require.Contains(t, res.Body, setupTestID("customers-empty"))
		require.Contains(t, res.Body, "No customers match")
	})
}

// TestCustomersDomainOfAnotherCustomer: creating or editing a customer with a
// domain another customer lists is refused on the form (422), naming that
// customer and keeping what was typed.
func TestCustomersDomainOfAnotherCustomer(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		c := signedIn(env, f.Primary.Email)
		custCreate(t, env, f, "Globex", "globex.example")
		const msg = "globex.example is already a domain of Globex. A domain recognises one customer&#39;s end users: remove it from Globex first, or leave it out here."

		form := url.Values{"name": {"Zed2"}, "domains": {"zed.example, globex.example"}, "notes": {"typed notes"}}
		res := c.PostForm("/customers", form)
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("error-domains"))
		require.Contains(t, res.Body, msg)
		require.Contains(t, res.Body, `value="Zed2"`)
		require.Contains(t, res.Body, "zed.example, globex.example")
		require.Contains(t, res.Body, "typed notes")

		zed := custCreate(t, env, f, "Zed2", "zed.example")
		form.Set("domains", "zed.example globex.example")
		res = c.PostForm("/customers/"+zed.ID, form)
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, msg)
		require.Contains(t, res.Body, "zed.example globex.example")
		require.Equal(t, 0, auditCount(t, env, "customer.update", zed.ID))
	})
}
