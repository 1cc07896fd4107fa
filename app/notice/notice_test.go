package notice_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/notice"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time)         { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) add(d time.Duration)     { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func at(zone string, s string) time.Time { return mustTime(zone, s) }

func mustTime(zone, s string) time.Time {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		panic(err)
	}
	t, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		panic(err)
	}
	return t
}

type fixture struct {
	d      *db.DB
	q      *db.Queue
	svc    *notice.Service
	clk    *clock
	keys   *secret.Keyring // encrypts the emails (notify)
	tenant *tenant.Tenant
	cu     *customer.Customer
	admin  audit.Actor
}

// setup returns a tenant (zone, hour 9) with one customer on d, and the
// service on an insert-only River client, its clock at start.
func setup(t *testing.T, d *db.DB, zone string, start time.Time) *fixture {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: start}
	q, err := db.NewQueue(d, &river.Config{})
	require.NoError(t, err)
	key, err := secret.GenerateKey()
	require.NoError(t, err)
	keys, err := secret.ParseKeys(key)
	require.NoError(t, err)
	link := func(p string) string { return "https://latchkey.test" + p }
	svc := notice.New(notice.Deps{DB: d, Jobs: q, Mail: notify.NewQueue(q, keys, clk.now), SMS: sms.NewQueue(q, keys, clk.now),
		Push: webpush.NewQueue(q, keys, link, clk.now), Link: link, Now: clk.now, BatchSize: 3})
	tn := tenant.New(start)
	tn.Name, tn.TimeZone, tn.NotificationHour, tn.SupportEmail = "Acme IT", zone, 9, "help@acme.example"
	require.NoError(t, tenant.Insert(ctx, d.Bun, tn))
	f := &fixture{d: d, q: q, svc: svc, clk: clk, keys: keys, tenant: tn,
		admin: audit.Actor{TenantID: tn.ID, LoginID: "l1", Name: "Pat Primary", Role: "primary"}}
	f.cu = f.customer(t, tn.ID, "Globex", "")
	return f
}

func (f *fixture) customer(t *testing.T, tenantID, name, zone string) *customer.Customer {
	t.Helper()
	now := f.clk.now().UTC()
	cu := &customer.Customer{ID: db.NewID(), TenantID: tenantID, Name: name, TimeZone: zone, Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
	_, err := f.d.Bun.NewInsert().Model(cu).Exec(context.Background())
	require.NoError(t, err)
	return cu
}

// user is an end user to insert; the zero value is eligible but has no expiry.
type user struct {
	customerID, tenantID string
	username             string
	email, mobile        string
	expires, lastSet     *time.Time
	off, privileged      bool
	disabled, locked     bool
}

// endUserRow is the end_users columns the tests set.
type endUserRow struct {
	bun.BaseModel `bun:"table:end_users"`

	ID                string     `bun:"id,pk"`
	TenantID          string     `bun:"tenant_id"`
	CustomerID        string     `bun:"customer_id"`
	Username          string     `bun:"username"`
	FirstName         string     `bun:"first_name"`
	Email             string     `bun:"email"`
	Mobile            string     `bun:"mobile"`
	Source            string     `bun:"source"`
	SelfServeEnabled  bool       `bun:"self_serve_enabled"`
	Privileged        bool       `bun:"privileged"`
	Disabled          bool       `bun:"disabled"`
	Locked            bool       `bun:"locked"`
	PasswordExpiresAt *time.Time `bun:"password_expires_at"`
	PasswordLastSetAt *time.Time `bun:"password_last_set_at"`
	CreatedAt         time.Time  `bun:"created_at"`
	UpdatedAt         time.Time  `bun:"updated_at"`
}

func (f *fixture) user(t *testing.T, u user) string {
	t.Helper()
	if u.customerID == "" {
		u.customerID, u.tenantID = f.cu.ID, f.tenant.ID
	}
	if u.email == "" {
		u.email = u.username + "@globex.example"
	}
	if u.mobile == "" {
		u.mobile = "+15005550006"
	}
	id := db.NewID()
	now := f.clk.now().UTC()
	row := &endUserRow{ID: id, TenantID: u.tenantID, CustomerID: u.customerID, Username: u.username, FirstName: "Ann",
		Email: u.email, Mobile: u.mobile, Source: "ad", SelfServeEnabled: !u.off, Privileged: u.privileged,
		Disabled: u.disabled, Locked: u.locked, PasswordExpiresAt: u.expires, PasswordLastSetAt: u.lastSet,
		CreatedAt: now, UpdatedAt: now}
	_, err := f.d.Bun.NewInsert().Model(row).Exec(context.Background())
	require.NoError(t, err)
	return id
}

func ptr(t time.Time) *time.Time { u := t.UTC(); return &u }

// notices returns the end user's notices, oldest first.
func (f *fixture) notices(t *testing.T, endUserID string) []notice.Notice {
	t.Helper()
	var ns []notice.Notice
	require.NoError(t, f.d.Bun.NewSelect().Model(&ns).Where("end_user_id = ?", endUserID).OrderExpr("day, kind").Scan(context.Background()))
	return ns
}

// sendJobs counts the send_notice jobs enqueued.
func (f *fixture) sendJobs(t *testing.T) int {
	t.Helper()
	n, err := f.d.Bun.NewSelect().Table("river_job").Where("kind = ?", "send_notice").Count(context.Background())
	require.NoError(t, err)
	return int(n)
}

// TestSweepPlansEachDayOnce: the window (days-before to the day of expiry,
// by local date), the hour, eligibility, once a day, batches, and none
// after expiry.
func TestSweepPlansEachDayOnce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d, "Europe/London", at("Europe/London", "2026-03-02 08:59"))
		exp := at("Europe/London", "2026-03-12 17:30") // ten days after 2 March
		in := f.user(t, user{username: "ann", expires: ptr(exp), lastSet: ptr(exp.AddDate(0, 0, -90))})
		in2 := f.user(t, user{username: "ben", expires: ptr(at("Europe/London", "2026-03-02 23:00"))})
		in3 := f.user(t, user{username: "cat", expires: ptr(at("Europe/London", "2026-03-05 00:00"))})
		in4 := f.user(t, user{username: "dan", expires: ptr(at("Europe/London", "2026-03-09 12:00"))})
		late := f.user(t, user{username: "eve", expires: ptr(at("Europe/London", "2026-03-13 00:00"))}) // 11 days: not yet
		gone := f.user(t, user{username: "fay", expires: ptr(at("Europe/London", "2026-03-01 12:00"))}) // expired yesterday
		none := f.user(t, user{username: "gus"})                                                        // expiry unknown
		off := f.user(t, user{username: "hal", off: true, expires: ptr(exp)})
		priv := f.user(t, user{username: "ida", privileged: true, expires: ptr(exp)})
		dis := f.user(t, user{username: "jon", disabled: true, expires: ptr(exp)})
		unreg := f.user(t, user{username: "kim", mobile: "-", expires: ptr(exp)})
		_, err := d.Bun.NewUpdate().Table("end_users").Set("mobile = ''").Where("id = ?", unreg).Exec(ctx)
		require.NoError(t, err)

		// Before the hour: nothing.
		res, err := f.svc.Sweep(ctx)
		require.NoError(t, err)
		require.Equal(t, notice.SweepResult{}, res)

		f.clk.add(time.Minute) // 09:00 local
		res, err = f.svc.Sweep(ctx)
		require.NoError(t, err)
		require.Equal(t, notice.SweepResult{Customers: 1, Planned: 4}, res, "batches of 3 cover everyone")
		require.Equal(t, 4, f.sendJobs(t))
		for id, left := range map[string]int{in: 10, in2: 0, in3: 3, in4: 7} {
			ns := f.notices(t, id)
			require.Len(t, ns, 1)
			require.Equal(t, notice.KindExpiry, ns[0].Kind)
			require.Equal(t, "2026-03-02", ns[0].Day)
			require.Equal(t, left, ns[0].DaysLeft)
			require.Equal(t, notice.StatePending, ns[0].State)
			require.Equal(t, "Europe/London", ns[0].TimeZone)
		}
		for _, id := range []string{late, gone, none, off, priv, dis, unreg} {
			require.Empty(t, f.notices(t, id))
		}

		// Later the same day, and a clock that jumps back: nothing new.
		f.clk.add(3 * time.Hour)
		res, err = f.svc.Sweep(ctx)
		require.NoError(t, err)
		require.Zero(t, res.Planned)
		f.clk.add(-30 * time.Hour)
		res, err = f.svc.Sweep(ctx)
		require.NoError(t, err)
		require.Zero(t, res.Planned)
		require.Equal(t, 4, f.sendJobs(t))

		// Next day at the hour: eve enters the window, ben (expired) leaves it.
		f.clk.set(at("Europe/London", "2026-03-03 09:10"))
		res, err = f.svc.Sweep(ctx)
		require.NoError(t, err)
		require.Equal(t, 4, res.Planned)
		require.Len(t, f.notices(t, late), 1)
		require.Len(t, f.notices(t, in2), 1, "no notice after the day of expiry")
		require.Equal(t, 9, f.notices(t, in)[1].DaysLeft)
	})
}

// TestSweepLocalHourPerCustomer: a tenant in Auckland and a customer in Los
// Angeles each get their notices at 09:00 of their own day. In early March
// Auckland (UTC+13) is 21 hours ahead of Los Angeles (UTC-8).
func TestSweepLocalHourPerCustomer(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d, "Pacific/Auckland", at("America/Los_Angeles", "2026-03-01 08:59")) // Auckland: 2 March 05:59
		la := f.customer(t, f.tenant.ID, "Initech", "America/Los_Angeles")
		exp := time.Date(2026, 3, 6, 12, 0, 0, 0, time.UTC) // Auckland 7 March 01:00; Los Angeles 6 March 04:00
		nz := f.user(t, user{username: "kiri", expires: ptr(exp)})
		us := f.user(t, user{customerID: la.ID, tenantID: f.tenant.ID, username: "bob", expires: ptr(exp)})
		sweep := func() {
			t.Helper()
			_, err := f.svc.Sweep(ctx)
			require.NoError(t, err)
		}
		days := func(id string) (out []string) {
			for _, n := range f.notices(t, id) {
				out = append(out, n.Day+"/"+n.TimeZone)
			}
			return out
		}

		sweep()
		require.Empty(t, days(nz))
		require.Empty(t, days(us))

		f.clk.set(at("America/Los_Angeles", "2026-03-01 09:00")) // Auckland 2 March 06:00
		sweep()
		require.Empty(t, days(nz))
		require.Equal(t, []string{"2026-03-01/America/Los_Angeles"}, days(us))
		require.Equal(t, 5, f.notices(t, us)[0].DaysLeft)

		f.clk.set(at("Pacific/Auckland", "2026-03-02 08:59"))
		sweep()
		require.Empty(t, days(nz))
		f.clk.set(at("Pacific/Auckland", "2026-03-02 09:00")) // Los Angeles 1 March 12:00
		sweep()
		require.Equal(t, []string{"2026-03-02/Pacific/Auckland"}, days(nz))
		require.Equal(t, 5, f.notices(t, nz)[0].DaysLeft)
		require.Len(t, days(us), 1)

		f.clk.set(at("America/Los_Angeles", "2026-03-02 09:00"))
		sweep()
		require.Equal(t, []string{"2026-03-01/America/Los_Angeles", "2026-03-02/America/Los_Angeles"}, days(us))
		require.Len(t, days(nz), 1, "Auckland's 3 March starts at 09:00 there")
	})
}

// messages returns the messages of a kind to an address, by channel.
func (f *fixture) messages(t *testing.T, to string) map[string]int {
	t.Helper()
	var rows []struct {
		Channel string `bun:"channel"`
	}
	require.NoError(t, f.d.Bun.NewSelect().Table("messages").Column("channel").Where("to_addr = ?", to).Scan(context.Background(), &rows))
	out := map[string]int{}
	for _, r := range rows {
		out[r.Channel]++
	}
	return out
}

// planOne sweeps at the hour and returns the end user's notice.
func (f *fixture) planOne(t *testing.T, endUserID string) notice.Notice {
	t.Helper()
	_, err := f.svc.Sweep(context.Background())
	require.NoError(t, err)
	ns := f.notices(t, endUserID)
	require.Len(t, ns, 1)
	return ns[0]
}

// TestSendChannelsAndRechecks: email always, SMS when on and not opted out,
// push to a subscribed device; the text names the MSP, the expiry in the
// customer's zone and the self-serve link; a retry sends nothing more; a
// password changed or eligibility lost after the sweep cancels.
func TestSendChannelsAndRechecks(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d, "America/New_York", at("America/New_York", "2026-06-01 09:05"))
		exp := at("America/New_York", "2026-06-04 16:45")
		last := exp.AddDate(0, 0, -42)
		ann := f.user(t, user{username: "ann", expires: ptr(exp), lastSet: ptr(last), mobile: "+15005550001"})
		ben := f.user(t, user{username: "ben", expires: ptr(exp), lastSet: ptr(last), mobile: "+15005550002"})
		cat := f.user(t, user{username: "cat", expires: ptr(exp), lastSet: ptr(last), mobile: "+15005550003"})
		dan := f.user(t, user{username: "dan", expires: ptr(exp), lastSet: ptr(last), mobile: "+15005550004"})
		_, err := d.Bun.NewUpdate().Table("tenants").Set("notice_sms = TRUE").Where("id = ?", f.tenant.ID).Exec(ctx)
		require.NoError(t, err)
		_, err = d.Bun.NewInsert().Model(&webpush.Subscription{ID: db.NewID(), TenantID: f.tenant.ID, EndUserID: ann, Endpoint: "https://push.example/1",
			P256dh: "x", Auth: []byte("x"), DeviceLabel: "Ann's phone", CreatedAt: f.clk.now()}).Exec(ctx)
		require.NoError(t, err)
		_, err = d.Bun.ExecContext(ctx, "INSERT INTO sms_opt_outs (tenant_id, phone, keyword, opted_out_at) VALUES (?, ?, 'STOP', ?)",
			f.tenant.ID, "+15005550002", f.clk.now())
		require.NoError(t, err)
		_, err = f.svc.Sweep(ctx)
		require.NoError(t, err)

		// Ann: every channel.
		n := f.notices(t, ann)[0]
		sent, err := f.svc.Send(ctx, n.ID)
		require.NoError(t, err)
		require.Equal(t, notice.StateSent, sent.State)
		require.NotEmpty(t, sent.EmailMessageID)
		require.NotEmpty(t, sent.SMSMessageID)
		require.NotEmpty(t, sent.PushMessageIDs)
		require.Equal(t, map[string]int{"email": 1}, f.messages(t, "ann@globex.example"))
		require.Equal(t, map[string]int{"sms": 1}, f.messages(t, "+15005550001"))
		var email notify.Message
		require.NoError(t, d.Bun.NewSelect().Model(&email).Where("id = ?", sent.EmailMessageID).Scan(ctx))
		require.Equal(t, notice.MessageKindExpiry, email.Kind)
		e, err := email.EmailData(f.keys)
		require.NoError(t, err)
		require.Contains(t, e.Subject, "Acme IT")
		require.Contains(t, e.Subject, "in 3 days")
		require.Contains(t, strings.Join(e.Lines, " "), "Thursday 4 June 2026 at 16:45 EDT")
		require.Equal(t, "https://latchkey.test/self-serve/reset", e.ActionURL)
		// A retry after the commit sends nothing more.
		again, err := f.svc.Send(ctx, n.ID)
		require.NoError(t, err)
		require.Equal(t, sent.EmailMessageID, again.EmailMessageID)
		require.Equal(t, map[string]int{"email": 1}, f.messages(t, "ann@globex.example"))
		require.Equal(t, map[string]int{"sms": 1}, f.messages(t, "+15005550001"))

		// Ben replied STOP: email and push only (no device: noted).
		b, err := f.svc.Send(ctx, f.notices(t, ben)[0].ID)
		require.NoError(t, err)
		require.Equal(t, notice.StateSent, b.State)
		require.Empty(t, b.SMSMessageID)
		require.Equal(t, notice.NoteOptedOut, b.SMSNote)
		require.Equal(t, notice.NoteNoDevice, b.PushNote)
		require.Empty(t, f.messages(t, "+15005550002"))

		// Cat changed her password after the sweep: canceled, nothing sent.
		_, err = d.Bun.NewUpdate().Table("end_users").Set("password_last_set_at = ?", f.clk.now()).
			Set("password_expires_at = ?", f.clk.now().AddDate(0, 0, 90)).Where("id = ?", cat).Exec(ctx)
		require.NoError(t, err)
		c, err := f.svc.Send(ctx, f.notices(t, cat)[0].ID)
		require.NoError(t, err)
		require.Equal(t, notice.StateCanceled, c.State)
		require.Contains(t, c.Reason, "password was changed")
		require.Empty(t, f.messages(t, "cat@globex.example"))

		// The tenant switch goes off before Dan's notice: canceled.
		_, err = d.Bun.NewUpdate().Table("tenants").Set("self_serve_enabled = FALSE").Where("id = ?", f.tenant.ID).Exec(ctx)
		require.NoError(t, err)
		dn, err := f.svc.Send(ctx, f.notices(t, dan)[0].ID)
		require.NoError(t, err)
		require.Equal(t, notice.StateCanceled, dn.State)
		require.Empty(t, f.messages(t, "dan@globex.example"))

		// History: the notices with each channel's delivery.
		h, err := f.svc.History(ctx, f.tenant.ID, ann)
		require.NoError(t, err)
		require.Len(t, h, 1)
		require.Equal(t, notify.StatusQueued, h[0].Email.Status)
		require.Equal(t, "sms", h[0].SMS.Channel)
		require.Len(t, h[0].Push, 1)
		other, err := f.svc.History(ctx, "another-tenant", ann)
		require.NoError(t, err)
		require.Empty(t, other)
	})
}

// TestSendCancelsOnTheNextDay: a notice whose day passed is not sent late.
func TestSendCancelsOnTheNextDay(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d, "UTC", at("UTC", "2026-06-01 09:00"))
		id := f.user(t, user{username: "ann", expires: ptr(at("UTC", "2026-06-03 12:00"))})
		n := f.planOne(t, id)
		f.clk.set(at("UTC", "2026-06-02 00:00"))
		got, err := f.svc.Send(ctx, n.ID)
		require.NoError(t, err)
		require.Equal(t, notice.StateCanceled, got.State)
		require.Contains(t, got.Reason, "day of the notice passed")
	})
}

// TestSweepConcurrent: sweeps running at once (several worker processes)
// plan each notice once and enqueue one send job for it.
func TestSweepConcurrent(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d, "UTC", at("UTC", "2026-06-01 09:00"))
		for i := range 40 {
			f.user(t, user{username: "u" + string(rune('a'+i%26)) + string(rune('a'+i/26)), expires: ptr(at("UTC", "2026-06-03 12:00").Add(time.Duration(i%3) * time.Hour))})
		}
		var wg sync.WaitGroup
		total := make([]int, 4)
		for i := range total {
			wg.Go(func() {
				res, err := f.svc.Sweep(ctx)
				require.NoError(t, err)
				total[i] = res.Planned
			})
		}
		wg.Wait()
		require.Equal(t, 40, total[0]+total[1]+total[2]+total[3])
		require.Equal(t, 40, f.sendJobs(t))
		n, err := d.Bun.NewSelect().Table("notices").Count(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 40, n)
	})
}

// TestLockoutOncePerLockout: the hook plans one notice per lockout event
// (claiming it), one lockout notice a day, none for an ineligible end user.
func TestLockoutOncePerLockout(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d, "UTC", at("UTC", "2026-06-01 14:00"))
		ann := f.user(t, user{username: "ann", locked: true})
		off := f.user(t, user{username: "ben", locked: true, off: true})
		event := func(endUserID string, lockedAt time.Time) string {
			id := db.NewID()
			require.NoError(t, d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO lockout_events (id, tenant_id, customer_id, end_user_id, locked_at, source, created_at) VALUES (?, ?, ?, ?, ?, 'agent', ?)",
					id, f.tenant.ID, f.cu.ID, endUserID, lockedAt, f.clk.now()); err != nil {
					return err
				}
				return f.svc.Lockout(ctx, tx, notice.LockoutInput{EventID: id, TenantID: f.tenant.ID, CustomerID: f.cu.ID, EndUserID: endUserID, LockedAt: lockedAt})
			}))
			return id
		}
		notified := func(id string) bool {
			n, err := d.Bun.NewSelect().Table("lockout_events").Where("id = ? AND notified_at IS NOT NULL", id).Count(ctx)
			require.NoError(t, err)
			return n == 1
		}
		e1 := event(ann, f.clk.now().Add(-time.Minute))
		require.True(t, notified(e1))
		ns := f.notices(t, ann)
		require.Len(t, ns, 1)
		require.Equal(t, notice.KindLockout, ns[0].Kind)
		require.Equal(t, e1, ns[0].LockoutEventID)
		require.Equal(t, 1, f.sendJobs(t))
		// The hook again for the same event: nothing more.
		require.NoError(t, d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			return f.svc.Lockout(ctx, tx, notice.LockoutInput{EventID: e1, TenantID: f.tenant.ID, CustomerID: f.cu.ID, EndUserID: ann})
		}))
		require.Equal(t, 1, f.sendJobs(t))
		// A second lockout the same day: covered by the first notice.
		e2 := event(ann, f.clk.now())
		require.True(t, notified(e2))
		require.Len(t, f.notices(t, ann), 1)
		// The next day: a new notice.
		f.clk.add(24 * time.Hour)
		event(ann, f.clk.now())
		require.Len(t, f.notices(t, ann), 2)
		require.Equal(t, 2, f.sendJobs(t))
		// Not eligible: nothing, and the event stays unclaimed.
		e4 := event(off, f.clk.now())
		require.False(t, notified(e4))
		require.Empty(t, f.notices(t, off))

		// Sending: the account was unlocked meanwhile → canceled.
		_, err := d.Bun.NewUpdate().Table("end_users").Set("locked = FALSE").Where("id = ?", ann).Exec(ctx)
		require.NoError(t, err)
		got, err := f.svc.Send(ctx, f.notices(t, ann)[1].ID)
		require.NoError(t, err)
		require.Equal(t, notice.StateCanceled, got.State)
	})
}

// TestSettings: validation, roles, audit, and the sweep using the days.
func TestSettings(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d, "UTC", at("UTC", "2026-06-01 09:00"))
		st, err := f.svc.Settings(ctx, f.tenant.ID)
		require.NoError(t, err)
		require.Equal(t, notice.Settings{DaysBefore: 10, SMS: false}, st)
		for _, bad := range []string{"0", "31", "", "ten"} {
			_, err := f.svc.UpdateSettings(ctx, f.admin, notice.SettingsInput{DaysBefore: bad})
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err), bad)
			require.Contains(t, apperr.FieldsOf(err), "days_before")
		}
		tech := f.admin
		tech.Role = "technician"
		_, err = f.svc.UpdateSettings(ctx, tech, notice.SettingsInput{DaysBefore: "5"})
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(err))
		_, err = f.svc.UpdateSettings(ctx, f.admin, notice.SettingsInput{DaysBefore: " 3 ", SMS: true})
		require.NoError(t, err)
		st, err = f.svc.Settings(ctx, f.tenant.ID)
		require.NoError(t, err)
		require.Equal(t, notice.Settings{DaysBefore: 3, SMS: true}, st)
		n, err := d.Bun.NewSelect().Table("audit_events").Where("tenant_id = ? AND action = ?", f.tenant.ID, "tenant.notice_settings_update").Count(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		// Saving the same again writes nothing.
		_, err = f.svc.UpdateSettings(ctx, f.admin, notice.SettingsInput{DaysBefore: "3", SMS: true})
		require.NoError(t, err)
		n, err = d.Bun.NewSelect().Table("audit_events").Where("tenant_id = ? AND action = ?", f.tenant.ID, "tenant.notice_settings_update").Count(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)

		in := f.user(t, user{username: "ann", expires: ptr(at("UTC", "2026-06-04 12:00"))})
		out := f.user(t, user{username: "ben", expires: ptr(at("UTC", "2026-06-05 12:00"))})
		_, err = f.svc.Sweep(ctx)
		require.NoError(t, err)
		require.Len(t, f.notices(t, in), 1)
		require.Empty(t, f.notices(t, out), "4 days: outside a 3-day window")
	})
}

// TestPreview: per customer, the next run and how many it would notify,
// with the sweep's rules; after the run, the next day's.
func TestPreview(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d, "Pacific/Auckland", at("Pacific/Auckland", "2026-03-02 08:00"))
		la := f.customer(t, f.tenant.ID, "Initech", "America/Los_Angeles") // 1 March 11:00 there: due
		empty := f.customer(t, f.tenant.ID, "Empty Co", "")
		_ = empty
		exp := at("Pacific/Auckland", "2026-03-02 20:00")
		f.user(t, user{username: "ann", expires: ptr(exp)})
		f.user(t, user{username: "ben", expires: ptr(exp.AddDate(0, 0, 4))})
		f.user(t, user{username: "off", off: true, expires: ptr(exp)})
		f.user(t, user{customerID: la.ID, tenantID: f.tenant.ID, username: "bob", expires: ptr(exp)})

		p, err := f.svc.Preview(ctx, f.tenant.ID)
		require.NoError(t, err)
		require.True(t, p.SelfServe)
		require.Equal(t, 3, p.Total)
		require.Len(t, p.Customers, 2)
		g, i := p.Customers[0], p.Customers[1]
		require.Equal(t, []string{"Globex", "Initech"}, []string{g.Name, i.Name})
		require.Equal(t, 2, g.Count)
		require.Equal(t, 1, g.Today)
		require.False(t, g.Due)
		require.Equal(t, "2026-03-02", g.Day)
		require.Equal(t, at("Pacific/Auckland", "2026-03-02 09:00").UTC(), g.At)
		require.True(t, i.Due)
		require.Equal(t, "2026-03-01", i.Day)
		require.Equal(t, 1, i.Count)

		r, users, _, err := f.svc.PreviewCustomer(ctx, f.tenant.ID, f.cu.ID)
		require.NoError(t, err)
		require.Equal(t, 2, r.Count)
		require.Len(t, users, 2)
		require.Equal(t, "ann", users[0].Username)
		require.Equal(t, 0, users[0].DaysLeft)
		require.Equal(t, 4, users[1].DaysLeft)
		require.False(t, users[0].SMS, "text messages are off")
		_, _, _, err = f.svc.PreviewCustomer(ctx, "another-tenant", f.cu.ID)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))

		// The sweep runs Initech's day; its next run (its 2 March) has
		// nobody: Bob's password expires on 1 March there.
		_, err = f.svc.Sweep(ctx)
		require.NoError(t, err)
		p, err = f.svc.Preview(ctx, f.tenant.ID)
		require.NoError(t, err)
		require.Len(t, p.Customers, 1)
		require.Equal(t, 2, p.Total)
		r, _, _, err = f.svc.PreviewCustomer(ctx, f.tenant.ID, la.ID)
		require.NoError(t, err)
		require.Equal(t, "2026-03-02", r.Day)
		require.False(t, r.Due)
		require.Zero(t, r.Count)

		// The tenant switch off: nobody.
		_, err = d.Bun.NewUpdate().Table("tenants").Set("self_serve_enabled = FALSE").Where("id = ?", f.tenant.ID).Exec(ctx)
		require.NoError(t, err)
		p, err = f.svc.Preview(ctx, f.tenant.ID)
		require.NoError(t, err)
		require.False(t, p.SelfServe)
		require.Zero(t, p.Total)
		f.clk.set(at("Pacific/Auckland", "2026-03-02 10:00"))
		res, err := f.svc.Sweep(ctx)
		require.NoError(t, err)
		require.Zero(t, res.Planned)
	})
}

// TestNoticesGoWithTheEndUser: deleting an end user, or its tenant (which
// deletes its end users), deletes their notices.
func TestNoticesGoWithTheEndUser(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d, "UTC", at("UTC", "2026-06-01 09:00"))
		exp := ptr(at("UTC", "2026-06-03 12:00"))
		ann := f.user(t, user{username: "ann", expires: exp})
		ben := f.user(t, user{username: "ben", expires: exp})
		_, err := f.svc.Sweep(ctx)
		require.NoError(t, err)
		count := func() int64 {
			n, err := d.Bun.NewSelect().Table("notices").Count(ctx)
			require.NoError(t, err)
			return int64(n)
		}
		require.EqualValues(t, 2, count())
		_, err = d.Bun.NewDelete().Table("end_users").Where("id = ?", ann).Exec(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1, count())
		require.Len(t, f.notices(t, ben), 1)
		_, err = d.Bun.NewDelete().Table("tenants").Where("id = ?", f.tenant.ID).Exec(ctx)
		require.NoError(t, err)
		require.Zero(t, count())
	})
}

// TestSweepGroupsCustomers: customers of a tenant in one time zone are
// planned together in batches that span them; each gets its day recorded,
// the end users' notices name their own customers.
func TestSweepGroupsCustomers(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d, "Europe/Berlin", at("Europe/Berlin", "2026-06-01 09:30"))
		second := f.customer(t, f.tenant.ID, "Initech", "Europe/Berlin")
		empty := f.customer(t, f.tenant.ID, "Empty Co", "")
		tokyo := f.customer(t, f.tenant.ID, "Tokyo KK", "Asia/Tokyo") // 16:30 there
		want := map[string]string{}
		for i, cu := range []string{f.cu.ID, second.ID, f.cu.ID, second.ID, second.ID, tokyo.ID, f.cu.ID} {
			id := f.user(t, user{customerID: cu, tenantID: f.tenant.ID, username: fmt.Sprintf("u%d", i),
				expires: ptr(at("Europe/Berlin", "2026-06-03 12:00").Add(time.Duration(i%2) * time.Hour))})
			want[id] = cu
		}
		res, err := f.svc.Sweep(ctx)
		require.NoError(t, err)
		require.Equal(t, notice.SweepResult{Customers: 4, Planned: 7}, res)
		for id, cu := range want {
			ns := f.notices(t, id)
			require.Len(t, ns, 1)
			require.Equal(t, cu, ns[0].CustomerID)
		}
		var runs []string
		require.NoError(t, d.Bun.NewSelect().Table("notice_runs").ColumnExpr("customer_id || ' ' || day").OrderExpr("1").Scan(ctx, &runs))
		require.ElementsMatch(t, []string{f.cu.ID + " 2026-06-01", second.ID + " 2026-06-01", empty.ID + " 2026-06-01", tokyo.ID + " 2026-06-01"}, runs)
		require.Equal(t, 7, f.sendJobs(t))
	})
}
