// Package apptest boots the whole Latchkey application on a fresh database
// (SQLite or PostgreSQL) listening on a free port, and offers an HTTP client
// that keeps cookies and CSRF tokens like a browser, plus fixtures.
package apptest

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app"
	"github.com/latchkey/latchkey/app/config"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// Password is the password of every fixture login.
const Password = "correct horse battery staple"

// Clock is a settable clock for time-dependent tests.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time (real time plus any advance).
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		return time.Now()
	}
	return c.now
}

// Set fixes the clock at t.
func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// Advance moves the clock forward (from real time when unset).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = time.Now()
	}
	c.now = c.now.Add(d)
}

// Env is a running application for one test.
type Env struct {
	T     testing.TB
	App   *app.App
	URL   string // http://127.0.0.1:port
	Clock *Clock
	Log   *strings.Builder

	cfg config.Config
	log *slog.Logger
}

// Restart stops the application (as a crash would: without waiting for
// requests in flight) and starts a new one on the same database, keys and
// address.
func (e *Env) Restart() {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	_ = e.App.Close(ctx)
	cancel()
	cfg := e.cfg
	cfg.Addr = strings.TrimPrefix(e.URL, "http://")
	var a *app.App
	var err error
	// The old listener's port can take a moment to be free again.
	for range 50 {
		a, err = app.New(context.Background(), cfg, e.log, app.Options{Now: e.Clock.Now})
		require.NoError(e.T, err)
		if err = a.Start(context.Background()); err == nil {
			break
		}
		_ = a.Close(context.Background())
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(e.T, err)
	e.App = a
	e.T.Cleanup(func() { _ = a.Close(context.Background()) })
}

// Another starts a second application process on the same database, keys
// and clock, listening on its own port (several server processes sharing
// one PostgreSQL database). It is closed when the test ends.
func (e *Env) Another() *Env {
	e.T.Helper()
	cfg := e.cfg
	cfg.Addr = "127.0.0.1:0"
	a, err := app.New(context.Background(), cfg, e.log, app.Options{Now: e.Clock.Now})
	require.NoError(e.T, err)
	require.NoError(e.T, a.Start(context.Background()))
	e.T.Cleanup(func() { _ = a.Close(context.Background()) })
	return &Env{T: e.T, App: a, URL: "http://" + a.Addr(), Clock: e.Clock, Log: e.Log, cfg: cfg, log: e.log}
}

// Options change how the application is configured.
type Options struct {
	// Configure edits the configuration before the app starts.
	Configure func(*config.Config)
	// NoWorkers leaves River stopped (jobs stay queued).
	NoWorkers bool
}

type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// New starts the application on a fresh database of the dialect.
func New(tb testing.TB, dia db.Dialect, opts ...Options) *Env {
	tb.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	key, err := secret.GenerateKey()
	require.NoError(tb, err)
	env := map[string]string{
		"LATCHKEY_ADDR":         "127.0.0.1:0",
		"LATCHKEY_DATA_DIR":     tb.TempDir(),
		"LATCHKEY_DATABASE_URL": dbtest.NewURL(tb, dia),
		"LATCHKEY_BASE_URL":     "http://latchkey.test",
		"LATCHKEY_MASTER_KEY":   key,
		"LATCHKEY_LOG_LEVEL":    "warn",
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	require.NoError(tb, err)
	if o.NoWorkers {
		cfg.Workers = false
	}
	cfg.ShutdownTimeout = 5 * time.Second
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	logs := &strings.Builder{}
	log := slog.New(slog.NewTextHandler(&syncWriter{b: logs}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	clock := &Clock{}
	a, err := app.New(context.Background(), cfg, log, app.Options{Now: clock.Now})
	require.NoError(tb, err)
	require.NoError(tb, a.Start(context.Background()))
	tb.Cleanup(func() { _ = a.Close(context.Background()) })
	return &Env{T: tb, App: a, URL: "http://" + a.Addr(), Clock: clock, Log: logs, cfg: cfg, log: log}
}

// Statements returns how many SQL statements the app has sent (bun queries
// and session-store round trips). Compare before and after one request, with
// NoWorkers set so that River's polling does not count.
func (e *Env) Statements() int64 { return e.App.DB.Statements() }

// Fixture is a tenant and its Primary login, with setup finished.
type Fixture struct {
	Tenant  *tenant.Tenant
	Primary *login.Login
}

// Setup creates a tenant with a Primary login (password Password) and marks
// the setup wizard finished.
func (e *Env) Setup(name string) *Fixture {
	e.T.Helper()
	ctx := context.Background()
	slug := strings.ToLower(strings.ReplaceAll(name, " ", ""))
	t, l, err := e.App.Logins.CreateTenantWithPrimary(ctx, login.PrimaryInput{
		FirstName: "Pat", LastName: "Primary", Email: "pat@" + slug + ".example", Password: Password, Confirm: Password,
	}, "127.0.0.1")
	if apperrConflict(err) {
		// A second tenant in the same installation (tenant isolation tests).
		t, l = e.insertTenant(name, slug)
	} else {
		require.NoError(e.T, err)
	}
	now := time.Now().UTC()
	_, err = e.App.DB.Bun.NewUpdate().Model((*tenant.Tenant)(nil)).Set("name = ?", name).Set("setup_step = ?", tenant.StepDone).
		Set("setup_completed_at = ?", now).Where("id = ?", t.ID).Exec(ctx)
	require.NoError(e.T, err)
	t, err = tenant.Get(ctx, e.App.DB.Bun, t.ID)
	require.NoError(e.T, err)
	return &Fixture{Tenant: t, Primary: l}
}

func apperrConflict(err error) bool { return err != nil && strings.Contains(err.Error(), "conflict") }

func (e *Env) insertTenant(name, slug string) (*tenant.Tenant, *login.Login) {
	ctx := context.Background()
	now := time.Now().UTC()
	t := tenant.New(now)
	t.Name = name
	require.NoError(e.T, tenant.Insert(ctx, e.App.DB.Bun, t))
	l := e.insertLogin(t.ID, login.RolePrimary, "pat@"+slug+".example")
	return t, l
}

// CreateLogin adds an active login of the role to the fixture's tenant, with password Password.
func (e *Env) CreateLogin(f *Fixture, role login.Role, email string) *login.Login {
	e.T.Helper()
	return e.insertLogin(f.Tenant.ID, role, email)
}

var hashOnce struct {
	sync.Once
	hash string
}

func (e *Env) insertLogin(tenantID string, role login.Role, email string) *login.Login {
	hashOnce.Do(func() {
		h, err := e.App.Web.Hasher.Hash(context.Background(), Password)
		require.NoError(e.T, err)
		hashOnce.hash = h
	})
	now := time.Now().UTC()
	l := &login.Login{
		ID: db.NewID(), TenantID: tenantID, Email: strings.ToLower(email), FirstName: strings.Split(email, "@")[0], LastName: "Tester",
		Role: role, Status: login.StatusActive, PasswordHash: hashOnce.hash, PasswordChangedAt: &now,
		SessionsValidAfter: now.Add(-time.Minute), CreatedAt: now, UpdatedAt: now,
	}
	_, err := e.App.DB.Bun.NewInsert().Model(l).Exec(context.Background())
	require.NoError(e.T, err)
	return l
}

// Client is a browser-like HTTP client: it keeps cookies, does not follow
// redirects, and sends the CSRF token it last saw with unsafe requests.
type Client struct {
	env  *Env
	HTTP *http.Client
	csrf string
}

// Response is a finished request with its body read.
type Response struct {
	*http.Response
	Body string
}

// Client returns a new client with an empty cookie jar.
func (e *Env) Client() *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{env: e, HTTP: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

var csrfRe = regexp.MustCompile(`name="_csrf" value="([^"]+)"|&#34;X-CSRF-Token&#34;:&#34;([^&]+)&#34;|"X-CSRF-Token":"([^"]+)"`)

// Do sends req and reads the response, remembering any CSRF token in it.
func (c *Client) Do(req *http.Request) *Response {
	c.env.T.Helper()
	res, err := c.HTTP.Do(req)
	require.NoError(c.env.T, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(c.env.T, err)
	if m := csrfRe.FindStringSubmatch(string(b)); m != nil {
		c.csrf = html.UnescapeString(m[1] + m[2] + m[3])
	}
	return &Response{Response: res, Body: string(b)}
}

// Get fetches path.
func (c *Client) Get(path string, headers ...string) *Response {
	c.env.T.Helper()
	req, err := http.NewRequest(http.MethodGet, c.env.URL+path, nil)
	require.NoError(c.env.T, err)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return c.Do(req)
}

// CSRF returns the token to send, fetching a page first when none is known.
func (c *Client) CSRF() string {
	if c.csrf == "" {
		c.Get("/signin")
	}
	return c.csrf
}

// PostForm posts values with the session's CSRF token added as _csrf.
func (c *Client) PostForm(path string, values url.Values, headers ...string) *Response {
	c.env.T.Helper()
	v := url.Values{}
	for k, vs := range values {
		v[k] = vs
	}
	if v.Get("_csrf") == "" {
		v.Set("_csrf", c.CSRF())
	}
	return c.PostRaw(path, "application/x-www-form-urlencoded", strings.NewReader(v.Encode()), headers...)
}

// PostRaw posts a body as is (no CSRF token is added).
func (c *Client) PostRaw(path, contentType string, body io.Reader, headers ...string) *Response {
	c.env.T.Helper()
	req, err := http.NewRequest(http.MethodPost, c.env.URL+path, body)
	require.NoError(c.env.T, err)
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return c.Do(req)
}

// SignIn signs in with email and Password (no MFA) and checks it worked.
func (c *Client) SignIn(email string) {
	c.env.T.Helper()
	res := c.PostForm("/signin", url.Values{"email": {email}, "password": {Password}})
	require.Equal(c.env.T, http.StatusSeeOther, res.StatusCode, "sign-in of %s: %s", email, res.Body)
	require.Equal(c.env.T, "/", res.Header.Get("Location"))
	c.Get("/") // pick up a CSRF token of the new session
}

// Cookie returns the named cookie's value for the app's URL, or "".
func (c *Client) Cookie(name string) string {
	u, _ := url.Parse(c.env.URL)
	for _, ck := range c.HTTP.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// WaitFor polls cond every 20 ms until it holds or timeout passes.
func WaitFor(tb testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for: %s", timeout, fmt.Sprintf(msg, args...))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
