package agentrun_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/agent"
	"github.com/latchkey/latchkey/app/agent/wire"
	"github.com/latchkey/latchkey/app/agentrun"
	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/directory/ad"
	"github.com/latchkey/latchkey/app/directory/ad/samba"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// site is a Latchkey server, a customer with a Samba AD DC, and the
// customer's agent.
type site struct {
	t        *testing.T
	env      *apptest.Env
	dc       *samba.DC
	actor    audit.Actor
	customer string
	state    string
	open     agentrun.Opener
	stop     context.CancelFunc
	done     chan error
}

func newSite(t *testing.T, dia db.Dialect) *site {
	t.Helper()
	dc := samba.Start(t)
	env := apptest.New(t, dia)
	f := env.Setup("Acme IT")
	ctx := context.Background()
	now := time.Now().UTC()
	cu := &customer.Customer{ID: db.NewID(), TenantID: f.Tenant.ID, Name: "Globex", Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
	_, err := env.App.DB.Bun.NewInsert().Model(cu).Exec(ctx)
	require.NoError(t, err)
	s := &site{t: t, env: env, dc: dc, customer: cu.ID, open: agentrun.OpenAD,
		actor: audit.Actor{TenantID: f.Tenant.ID, LoginID: f.Primary.ID, Name: "Pat Primary", Role: "primary", IP: "192.0.2.1"},
		state: filepath.Join(t.TempDir(), "agent.json")}
	s.settings(agent.ScopeBase, "")
	tok, err := env.App.Agents.CreateInstallToken(ctx, s.actor, cu.ID)
	require.NoError(t, err)
	st, err := agentrun.Enroll(ctx, env.URL, tok.Token, s.state, agentrun.ServerOptions{})
	require.NoError(t, err)
	require.Equal(t, "Globex", st.Customer)
	fi, err := os.Stat(s.state)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	return s
}

func (s *site) settings(kind, dn string) {
	s.t.Helper()
	cfg := s.dc.Config()
	_, err := s.env.App.Agents.SaveSettings(context.Background(), s.actor, s.customer, agent.SettingsInput{
		URL: cfg.URL, BindUser: cfg.BindUser, BindPassword: cfg.BindPassword, BaseDN: cfg.BaseDN,
		ScopeKind: kind, ScopeDN: dn, CACertPEM: string(cfg.CACertPEM), AutoImport: false})
	require.NoError(s.t, err)
}

// start runs the agent until stopAgent (or the test's end).
func (s *site) start() {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s.stop, s.done = cancel, make(chan error, 1)
	go func() {
		s.done <- agentrun.Run(ctx, agentrun.Options{StatePath: s.state, Open: s.open, PollWait: 5 * time.Second,
			HeartbeatEvery: 500 * time.Millisecond, Hostname: "dc1.latchkey.test"})
	}()
	s.t.Cleanup(func() { s.stopAgent() })
}

// stopAgent stops the agent abruptly (as a killed process: what it was
// doing is not finished).
func (s *site) stopAgent() error {
	if s.stop == nil {
		return nil
	}
	s.stop()
	s.stop = nil
	select {
	case err := <-s.done:
		return err
	case <-time.After(15 * time.Second):
		s.t.Fatal("the agent did not stop")
	}
	return nil
}

func (s *site) wait(task *agent.Task) *agent.Task {
	s.t.Helper()
	got, err := s.env.App.Agents.Wait(context.Background(), s.actor.TenantID, task.ID, 30*time.Second)
	require.NoError(s.t, err)
	require.True(s.t, got.Ended(), "task %s still %s", got.ID, got.State)
	return got
}

func (s *site) importNow() *agent.Import {
	s.t.Helper()
	ctx := context.Background()
	im, err := s.env.App.Agents.StartImport(ctx, s.actor, s.customer, agent.TriggerManual)
	require.NoError(s.t, err)
	im, err = s.env.App.Agents.WaitImport(ctx, s.actor.TenantID, im.ID, 60*time.Second)
	require.NoError(s.t, err)
	if im.State != agent.ImportPreview {
		var tasks []agent.Task
		_ = s.env.App.DB.Bun.NewSelect().Model(&tasks).Scan(ctx)
		for _, t := range tasks {
			s.t.Logf("task %s %s %s %s %s", t.ID, t.Kind, t.State, t.ErrorMessage, t.Result)
		}
	}
	require.Equal(s.t, agent.ImportPreview, im.State, "import: %s", im.ErrorMessage)
	return im
}

func (s *site) apply(im *agent.Import, enable bool) *agent.Import {
	s.t.Helper()
	done, err := s.env.App.Agents.ApplyImport(context.Background(), s.actor, im.ID, enable)
	require.NoError(s.t, err)
	return done
}

type endUser struct {
	ID, Username, Email, Mobile, EmailSource, Source string
	SelfServe, Privileged, Locked, MustChange        bool
	Unlinked                                         bool
	Expires                                          *time.Time
}

func (s *site) endUser(username string) endUser {
	s.t.Helper()
	var u endUser
	var unlinked *time.Time
	err := s.env.App.DB.Bun.NewSelect().Table("end_users").
		Column("id", "username", "email", "mobile", "email_source", "source", "self_serve_enabled", "privileged", "locked", "must_change", "password_expires_at", "unlinked_at").
		Where("customer_id = ? AND lower(username) = lower(?)", s.customer, username).
		Scan(context.Background(), &u.ID, &u.Username, &u.Email, &u.Mobile, &u.EmailSource, &u.Source, &u.SelfServe, &u.Privileged,
			&u.Locked, &u.MustChange, &u.Expires, &unlinked)
	require.NoError(s.t, err, "end user %s", username)
	u.Unlinked = unlinked != nil
	return u
}

func (s *site) audits(action, targetID string) int {
	s.t.Helper()
	n, err := s.env.App.DB.Bun.NewSelect().Table("audit_events").Where("action = ? AND target_id = ? AND result = 'ok'", action, targetID).Count(context.Background())
	require.NoError(s.t, err)
	return int(n)
}

func TestAgentAgainstSamba(t *testing.T) {
	t.Parallel()
	for _, dia := range []db.Dialect{db.SQLite, db.Postgres} {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			s := newSite(t, dia)
			ctx := context.Background()
			dc := s.dc
			staff := dc.CreateOU(t, "Staff")
			other := dc.CreateOU(t, "Other")
			dc.CreateUser(t, staff, "ann", samba.UserOpts{First: "Ann", Last: "Archer", Mail: "Ann@Globex.test", Mobile: "+44 7700 900123"})
			dc.CreateUser(t, staff, "bob", samba.UserOpts{First: "Bob", Last: "Baker"})
			carlDN, _ := dc.CreateUser(t, other, "carl", samba.UserOpts{First: "Carl", Last: "Cole"})
			daveDN, _ := dc.CreateUser(t, other, "dave", samba.UserOpts{First: "Dave", Last: "Dunn"})
			dc.CreateUser(t, other, "erin", samba.UserOpts{First: "Erin", Last: "Eve"})
			inner := dc.CreateGroup(t, other, "Helpdesk", daveDN)
			group := dc.CreateGroup(t, other, "Self-serve users", carlDN, inner)
			s.start()

			// The agent reports in: online, directory reachable.
			apptest.WaitFor(t, 20*time.Second, func() bool {
				ags, err := s.env.App.Agents.Agents(ctx, s.actor.TenantID, s.customer)
				require.NoError(t, err)
				return len(ags) == 1 && ags[0].DirectoryOK && ags[0].Online(time.Now())
			}, "the agent reports the directory reachable")

			// Import from the OU.
			s.settings(agent.ScopeOU, staff)
			im := s.importNow()
			require.Equal(t, 2, im.Created)
			_, pl, err := s.env.App.Agents.Preview(ctx, s.actor.TenantID, im.ID)
			require.NoError(t, err)
			require.Len(t, pl.New, 2)
			s.apply(im, true)
			ann := s.endUser("ann")
			require.Equal(t, "ad", ann.Source)
			require.Equal(t, "ann@globex.test", ann.Email)
			require.Equal(t, "directory", ann.EmailSource)
			require.Equal(t, "+447700900123", ann.Mobile)
			require.True(t, ann.SelfServe)

			// A value typed in Latchkey is kept while the directory's does not change.
			_, err = s.env.App.DB.Bun.NewUpdate().Table("end_users").Set("email = 'ann.typed@globex.test', email_source = 'manual'").
				Where("id = ?", ann.ID).Exec(ctx)
			require.NoError(t, err)
			im = s.importNow()
			require.Equal(t, 0, im.Created)
			require.Equal(t, 0, im.Updated, "nothing changed in the directory")
			s.apply(im, false)
			require.Equal(t, "ann.typed@globex.test", s.endUser("ann").Email)

			// Import from the group (nested members too): the OU's users are gone, not deleted.
			s.settings(agent.ScopeGroup, group)
			im = s.importNow()
			require.Equal(t, 2, im.Created, "carl and dave (nested)")
			require.Equal(t, 2, im.Gone)
			s.apply(im, false)
			require.False(t, s.endUser("carl").SelfServe)
			require.True(t, s.endUser("ann").Unlinked)
			_, err = s.env.App.DB.Bun.NewSelect().Table("end_users").Where("customer_id = ? AND username = 'erin'", s.customer).Exists(ctx)
			require.NoError(t, err)

			// Reset without and with temporary.
			carl := s.endUser("carl")
			task, err := s.env.App.Agents.Reset(ctx, s.actor, agent.ResetInput{EndUserID: carl.ID, Password: "Fresh-Start-42!"})
			require.NoError(t, err)
			done := s.wait(task)
			require.Equal(t, agent.StateDone, done.State, done.ErrorMessage)
			require.NoError(t, dc.Bind("carl@"+dc.Realm, "Fresh-Start-42!"))
			task, err = s.env.App.Agents.Reset(ctx, s.actor, agent.ResetInput{EndUserID: carl.ID, Password: "Temporary-Pass-77!", Temporary: true})
			require.NoError(t, err)
			require.Equal(t, agent.StateDone, s.wait(task).State)
			err = dc.Bind("carl@"+dc.Realm, "Temporary-Pass-77!")
			require.True(t, errors.Is(err, ad.KindMustChange), "must change at next logon, got %v", err)
			require.True(t, s.endUser("carl").MustChange)
			require.Equal(t, 2, s.audits("enduser.password_reset", carl.ID))

			// A policy violation comes back readable.
			task, err = s.env.App.Agents.Reset(ctx, s.actor, agent.ResetInput{EndUserID: carl.ID, Password: "short"})
			require.NoError(t, err)
			failed := s.wait(task)
			require.Equal(t, agent.StateFailed, failed.State)
			require.Equal(t, string(ad.KindPolicy), failed.ErrorKind)
			require.Contains(t, failed.ErrorMessage, "rejected the password")
			require.Contains(t, failed.ErrorMessage, "at least 7 characters", "which rule, from the directory's policy")

			// Lockout by bad binds: the import sees it (one event), unlock clears it.
			dc.SetPasswordSettings(t, "--account-lockout-threshold=3", "--max-pwd-age=42")
			dave := s.endUser("dave")
			dc.LockOut(t, "dave")
			// The agent notices within a heartbeat, before any import.
			var lockouts []*agent.LockoutEvent
			apptest.WaitFor(t, 20*time.Second, func() bool {
				lockouts, err = s.env.App.Agents.Lockouts(ctx, s.actor.TenantID, dave.ID)
				require.NoError(t, err)
				return len(lockouts) == 1
			}, "the agent reports the lockout")
			require.Equal(t, "agent", lockouts[0].Source)
			require.True(t, s.endUser("dave").Locked)
			// Imports see the same lockout: still one event.
			s.apply(s.importNow(), false)
			s.apply(s.importNow(), false)
			lockouts, err = s.env.App.Agents.Lockouts(ctx, s.actor.TenantID, dave.ID)
			require.NoError(t, err)
			require.Len(t, lockouts, 1, "one event per lockout")
			task, err = s.env.App.Agents.Unlock(ctx, s.actor, dave.ID)
			require.NoError(t, err)
			require.Equal(t, agent.StateDone, s.wait(task).State)
			require.NoError(t, dc.Bind("dave@"+dc.Realm, samba.DefaultPassword))
			require.False(t, s.endUser("dave").Locked)

			// Expiry from msDS-UserPasswordExpiryTimeComputed (maxPwdAge 42 days).
			exp := s.endUser("dave").Expires
			require.NotNil(t, exp)
			require.WithinDuration(t, time.Now().Add(42*24*time.Hour), *exp, 24*time.Hour)

			// Automatic import (the periodic job's work): applied at once, with
			// the "self-serve for new users" setting.
			hankDN, _ := dc.CreateUser(t, other, "hank", samba.UserOpts{First: "Hank", Last: "Hill"})
			dc.AddMember(t, group, hankDN)
			cfg := dc.Config()
			_, err = s.env.App.Agents.SaveSettings(ctx, s.actor, s.customer, agent.SettingsInput{
				URL: cfg.URL, BindUser: cfg.BindUser, BaseDN: cfg.BaseDN, ScopeKind: agent.ScopeGroup, ScopeDN: group,
				CACertPEM: string(cfg.CACertPEM), AutoImport: true, EnableNew: true, IntervalMin: 180})
			require.NoError(t, err)
			// The last import was a moment ago: the next is due in 3 hours. Make it due.
			_, err = s.env.App.DB.Bun.NewUpdate().Table("directory_settings").Set("next_import_at = ?", time.Now().Add(-time.Minute)).
				Where("customer_id = ?", s.customer).Exec(ctx)
			require.NoError(t, err)
			n, err := s.env.App.Agents.QueueDueImports(ctx)
			require.NoError(t, err)
			require.Equal(t, 1, n)
			n, err = s.env.App.Agents.QueueDueImports(ctx)
			require.NoError(t, err)
			require.Zero(t, n, "not due again for 3 hours")
			var last *agent.Import
			apptest.WaitFor(t, 90*time.Second, func() bool {
				ims, err := s.env.App.Agents.Imports(ctx, s.actor.TenantID, s.customer, 1)
				require.NoError(t, err)
				last = ims[0]
				require.NotEqual(t, agent.ImportFailed, last.State, "the automatic import failed: %s", last.ErrorMessage)
				return last.Trigger == agent.TriggerAuto && last.State == agent.ImportApplied
			}, "the automatic import is applied")
			require.True(t, s.endUser("hank").SelfServe)
			require.False(t, s.endUser("carl").SelfServe, "existing users keep their switch")
		})
	}
}

// flaky wraps the AD directory and can hold a reset before or after the
// write, to stop the agent there.
type flaky struct {
	agentrun.Directory
	writes  *atomic.Int32
	holdAt  string // "before", "after" or ""
	reached chan struct{}
	once    *sync.Once
}

func (f *flaky) Reset(ctx context.Context, guid, password string, temporary, selfService bool) error {
	if f.holdAt == "before" {
		f.once.Do(func() { close(f.reached) })
		<-ctx.Done()
		return ctx.Err()
	}
	err := f.Directory.Reset(ctx, guid, password, temporary, selfService)
	f.writes.Add(1)
	if f.holdAt == "after" {
		f.once.Do(func() { close(f.reached) })
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func TestAgentStoppedMidTaskCompletesOnce(t *testing.T) {
	t.Parallel()
	for _, at := range []string{"before", "after"} {
		t.Run("stopped "+at+" the write", func(t *testing.T) {
			t.Parallel()
			s := newSite(t, db.SQLite)
			ctx := context.Background()
			staff := s.dc.CreateOU(t, "Staff")
			s.dc.CreateUser(t, staff, "fay", samba.UserOpts{First: "Fay", Last: "Ford"})
			writes := &atomic.Int32{}
			reached := make(chan struct{})
			hold := at
			s.open = func(ctx context.Context, cfg wire.Config) (agentrun.Directory, error) {
				d, err := agentrun.OpenAD(ctx, cfg)
				if err != nil {
					return nil, err
				}
				return &flaky{Directory: d, writes: writes, holdAt: hold, reached: reached, once: &sync.Once{}}, nil
			}
			s.start()
			s.apply(s.importNow(), false)
			fay := s.endUser("fay")
			task, err := s.env.App.Agents.Reset(ctx, s.actor, agent.ResetInput{EndUserID: fay.ID, Password: "Once-Only-Pass-9!"})
			require.NoError(t, err)
			select {
			case <-reached:
			case <-time.After(30 * time.Second):
				t.Fatal("the agent never got to the reset")
			}
			require.NoError(t, s.stopAgent())
			hold = "" // the restarted agent works normally
			s.start()
			done := s.wait(task)
			require.Equal(t, agent.StateDone, done.State, done.ErrorMessage)
			require.EqualValues(t, 1, writes.Load(), "the directory was written exactly once")
			require.NoError(t, s.dc.Bind("fay@"+s.dc.Realm, "Once-Only-Pass-9!"))
			require.Equal(t, 1, s.audits("enduser.password_reset", fay.ID))
			_, err = os.Stat(s.state + ".journal")
			require.NoError(t, err)
			b, _ := os.ReadFile(s.state + ".journal")
			require.NotContains(t, string(b), "Once-Only", "the journal never holds a password")
		})
	}
}

func TestServerRestartedMidTask(t *testing.T) {
	t.Parallel()
	s := newSite(t, db.Postgres)
	ctx := context.Background()
	staff := s.dc.CreateOU(t, "Staff")
	s.dc.CreateUser(t, staff, "gus", samba.UserOpts{First: "Gus", Last: "Gray"})
	release := make(chan struct{})
	reached := make(chan struct{})
	var once sync.Once
	s.open = func(ctx context.Context, cfg wire.Config) (agentrun.Directory, error) {
		d, err := agentrun.OpenAD(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return &slowReset{Directory: d, reached: reached, release: release, once: &once}, nil
	}
	s.start()
	s.apply(s.importNow(), false)
	gus := s.endUser("gus")
	task, err := s.env.App.Agents.Reset(ctx, s.actor, agent.ResetInput{EndUserID: gus.ID, Password: "After-Restart-5!"})
	require.NoError(t, err)
	<-reached
	s.env.Restart()
	close(release)
	done := s.wait(task)
	require.Equal(t, agent.StateDone, done.State, done.ErrorMessage)
	require.NoError(t, s.dc.Bind("gus@"+s.dc.Realm, "After-Restart-5!"))
	require.Equal(t, 1, s.audits("enduser.password_reset", gus.ID))
}

type slowReset struct {
	agentrun.Directory
	reached, release chan struct{}
	once             *sync.Once
}

func (d *slowReset) Reset(ctx context.Context, guid, password string, temporary, selfService bool) error {
	d.once.Do(func() { close(d.reached) })
	<-d.release
	return d.Directory.Reset(ctx, guid, password, temporary, selfService)
}

func TestRevokedAgentStops(t *testing.T) {
	t.Parallel()
	s := newSite(t, db.SQLite)
	s.start()
	ctx := context.Background()
	var ag *agent.Agent
	apptest.WaitFor(t, 20*time.Second, func() bool {
		ags, err := s.env.App.Agents.Agents(ctx, s.actor.TenantID, s.customer)
		require.NoError(t, err)
		if len(ags) == 1 && ags[0].DirectoryOK {
			ag = ags[0]
			return true
		}
		return false
	}, "agent online")
	_, err := s.env.App.Agents.Revoke(ctx, s.actor, ag.ID)
	require.NoError(t, err)
	select {
	case err := <-s.done:
		require.ErrorIs(t, err, agentrun.ErrRevoked)
		s.stop = nil
	case <-time.After(20 * time.Second):
		t.Fatal("the revoked agent kept running")
	}
	// Running again with the same state is refused at once.
	err = agentrun.Run(ctx, agentrun.Options{StatePath: s.state, Open: agentrun.OpenAD})
	require.ErrorIs(t, err, agentrun.ErrRevoked)
	require.True(t, strings.Contains(err.Error(), "revoked"))
}
