package agent_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/agent"
	"github.com/latchkey/latchkey/app/agent/wire"
	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	d        *db.DB
	svc      *agent.Service
	clk      *clock
	actor    audit.Actor
	customer *customer.Customer
	other    audit.Actor // another tenant's technician
	otherCu  *customer.Customer
	keyEntry string // the keyring's key, as in LATCHKEY_MASTER_KEY
}

func setup(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	key, err := secret.GenerateKey()
	require.NoError(t, err)
	keys, err := secret.ParseKeys(key)
	require.NoError(t, err)
	f := &fixture{d: d, clk: clk, keyEntry: key, svc: agent.New(agent.Deps{DB: d, Keys: keys, Now: clk.now, BaseURL: "https://latchkey.test"})}
	for i, name := range []string{"Acme IT", "Other MSP"} {
		tn := tenant.New(clk.now())
		tn.Name = name
		tn.Phone = "+442071234567"
		require.NoError(t, tenant.Insert(ctx, d.Bun, tn))
		cu := &customer.Customer{ID: db.NewID(), TenantID: tn.ID, Name: name + " client", Source: customer.SourceManual,
			CreatedAt: clk.now(), UpdatedAt: clk.now()}
		_, err := d.Bun.NewInsert().Model(cu).Exec(ctx)
		require.NoError(t, err)
		a := audit.Actor{TenantID: tn.ID, LoginID: "tech-" + tn.ID, Name: "Tess Tech", Role: "technician", IP: "192.0.2.1"}
		if i == 0 {
			f.actor, f.customer = a, cu
		} else {
			f.other, f.otherCu = a, cu
		}
	}
	return f
}

func (f *fixture) settings(t *testing.T, a audit.Actor, customerID string) {
	t.Helper()
	_, err := f.svc.SaveSettings(context.Background(), a, customerID, agent.SettingsInput{
		URL: "ldaps://dc1.example.local", BindUser: "svc@example.local", BindPassword: "s3cret-bind",
		BaseDN: "DC=example,DC=local", ScopeKind: agent.ScopeBase, AutoImport: true})
	require.NoError(t, err)
}

func (f *fixture) enroll(t *testing.T, a audit.Actor, customerID string) (*agent.Agent, string) {
	t.Helper()
	ctx := context.Background()
	tok, err := f.svc.CreateInstallToken(ctx, a, customerID)
	require.NoError(t, err)
	resp, err := f.svc.Enroll(ctx, wire.EnrollRequest{Token: tok.Token, Hostname: "dc1", Version: "1.0.0"}, "198.51.100.7")
	require.NoError(t, err)
	ag, err := f.svc.Authenticate(ctx, resp.Credential)
	require.NoError(t, err)
	return ag, resp.Credential
}

func (f *fixture) adUser(t *testing.T, customerID, tenantID, username, guid string) string {
	t.Helper()
	id := db.NewID()
	now := f.clk.now()
	_, err := f.d.Bun.ExecContext(context.Background(), "INSERT INTO end_users (id, tenant_id, customer_id, username, source, external_id, created_at, updated_at) VALUES (?, ?, ?, ?, 'ad', ?, ?, ?)",
		id, tenantID, customerID, username, guid, now, now)
	require.NoError(t, err)
	return id
}

func TestInstallTokenIsSingleUseAndExpires(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		tok, err := f.svc.CreateInstallToken(ctx, f.actor, f.customer.ID)
		require.NoError(t, err)
		require.Contains(t, tok.Command, "latchkey-agent enroll --server https://latchkey.test --token "+tok.Token)
		require.WithinDuration(t, f.clk.now().Add(24*time.Hour), tok.ExpiresAt, time.Second)

		resp, err := f.svc.Enroll(ctx, wire.EnrollRequest{Token: tok.Token, Hostname: "dc1"}, "")
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(resp.Credential, "lka_"))
		require.Equal(t, "Acme IT client", resp.Customer)
		// Once only.
		_, err = f.svc.Enroll(ctx, wire.EnrollRequest{Token: tok.Token}, "")
		require.ErrorIs(t, err, agent.ErrUnauthorized)
		// The credential is stored hashed.
		var stored string
		require.NoError(t, d.Bun.NewSelect().Table("agents").Column("credential_hash").Where("id = ?", resp.AgentID).Scan(ctx, &stored))
		require.NotContains(t, stored, resp.Credential)
		require.Len(t, stored, 64)

		// Expiry.
		tok2, err := f.svc.CreateInstallToken(ctx, f.actor, f.customer.ID)
		require.NoError(t, err)
		f.clk.add(24*time.Hour + time.Second)
		_, err = f.svc.Enroll(ctx, wire.EnrollRequest{Token: tok2.Token}, "")
		require.ErrorIs(t, err, agent.ErrUnauthorized)
		_, err = f.svc.Enroll(ctx, wire.EnrollRequest{Token: "lki_made-up"}, "")
		require.ErrorIs(t, err, agent.ErrUnauthorized)

		// Another tenant's customer: not found.
		_, err = f.svc.CreateInstallToken(ctx, f.actor, f.otherCu.ID)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
	})
}

func TestTasksGoOnceToTheirCustomersAgent(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		f.settings(t, f.actor, f.customer.ID)
		f.settings(t, f.other, f.otherCu.ID)
		ag1, _ := f.enroll(t, f.actor, f.customer.ID)
		ag2, _ := f.enroll(t, f.actor, f.customer.ID)
		foreign, _ := f.enroll(t, f.other, f.otherCu.ID)
		uid := f.adUser(t, f.customer.ID, f.actor.TenantID, "ann", "guid-ann")

		// Refused for another tenant's end user.
		_, err := f.svc.Reset(ctx, f.other, agent.ResetInput{EndUserID: uid, Password: "N3w-passw0rd!"})
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))

		task, err := f.svc.Reset(ctx, f.actor, agent.ResetInput{EndUserID: uid, Password: "N3w-passw0rd!", Temporary: true})
		require.NoError(t, err)
		// The password is encrypted at rest.
		var secretCT []byte
		require.NoError(t, d.Bun.NewSelect().Table("directory_tasks").Column("secret").Where("id = ?", task.ID).Scan(ctx, &secretCT))
		require.NotEmpty(t, secretCT)
		require.NotContains(t, string(secretCT), "N3w-passw0rd!")

		// The other tenant's agent gets nothing (and its poll returns its config first).
		resp, err := f.svc.Poll(ctx, foreign, wire.PollRequest{ConfigVersion: 1}, 50*time.Millisecond)
		require.NoError(t, err)
		require.Nil(t, resp.Task)

		// Two agents of the customer poll at once: exactly one gets the task.
		var wg sync.WaitGroup
		got := make([]*wire.Task, 2)
		for i, ag := range []*agent.Agent{ag1, ag2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := f.svc.Poll(ctx, ag, wire.PollRequest{ConfigVersion: 1}, 300*time.Millisecond)
				require.NoError(t, err)
				got[i] = r.Task
			}()
		}
		wg.Wait()
		require.True(t, (got[0] == nil) != (got[1] == nil), "exactly one agent gets the task")
		wt := got[0]
		holder := ag1
		if wt == nil {
			wt, holder = got[1], ag2
		}
		require.Equal(t, task.ID, wt.ID)
		require.Equal(t, "N3w-passw0rd!", wt.Password)
		require.Equal(t, "guid-ann", wt.GUID)
		require.True(t, wt.Temporary)

		// The other tenant's agent cannot post its result.
		err = f.svc.Finish(ctx, foreign, wt.ID, wire.Result{OK: true})
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))

		// The result is recorded once; a retry changes nothing.
		require.NoError(t, f.svc.Finish(ctx, holder, wt.ID, wire.Result{OK: true}))
		require.NoError(t, f.svc.Finish(ctx, holder, wt.ID, wire.Result{Error: &wire.Error{Kind: "policy", Message: "late lie"}}))
		done, err := f.svc.Task(ctx, f.actor.TenantID, task.ID)
		require.NoError(t, err)
		require.Equal(t, agent.StateDone, done.State)
		var after []byte
		require.NoError(t, d.Bun.NewSelect().Table("directory_tasks").Column("secret").Where("id = ?", task.ID).Scan(ctx, &after))
		require.Empty(t, after, "the password is erased when the task ends")
		n, err := d.Bun.NewSelect().Table("audit_events").Where("action = 'enduser.password_reset' AND target_id = ?", uid).Count(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		var must bool
		require.NoError(t, d.Bun.NewSelect().Table("end_users").Column("must_change").Where("id = ?", uid).Scan(ctx, &must))
		require.True(t, must)

		// The other tenant cannot see the task.
		_, err = f.svc.Task(ctx, f.other.TenantID, task.ID)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
	})
}

func TestTasksTimeOutWithAClearError(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		f.settings(t, f.actor, f.customer.ID)
		ag, _ := f.enroll(t, f.actor, f.customer.ID)
		uid := f.adUser(t, f.customer.ID, f.actor.TenantID, "bob", "guid-bob")

		// Nobody picks it up.
		t1, err := f.svc.Unlock(ctx, f.actor, uid)
		require.NoError(t, err)
		f.clk.add(91 * time.Second)
		n, err := f.svc.ExpireTasks(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		got, err := f.svc.Task(ctx, f.actor.TenantID, t1.ID)
		require.NoError(t, err)
		require.Equal(t, agent.StateExpired, got.State)
		require.Contains(t, got.ErrorMessage, "No agent picked up the task")
		// An expired task is not handed out any more.
		r, err := f.svc.Poll(ctx, ag, wire.PollRequest{ConfigVersion: 1}, 10*time.Millisecond)
		require.NoError(t, err)
		require.Nil(t, r.Task)

		// Picked up, never answered; the late answer is still recorded.
		t2, err := f.svc.Reset(ctx, f.actor, agent.ResetInput{EndUserID: uid, Password: "Another-1-pass"})
		require.NoError(t, err)
		r, err = f.svc.Poll(ctx, ag, wire.PollRequest{ConfigVersion: 1}, 10*time.Millisecond)
		require.NoError(t, err)
		require.NotNil(t, r.Task)
		f.clk.add(61 * time.Second)
		got, err = f.svc.Wait(ctx, f.actor.TenantID, t2.ID, time.Millisecond)
		require.NoError(t, err)
		require.Equal(t, agent.StateFailed, got.State)
		require.Equal(t, agent.ErrKindTimeout, got.ErrorKind)
		require.Contains(t, got.ErrorMessage, "did not report back")
		require.NoError(t, f.svc.Finish(ctx, ag, t2.ID, wire.Result{OK: true}))
		got, err = f.svc.Task(ctx, f.actor.TenantID, t2.ID)
		require.NoError(t, err)
		require.Equal(t, agent.StateDone, got.State)
	})
}

func TestRevokedAgentIsRefusedAndItsTasksFail(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		f.settings(t, f.actor, f.customer.ID)
		ag, cred := f.enroll(t, f.actor, f.customer.ID)
		uid := f.adUser(t, f.customer.ID, f.actor.TenantID, "cleo", "guid-cleo")
		task, err := f.svc.Unlock(ctx, f.actor, uid)
		require.NoError(t, err)
		r, err := f.svc.Poll(ctx, ag, wire.PollRequest{ConfigVersion: 1}, 10*time.Millisecond)
		require.NoError(t, err)
		require.NotNil(t, r.Task)

		_, err = f.svc.Revoke(ctx, f.other, ag.ID)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err), "another tenant cannot revoke it")
		_, err = f.svc.Revoke(ctx, f.actor, ag.ID)
		require.NoError(t, err)
		_, err = f.svc.Authenticate(ctx, cred)
		require.ErrorIs(t, err, agent.ErrUnauthorized)
		got, err := f.svc.Task(ctx, f.actor.TenantID, task.ID)
		require.NoError(t, err)
		require.Equal(t, agent.StateFailed, got.State)
		require.Equal(t, agent.ErrKindRevoked, got.ErrorKind)
	})
}

func TestSettingsValidationAndSecrecy(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		_, err := f.svc.SaveSettings(ctx, f.actor, f.customer.ID, agent.SettingsInput{
			URL: "http://dc1", BaseDN: "example.local", ScopeKind: agent.ScopeOU, ScopeDN: "OU=Staff,DC=other,DC=local",
			CACertPEM: "not a cert", IntervalMin: 5})
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
		fields := apperr.FieldsOf(err)
		for _, k := range []string{"url", "bind_user", "bind_password", "base_dn", "ca_cert_pem", "interval"} {
			require.Contains(t, fields, k)
		}
		_, err = f.svc.SaveSettings(ctx, f.actor, f.customer.ID, agent.SettingsInput{
			URL: "ldaps://dc1", BindUser: "svc", BindPassword: "pw", BaseDN: "DC=example,DC=local",
			ScopeKind: agent.ScopeOU, ScopeDN: "OU=Staff,DC=other,DC=local"})
		require.Contains(t, apperr.FieldsOf(err), "scope_dn", "the OU must be under the base DN")

		f.settings(t, f.actor, f.customer.ID)
		var ct []byte
		require.NoError(t, d.Bun.NewSelect().Table("directory_settings").Column("bind_password").Where("customer_id = ?", f.customer.ID).Scan(ctx, &ct))
		require.NotContains(t, string(ct), "s3cret-bind")
		// Saving without a password keeps it; the version moves so agents refetch.
		st, err := f.svc.SaveSettings(ctx, f.actor, f.customer.ID, agent.SettingsInput{URL: "ldaps://dc2.example.local:636",
			BindUser: "svc@example.local", BaseDN: "DC=example,DC=local", ScopeKind: agent.ScopeBase})
		require.NoError(t, err)
		require.Equal(t, 2, st.Version)
		ag, _ := f.enroll(t, f.actor, f.customer.ID)
		r, err := f.svc.Poll(ctx, ag, wire.PollRequest{ConfigVersion: 1}, time.Millisecond)
		require.NoError(t, err)
		require.NotNil(t, r.Config)
		require.Equal(t, "s3cret-bind", r.Config.BindPassword)
		require.Equal(t, "ldaps://dc2.example.local:636", r.Config.URL)
		// The audit trail never has the password.
		n, err := d.Bun.NewSelect().Table("audit_events").Where("detail LIKE '%s3cret%'").Count(ctx)
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

func TestReencryptBindPasswords(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		f.settings(t, f.actor, f.customer.ID)
		var before []byte
		require.NoError(t, d.Bun.NewSelect().Table("directory_settings").Column("bind_password").Scan(ctx, &before))
		// A new key first, the old one still readable.
		newKey, err := secret.GenerateKey()
		require.NoError(t, err)
		keys, err := secret.ParseKeys(newKey + "," + f.keyEntry)
		require.NoError(t, err)
		svc := agent.New(agent.Deps{DB: d, Keys: keys, Now: f.clk.now})
		n, err := svc.Reencrypt(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		n, err = svc.Reencrypt(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "already under the new key")
		ag, _ := f.enroll(t, f.actor, f.customer.ID)
		r, err := svc.Poll(ctx, ag, wire.PollRequest{}, time.Millisecond)
		require.NoError(t, err)
		require.Equal(t, "s3cret-bind", r.Config.BindPassword)
	})
}
