package e2e

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/db"
)

// TestBrowserEventsFitALaptopScreen: at 1280 px the events table, long
// details included, fits without scrolling sideways (the Detail column was
// cut off), and each event says where it came from under who did it.
func TestBrowserEventsFitALaptopScreen(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	gridSeed(t, env, f.Tenant.ID, "Globex", 5, nil)
	c := env.Client()
	c.SignIn(f.Primary.Email)
	// A bulk change whose target and detail name a long filter.
	c.PostForm("/end-users/bulk/self-serve", url.Values{"all": {"1"}, "on": {"1"}, "q": {"smith"}, "status": {"registered"}, "source": {"ad"}, "locked": {"no"}})
	p := newPage(t, env.URL)
	p.viewport(1280, 800)
	signIn(p, f.Primary.Email)
	p.open("/events")
	p.wait(tid("events-table"))
	require.Contains(t, p.text(chromedp.CSS(`[data-testid="events-table"] tbody`)), "search=smith")
	fits, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(() => { const w = document.querySelector('.table-wrap');
		return w.scrollWidth <= w.clientWidth })()`))
	require.NoError(t, err)
	require.True(t, fits, "the events table does not scroll sideways at 1280 px")
	require.Equal(t, []string{"from", "127.0.0.1"}, strings.Fields(p.text(chromedp.CSS(`[data-testid="event-ip"]`))), "read out as \"from 127.0.0.1\"")
	p.screenshot("events-1280")
}
