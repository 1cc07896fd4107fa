package e2e

import (
	"os"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/db"
)

// gridEval evaluates a JavaScript expression in the page.
func gridEval[T any](p *page, js string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](js))
	require.NoError(p.t, err)
	return v
}

// viewShot saves a PNG of what the viewport shows (not the whole page) when
// LATCHKEY_E2E_SHOTS names a directory.
func viewShot(p *page, name string) {
	dir := os.Getenv("LATCHKEY_E2E_SHOTS")
	if dir == "" {
		return
	}
	b, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err == nil {
		_ = os.WriteFile(dir+"/"+name+".png", b, 0o644)
	}
}

// gridFocused is the data-testid of the focused element and the username of
// its row ("" when focus is on no row).
func gridFocused(p *page) (testid, row string) {
	p.t.Helper()
	v := gridEval[[]string](p, `(() => { const a = document.activeElement;
		const tr = a && a.closest("tr[data-testid]");
		return [a && a.dataset ? (a.dataset.testid || a.tagName) : "", tr ? tr.dataset.testid.replace("eu-row-", "") : ""] })()`)
	return v[0], v[1]
}

// gridControls is the search box's value and each filter select's value.
func gridControls(p *page) map[string]string {
	p.t.Helper()
	return gridEval[map[string]string](p, `Object.fromEntries([...document.querySelectorAll("#eu-filter input[name], #eu-filter select")].map(e => [e.name, e.value]))`)
}

// TestBrowserEndUserGridBackRestoresFilters goes back through the filter
// history: the search box and the selects show what the address and the
// results say, and the next filter keeps them.
func TestBrowserEndUserGridBackRestoresFilters(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	gridSeed(t, env, f.Tenant.ID, "Globex", 120, csvEveryThird)
	p := openGrid(t, env, f, 1440, 900, "/end-users")

	p.fill(`#eu-q`, "Cleo")
	p.waitFor(`location.search === "?q=Cleo"`)
	p.waitFor(`document.querySelector('[data-testid="eu-count"]')?.textContent.includes("of 24 end users")`)
	gridChoose(p, `#eu-f-source`, "csv")
	p.waitFor(`location.search === "?q=Cleo&source=csv"`)
	p.waitFor(`document.querySelector('[data-testid="eu-count"]')?.textContent.includes("of 8 end users")`)
	p.click(tid("eu-sort-username"))
	p.waitFor(`location.search === "?q=Cleo&sort=username&source=csv"`)

	p.do(chromedp.NavigateBack())
	p.waitFor(`location.search === "?q=Cleo&source=csv"`)
	p.settle()
	c := gridControls(p)
	require.Equal(t, "Cleo", c["q"])
	require.Equal(t, "csv", c["source"])
	require.Equal(t, "name", c["sort"])

	p.do(chromedp.NavigateBack())
	p.waitFor(`location.search === "?q=Cleo"`)
	p.waitFor(`document.querySelector('[data-testid="eu-count"]')?.textContent.includes("of 24 end users")`)
	p.settle()
	c = gridControls(p)
	require.Equal(t, "Cleo", c["q"], "the search box shows the address's search")
	require.Equal(t, "", c["source"], "the source shows Any source")
	require.Equal(t, "", c["locked"])

	// The next filter keeps the search.
	gridChoose(p, `#eu-f-locked`, "no")
	p.waitFor(`location.search === "?locked=no&q=Cleo"`)
	p.waitFor(`document.querySelector('[data-testid="eu-count"]')?.textContent.includes("of 24 end users")`)

	// Back to the start, forward again, and a reload: the same.
	p.do(chromedp.NavigateBack())
	p.waitFor(`location.search === "?q=Cleo"`)
	p.do(chromedp.NavigateBack())
	p.waitFor(`location.search === ""`)
	p.waitFor(`document.querySelector('[data-testid="eu-count"]')?.textContent.includes("of 120 end users")`)
	p.settle()
	require.Equal(t, "", gridControls(p)["q"])
	p.do(chromedp.NavigateForward())
	p.waitFor(`location.search === "?q=Cleo"`)
	p.settle()
	require.Equal(t, "Cleo", gridControls(p)["q"])
	p.do(chromedp.NavigateForward())
	p.waitFor(`location.search === "?locked=no&q=Cleo"`)
	p.settle()
	c = gridControls(p)
	require.Equal(t, "Cleo", c["q"])
	require.Equal(t, "no", c["locked"])
	p.do(chromedp.NavigateBack())
	p.waitFor(`location.search === "?q=Cleo"`)
	p.settle()
	p.do(chromedp.Reload())
	p.wait(tid("eu-table"))
	p.waitFor(`document.querySelector('[data-testid="eu-count"]')?.textContent.includes("of 24 end users")`)
	c = gridControls(p)
	require.Equal(t, "Cleo", c["q"])
	require.Equal(t, "", c["locked"])
}

// TestBrowserEndUserGridFocus follows the keyboard focus through inline
// edits, paging and a bulk action: it never falls to the page's body, and
// an invalid value does not pull it back once the user has moved on.
func TestBrowserEndUserGridFocus(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	gridSeed(t, env, f.Tenant.ID, "Globex", 60, nil)
	p := openGrid(t, env, f, 1440, 900, "/end-users")
	inputOf := func(user, field string) string {
		return `[data-testid="eu-row-` + user + `"] [data-testid="eu-input-` + field + `"]`
	}

	// An invalid mobile, then a click in the search box: the message shows,
	// and typing goes on in the search box.
	p.click(gridRow("user001", "eu-edit-mobile"))
	p.wait(gridRow("user001", "eu-input-mobile"))
	p.waitFor(`document.activeElement?.dataset.testid === "eu-input-mobile"`)
	p.do(chromedp.SendKeys(inputOf("user001", "mobile"), "123"))
	p.click(tid("eu-search"))
	p.wait(gridRow("user001", "eu-error-mobile"))
	require.Equal(t, "alert", gridEval[string](p, `document.querySelector('[data-testid="eu-row-user001"] [data-testid="eu-error-mobile"]').getAttribute("role")`))
	id, _ := gridFocused(p)
	require.Equal(t, "eu-search", id, "focus stays where the user put it")
	p.do(chromedp.KeyEvent("Bob"))
	require.Equal(t, "Bob", gridEval[string](p, `document.querySelector("#eu-q").value`))
	require.Equal(t, "123", gridEval[string](p, `document.querySelector(`+jsString(inputOf("user001", "mobile"))+`).value`))
	p.waitFor(`location.search === "?q=Bob"`)
	p.open("/end-users")
	p.wait(tid("eu-table"))

	// Enter on an invalid value keeps the focus in the field.
	p.click(gridRow("user002", "eu-edit-mobile"))
	p.wait(gridRow("user002", "eu-input-mobile"))
	p.waitFor(`document.activeElement?.dataset.testid === "eu-input-mobile"`)
	p.do(chromedp.SendKeys(inputOf("user002", "mobile"), "123"), chromedp.KeyEvent(kb.Enter))
	p.wait(gridRow("user002", "eu-error-mobile"))
	id, row := gridFocused(p)
	require.Equal(t, []string{"eu-input-mobile", "user002"}, []string{id, row})

	// Tab from an invalid email: the message shows, focus goes on to the mobile.
	p.click(gridRow("user003", "eu-edit-email"))
	p.wait(gridRow("user003", "eu-input-email"))
	p.waitFor(`document.activeElement?.dataset.testid === "eu-input-email"`)
	p.fill(chromedp.CSS(inputOf("user003", "email")), "not-an-email")
	p.do(chromedp.KeyEvent(kb.Tab))
	p.wait(gridRow("user003", "eu-error-email"))
	id, row = gridFocused(p)
	require.Equal(t, []string{"eu-edit-mobile", "user003"}, []string{id, row}, "Tab moved on")

	// Escape cancels: focus back on the cell's button.
	p.click(gridRow("user004", "eu-edit-email"))
	p.wait(gridRow("user004", "eu-input-email"))
	p.waitFor(`document.activeElement?.dataset.testid === "eu-input-email"`)
	p.do(chromedp.KeyEvent(kb.Escape))
	p.wait(gridRow("user004", "eu-value-email"))
	p.waitFor(`document.activeElement?.dataset.testid === "eu-edit-email" && document.activeElement.closest("tr").dataset.testid === "eu-row-user004"`)

	// Saving by clicking away: focus on the cell's button.
	p.click(gridRow("user005", "eu-edit-mobile"))
	p.wait(gridRow("user005", "eu-input-mobile"))
	p.waitFor(`document.activeElement?.dataset.testid === "eu-input-mobile"`)
	p.fill(chromedp.CSS(inputOf("user005", "mobile")), "+44 7700 900125")
	p.click(tid("eu-title"))
	p.wait(gridRow("user005", "eu-value-mobile"))
	p.waitFor(`document.activeElement?.dataset.testid === "eu-edit-mobile" && document.activeElement.closest("tr").dataset.testid === "eu-row-user005"`)

	// Saving by clicking another cell: the other cell's editor keeps the focus.
	p.click(gridRow("user006", "eu-edit-mobile"))
	p.wait(gridRow("user006", "eu-input-mobile"))
	p.waitFor(`document.activeElement?.dataset.testid === "eu-input-mobile"`)
	p.fill(chromedp.CSS(inputOf("user006", "mobile")), "+44 7700 900126")
	p.click(gridRow("user007", "eu-edit-email"))
	p.wait(gridRow("user006", "eu-value-mobile"))
	p.wait(gridRow("user007", "eu-input-email"))
	p.waitFor(`document.activeElement?.dataset.testid === "eu-input-email" && document.activeElement.closest("tr").dataset.testid === "eu-row-user007"`)
	p.do(chromedp.KeyEvent(kb.Escape))
	p.wait(gridRow("user007", "eu-value-email"))

	// Paging: focus on the results' summary, which names the new range.
	p.click(tid("eu-next"))
	p.waitFor(`document.querySelector('[data-testid="eu-count"]')?.textContent.includes("51–60 of 60")`)
	p.settle()
	p.waitFor(`document.activeElement?.dataset.testid === "eu-count"`)

	// A bulk action: the grid refreshes, focus on the summary.
	p.click(gridRow("user055", "eu-check"))
	p.click(tid("eu-bulk-enable"))
	p.waitFor(`document.querySelector('[data-testid="eu-row-user055"] [data-testid="eu-switch"]')?.checked && !document.querySelector('[data-testid="eu-row-user055"] [data-testid="eu-check"]').checked`)
	p.settle()
	p.waitFor(`document.activeElement?.dataset.testid === "eu-count"`)
}

// TestBrowserEndUserSelectionFollowsRows ticks the page, then unticks rows:
// the header box, the banner and the count follow, and "all matching" is
// dropped once a row is unticked.
func TestBrowserEndUserSelectionFollowsRows(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	gridSeed(t, env, f.Tenant.ID, "Globex", 60, nil)
	p := openGrid(t, env, f, 1440, 900, "/end-users")
	header := func() string {
		return gridEval[string](p, `(() => { const h = document.querySelector('[data-testid="eu-select-page"]');
			return h.indeterminate ? "mixed" : h.checked ? "checked" : "unchecked" })()`)
	}
	banner := func() string {
		return gridEval[string](p, `(() => { const b = document.querySelector('[data-testid="eu-select-banner"]');
			return b && b.getClientRects().length ? b.textContent.replace(/\s+/g, " ").trim() : "" })()`)
	}
	require.Equal(t, "None selected", p.text(tid("eu-selected")))

	p.click(tid("eu-select-page"))
	p.wait(tid("eu-select-banner"))
	require.Contains(t, banner(), "All 50 on this page are selected.")
	require.Equal(t, "50 selected", p.text(tid("eu-selected")))
	require.Equal(t, "checked", header())

	p.click(gridRow("user003", "eu-check"))
	p.click(gridRow("user004", "eu-check"))
	require.Equal(t, "48 selected", p.text(tid("eu-selected")))
	require.Equal(t, "mixed", header())
	require.Equal(t, "", banner(), "not all on this page any more")
	require.Equal(t, "polite", gridEval[string](p, `document.querySelector('[data-testid="eu-selected"]').getAttribute("aria-live")`))

	// Ticked again: the page is whole again.
	p.click(gridRow("user003", "eu-check"))
	p.click(gridRow("user004", "eu-check"))
	require.Equal(t, "checked", header())
	require.Contains(t, banner(), "All 50 on this page are selected.")

	// Every end user matching, then one unticked: back to ticked rows.
	p.click(tid("eu-select-all"))
	p.waitFor(`document.querySelector('[data-testid="eu-select-banner"]')?.textContent.includes("All 60 end users matching this filter are selected.")`)
	require.Equal(t, "All 60 matching selected", p.text(tid("eu-selected")))
	p.click(gridRow("user010", "eu-check"))
	require.Equal(t, "49 selected", p.text(tid("eu-selected")))
	require.Equal(t, "mixed", header())
	require.Equal(t, "", banner())
	require.False(t, p.exists(`#eu-bulk input[name="all"]`))
	p.click(tid("eu-bulk-enable"))
	p.waitFor(`document.querySelector('[data-testid="eu-selected"]')?.textContent.trim() === "None selected"`) // the refresh
	require.Equal(t, 49, gridSelfServeCount(t, env, f.Tenant.ID))
	require.Equal(t, "unchecked", header())
}

// TestBrowserEndUserGridFiltersAtPhoneWidth folds the filters away on a
// phone: the first end user shows near the top, and the filters still work
// from the keyboard and keep the address.
func TestBrowserEndUserGridFiltersAtPhoneWidth(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	gridSeed(t, env, f.Tenant.ID, "Globex", 60, csvEveryThird)
	p := openGrid(t, env, f, 375, 812, "/end-users?status=not_registered")
	require.Equal(t, "Filters (1 active)", p.text(tid("eu-filters-toggle")))
	require.False(t, gridEval[bool](p, `document.querySelector("#eu-f-source").checkVisibility()`), "folded away")
	top := gridEval[float64](p, `document.querySelector('[data-testid="eu-row-user000"]').getBoundingClientRect().top`)
	// 1,043 px down with every filter shown; here under the app's bars (and
	// its email banner), the title, search, filters' summary and bulk bar.
	require.Less(t, top, 720.0, "the first end user is within the first screen")
	viewShot(p, "enduser-grid-phone-filters-closed")

	// Open with the keyboard, choose a source.
	p.do(chromedp.Focus(tid("eu-filters-toggle")), chromedp.KeyEvent(kb.Enter))
	p.waitFor(`document.querySelector("#eu-f-source").checkVisibility()`)
	gridChoose(p, `#eu-f-source`, "csv")
	p.waitFor(`location.search === "?source=csv&status=not_registered"`)
	p.waitFor(`document.querySelector('[data-testid="eu-count"]')?.textContent.includes("of 20 end users")`)
	p.waitFor(`document.querySelector('[data-testid="eu-filters-toggle"]').textContent.trim() === "Filters (2 active)"`)
	viewShot(p, "enduser-grid-phone-filters-open")

	// On a wide screen the filters are simply there.
	p.viewport(1440, 900)
	p.open("/end-users")
	p.wait(tid("eu-table"))
	require.True(t, gridEval[bool](p, `document.querySelector("#eu-f-source").checkVisibility()`), "the filters are open on a wide screen")
	require.False(t, gridEval[bool](p, `!!document.querySelector('[data-testid="eu-filters-toggle"]').getClientRects().length`), "no toggle on a wide screen")
}
