package jobs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/agent/wire"
	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/config"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/notice"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/sms/twiliotest"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

// The notices' time-travel tests run the whole application with its River
// workers; the clock (apptest.Clock) is moved a day at a time and the sweep
// run as its periodic job would (notice.Service.Sweep), then the send jobs
// are left to the workers.

type noticeFixture struct {
	env   *apptest.Env
	f     *apptest.Fixture
	cu    *customer.Customer
	admin audit.Actor
}

// localTime is "2006-01-02 15:04" in zone.
func localTime(t *testing.T, zone, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	require.NoError(t, err)
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	require.NoError(t, err)
	return v
}

// noticeSetup waits for the sweep that River's leader runs at start, then
// sets the clock and makes a tenant in zone with notification hour 9 and one
// customer.
//
// The sweep at start comes a second or two after the application starts
// (leader election, then the periodic jobs): left to itself it could run in
// the middle of a test's fixture and, with the clock past the hour, plan the
// customer's first day with only the end users inserted so far; the others
// would get no notice that day (the day is planned once). Waiting for it
// first (it plans nothing: there is no tenant yet) leaves every sweep of the
// test to the test.
func noticeSetup(t *testing.T, env *apptest.Env, start time.Time, zone string) *noticeFixture {
	t.Helper()
	apptest.WaitFor(t, 30*time.Second, func() bool {
		n, err := env.App.DB.Bun.NewSelect().Table("river_job").
			Where("kind = ? AND state = 'completed'", (jobargs.NoticeSweep{}).Kind()).Count(context.Background())
		return err == nil && n > 0
	}, "the notice sweep run at start")
	env.Clock.Set(start)
	f := env.Setup("Acme IT")
	_, err := env.App.DB.Bun.NewUpdate().Table("tenants").Set("time_zone = ?", zone).Set("notification_hour = 9").
		Set("support_email = 'help@acme.example'").Where("id = ?", f.Tenant.ID).Exec(context.Background())
	require.NoError(t, err)
	nf := &noticeFixture{env: env, f: f, admin: audit.Actor{TenantID: f.Tenant.ID, LoginID: f.Primary.ID, Name: f.Primary.Name(), Role: "primary"}}
	nf.cu = nf.customer(t, "Globex", "")
	return nf
}

func (nf *noticeFixture) customer(t *testing.T, name, zone string) *customer.Customer {
	t.Helper()
	now := time.Now().UTC()
	cu := &customer.Customer{ID: db.NewID(), TenantID: nf.f.Tenant.ID, Name: name, TimeZone: zone, Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
	_, err := nf.env.App.DB.Bun.NewInsert().Model(cu).Exec(context.Background())
	require.NoError(t, err)
	return cu
}

// user inserts an eligible end user of cu (an AD account with self-serve
// on, email and mobile: Registration complete) whose password expires at exp
// and was set 90 days before, in one transaction (as an import writes both
// dates: a sweep never sees the one without the other).
func (nf *noticeFixture) user(t *testing.T, cu *customer.Customer, username string, exp time.Time, mobile string) *enduser.EndUser {
	t.Helper()
	if mobile == "" {
		mobile = "+14155550100"
	}
	ctx := context.Background()
	now := time.Now().UTC()
	e := exp.UTC()
	u := &enduser.EndUser{ID: db.NewID(), TenantID: cu.TenantID, CustomerID: cu.ID, Username: username, FirstName: "Ann",
		Email: username + "@globex.example", Mobile: mobile, Source: enduser.SourceAD, ExternalID: "guid-" + username,
		SelfServeEnabled: true, PasswordExpiresAt: &e, CreatedAt: now, UpdatedAt: now}
	require.NoError(t, nf.env.App.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if _, err := tx.NewInsert().Model(u).Exec(ctx); err != nil {
			return err
		}
		_, err := tx.NewUpdate().Table("end_users").Set("password_last_set_at = ?", e.AddDate(0, 0, -90)).Where("id = ?", u.ID).Exec(ctx)
		return err
	}))
	return u
}

// settle waits until no notice is pending and no message waits to be sent.
func (nf *noticeFixture) settle(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	apptest.WaitFor(t, 30*time.Second, func() bool {
		n, err := nf.env.App.DB.Bun.NewSelect().Table("notices").Where("state = ?", notice.StatePending).Count(ctx)
		if err != nil || n > 0 {
			return false
		}
		m, err := nf.env.App.DB.Bun.NewSelect().Table("messages").Where("status IN (?, ?)", notify.StatusQueued, notify.StatusSending).Count(ctx)
		return err == nil && m == 0
	}, "notices sent and their messages delivered")
}

// sweep runs the day's sweep, as the periodic job does, and lets the
// workers send.
func (nf *noticeFixture) sweep(t *testing.T) {
	t.Helper()
	_, err := nf.env.App.Notices.Sweep(context.Background())
	require.NoError(t, err)
	nf.settle(t)
}

func (nf *noticeFixture) notices(t *testing.T, endUserID string) []notice.Notice {
	t.Helper()
	var ns []notice.Notice
	require.NoError(t, nf.env.App.DB.Bun.NewSelect().Model(&ns).Where("end_user_id = ?", endUserID).OrderExpr("planned_at, kind").Scan(context.Background()))
	return ns
}

// emails returns the subjects of the notice emails to addr, in order.
func (nf *noticeFixture) emails(t *testing.T, addr, kind string) []string {
	t.Helper()
	var ms []notify.Message
	require.NoError(t, nf.env.App.DB.Bun.NewSelect().Model(&ms).Where("to_addr = ? AND kind = ?", addr, kind).OrderExpr("created_at").Scan(context.Background()))
	out := make([]string, len(ms))
	for i, m := range ms {
		require.Equal(t, notify.StatusOutbox, m.Status, "rendered into the outbox")
		e, err := m.EmailData(nf.env.App.Keys)
		require.NoError(t, err)
		out[i] = e.Subject
	}
	return out
}

// TestNoticeExpirySeries: 12 days before expiry, then a day at a time: the
// first notice comes 10 days before, then one a day to the day of expiry,
// none after; sweeps before the hour and repeated sweeps add nothing.
func TestNoticeExpirySeries(t *testing.T) {
	t.Parallel()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			env := apptest.New(t, dia)
			zone := "Europe/Paris"
			exp := localTime(t, zone, "2026-06-20 18:00")
			nf := noticeSetup(t, env, exp.AddDate(0, 0, -12).Add(-10*time.Hour), zone) // 12 days before, 08:00
			u := nf.user(t, nf.cu, "ann", exp, "")

			var got []string
			for k := 12; k >= -2; k-- {
				day := exp.AddDate(0, 0, -k)
				env.Clock.Set(localTime(t, zone, day.In(exp.Location()).Format("2006-01-02")+" 08:59"))
				nf.sweep(t)
				env.Clock.Set(localTime(t, zone, day.In(exp.Location()).Format("2006-01-02")+" 09:07"))
				nf.sweep(t)
				env.Clock.Advance(5 * time.Hour)
				nf.sweep(t)
				got = nf.emails(t, u.Email, notice.MessageKindExpiry)
				require.Len(t, got, min(max(11-k, 0), 11), "%d days before", k)
			}
			want := []string{}
			for k := 10; k >= 2; k-- {
				want = append(want, fmt.Sprintf("Acme IT: your password expires in %d days", k))
			}
			want = append(want, "Acme IT: your password expires tomorrow", "Acme IT: your password expires today")
			require.Equal(t, want, got)
			ns := nf.notices(t, u.ID)
			require.Len(t, ns, 11)
			for i, n := range ns {
				require.Equal(t, notice.StateSent, n.State)
				require.Equal(t, 10-i, n.DaysLeft)
			}
		})
	}
}

// TestNoticePasswordChangeStopsSeries: the password changed on the fifth
// day before expiry: no more notices.
func TestNoticePasswordChangeStopsSeries(t *testing.T) {
	t.Parallel()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			env := apptest.New(t, dia)
			zone := "UTC"
			exp := localTime(t, zone, "2026-06-20 18:00")
			nf := noticeSetup(t, env, exp.AddDate(0, 0, -10).Add(-8*time.Hour), zone)
			u := nf.user(t, nf.cu, "ann", exp, "")
			ctx := context.Background()
			for k := 10; k >= 0; k-- {
				env.Clock.Set(localTime(t, zone, exp.AddDate(0, 0, -k).Format("2006-01-02")+" 09:30"))
				if k == 5 {
					// The end user changes the password in the morning; the
					// next import brings the new dates.
					now := env.Clock.Now().Add(-2 * time.Hour).UTC()
					_, err := env.App.DB.Bun.NewUpdate().Table("end_users").Set("password_last_set_at = ?", now).
						Set("password_expires_at = ?", now.AddDate(0, 0, 90)).Where("id = ?", u.ID).Exec(ctx)
					require.NoError(t, err)
				}
				nf.sweep(t)
			}
			require.Len(t, nf.emails(t, u.Email, notice.MessageKindExpiry), 5, "days 10 to 6")
			require.Len(t, nf.notices(t, u.ID), 5)
		})
	}
}

// TestNoticeLocalHours: a tenant in Auckland and a customer of it in Los
// Angeles: each gets its notice at 09:00 of its own time zone.
func TestNoticeLocalHours(t *testing.T) {
	t.Parallel()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			env := apptest.New(t, dia)
			nf := noticeSetup(t, env, localTime(t, "America/Los_Angeles", "2026-03-01 08:50"), "Pacific/Auckland")
			la := nf.customer(t, "Initech", "America/Los_Angeles")
			exp := time.Date(2026, 3, 6, 12, 0, 0, 0, time.UTC)
			kiri := nf.user(t, nf.cu, "kiri", exp, "")
			bob := nf.user(t, la, "bob", exp, "")
			sentAt := func(u *enduser.EndUser) []string {
				var out []string
				for _, n := range nf.notices(t, u.ID) {
					loc, _ := time.LoadLocation(n.TimeZone)
					out = append(out, n.DoneAt.In(loc).Format("2006-01-02 15:04"))
				}
				return out
			}
			for range 6 * 25 { // 25 hours in 10-minute sweeps, as the periodic job would
				env.Clock.Advance(10 * time.Minute)
				nf.sweep(t)
			}
			require.Equal(t, []string{"2026-03-01 09:00", "2026-03-02 09:00"}, sentAt(bob))
			require.Equal(t, []string{"2026-03-02 09:00"}, sentAt(kiri))
			require.Equal(t, "Pacific/Auckland", nf.notices(t, kiri.ID)[0].TimeZone)
			require.Equal(t, "America/Los_Angeles", nf.notices(t, bob.ID)[0].TimeZone)
			require.Len(t, nf.emails(t, bob.Email, notice.MessageKindExpiry), 2)
		})
	}
}

// TestNoticeTwoWorkerProcesses: two server processes with workers on one
// PostgreSQL database, both sweeping every day (and their periodic jobs
// queued too): exactly one notice and one email a day, each planned by that
// day's sweeps.
func TestNoticeTwoWorkerProcesses(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.Postgres)
	exp := localTime(t, "UTC", "2026-06-20 18:00")
	nf := noticeSetup(t, env, exp.AddDate(0, 0, -10).Add(-10*time.Hour), "UTC") // the first day, 08:00: nothing due while the fixture is made
	other := env.Another()
	nf2 := &noticeFixture{env: other, f: nf.f, cu: nf.cu}
	var users []*enduser.EndUser
	for i := range 20 {
		users = append(users, nf.user(t, nf.cu, fmt.Sprintf("user%02d", i), exp.Add(time.Duration(i)*time.Minute), ""))
	}
	ctx := context.Background()
	for k := 10; k >= 0; k-- {
		env.Clock.Set(localTime(t, "UTC", exp.AddDate(0, 0, -k).Format("2006-01-02")+" 09:01"))
		var wg sync.WaitGroup
		for _, e := range []*apptest.Env{env, other} {
			for range 3 {
				wg.Go(func() {
					_, err := e.App.Notices.Sweep(ctx)
					require.NoError(t, err)
				})
			}
			_, err := e.App.Queue.Insert(ctx, jobargs.NoticeSweep{}, nil)
			require.NoError(t, err)
		}
		wg.Wait()
		nf.settle(t)
		nf2.settle(t)
	}
	for _, u := range users {
		require.Len(t, nf.emails(t, u.Email, notice.MessageKindExpiry), 11, u.Username)
		ns := nf.notices(t, u.ID)
		require.Len(t, ns, 11, u.Username)
		for i, n := range ns {
			day := exp.AddDate(0, 0, i-10).Format("2006-01-02")
			require.Equal(t, day, n.Day, u.Username)
			require.Equal(t, 10-i, n.DaysLeft, u.Username)
			require.Equal(t, notice.StateSent, n.State, u.Username)
			require.True(t, localTime(t, "UTC", day+" 09:01").Equal(n.PlannedAt), "%s: %s planned by that day's sweeps, at %s", u.Username, day, n.PlannedAt)
		}
	}
	n, err := env.App.DB.Bun.NewSelect().Table("river_job").Where("kind = ?", "send_notice").Count(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 11*len(users), n, "one send job per notice")
}

// TestNoticeLockoutOncePerLockout: lockouts reported by the agent's
// heartbeat: a notice at once (no sweep), once per lockout however often
// it is reported.
func TestNoticeLockoutOncePerLockout(t *testing.T) {
	t.Parallel()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			env := apptest.New(t, dia)
			nf := noticeSetup(t, env, localTime(t, "UTC", "2026-06-01 14:00"), "UTC")
			u := nf.user(t, nf.cu, "ann", localTime(t, "UTC", "2026-08-01 12:00"), "")
			ctx := context.Background()
			svc := env.App.Agents
			tok, err := svc.CreateInstallToken(ctx, nf.admin, nf.cu.ID)
			require.NoError(t, err)
			resp, err := svc.Enroll(ctx, wire.EnrollRequest{Token: tok.Token, Hostname: "dc1", Version: "1.0.0"}, "198.51.100.7")
			require.NoError(t, err)
			ag, err := svc.Authenticate(ctx, resp.Credential)
			require.NoError(t, err)
			report := func(lockedAt time.Time) {
				t.Helper()
				_, err := svc.Poll(ctx, ag, wire.PollRequest{Hostname: "dc1", Version: "1.0.0",
					Lockouts: []wire.Lockout{{GUID: "guid-ann", LockedAt: lockedAt}}}, 0)
				require.NoError(t, err)
				nf.settle(t)
			}
			first := env.Clock.Now().Add(-time.Minute)
			report(first)
			report(first) // the next heartbeat reports the same lockout
			got := nf.emails(t, u.Email, notice.MessageKindLockout)
			require.Equal(t, []string{"Acme IT: your account is locked"}, got)
			var m notify.Message
			require.NoError(t, env.App.DB.Bun.NewSelect().Model(&m).Where("kind = ?", notice.MessageKindLockout).Scan(ctx))
			c, err := m.Content(env.App.Keys)
			require.NoError(t, err)
			require.Contains(t, c.Text, "http://latchkey.test/self-serve/unlock")
			require.Contains(t, c.Text, "Acme IT")

			// Unlocked, locked again the next day: a second notice.
			env.Clock.Advance(24 * time.Hour)
			report(env.Clock.Now().Add(-time.Minute))
			require.Len(t, nf.emails(t, u.Email, notice.MessageKindLockout), 2)
			lockouts, err := svc.Lockouts(ctx, nf.f.Tenant.ID, u.ID)
			require.NoError(t, err)
			require.Len(t, lockouts, 2)
			for _, l := range lockouts {
				require.NotNil(t, l.NotifiedAt)
			}
		})
	}
}

// TestNoticeSMSStop: with text messages on, the end user gets an SMS too;
// after replying STOP (Twilio's signed inbound webhook) only email; after
// START, SMS again.
func TestNoticeSMSStop(t *testing.T) {
	t.Parallel()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			const mspNumber, mobile = "+15005550006", "+14155550123"
			tw := twiliotest.New(t, twiliotest.Options{FromNumbers: []string{mspNumber}})
			env := apptest.New(t, dia, apptest.Options{Configure: func(c *config.Config) { c.TwilioAPIURL = tw.URL }})
			exp := localTime(t, "UTC", "2026-06-20 18:00")
			nf := noticeSetup(t, env, exp.AddDate(0, 0, -5).Add(-8*time.Hour), "UTC")
			ctx := context.Background()
			require.NoError(t, env.App.Web.SMS.SaveSettings(ctx, nf.admin, sms.SettingsInput{AccountSID: tw.AccountSID, AuthToken: tw.AuthToken, FromNumber: mspNumber}))
			_, err := env.App.Notices.UpdateSettings(ctx, nf.admin, notice.SettingsInput{DaysBefore: "10", SMS: true})
			require.NoError(t, err)
			u := nf.user(t, nf.cu, "ann", exp, mobile)
			texts := func() []string {
				var out []string
				for _, m := range tw.Messages() {
					if m.To == mobile {
						out = append(out, m.Body)
					}
				}
				return out
			}
			day := func(k int) {
				env.Clock.Set(localTime(t, "UTC", exp.AddDate(0, 0, -k).Format("2006-01-02")+" 09:10"))
				nf.sweep(t)
			}
			inbound := "http://latchkey.test/webhooks/twilio/" + nf.f.Tenant.ID + "/inbound"
			reply := func(body string) {
				res, err := tw.SendInbound(ctx, inbound, mobile, mspNumber, body, env.URL)
				require.NoError(t, err)
				res.Body.Close()
				require.Equal(t, 200, res.StatusCode)
			}

			day(5)
			require.Len(t, texts(), 1)
			require.Contains(t, texts()[0], "Acme IT: your password for ann expires in 5 days (Sat 20 Jun 18:00 UTC)")
			require.Contains(t, texts()[0], "http://latchkey.test/self-serve/reset")
			reply("STOP")
			day(4)
			day(3)
			require.Len(t, texts(), 1, "nothing after STOP")
			require.Len(t, nf.emails(t, u.Email, notice.MessageKindExpiry), 3, "email still goes")
			ns := nf.notices(t, u.ID)
			require.Equal(t, notice.NoteOptedOut, ns[2].SMSNote)
			reply("START")
			day(2)
			require.Len(t, texts(), 2)
		})
	}
}

// TestNoticeTenantSwitchOff: with the tenant's self-serve switch off,
// neither expiry nor lockout notices go out.
func TestNoticeTenantSwitchOff(t *testing.T) {
	t.Parallel()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			env := apptest.New(t, dia)
			exp := localTime(t, "UTC", "2026-06-20 18:00")
			nf := noticeSetup(t, env, exp.AddDate(0, 0, -3).Add(-8*time.Hour), "UTC")
			u := nf.user(t, nf.cu, "ann", exp, "")
			ctx := context.Background()
			_, err := env.App.DB.Bun.NewUpdate().Table("tenants").Set("self_serve_enabled = FALSE").Where("id = ?", nf.f.Tenant.ID).Exec(ctx)
			require.NoError(t, err)
			for k := 3; k >= 0; k-- {
				env.Clock.Set(localTime(t, "UTC", exp.AddDate(0, 0, -k).Format("2006-01-02")+" 10:00"))
				nf.sweep(t)
			}
			require.NoError(t, env.App.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
				id := db.NewID()
				if _, err := tx.ExecContext(ctx, "INSERT INTO lockout_events (id, tenant_id, customer_id, end_user_id, locked_at, source, created_at) VALUES (?, ?, ?, ?, ?, 'agent', ?)",
					id, nf.f.Tenant.ID, nf.cu.ID, u.ID, env.Clock.Now().UTC(), env.Clock.Now().UTC()); err != nil {
					return err
				}
				return env.App.Notices.Lockout(ctx, tx, notice.LockoutInput{EventID: id, TenantID: nf.f.Tenant.ID, CustomerID: nf.cu.ID, EndUserID: u.ID})
			}))
			nf.settle(t)
			require.Empty(t, nf.notices(t, u.ID))
			n, err := env.App.DB.Bun.NewSelect().Table("messages").Where("tenant_id = ? AND kind LIKE 'notice_%'", nf.f.Tenant.ID).Count(ctx)
			require.NoError(t, err)
			require.Zero(t, n)
		})
	}
}

// TestNoticeSweepIsPeriodic: the sweep is a River periodic job, run at
// start by the elected leader and completed.
func TestNoticeSweepIsPeriodic(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	apptest.WaitFor(t, 30*time.Second, func() bool {
		n, err := env.App.DB.Bun.NewSelect().Table("river_job").Where("kind = ? AND state = 'completed'", (jobargs.NoticeSweep{}).Kind()).Count(context.Background())
		return err == nil && n == 1
	}, "notice_sweep run at start")
}
