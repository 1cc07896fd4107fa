// Package adsite gives a test a customer with a real Active Directory: a
// Samba AD DC, the customer's directory settings, and a running
// latchkey-agent enrolled with the test's Latchkey server.
//
//	env := apptest.New(t, db.SQLite)
//	f := env.Setup("Acme IT")
//	site := adsite.Start(t, env, f)
//	ou := site.DC.CreateOU(t, "Staff")
//	site.DC.CreateUser(t, ou, "ann", samba.UserOpts{First: "Ann", Mail: "ann@example.test", Mobile: "+447700900123"})
//	site.Import(true) // end users of site.CustomerID, self-serve on
package adsite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/agent"
	"github.com/latchkey/latchkey/app/agentrun"
	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/directory/ad/samba"
	"github.com/latchkey/latchkey/db"
)

// Site is a customer with a domain controller and a running agent.
type Site struct {
	T          testing.TB
	Env        *apptest.Env
	DC         *samba.DC
	Actor      audit.Actor // the fixture's Primary
	CustomerID string
	State      string // the agent's state file

	stop context.CancelFunc
	done chan error
}

// Start creates a customer "Globex" for the fixture's tenant with a Samba
// DC, directory settings (LDAPS, whole domain), and a running agent.
func Start(t testing.TB, env *apptest.Env, f *apptest.Fixture) *Site {
	t.Helper()
	dc := samba.Start(t)
	ctx := context.Background()
	now := time.Now().UTC()
	cu := &customer.Customer{ID: db.NewID(), TenantID: f.Tenant.ID, Name: "Globex", Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
	_, err := env.App.DB.Bun.NewInsert().Model(cu).Exec(ctx)
	require.NoError(t, err)
	s := &Site{T: t, Env: env, DC: dc, CustomerID: cu.ID, State: filepath.Join(t.TempDir(), "agent.json"),
		Actor: audit.Actor{TenantID: f.Tenant.ID, LoginID: f.Primary.ID, Name: f.Primary.Name(), Role: string(f.Primary.Role), IP: "192.0.2.1"}}
	s.Scope(agent.ScopeBase, "")
	tok, err := env.App.Agents.CreateInstallToken(ctx, s.Actor, cu.ID)
	require.NoError(t, err)
	_, err = agentrun.Enroll(ctx, env.URL, tok.Token, s.State, agentrun.ServerOptions{})
	require.NoError(t, err)
	s.StartAgent()
	return s
}

// Scope changes what imports read (agent.ScopeBase, ScopeOU or ScopeGroup).
func (s *Site) Scope(kind, dn string) {
	s.T.Helper()
	cfg := s.DC.Config()
	_, err := s.Env.App.Agents.SaveSettings(context.Background(), s.Actor, s.CustomerID, agent.SettingsInput{
		URL: cfg.URL, BindUser: cfg.BindUser, BindPassword: cfg.BindPassword, BaseDN: cfg.BaseDN,
		ScopeKind: kind, ScopeDN: dn, CACertPEM: string(cfg.CACertPEM)})
	require.NoError(s.T, err)
}

// StartAgent runs the agent until StopAgent or the end of the test.
func (s *Site) StartAgent() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop, s.done = cancel, make(chan error, 1)
	go func() {
		s.done <- agentrun.Run(ctx, agentrun.Options{StatePath: s.State, Open: agentrun.OpenAD,
			PollWait: 5 * time.Second, HeartbeatEvery: 2 * time.Second, Hostname: "dc1." + samba.Realm})
	}()
	s.T.Cleanup(s.StopAgent)
}

// StopAgent stops the agent.
func (s *Site) StopAgent() {
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.T.Error("adsite: the agent did not stop")
	}
}

// Import runs a manual import and applies it (self-serve on for new end
// users when enable), and returns the applied import.
func (s *Site) Import(enable bool) *agent.Import {
	s.T.Helper()
	ctx := context.Background()
	im, err := s.Env.App.Agents.StartImport(ctx, s.Actor, s.CustomerID, agent.TriggerManual)
	require.NoError(s.T, err)
	im, err = s.Env.App.Agents.WaitImport(ctx, s.Actor.TenantID, im.ID, 60*time.Second)
	require.NoError(s.T, err)
	require.Equal(s.T, agent.ImportPreview, im.State, "import: %s", im.ErrorMessage)
	done, err := s.Env.App.Agents.ApplyImport(ctx, s.Actor, im.ID, enable)
	require.NoError(s.T, err)
	return done
}

// EndUserID is the id of the customer's end user with the username.
func (s *Site) EndUserID(username string) string {
	s.T.Helper()
	var id string
	err := s.Env.App.DB.Bun.NewSelect().Table("end_users").Column("id").
		Where("customer_id = ? AND lower(username) = lower(?)", s.CustomerID, username).Scan(context.Background(), &id)
	require.NoError(s.T, err, "end user %s", username)
	return id
}

// Bind checks a user's password against the DC (sam is the sAMAccountName).
func (s *Site) Bind(sam, password string) error {
	return s.DC.Bind(sam+"@"+s.DC.Realm, password)
}
