// Package e2e drives the real Latchkey server with headless Chromium.
package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/db/dbtest"
)

func TestMain(m *testing.M) {
	code := dbtest.Main(m)
	browser.stop()
	os.Exit(code)
}

// browser is one Chromium process shared by the package's tests; each test
// gets its own tab (a separate browser context: no shared cookies).
var browser chrome

type chrome struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	skip   string
}

func (b *chrome) stop() {
	if b.cancel != nil {
		b.cancel()
	}
}

func chromiumPath() string {
	for _, p := range []string{os.Getenv("LATCHKEY_CHROMIUM"), "/usr/bin/chromium", "/usr/lib/chromium/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// startChromium starts a headless Chromium with a user data directory of its
// own and the options added (for example chromedp.Env); stop ends it and
// removes the directory.
func startChromium(extra ...chromedp.ExecAllocatorOption) (ctx context.Context, stop func(), err error) {
	path := chromiumPath()
	if path == "" {
		return nil, nil, errors.New("Chromium not found (install the Debian package chromium)")
	}
	dir, err := os.MkdirTemp("", "latchkey-chromium-")
	if err != nil {
		return nil, nil, err
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.UserDataDir(dir),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(opts, extra...)...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil { // start the browser
		cancel()
		cancelAlloc()
		os.RemoveAll(dir)
		return nil, nil, errors.New("Chromium did not start: " + err.Error())
	}
	return ctx, func() { cancel(); cancelAlloc(); os.RemoveAll(dir) }, nil
}

// tab returns a browser tab for the test, with a 90 s budget.
func tab(t *testing.T) context.Context {
	t.Helper()
	browser.once.Do(func() {
		ctx, cancel, err := startChromium()
		if err != nil {
			browser.skip = err.Error()
			return
		}
		browser.ctx, browser.cancel = ctx, cancel
	})
	if browser.skip != "" {
		if dbtest.Strict() {
			t.Fatalf("e2e: Chromium is required (LATCHKEY_TEST_STRICT=1): %s", browser.skip)
		}
		t.Skipf("e2e: skipping browser test: %s", browser.skip)
	}
	// A new browser context per test: cookies are per host, not per port, so
	// parallel tests against servers on 127.0.0.1 must not share a cookie jar.
	ctx, cancel := chromedp.NewContext(browser.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelT)
	return ctx
}

// page wraps a tab with short helpers that fail the test on error.
type page struct {
	t       *testing.T
	ctx     context.Context
	url     string
	mu      sync.Mutex
	dialogs []string
}

func newPage(t *testing.T, baseURL string) *page {
	p := &page{t: t, ctx: tab(t), url: baseURL}
	// Accept confirmation dialogs (data-confirm / hx-confirm) as a user
	// would, and remember their text for assertions.
	dialogs := chromedp.Events(p.ctx, cdppage.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.dialogs = append(p.dialogs, ev.Message)
			p.mu.Unlock()
			_, _ = chromedp.Call(p.ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return p
}

// lastDialog returns the text of the last confirmation dialog shown.
func (p *page) lastDialog() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.dialogs) == 0 {
		return ""
	}
	return p.dialogs[len(p.dialogs)-1]
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	require.NoError(p.t, chromedp.Do(p.ctx, actions...))
}

func (p *page) open(path string) {
	p.t.Helper()
	p.do(chromedp.Navigate(p.url + path))
}

func (p *page) viewport(w, h int64) { p.t.Helper(); p.do(chromedp.EmulateViewport(w, h)) }

func tid(id string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + id + `"]`) }

// wait polls the current document until sel matches a visible element. (It
// polls with script rather than chromedp.WaitVisible, which can stall when a
// form submission replaces the document mid-query.)
func (p *page) wait(sel chromedp.CSS) {
	p.t.Helper()
	p.waitFor(`(() => { const e = document.querySelector(` + jsString(string(sel)) + `); return !!e && e.getClientRects().length > 0 })()`)
	p.settle()
}

// settle waits until htmx has no request, swap or settle in progress, so
// that focus moves made after a swap (autofocus) are done before typing.
func (p *page) settle() {
	p.t.Helper()
	p.waitFor(`document.readyState === "complete" && !document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")`)
}

func (p *page) click(sel chromedp.CSS) { p.t.Helper(); p.wait(sel); p.do(chromedp.Click(sel)) }

// fill replaces the value of an input by typing into it, and checks that the
// field holds the text afterwards (if focus moved while typing, it sets the
// value and fires the input events a user's typing would).
func (p *page) fill(sel chromedp.CSS, text string) {
	p.t.Helper()
	p.wait(sel)
	q := jsString(string(sel))
	_, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(() => { const e = document.querySelector(`+q+`); e.value = ""; return true })()`))
	require.NoError(p.t, err)
	p.do(chromedp.SendKeys(sel, text))
	ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(() => { const e = document.querySelector(`+q+`); return e.value === `+jsString(text)+` })()`))
	require.NoError(p.t, err)
	if !ok {
		_, err = chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(() => { const e = document.querySelector(`+q+`); e.focus(); e.value = `+jsString(text)+`;
			e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); return true })()`))
		require.NoError(p.t, err)
	}
}

func (p *page) text(sel chromedp.CSS) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(sel))
	require.NoError(p.t, err)
	return strings.TrimSpace(s)
}

func (p *page) location() string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Location())
	require.NoError(p.t, err)
	return strings.TrimPrefix(s, p.url)
}

// exists reports whether a selector matches now (no waiting).
func (p *page) exists(css string) bool {
	p.t.Helper()
	ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`document.querySelector(`+jsString(css)+`) !== null`))
	require.NoError(p.t, err)
	return ok
}

// waitFor polls a JavaScript condition.
func (p *page) waitFor(js string) {
	p.t.Helper()
	deadline := time.Now().Add(45 * time.Second) // generous: CI runs every package at once on 2 cores
	for {
		ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText.slice(0, 1500)`))
			p.t.Fatalf("timed out waiting for %s (last error %v); page:\n%s", js, err, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "`", "\\`", "$", `\$`)
	return "`" + r.Replace(s) + "`"
}

// screenshot saves a PNG of the page when LATCHKEY_E2E_SHOTS names a directory.
func (p *page) screenshot(name string) {
	dir := os.Getenv("LATCHKEY_E2E_SHOTS")
	if dir == "" {
		return
	}
	b, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err == nil {
		_ = os.WriteFile(dir+"/"+strings.ReplaceAll(name, "/", "-")+".png", b, 0o644)
	}
}
