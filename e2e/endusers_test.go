package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/db"
)

// gridSeed stores a customer with n end users (user000…); edit adjusts each.
// openGrid signs the tenant's Primary in, in a window of the given size,
// opens path and waits for the grid's table.
func openGrid(t *testing.T, env *apptest.Env, f *apptest.Fixture, width, height int64, path string) *page {
	t.Helper()
	p := newPage(t, env.URL)
	p.viewport(width, height)
	signIn(p, f.Primary.Email)
	p.open(path)
	p.wait(tid("eu-table"))
	return p
}

// csvEveryThird is a gridSeed edit: every third end user came from a CSV
// import.
func csvEveryThird(i int, u *enduser.EndUser) {
	if i%3 == 0 {
		u.Source = enduser.SourceCSV
	}
}

func gridSeed(t *testing.T, env *apptest.Env, tenantID, name string, n int, edit func(i int, u *enduser.EndUser)) *customer.Customer {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	c := &customer.Customer{ID: db.NewID(), TenantID: tenantID, Name: name, Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
	_, err := env.App.DB.Bun.NewInsert().Model(c).Exec(ctx)
	require.NoError(t, err)
	var us []*enduser.EndUser
	for i := range n {
		exp := now.Add(time.Duration(i%40-5) * 24 * time.Hour)
		u := &enduser.EndUser{ID: db.NewID(), TenantID: tenantID, CustomerID: c.ID, Username: fmt.Sprintf("user%03d", i),
			FirstName: []string{"Ann", "Bob", "Cleo", "Dev", "Eve"}[i%5], LastName: fmt.Sprintf("Walker-%03d", i),
			Email: fmt.Sprintf("user%03d@globex.example", i), EmailSource: enduser.ValueDirectory, Source: enduser.SourceAD,
			PasswordExpiresAt: &exp, CreatedAt: now, UpdatedAt: now}
		if edit != nil {
			edit(i, u)
		}
		us = append(us, u)
	}
	if n > 0 {
		_, err = env.App.DB.Bun.NewInsert().Model(&us).Exec(ctx)
		require.NoError(t, err)
	}
	return c
}

func gridRow(username, inner string) chromedp.CSS {
	return chromedp.CSS(`[data-testid="eu-row-` + username + `"] [data-testid="` + inner + `"]`)
}

// gridChoose picks an option of a select as a user would (input and change fire).
func gridChoose(p *page, css, value string) {
	p.t.Helper()
	p.wait(chromedp.CSS(css))
	_, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(() => { const e = document.querySelector(`+jsString(css)+`);
		e.value = `+jsString(value)+`; e.dispatchEvent(new Event("input", {bubbles: true}));
		e.dispatchEvent(new Event("change", {bubbles: true})); return true })()`))
	require.NoError(p.t, err)
}

func gridSelfServeCount(t *testing.T, env *apptest.Env, tenantID string) int {
	t.Helper()
	n, err := env.App.DB.Bun.NewSelect().Table("end_users").Where("tenant_id = ? AND self_serve_enabled", tenantID).Count(context.Background())
	require.NoError(t, err)
	return int(n)
}

// TestBrowserEndUserInlineEdit types a mobile number in the grid: Enter
// saves, the row comes back with the new status; a wrong number shows its
// message; Escape cancels.
func TestBrowserEndUserInlineEdit(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	gridSeed(t, env, f.Tenant.ID, "Globex", 3, nil)
	p := newPage(t, env.URL)
	p.viewport(1440, 900)
	signIn(p, f.Primary.Email)
	p.open("/end-users")
	p.wait(gridRow("user001", "eu-status"))
	require.Equal(t, "Not registered", p.text(gridRow("user001", "eu-status")))

	// A number without its country code is refused with a message.
	p.click(gridRow("user001", "eu-edit-mobile"))
	p.wait(gridRow("user001", "eu-input-mobile"))
	p.waitFor(`document.activeElement && document.activeElement.dataset.testid === "eu-input-mobile"`)
	p.fill(`[data-testid="eu-row-user001"] [data-testid="eu-input-mobile"]`, "07700 900123")
	p.do(chromedp.KeyEvent(kb.Enter))
	p.wait(gridRow("user001", "eu-error-mobile"))
	require.Contains(t, p.text(gridRow("user001", "eu-error-mobile")), "country code")

	// Fixed: Enter saves and the status changes in the same swap.
	p.fill(`[data-testid="eu-row-user001"] [data-testid="eu-input-mobile"]`, "+44 7700 900123")
	p.do(chromedp.KeyEvent(kb.Enter))
	p.waitFor(`document.querySelector('[data-testid="eu-row-user001"] [data-testid="eu-status"]')?.dataset.status === "registered"`)
	require.Equal(t, "+447700900123", p.text(gridRow("user001", "eu-value-mobile")))
	require.Equal(t, "Registration complete", p.text(gridRow("user001", "eu-status")))
	p.waitFor(`document.activeElement && document.activeElement.dataset.testid === "eu-edit-mobile"`)
	p.screenshot("enduser-grid-after-edit")

	// Escape cancels: the value stays.
	p.click(gridRow("user002", "eu-edit-email"))
	p.wait(gridRow("user002", "eu-input-email"))
	p.fill(`[data-testid="eu-row-user002"] [data-testid="eu-input-email"]`, "changed@example.com")
	p.do(chromedp.KeyEvent(kb.Escape))
	p.wait(gridRow("user002", "eu-value-email"))
	require.Equal(t, "user002@globex.example", p.text(gridRow("user002", "eu-value-email")))

	// Leaving the field saves too.
	p.click(gridRow("user000", "eu-edit-mobile"))
	p.wait(gridRow("user000", "eu-input-mobile"))
	p.fill(`[data-testid="eu-row-user000"] [data-testid="eu-input-mobile"]`, "+1 415 555 0100")
	p.click(tid("eu-title"))
	p.wait(gridRow("user000", "eu-value-mobile"))
	require.Equal(t, "+14155550100", p.text(gridRow("user000", "eu-value-mobile")))
	time.Sleep(200 * time.Millisecond)
	var edits int
	n, err := env.App.DB.Bun.NewSelect().Table("audit_events").Where("action = 'enduser.contact_update'").Count(context.Background())
	require.NoError(t, err)
	edits = int(n)
	require.Equal(t, 2, edits, "two saves, each recorded once; the cancelled edit is not")
}

// TestBrowserEndUserBulkEnableAllMatching filters the grid, selects the page,
// then every end user matching the filter, and enables self-serve for them.
func TestBrowserEndUserBulkEnableAllMatching(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	gridSeed(t, env, f.Tenant.ID, "Globex", 130, csvEveryThird) // 44 from CSV
	p := openGrid(t, env, f, 1440, 900, "/end-users")
	gridChoose(p, `#eu-f-source`, "ad")
	p.waitFor(`document.querySelector('[data-testid="eu-count"]')?.textContent.includes("of 86 end users")`)
	p.waitFor(`location.search === "?source=ad"`)

	p.click(tid("eu-select-page"))
	p.wait(tid("eu-select-banner"))
	require.Contains(t, p.text(tid("eu-select-banner")), "All 50 on this page are selected.")
	require.True(t, p.exists(`[data-testid="eu-check"]:checked`))
	p.click(tid("eu-select-all"))
	p.waitFor(`document.querySelector('[data-testid="eu-select-banner"]')?.textContent.includes("All 86 end users matching this filter are selected.")`)
	require.Equal(t, "?source=ad", p.location()[len("/end-users"):], "selecting does not change the address")

	p.click(tid("eu-bulk-enable"))
	p.waitFor(`[...document.querySelectorAll("#toasts .toast")].some(t => t.textContent.includes("Self-serve enabled for 86 end users."))`)
	require.Contains(t, p.lastDialog(), "86")
	require.Equal(t, 86, gridSelfServeCount(t, env, f.Tenant.ID))
	// The grid refreshes itself with a request of its own after the change.
	p.waitFor(`!document.querySelector('[data-testid="eu-select-banner"]')`)
	p.waitFor(`[...document.querySelectorAll('[data-testid="eu-switch"]')].every(s => s.checked)`)

	// Back and forward through the filter history.
	gridChoose(p, `#eu-f-self_serve`, "off")
	p.waitFor(`location.search === "?self_serve=off&source=ad"`)
	p.wait(tid("eu-empty"))
	p.do(chromedp.NavigateBack())
	p.waitFor(`location.search === "?source=ad"`)
	p.waitFor(`document.querySelector('[data-testid="eu-count"]')?.textContent.includes("of 86 end users")`)
	p.screenshot("enduser-grid-bulk")
}

// TestBrowserEndUserTenantSwitchOff turns self-serve off for the whole MSP
// in Settings: every switch in the grid is greyed out and says why.
func TestBrowserEndUserTenantSwitchOff(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	gridSeed(t, env, f.Tenant.ID, "Globex", 5, nil)
	p := newPage(t, env.URL)
	signIn(p, f.Primary.Email)
	p.open("/end-users")
	p.wait(tid("eu-table"))
	require.False(t, p.exists(`[data-testid="eu-switch"]:disabled`))

	p.open("/settings")
	p.wait(tid("settings-form"))
	p.fill(`#f-phone`, "+44 20 7946 0000")
	p.fill(`#f-support_email`, "help@acmeit.example")
	p.click(tid("switch-self_serve"))
	p.waitFor(`!document.querySelector('[data-testid="switch-self_serve"] input').checked`)
	p.click(tid("settings-submit"))
	p.waitFor(`document.body.innerText.includes("Settings saved.")`)

	p.open("/end-users")
	p.wait(tid("eu-tenant-off"))
	p.waitFor(`[...document.querySelectorAll('[data-testid="eu-switch"]')].every(s => s.disabled && s.getAttribute("aria-describedby") === "eu-tenant-off-desc")`)
	require.Equal(t, enduser.TenantSwitchOff, p.text(chromedp.CSS(`#eu-tenant-off-desc`)))
	title, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="eu-switch"]').closest("label").title`))
	require.NoError(t, err)
	require.Equal(t, enduser.TenantSwitchOff, title)
	require.True(t, p.exists(`[data-testid="eu-bulk-enable"]:disabled`))
	require.True(t, p.exists(`[data-testid="eu-bulk-disable"]:disabled`))
	opacity, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('[data-testid="eu-switch"] + .slider')).opacity`))
	require.NoError(t, err)
	require.Equal(t, "0.5", opacity, "greyed out")
	p.screenshot("enduser-grid-tenant-off")
}

// TestBrowserEndUserGridAtPhoneWidth shows the grid at 375 px: no sideways
// scrolling of the page, the name and the switch of each end user in view.
func TestBrowserEndUserGridAtPhoneWidth(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	c := gridSeed(t, env, f.Tenant.ID, "Globex Corporation International", 60, func(i int, u *enduser.EndUser) {
		if i == 0 {
			u.FirstName, u.LastName = "Maximiliana", "Oberhauser-Montgomery-Featherstonehaugh"
			u.Email = "maximiliana.oberhauser-montgomery@globex-corporation-international.example"
		}
		if i%2 == 0 {
			u.Mobile, u.MobileSource = "+447700900123", enduser.ValueEndUser
		}
	})
	p := newPage(t, env.URL)
	p.viewport(375, 812)
	signIn(p, f.Primary.Email)
	for _, path := range []string{"/end-users", "/customers/" + c.ID + "/end-users"} {
		p.open(path)
		p.wait(tid("eu-table"))
		p.waitFor(`document.documentElement.scrollWidth <= 375`)
		for _, sel := range []string{`[data-testid="eu-row-user000"] [data-testid="eu-name"]`, `[data-testid="eu-row-user000"] [data-testid="eu-switch"] + .slider`,
			`[data-testid="eu-row-user001"] [data-testid="eu-name"]`, `[data-testid="eu-row-user001"] [data-testid="eu-switch"] + .slider`} {
			inView, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(() => { const r = document.querySelector(`+jsString(sel)+`).getBoundingClientRect();
				return r.width > 0 && r.left >= 0 && r.right <= 375 })()`))
			require.NoError(t, err)
			require.True(t, inView, "%s on %s is within the 375 px width", sel, path)
		}
		p.screenshot("enduser-grid-phone" + map[bool]string{true: "-customer", false: ""}[path != "/end-users"])
	}
	// Editing works in the card layout too.
	p.click(gridRow("user001", "eu-edit-mobile"))
	p.wait(gridRow("user001", "eu-input-mobile"))
	p.waitFor(`document.documentElement.scrollWidth <= 375`)
	p.fill(`[data-testid="eu-row-user001"] [data-testid="eu-input-mobile"]`, "+44 7700 900456")
	p.do(chromedp.KeyEvent(kb.Enter))
	p.waitFor(`document.querySelector('[data-testid="eu-row-user001"] [data-testid="eu-status"]')?.dataset.status === "registered"`)
}
