package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/agent/wire"
	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// agentClient speaks the agent protocol to the test server, as latchkey-agent does.
type agentClient struct {
	t    *testing.T
	base string
	cred string
}

func (a *agentClient) post(path string, body io.Reader, header http.Header, out any) int {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.base+path, body)
	require.NoError(a.t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	if a.cred != "" {
		req.Header.Set("Authorization", "Bearer "+a.cred)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer res.Body.Close()
	if out != nil && res.StatusCode == http.StatusOK {
		require.NoError(a.t, json.NewDecoder(res.Body).Decode(out))
	}
	return res.StatusCode
}

func (a *agentClient) json(path string, in, out any) int {
	a.t.Helper()
	b, _ := json.Marshal(in)
	return a.post(path, bytes.NewReader(b), http.Header{"Content-Type": {"application/json"}}, out)
}

func (a *agentClient) poll(configVersion int) (*wire.PollResponse, int) {
	a.t.Helper()
	var resp wire.PollResponse
	st := a.json(wire.PathPoll+"?wait_ms=2000", wire.PollRequest{Hostname: "dc1", Version: "test", ConfigVersion: configVersion,
		Directory: wire.DirectoryStatus{Checked: true, OK: true, CheckedAt: time.Now()}}, &resp)
	return &resp, st
}

var agentCommandRe = regexp.MustCompile(`latchkey-agent enroll --server http://latchkey.test --token (lki_[A-Za-z0-9_-]+)`)

// dirSetup: a tenant with a customer, its directory settings and an enrolled
// agent (over HTTP); a technician's client.
func dirSetup(t *testing.T, dia db.Dialect) (*apptest.Env, *apptest.Client, string, *agentClient) {
	t.Helper()
	env := apptest.New(t, dia)
	f := env.Setup("Acme IT")
	cu := custCreate(t, env, f, "Globex", "globex.test")
	tech := env.CreateLogin(f, login.RoleTechnician, "tess@acme.example")
	c := env.Client()
	c.SignIn(tech.Email)

	// Settings: validation, then saved.
	res := c.PostForm("/customers/"+cu.ID+"/directory", url.Values{"url": {"http://dc1"}, "scope_kind": {"ou"}, "scope_dn": {"OU=Staff,DC=other,DC=test"}, "base_dn": {"DC=globex,DC=test"}})
	require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	for _, f := range []string{"url", "bind_user", "bind_password", "scope_dn"} {
		require.Contains(t, res.Body, `data-testid="error-`+f+`"`)
	}
	res = c.PostForm("/customers/"+cu.ID+"/directory", url.Values{"url": {"ldaps://dc1.globex.test"}, "bind_user": {"svc@globex.test"},
		"bind_password": {"Bind-Secret-1"}, "base_dn": {"DC=globex,DC=test"}, "scope_kind": {"base"}, "auto_import": {"on"}, "interval_hours": {"3"}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode, res.Body)
	res = c.Get("/customers/" + cu.ID + "/directory")
	require.NotContains(t, res.Body, "Bind-Secret-1", "the bind password is never shown")
	require.Contains(t, res.Body, "A password is saved")

	// An install token, shown once with the command.
	res = c.PostForm("/customers/"+cu.ID+"/agents/token", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, res.Header.Get("Cache-Control"), "no-store")
	m := agentCommandRe.FindStringSubmatch(res.Body)
	require.NotNil(t, m, "the enrolment command is shown")
	require.NotContains(t, c.Get("/customers/"+cu.ID).Body, m[1], "the token is not shown again")

	ag := &agentClient{t: t, base: env.URL}
	var enrolled wire.EnrollResponse
	require.Equal(t, http.StatusOK, ag.json(wire.PathEnroll, wire.EnrollRequest{Token: m[1], Hostname: "dc1.globex.test", Version: "1.0.0"}, &enrolled))
	require.Equal(t, http.StatusUnauthorized, ag.json(wire.PathEnroll, wire.EnrollRequest{Token: m[1]}, nil), "single use")
	ag.cred = enrolled.Credential
	resp, st := ag.poll(0)
	require.Equal(t, http.StatusOK, st)
	require.NotNil(t, resp.Config)
	require.Equal(t, "Bind-Secret-1", resp.Config.BindPassword)
	return env, c, cu.ID, ag
}

func TestDirectoryScreensAndAgentProtocol(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env, c, customerID, ag := dirSetup(t, d.Dialect)
		ctx := context.Background()

		// The customer page shows the agent online with its directory reachable.
		page := c.Get("/customers/" + customerID).Body
		require.Contains(t, page, `data-testid="agent-status">Online`)
		require.Contains(t, page, `data-testid="agent-directory">Reachable`)

		// Requests without or with a wrong credential are refused.
		anon := &agentClient{t: t, base: env.URL}
		_, st := anon.poll(0)
		require.Equal(t, http.StatusUnauthorized, st)
		anon.cred = "lka_not-a-real-credential"
		_, st = anon.poll(0)
		require.Equal(t, http.StatusUnauthorized, st)

		// Import now: the agent streams the users, the technician previews and applies.
		res := c.PostForm("/customers/"+customerID+"/directory/import", nil)
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		importURL := res.Header.Get("Location")
		require.Contains(t, c.Get(importURL).Body, `data-testid="import-waiting"`)
		resp, st := ag.poll(1)
		require.Equal(t, http.StatusOK, st)
		require.NotNil(t, resp.Task)
		require.Equal(t, wire.KindImport, resp.Task.Kind)
		var ndjson bytes.Buffer
		for _, u := range []wire.User{
			{GUID: "0f1e2d3c-0000-4000-8000-000000000001", Username: "ann", FirstName: "Ann", LastName: "Archer", Email: "ann@globex.test", Mobile: "+447700900123"},
			{GUID: "0f1e2d3c-0000-4000-8000-000000000002", Username: "root", FirstName: "Admin", Privileged: true, PrivilegedReason: "Member of Domain Admins"},
		} {
			b, _ := json.Marshal(u)
			ndjson.Write(append(b, '\n'))
		}
		// An upload for a task that is not an import in progress is refused.
		require.Equal(t, http.StatusNotFound, ag.post(wire.PathTasks+"nosuchtask/users", strings.NewReader("{}"), nil, nil))
		require.Equal(t, http.StatusOK, ag.post(wire.PathTasks+resp.Task.ID+"/users", &ndjson, http.Header{"Content-Type": {"application/x-ndjson"}}, nil))
		require.Equal(t, http.StatusOK, ag.json(wire.PathTasks+resp.Task.ID+"/result", wire.Result{OK: true, Users: 2}, nil))
		preview := c.Get(importURL + "?wait=1").Body
		require.Contains(t, preview, `data-testid="import-new">2<`)
		require.Contains(t, preview, "not offered self-serve", "the privileged account is flagged")
		res = c.PostForm(importURL+"/apply", url.Values{"enable_self_serve": {"on"}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Contains(t, c.Get(importURL).Body, `data-testid="import-applied"`)
		var ann struct {
			ID        string `bun:"id"`
			SelfServe bool   `bun:"self_serve_enabled"`
		}
		require.NoError(t, env.App.DB.Bun.NewSelect().Table("end_users").Column("id", "self_serve_enabled").Where("username = 'ann'").Scan(ctx, &ann))
		require.True(t, ann.SelfServe)
		var rootSelfServe bool
		require.NoError(t, env.App.DB.Bun.NewSelect().Table("end_users").Column("self_serve_enabled").Where("username = 'root'").Scan(ctx, &rootSelfServe))
		require.False(t, rootSelfServe, "privileged accounts are never turned on")

		// Reset from the end user's page: the panel waits, the agent does it.
		require.Contains(t, c.Get("/end-users/"+ann.ID).Body, `data-testid="reset-form"`)
		res = c.PostForm("/end-users/"+ann.ID+"/reset", url.Values{"password": {"Brand-New-Pass-1"}, "temporary": {"on"}}, "HX-Request", "true")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="task-waiting"`)
		require.Contains(t, res.Header.Get("Cache-Control"), "no-store")
		taskURL := regexp.MustCompile(`hx-get="(/directory/tasks/[a-z0-9]+)"`).FindStringSubmatch(res.Body)[1]
		resp, st = ag.poll(1)
		require.Equal(t, http.StatusOK, st)
		require.Equal(t, wire.KindReset, resp.Task.Kind)
		require.Equal(t, "Brand-New-Pass-1", resp.Task.Password)
		require.True(t, resp.Task.Temporary)
		require.Equal(t, http.StatusOK, ag.json(wire.PathTasks+resp.Task.ID+"/result",
			wire.Result{OK: true, User: &wire.User{GUID: "0f1e2d3c-0000-4000-8000-000000000001", Username: "ann", MustChange: true}}, nil))
		done := c.Get(taskURL).Body
		require.Contains(t, done, `data-testid="task-ok"`)
		require.Contains(t, done, "must change it at next logon")

		// A directory refusal comes back readable.
		res = c.PostForm("/end-users/"+ann.ID+"/reset", url.Values{"password": {"abc"}}, "HX-Request", "true")
		taskURL = regexp.MustCompile(`hx-get="(/directory/tasks/[a-z0-9]+)"`).FindStringSubmatch(res.Body)[1]
		resp, _ = ag.poll(1)
		require.Equal(t, http.StatusOK, ag.json(wire.PathTasks+resp.Task.ID+"/result", wire.Result{Error: &wire.Error{Kind: "policy",
			Message: "The directory rejected the password: Use at least 7 characters.", Detail: "0000052D: Constraint violation"}}, nil))
		failed := c.Get(taskURL).Body
		require.Contains(t, failed, `data-testid="task-failed"`)
		require.Contains(t, failed, "Use at least 7 characters")

		// An empty password never reaches the agent.
		res = c.PostForm("/end-users/"+ann.ID+"/reset", url.Values{"password": {""}}, "HX-Request", "true")
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, "Enter a password")

		// The events record the reset without the password.
		n, err := env.App.DB.Bun.NewSelect().Table("audit_events").Where("action = 'enduser.password_reset'").Count(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 2, n)
		n, err = env.App.DB.Bun.NewSelect().Table("audit_events").Where("detail LIKE '%Brand-New%'").Count(ctx)
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

func TestDirectoryRoutesAreTenantScoped(t *testing.T) {
	t.Parallel()
	env, c, customerID, ag := dirSetup(t, db.SQLite)
	ctx := context.Background()
	// Something of every kind to point at: an import, a task, an end user, an agent.
	res := c.PostForm("/customers/"+customerID+"/directory/import", nil)
	importURL := res.Header.Get("Location")
	resp, _ := ag.poll(1)
	require.Equal(t, http.StatusOK, ag.json(wire.PathTasks+resp.Task.ID+"/result", wire.Result{Error: &wire.Error{Kind: "unreachable", Message: "down"}}, nil))
	var agentID, endUserID string
	require.NoError(t, env.App.DB.Bun.NewSelect().Table("agents").Column("id").Scan(ctx, &agentID))
	endUserID = db.NewID()
	_, err := env.App.DB.Bun.ExecContext(ctx, "INSERT INTO end_users (id, tenant_id, customer_id, username, source, external_id, created_at, updated_at) SELECT ?, tenant_id, id, 'zed', 'ad', 'guid-zed', created_at, created_at FROM customers WHERE id = ?", endUserID, customerID)
	require.NoError(t, err)
	res = c.PostForm("/end-users/"+endUserID+"/unlock", nil, "HX-Request", "true")
	taskURL := regexp.MustCompile(`hx-get="(/directory/tasks/[a-z0-9]+)"`).FindStringSubmatch(res.Body)[1]

	// Another MSP's Primary gets 404 everywhere.
	f2 := env.Setup("Other MSP")
	other := env.Client()
	other.SignIn(f2.Primary.Email)
	for _, p := range []string{"/customers/" + customerID + "/directory/card", "/customers/" + customerID + "/directory",
		importURL, taskURL, "/end-users/" + endUserID} {
		require.Equal(t, http.StatusNotFound, other.Get(p).StatusCode, p)
		require.Equal(t, http.StatusNotFound, other.Get(p, "HX-Request", "true").StatusCode, p+" (htmx)")
	}
	for _, p := range []string{"/customers/" + customerID + "/agents/token", "/customers/" + customerID + "/directory",
		"/customers/" + customerID + "/directory/check", "/customers/" + customerID + "/directory/import",
		importURL + "/apply", importURL + "/discard", "/end-users/" + endUserID + "/reset", "/end-users/" + endUserID + "/unlock",
		"/agents/" + agentID + "/revoke"} {
		res := other.PostForm(p, url.Values{"password": {"Whatever-1-Pass"}, "url": {"ldaps://x"}, "bind_user": {"u"}, "bind_password": {"p"}, "base_dn": {"DC=x"}, "scope_kind": {"base"}})
		require.Equal(t, http.StatusNotFound, res.StatusCode, p)
	}
	// Revoking takes a Primary or Super.
	require.Equal(t, http.StatusForbidden, c.PostForm("/agents/"+agentID+"/revoke", nil).StatusCode)
	// And the agent still works: nothing above changed it.
	_, st := ag.poll(1)
	require.NotEqual(t, http.StatusUnauthorized, st)
}

// TestDirectoryInstallTokenStaysPut: the card that shows a new install token
// neither refreshes itself (which would take the token away before it is
// copied) nor lets htmx keep the page, token included, in its history cache.
func TestDirectoryInstallTokenStaysPut(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apptest.New(t, d.Dialect)
		f := env.Setup("Acme IT")
		cu := custCreate(t, env, f, "Globex", "globex.test")
		c := env.Client()
		c.SignIn(f.Primary.Email)

		card := c.Get("/customers/"+cu.ID+"/directory/card", "HX-Request", "true")
		require.Equal(t, http.StatusOK, card.StatusCode)
		require.Contains(t, card.Body, `hx-trigger="every 30s"`, "without a token the card refreshes itself")

		for _, headers := range [][]string{{"HX-Request", "true"}, nil} {
			res := c.PostForm("/customers/"+cu.ID+"/agents/token", nil, headers...)
			require.Equal(t, http.StatusOK, res.StatusCode)
			require.NotNil(t, agentCommandRe.FindStringSubmatch(res.Body))
			require.NotContains(t, res.Body, `hx-trigger="every 30s"`, "the token card must not replace itself")
			require.Contains(t, res.Body, `hx-history="false"`)
		}

		// The token card asks every 5 seconds whether its token was used:
		// 204 (no swap) until an agent enrols with it, then the card shows
		// the agent without the token.
		res := c.PostForm("/customers/"+cu.ID+"/agents/token", nil, "HX-Request", "true")
		poll := regexp.MustCompile(`hx-get="(/customers/[a-z0-9]+/directory/card\?token=[a-z0-9]+)" hx-trigger="every 5s"`).FindStringSubmatch(res.Body)
		require.NotNil(t, poll, "the token card polls: %s", res.Body)
		token := agentCommandRe.FindStringSubmatch(res.Body)[1]
		require.Equal(t, http.StatusNoContent, c.Get(poll[1], "HX-Request", "true").StatusCode)
		other := env.Setup("Other MSP")
		oc := env.Client()
		oc.SignIn(other.Primary.Email)
		require.Equal(t, http.StatusNotFound, oc.Get(poll[1], "HX-Request", "true").StatusCode, "another MSP")
		cu2 := custCreate(t, env, f, "Initech", "initech.test")
		require.Equal(t, http.StatusNotFound, c.Get(strings.Replace(poll[1], cu.ID, cu2.ID, 1), "HX-Request", "true").StatusCode, "another customer's token")
		ag := &agentClient{t: t, base: env.URL}
		require.Equal(t, http.StatusOK, ag.json(wire.PathEnroll, wire.EnrollRequest{Token: token, Hostname: "dc1.globex.test", Version: "1.0.0"}, nil))
		done := c.Get(poll[1], "HX-Request", "true")
		require.Equal(t, http.StatusOK, done.StatusCode)
		require.Contains(t, done.Body, "The agent on dc1.globex.test enrolled with the install token.")
		require.Contains(t, done.Body, `data-testid="agent-status">Online`)
		require.NotContains(t, done.Body, token)
		require.Contains(t, done.Body, `hx-trigger="every 30s"`, "back to the card's own refresh")

		// A token that expires unused says so.
		res = c.PostForm("/customers/"+cu.ID+"/agents/token", nil, "HX-Request", "true")
		poll = regexp.MustCompile(`hx-get="(/customers/[a-z0-9]+/directory/card\?token=[a-z0-9]+)"`).FindStringSubmatch(res.Body)
		_, err := env.App.DB.Bun.NewUpdate().Table("agent_install_tokens").Set("expires_at = ?", time.Now().Add(-time.Minute)).
			Where("used_at IS NULL").Exec(context.Background())
		require.NoError(t, err)
		expired := c.Get(poll[1], "HX-Request", "true")
		require.Equal(t, http.StatusOK, expired.StatusCode)
		require.Contains(t, expired.Body, "The install token expired unused.")
	})
}

// TestDirectoryImportPreviewReadOnlyForHelpDesk: a Help desk login may look
// at an import's preview, but is not offered Import or Discard, which it
// may not do.
func TestDirectoryImportPreviewReadOnlyForHelpDesk(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env, c, customerID, ag := dirSetup(t, d.Dialect)
		res := c.PostForm("/customers/"+customerID+"/directory/import", nil)
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		importURL := res.Header.Get("Location")
		resp, _ := ag.poll(1)
		require.NotNil(t, resp.Task)
		b, _ := json.Marshal(wire.User{GUID: "0f1e2d3c-0000-4000-8000-000000000001", Username: "ann", FirstName: "Ann"})
		require.Equal(t, http.StatusOK, ag.post(wire.PathTasks+resp.Task.ID+"/users", bytes.NewReader(append(b, '\n')), http.Header{"Content-Type": {"application/x-ndjson"}}, nil))
		require.Equal(t, http.StatusOK, ag.json(wire.PathTasks+resp.Task.ID+"/result", wire.Result{OK: true, Users: 1}, nil))
		require.Contains(t, c.Get(importURL+"?wait=1").Body, `data-testid="import-apply"`, "a technician may apply")

		var tenantID string
		require.NoError(t, env.App.DB.Bun.NewSelect().Table("customers").Column("tenant_id").Where("id = ?", customerID).Scan(context.Background(), &tenantID))
		help := env.CreateLogin(&apptest.Fixture{Tenant: &tenant.Tenant{ID: tenantID}}, login.RoleHelpDesk, "hank@acme.example")
		hc := env.Client()
		hc.SignIn(help.Email)
		page := hc.Get(importURL)
		require.Equal(t, http.StatusOK, page.StatusCode)
		require.Contains(t, page.Body, `data-testid="import-new"`, "the preview is shown")
		require.NotContains(t, page.Body, `data-testid="import-apply"`)
		require.NotContains(t, page.Body, `data-testid="import-discard"`)
		require.Equal(t, http.StatusForbidden, hc.PostForm(importURL+"/apply", nil).StatusCode)
	})
}

// TestDirectoryCardSaysWhenDueImportStarts: an automatic import that is due
// says whether it starts now (an agent online), when an agent is back, or
// when one is enrolled.
func TestDirectoryCardSaysWhenDueImportStarts(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env, c, customerID, _ := dirSetup(t, d.Dialect)
		ctx := context.Background()
		card := func() string {
			res := c.Get("/customers/"+customerID+"/directory/card", "HX-Request", "true")
			require.Equal(t, http.StatusOK, res.StatusCode)
			return res.Body
		}
		setNext := func(at time.Time) {
			_, err := env.App.DB.Bun.NewUpdate().Table("directory_settings").Set("next_import_at = ?", at).
				Where("customer_id = ?", customerID).Exec(ctx)
			require.NoError(t, err)
		}
		setNext(time.Now().Add(time.Hour))
		require.NotContains(t, card(), "<dd>Due", "not due yet: the card gives a time")
		setNext(time.Now().Add(-time.Minute))
		require.Contains(t, card(), "<dd>Due now: starts within a minute</dd>")
		_, err := env.App.DB.Bun.NewUpdate().Table("agents").Set("last_seen_at = ?", time.Now().Add(-time.Hour)).
			Where("customer_id = ?", customerID).Exec(ctx)
		require.NoError(t, err)
		require.Contains(t, card(), "<dd>Due: starts when an agent is back online</dd>")
		_, err = env.App.DB.Bun.NewUpdate().Table("agents").Set("revoked_at = ?", time.Now()).
			Where("customer_id = ?", customerID).Exec(ctx)
		require.NoError(t, err)
		require.Contains(t, card(), "<dd>Due: waits for an agent to be enrolled</dd>")
	})
}
