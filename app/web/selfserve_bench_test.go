package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/db"
)

// assetRefs finds what a page makes the browser fetch on first load: the
// stylesheet, scripts, icons and images, and the web app manifest.
var assetRefs = regexp.MustCompile(`<(?:link|script|img)[^>]+(?:href|src)="(/[^"]+)"`)

// firstLoad fetches path and everything it references, as a browser with an
// empty cache would, and returns the bytes of the page's response and of
// all the responses (status line, headers and body, as sent: the server
// does not compress).
func firstLoad(tb testing.TB, env *apptest.Env, c *http.Client, path string) (page, total int) {
	tb.Helper()
	get := func(p string) (int, string) {
		res, err := c.Get(env.URL + p)
		require.NoError(tb, err)
		defer res.Body.Close()
		raw, err := httputil.DumpResponse(res, true)
		require.NoError(tb, err)
		_, _ = io.Copy(io.Discard, res.Body)
		require.Equal(tb, http.StatusOK, res.StatusCode, p)
		return len(raw), string(raw)
	}
	n, body := get(path)
	page, total = n, n
	seen := map[string]bool{}
	for _, m := range assetRefs.FindAllStringSubmatch(body, -1) {
		if seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		n, _ := get(m[1])
		total += n
	}
	return page, total
}

// BenchmarkSelfServePageWeight reports what the self-serve pages weigh on
// first load (target: 100 KB with htmx): the start page, the identify
// page, the proof choice, the code page and the welcome link's landing.
func BenchmarkSelfServePageWeight(b *testing.B) {
	env := apptest.New(b, db.SQLite, apptest.Options{NoWorkers: true})
	f := env.Setup("Acme IT")
	ctx := context.Background()
	now := time.Now().UTC()
	cu := &customer.Customer{ID: db.NewID(), TenantID: f.Tenant.ID, Name: "Globex", Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
	_, err := env.App.DB.Bun.NewInsert().Model(cu).Exec(ctx)
	require.NoError(b, err)
	u := &enduser.EndUser{ID: db.NewID(), TenantID: f.Tenant.ID, CustomerID: cu.ID, Username: "ann", FirstName: "Ann", Email: "ann@globex.example",
		Mobile: "+64215550199", Source: enduser.SourceCSV, CreatedAt: now, UpdatedAt: now}
	_, err = env.App.DB.Bun.NewInsert().Model(u).Exec(ctx)
	require.NoError(b, err)
	require.NoError(b, env.App.Web.Onboarding.DeliverWelcome(ctx, u.ID, time.Time{}))
	var m notify.Message
	require.NoError(b, env.App.DB.Bun.NewSelect().Model(&m).Where("kind = ?", enduser.WelcomeKind).Scan(ctx))
	e, err := m.EmailData(env.App.Keys)
	require.NoError(b, err)
	link := regexp.MustCompile(`/welcome/[A-Za-z0-9_-]+`).FindString(e.ActionURL)
	c := env.Client()
	pages := []string{"/self-serve", "/self-serve/reset", link}
	res := c.PostForm("/self-serve/identify", url.Values{"purpose": {"reset"}, "identity": {"nobody"}})
	require.Equal(b, http.StatusSeeOther, res.StatusCode)
	pages = append(pages, "/self-serve/prove")
	require.Equal(b, http.StatusSeeOther, c.PostForm("/self-serve/prove", url.Values{"channel": {"sms"}}).StatusCode)
	pages = append(pages, "/self-serve/code")
	for _, p := range pages {
		name := p
		if p == link {
			name = "/welcome/:token"
		}
		b.Run(name, func(b *testing.B) {
			var page, total int
			for b.Loop() {
				page, total = firstLoad(b, env, c.HTTP, p)
			}
			b.ReportMetric(float64(page)/1024, "KB-page")
			b.ReportMetric(float64(total)/1024, "KB-first-load")
			require.LessOrEqual(b, total, 100*1024, "%s: %d bytes on first load", p, total)
		})
	}
}
