package e2e

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/agentrun"
	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/directory/ad"
	"github.com/latchkey/latchkey/app/directory/ad/samba"
	"github.com/latchkey/latchkey/db"
)

// TestBrowserActiveDirectory connects a customer to a real Samba AD DC from
// the screens: directory settings, an install token the agent enrols with,
// the agent shown online, Import now with its preview, then a temporary
// password reset from the end user's page, checked in the directory.
func TestBrowserActiveDirectory(t *testing.T) {
	t.Parallel()
	dc := samba.Start(t)
	staff := dc.CreateOU(t, "Staff")
	dc.CreateUser(t, staff, "ann", samba.UserOpts{First: "Ann", Last: "Archer", Mail: "ann@globex.test", Mobile: "+447700900123"})
	dc.CreateUser(t, staff, "bob", samba.UserOpts{First: "Bob", Last: "Baker"})

	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	now := time.Now().UTC()
	cu := &customer.Customer{ID: db.NewID(), TenantID: f.Tenant.ID, Name: "Globex", Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
	_, err := env.App.DB.Bun.NewInsert().Model(cu).Exec(context.Background())
	require.NoError(t, err)

	p := newPage(t, env.URL)
	signIn(p, f.Primary.Email)
	p.open("/customers/" + cu.ID)
	p.wait(tid("directory-not-configured"))
	p.wait(tid("agents-empty"))

	// Directory settings.
	p.click(tid("directory-settings-link"))
	p.wait(tid("directory-form"))
	cfg := dc.Config()
	p.fill(`#f-url`, cfg.URL)
	p.fill(`#f-bind_user`, cfg.BindUser)
	p.fill(`#f-bind_password`, cfg.BindPassword)
	p.fill(`#f-base_dn`, cfg.BaseDN)
	p.click(tid("scope-ou"))
	p.fill(`#f-scope_dn`, staff)
	// A PEM pasted at once (typing its line breaks key by key is slow).
	_, err = chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(() => { document.querySelector("#f-ca_cert_pem").value = `+jsString(string(cfg.CACertPEM))+`; return true })()`))
	require.NoError(t, err)
	p.click(tid("directory-save"))
	p.wait(tid("directory-summary"))
	require.Contains(t, p.text(tid("directory-summary")), "OU=Staff")

	// An install token and the command; the agent enrols with it and runs.
	p.click(tid("agent-token"))
	p.wait(tid("agent-command"))
	cmd, err := chromedpValue(p, `[data-testid="agent-command"]`)
	require.NoError(t, err)
	token := cmd[strings.LastIndex(cmd, " ")+1:]
	require.True(t, strings.HasPrefix(token, "lki_"), cmd)
	p.screenshot("directory-install-token")
	state := filepath.Join(t.TempDir(), "agent.json")
	// The command names LATCHKEY_BASE_URL; this test's server listens elsewhere.
	_, err = agentrun.Enroll(context.Background(), env.URL, token, state, agentrun.ServerOptions{})
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agentrun.Run(ctx, agentrun.Options{StatePath: state, Open: agentrun.OpenAD, PollWait: 5 * time.Second, HeartbeatEvery: time.Second, Hostname: "dc1.globex.test"})
	}()
	t.Cleanup(func() { stop(); <-done })
	// The card, still showing the token, notices the enrolment by itself.
	p.wait(chromedp.CSS(`#directory-card .alert-ok`))
	require.Contains(t, p.text(chromedp.CSS(`#directory-card .alert-ok`)), "enrolled with the install token")
	require.False(t, p.exists(`[data-testid="agent-command"]`), "the used token is gone")

	// The card shows the agent online with its directory reachable.
	deadline := time.Now().Add(30 * time.Second)
	for {
		p.open("/customers/" + cu.ID)
		p.wait(tid("directory-card"))
		if p.exists(`[data-testid="agent-directory"]`) && p.text(tid("agent-directory")) == "Reachable" {
			break
		}
		require.True(t, time.Now().Before(deadline), "the agent never showed as online and reachable")
		time.Sleep(300 * time.Millisecond)
	}
	require.Equal(t, "Online", p.text(tid("agent-status")))
	p.screenshot("directory-agent-online")

	// Import now: the preview, then the import with self-serve on.
	p.click(tid("directory-import"))
	p.wait(tid("import-preview"))
	require.Equal(t, "2", p.text(tid("import-new")))
	require.Contains(t, p.text(tid("import-new-list")), "Ann Archer")
	p.screenshot("directory-import-preview")
	p.click(tid("import-enable"))
	p.click(tid("import-apply"))
	p.wait(tid("import-applied"))

	// The grid shows the imported end users; Ann's name opens her page,
	// where a temporary reset goes to the directory.
	var annID string
	require.NoError(t, env.App.DB.Bun.NewSelect().Table("end_users").Column("id").Where("username = 'ann'").Scan(context.Background(), &annID))
	p.open("/customers/" + cu.ID + "/end-users")
	p.click(chromedp.CSS(`[data-testid="eu-row-ann"] [data-testid="eu-name"]`))
	p.wait(tid("reset-form"))
	require.Equal(t, "/end-users/"+annID, p.location())
	p.fill(tid("reset-password"), "Browser-Reset-77!")
	p.click(tid("reset-submit"))
	p.wait(tid("task-ok"))
	require.Contains(t, p.text(tid("task-ok")), "must change it at next logon")
	p.screenshot("directory-reset-done")
	err = dc.Bind("ann@"+dc.Realm, "Browser-Reset-77!")
	require.True(t, errors.Is(err, ad.KindMustChange), "temporary: must change at next logon, got %v", err)
}
