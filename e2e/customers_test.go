package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/db"
)

// TestBrowserCreateCustomer creates the first customer through the form: a
// bad domain first shows an inline error and keeps what was typed, the fixed
// form creates it, and the list shows it with zero counts; the live search
// finds it and its link opens it.
func TestBrowserCreateCustomer(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	p := newPage(t, env.URL)
	signIn(p, f.Primary.Email)

	p.open("/customers")
	p.wait(tid("customers-empty"))
	p.click(tid("create-first-customer"))
	p.wait(tid("customer-form"))
	p.fill(`#f-name`, "Contoso Ltd")
	p.fill(`#f-domains`, "contoso.com, https://contoso.net/login")
	p.click(tid("customer-submit"))
	p.wait(tid("error-domains"))
	require.Contains(t, p.text(tid("error-domains")), "contoso.net")
	name, err := chromedpValue(p, `#f-name`)
	require.NoError(t, err)
	require.Equal(t, "Contoso Ltd", name, "the form keeps what was typed")
	p.screenshot("customer-form-error")

	p.fill(`#f-domains`, "contoso.com contoso.net")
	p.click(tid("customer-submit"))
	p.wait(tid("customer-name"))
	require.Equal(t, "Contoso Ltd", p.text(tid("customer-name")))
	require.Equal(t, "contoso.com, contoso.net", p.text(tid("customer-domains")))
	require.Contains(t, p.text(tid("flash")), "Contoso Ltd was created")
	id := strings.TrimPrefix(p.location(), "/customers/")
	c, err := customer.Get(context.Background(), env.App.DB.Bun, f.Tenant.ID, id)
	require.NoError(t, err)
	require.Equal(t, "contoso.com,contoso.net", c.Domains)

	// A second one, so that the search has something to leave out.
	p.open("/customers/new")
	p.fill(`#f-name`, "Fabrikam")
	p.click(tid("customer-submit"))
	p.wait(tid("customer-name"))

	p.open("/customers")
	row := `[data-testid="customer-row-` + id + `"]`
	p.wait(tid("customer-row-" + id))
	for _, k := range []string{"end_users", "self_serve", "registered", "accessed", "locked"} {
		require.Equal(t, "0", p.text(chromedp.CSS(row+` [data-testid="count-`+k+`"]`)), k)
	}
	require.Equal(t, "Manual", p.text(chromedp.CSS(row+` [data-testid="customer-source"]`)))
	p.screenshot("customers-list")

	// The live search narrows the results and puts the search in the URL.
	p.fill(`#f-q`, "contoso.n")
	p.waitFor(`document.querySelectorAll('[data-testid^="customer-row-"]').length === 1`)
	p.waitFor(`location.search.includes("q=contoso.n")`)
	require.True(t, p.exists(row))

	p.click(chromedp.CSS(row + ` [data-testid="customer-link"]`))
	p.wait(tid("customer-name"))
	require.Equal(t, "/customers/"+id, p.location())
	require.Equal(t, "0", p.text(tid("count-end_users")))
}

// TestBrowserCustomerListAtPhoneWidth shows the customer list at 375 px: each
// customer is a card, nothing scrolls sideways (neither the page nor the
// table), a long name takes at most two lines, and every count is on screen.
func TestBrowserCustomerListAtPhoneWidth(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	long := gridSeed(t, env, f.Tenant.ID, "Globex Corporation International Holdings", 12, nil)
	_, err := env.App.DB.Bun.NewUpdate().Model((*customer.Customer)(nil)).
		Set("domains = ?", "globex-corporation-international.example,globex.example").Where("id = ?", long.ID).Exec(context.Background())
	require.NoError(t, err)
	gridSeed(t, env, f.Tenant.ID, "Initech", 3, nil)
	p := newPage(t, env.URL)
	p.viewport(375, 812)
	signIn(p, f.Primary.Email)
	p.open("/customers")
	row := `[data-testid="customer-row-` + long.ID + `"]`
	p.wait(tid("customer-row-" + long.ID))
	p.waitFor(`document.documentElement.scrollWidth <= 375`)
	noSideways, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(() => { const w = document.querySelector('.table-wrap');
		return w.scrollWidth <= w.clientWidth })()`))
	require.NoError(t, err)
	require.True(t, noSideways, "the table area does not scroll sideways")
	for _, k := range []string{"end_users", "self_serve", "registered", "accessed", "locked"} {
		sel := row + ` [data-testid="count-` + k + `"]`
		inView, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(() => { const r = document.querySelector(`+jsString(sel)+`).getBoundingClientRect();
			return r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= 375 })()`))
		require.NoError(t, err)
		require.True(t, inView, "the %s count is on screen", k)
	}
	require.Equal(t, "12", p.text(chromedp.CSS(row+` [data-testid="count-end_users"]`)))
	label, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector(`+jsString(row+` [data-testid="count-end_users"]`)+`), "::before").content`))
	require.NoError(t, err)
	require.Equal(t, `"End users"`, label, "each count says what it counts")
	lines, err := chromedp.Run(p.ctx, chromedp.Evaluate[float64](`(() => { const a = document.querySelector(`+jsString(row+` [data-testid="customer-link"]`)+`);
		return Math.round(a.getBoundingClientRect().height / parseFloat(getComputedStyle(a).lineHeight)) })()`))
	require.NoError(t, err)
	require.LessOrEqual(t, lines, 2.0, "a long name wraps to at most two lines")
	// The column headers stay as sort links.
	p.click(tid("sort-end_users"))
	p.waitFor(`location.search.includes("sort=end_users")`)
	p.waitFor(`document.querySelector('[data-testid^="customer-row-"]')?.dataset.name === "Globex Corporation International Holdings"`)
	p.waitFor(`document.documentElement.scrollWidth <= 375`)
	p.screenshot("customers-list-phone")
}

// TestBrowserMenuAtPhoneWidth: on a phone the menu is one row that scrolls
// sideways; the current page's link is scrolled into view, and the sides
// that hide more links are marked (they fade out) until scrolled to.
func TestBrowserMenuAtPhoneWidth(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	p := newPage(t, env.URL)
	p.viewport(375, 812)
	signIn(p, f.Primary.Email)
	onScreen := func(name string) bool {
		ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(() => { const a = [...document.querySelectorAll('.nav a')].find(a => a.textContent.trim() === `+jsString(name)+`);
			const r = a.getBoundingClientRect(), n = a.closest('.nav').getBoundingClientRect(); return r.left >= n.left && r.right <= n.right })()`))
		require.NoError(t, err)
		return ok
	}
	hints := func() string {
		s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`[...document.querySelector('.nav').classList].filter(c => c.startsWith('nav-more')).join(' ')`))
		require.NoError(t, err)
		return s
	}
	p.open("/customers")
	p.wait(tid("sidebar"))
	require.True(t, onScreen("Customers"))
	require.False(t, onScreen("Settings"), "a phone shows part of the menu")
	require.Equal(t, "nav-more-right", hints(), "more links to the right: that side fades")

	p.open("/settings")
	p.wait(tid("sidebar"))
	require.True(t, onScreen("Settings"), "the current page's link is scrolled into view")
	require.Equal(t, "nav-more-left", hints())
	p.screenshot("menu-phone-settings")

	p.viewport(1280, 800)
	p.open("/settings")
	p.wait(tid("sidebar"))
	require.Equal(t, "", hints(), "the sidebar menu has nothing hidden")
}
