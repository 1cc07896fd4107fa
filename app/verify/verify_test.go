package verify_test

import (
	"context"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/device"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/app/verify"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/app/webpush/pushtest"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// jobs records what was enqueued.
type jobs struct {
	mu   sync.Mutex
	args []river.JobArgs
}

func (j *jobs) InsertTx(_ context.Context, _ *db.Tx, args river.JobArgs, _ *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.args = append(j.args, args)
	return &rivertype.JobInsertResult{}, nil
}

func (j *jobs) kinds() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []string
	for _, a := range j.args {
		out = append(out, a.Kind())
	}
	return out
}

type fixture struct {
	d       *db.DB
	keys    *secret.Keyring
	jobs    *jobs
	svc     *verify.Service
	push    *webpush.Service
	smsSvc  *sms.Service
	devices *device.Service
	srv     *pushtest.Server
	tenant  string
	user    string
	tech    audit.Actor
	admin   audit.Actor
	mu      sync.Mutex
	now     time.Time
}

func (f *fixture) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }

func (f *fixture) advance(d time.Duration) { f.mu.Lock(); f.now = f.now.Add(d); f.mu.Unlock() }

const (
	annMobile = "+14155550123"
	annEmail  = "ann@globex.example"
)

// seed stores a tenant "name" with a customer and an end user Ann (email,
// mobile, self-serve on) and returns their ids.
func seed(t testing.TB, d *db.DB, now time.Time, name string) (tenantID, userID string) {
	t.Helper()
	ctx := context.Background()
	tn := tenant.New(now)
	tn.Name = name
	require.NoError(t, tenant.Insert(ctx, d.Bun, tn))
	customerID, userID := db.NewID(), db.NewID()
	_, err := d.Bun.NewInsert().Model(&map[string]any{"id": customerID, "tenant_id": tn.ID, "name": "Globex", "created_at": now, "updated_at": now}).
		TableExpr("customers").Exec(ctx)
	require.NoError(t, err)
	_, err = d.Bun.NewInsert().Model(&map[string]any{"id": userID, "tenant_id": tn.ID, "customer_id": customerID, "username": "ann",
		"first_name": "Ann", "last_name": "Lee", "email": annEmail, "mobile": annMobile, "self_serve_enabled": true,
		"created_at": now, "updated_at": now}).TableExpr("end_users").Exec(ctx)
	require.NoError(t, err)
	return tn.ID, userID
}

func setup(t testing.TB, d *db.DB) *fixture {
	t.Helper()
	key, err := secret.GenerateKey()
	require.NoError(t, err)
	keys, err := secret.ParseKeys(key)
	require.NoError(t, err)
	f := &fixture{d: d, keys: keys, jobs: &jobs{}, now: time.Now().UTC().Truncate(time.Second), srv: pushtest.New(t)}
	link := func(p string) string { return "https://latchkey.msp.example" + p }
	f.push = webpush.NewService(webpush.Deps{DB: d, Keys: keys, Jobs: f.jobs, AllowAnyEndpoint: true, Now: f.clock, Link: link})
	f.smsSvc = sms.NewService(sms.Deps{DB: d, Keys: keys, Jobs: f.jobs, Link: link, Now: f.clock})
	f.devices = device.NewService(device.Deps{DB: d, Push: f.push, Now: f.clock})
	f.svc = verify.NewService(verify.Deps{DB: d, Keys: keys, Jobs: f.jobs, SMS: f.smsSvc.Queue(), Push: f.push.Queue(),
		Mail: notify.NewQueue(f.jobs, keys, f.clock), Now: f.clock, PollInterval: 20 * time.Millisecond})
	f.tenant, f.user = seed(t, d, f.now, "Acme IT")
	f.tech = audit.Actor{TenantID: f.tenant, LoginID: "tess", Name: "Tess Tech", Role: "technician", IP: "192.0.2.1"}
	f.admin = audit.Actor{TenantID: f.tenant, LoginID: "pat", Name: "Pat Primary", Role: "primary", IP: "192.0.2.2"}
	return f
}

// enrol makes a device for Ann, with a pushtest subscription when push.
func (f *fixture) enrol(t testing.TB, push bool) (*device.Device, pushtest.Subscription) {
	t.Helper()
	var (
		sub *webpush.SubscriptionInput
		ps  pushtest.Subscription
	)
	if push {
		pub, err := f.push.PublicKey(context.Background())
		require.NoError(t, err)
		ps = f.srv.Subscribe(t, pub)
		sub = &webpush.SubscriptionInput{Endpoint: ps.Endpoint, P256dh: ps.P256dh, Auth: ps.Auth}
	}
	var dev *device.Device
	require.NoError(t, f.d.RunInTx(context.Background(), func(ctx context.Context, tx *db.Tx) error {
		var err error
		_, dev, err = f.devices.Enrol(ctx, tx, f.tenant, f.user, "iPhone · Safari", sub)
		return err
	}))
	return dev, ps
}

// messages returns the tenant's messages of a channel, oldest first.
func (f *fixture) messages(t *testing.T, channel string) []sms.Record {
	t.Helper()
	var ms []sms.Record
	require.NoError(t, f.d.Bun.NewSelect().Model(&ms).Where("tenant_id = ? AND channel = ?", f.tenant, channel).
		OrderExpr("created_at, id").Scan(context.Background()))
	return ms
}

func (f *fixture) actions(t *testing.T) []string {
	t.Helper()
	var out []string
	require.NoError(t, f.d.Bun.NewSelect().Table("audit_events").Column("action").Where("tenant_id = ?", f.tenant).
		Order("seq").Scan(context.Background(), &out))
	return out
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

func TestSMSCodeApproveAndSingleUse(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		v, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodSMS)
		require.NoError(t, err)
		require.Equal(t, verify.StatePending, v.State)
		require.Equal(t, verify.MethodSMS, v.Method)
		require.Regexp(t, `^LK-[2-9A-Z]{4}-[2-9A-Z]{4}$`, v.Receipt)
		require.Equal(t, "+1 ••• ••• 123", v.Destination)
		require.Equal(t, f.now.Add(verify.DefaultCodeTTL), v.ExpiresAt.UTC())
		code, err := f.svc.Code(v)
		require.NoError(t, err)
		require.Regexp(t, `^\d{6}$`, code)
		require.NotContains(t, string(v.Code), code, "stored encrypted")

		// The SMS: queued with the code's expiry, body encrypted (SMS is not set up here, so the job puts it in the outbox).
		ms := f.messages(t, "sms")
		require.Len(t, ms, 1)
		require.Equal(t, annMobile, ms[0].To)
		require.Equal(t, "verification_code", ms[0].Kind)
		require.Equal(t, v.ExpiresAt.Unix(), ms[0].ExpiresAt.Unix())
		require.NotContains(t, ms[0].Data, code)
		require.Contains(t, f.jobs.kinds(), "send_sms")

		// Another tenant sees nothing.
		other, _ := seed(t, d, f.now, "Other MSP")
		mallory := audit.Actor{TenantID: other, Name: "Mallory", Role: "primary"}
		_, err = f.svc.Get(ctx, other, v.ID)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
		_, err = f.svc.Decide(ctx, mallory, f.user, v.ID, true)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
		_, err = f.svc.Start(ctx, mallory, f.user, verify.MethodSMS)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
		_, err = f.svc.Decide(ctx, f.tech, "someone-else", v.ID, true)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err), "the verification of another end user")

		v, err = f.svc.Decide(ctx, f.tech, f.user, v.ID, true)
		require.NoError(t, err)
		require.Equal(t, verify.StateVerified, v.State)
		require.Equal(t, "Tess Tech", v.DecidedBy)
		_, err = f.svc.Decide(ctx, f.tech, f.user, v.ID, true)
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err), "single use")
		_, err = f.svc.CheckCode(ctx, f.tech, f.user, v.ID, code)
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err), "single use")

		require.Equal(t, []string{"verification.start", "verification.verified"}, f.actions(t))
		var detail string
		require.NoError(t, d.Bun.NewSelect().Table("audit_events").Column("detail").Where("action = 'verification.verified' AND tenant_id = ?", f.tenant).Scan(ctx, &detail))
		require.Contains(t, detail, v.Receipt)
		require.Contains(t, detail, "User Identity Successfully Verified")
		require.NotContains(t, detail, code)
	})
}

func TestEmailCodeDeny(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		v, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodEmail)
		require.NoError(t, err)
		require.Equal(t, "a•••@globex.example", v.Destination)
		code, err := f.svc.Code(v)
		require.NoError(t, err)
		ms := f.messages(t, "email")
		require.Len(t, ms, 1)
		require.Equal(t, annEmail, ms[0].To)
		stored, err := notify.Load(ctx, f.d.Bun, ms[0].ID)
		require.NoError(t, err)
		e, err := stored.EmailData(f.keys)
		require.NoError(t, err)
		require.Contains(t, e.Lines, code)
		require.Contains(t, strings.Join(e.Lines, " "), "Tess Tech at Acme IT")

		v, err = f.svc.Decide(ctx, f.tech, f.user, v.ID, false)
		require.NoError(t, err)
		require.Equal(t, verify.StateDenied, v.State)
		require.Equal(t, verify.ReasonTechnicianDenied, v.Reason)
		require.Equal(t, []string{"verification.start", "verification.denied"}, f.actions(t))
	})
}

func TestWrongCodesLock(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		v, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodSMS)
		require.NoError(t, err)
		code, _ := f.svc.Code(v)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		for i := 1; i < verify.MaxWrongTries; i++ {
			_, err = f.svc.CheckCode(ctx, f.tech, f.user, v.ID, wrong)
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
			require.Contains(t, apperr.FieldsOf(err)["code"], strconv.Itoa(verify.MaxWrongTries-i)+" tr")
		}
		v, err = f.svc.CheckCode(ctx, f.tech, f.user, v.ID, wrong)
		require.Equal(t, apperr.RateLimited, apperr.CodeOf(err))
		require.Equal(t, verify.StateLocked, v.State)
		_, err = f.svc.CheckCode(ctx, f.tech, f.user, v.ID, code)
		require.Equal(t, apperr.RateLimited, apperr.CodeOf(err), "locked: even the right code is refused")
		_, err = f.svc.Decide(ctx, f.tech, f.user, v.ID, true)
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
		got, err := f.svc.Get(ctx, f.tenant, v.ID)
		require.NoError(t, err)
		require.Equal(t, verify.StateLocked, got.State)
		require.Equal(t, verify.MaxWrongTries, got.WrongTries)

		// A new code works; the right code typed verifies.
		v, err = f.svc.Start(ctx, f.tech, f.user, verify.MethodSMS)
		require.NoError(t, err)
		code, _ = f.svc.Code(v)
		v, err = f.svc.CheckCode(ctx, f.tech, f.user, v.ID, code[:3]+" "+code[3:])
		require.NoError(t, err)
		require.Equal(t, verify.StateVerified, v.State)
		require.Equal(t, verify.ReasonCodeMatched, v.Reason)
		acts := f.actions(t)
		require.Equal(t, 4, countOf(acts, "verification.wrong_code"))
		require.Equal(t, 1, countOf(acts, "verification.locked"))
	})
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func TestExpiryAndSupersede(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		v1, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodSMS)
		require.NoError(t, err)
		v2, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodEmail)
		require.NoError(t, err)
		got, err := f.svc.Get(ctx, f.tenant, v1.ID)
		require.NoError(t, err)
		require.Equal(t, verify.StateCancelled, got.State, "a new verification supersedes the open one")
		require.Equal(t, verify.ReasonSuperseded, got.Reason)
		_, err = f.svc.Decide(ctx, f.tech, f.user, v1.ID, true)
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))

		f.advance(verify.DefaultCodeTTL)
		require.Equal(t, verify.StateExpired, v2.StateAt(f.clock()), "the server clock decides")
		_, err = f.svc.Decide(ctx, f.tech, f.user, v2.ID, true)
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
		got, err = f.svc.Get(ctx, f.tenant, v2.ID)
		require.NoError(t, err)
		require.Equal(t, verify.StateExpired, got.State, "the timeout is recorded")

		// The job records the others'.
		v3, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodSMS)
		require.NoError(t, err)
		f.advance(verify.DefaultCodeTTL + time.Second)
		n, err := f.svc.ExpireDue(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		got, err = f.svc.Get(ctx, f.tenant, v3.ID)
		require.NoError(t, err)
		require.Equal(t, verify.StateExpired, got.State)
		require.Equal(t, 2, countOf(f.actions(t), "verification.expired"))

		hist, err := f.svc.History(ctx, f.tenant, f.user, 10)
		require.NoError(t, err)
		require.Len(t, hist, 3)
		require.Equal(t, v3.ID, hist[0].ID)
	})
}

func TestSendLimits(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		for range verify.SendsPerHour {
			_, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodEmail)
			require.NoError(t, err)
			f.advance(time.Minute)
		}
		av, err := f.svc.Availability(ctx, f.tech, f.user)
		require.NoError(t, err)
		require.NotEmpty(t, av.Blocked, "the panel warns before the block")
		_, err = f.svc.Start(ctx, f.tech, f.user, verify.MethodEmail)
		require.Equal(t, apperr.RateLimited, apperr.CodeOf(err))
		require.Len(t, f.messages(t, "email"), verify.SendsPerHour)

		// Blocked for 24 hours, even after the hour.
		f.advance(2 * time.Hour)
		_, err = f.svc.Start(ctx, f.tech, f.user, verify.MethodSMS)
		require.Equal(t, apperr.RateLimited, apperr.CodeOf(err))
		av, err = f.svc.Availability(ctx, f.tech, f.user)
		require.NoError(t, err)
		require.NotNil(t, av.BlockedUntil)
		require.Contains(t, f.actions(t), "verification.blocked")

		// A technician cannot lift it; an admin can.
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(f.svc.Unblock(ctx, f.tech, f.user)))
		require.NoError(t, f.svc.Unblock(ctx, f.admin, f.user))
		_, err = f.svc.Start(ctx, f.tech, f.user, verify.MethodSMS)
		require.NoError(t, err)

		// Another end user is not affected by Ann's block.
		f.advance(22 * time.Hour)
		_, err = f.svc.Start(ctx, f.tech, f.user, verify.MethodSMS)
		require.NoError(t, err)
	})
}

func TestAvailabilityReasons(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		set := func(col string, val any) {
			_, err := d.Bun.NewUpdate().Table("end_users").Set(col+" = ?", val).Where("id = ?", f.user).Exec(ctx)
			require.NoError(t, err)
		}
		av, err := f.svc.Availability(ctx, f.tech, f.user)
		require.NoError(t, err)
		require.True(t, av.Option(verify.MethodSMS).Available)
		require.True(t, av.Option(verify.MethodEmail).Available)
		require.False(t, av.Option(verify.MethodPush).Available)
		require.Equal(t, "No enrolled device.", av.Option(verify.MethodPush).Reason)
		require.Equal(t, "No enrolled device.", av.Option(verify.MethodPushCode).Reason)
		require.Equal(t, verify.MethodSMS, av.Default)
		_, err = f.svc.Start(ctx, f.tech, f.user, verify.MethodPush)
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))

		f.enrol(t, true)
		av, err = f.svc.Availability(ctx, f.tech, f.user)
		require.NoError(t, err)
		require.True(t, av.Option(verify.MethodPush).Available)
		require.Equal(t, "iPhone · Safari", av.Option(verify.MethodPush).Destination)
		require.Equal(t, verify.MethodPush, av.Default, "push first where the end user has it")

		set("self_serve_enabled", false)
		av, err = f.svc.Availability(ctx, f.tech, f.user)
		require.NoError(t, err)
		require.Equal(t, "Self-serve is off for this end user.", av.Option(verify.MethodPush).Reason)
		set("self_serve_enabled", true)

		set("mobile", "")
		set("privileged", true)
		av, err = f.svc.Availability(ctx, f.tech, f.user)
		require.NoError(t, err)
		require.Equal(t, "No mobile number.", av.Option(verify.MethodSMS).Reason)
		require.Contains(t, av.Option(verify.MethodEmail).Reason, "Privileged account")
		require.Contains(t, av.Option(verify.MethodPush).Reason, "Self-serve is off", "not registered without a mobile")
		set("email", "")
		set("privileged", false)
		av, err = f.svc.Availability(ctx, f.tech, f.user)
		require.NoError(t, err)
		require.Equal(t, "No email address.", av.Option(verify.MethodEmail).Reason)
		require.Equal(t, verify.Method(""), av.Default)

		_, err = d.Bun.NewUpdate().Table("tenants").Set("self_serve_enabled = FALSE").Where("id = ?", f.tenant).Exec(ctx)
		require.NoError(t, err)
		set("mobile", annMobile)
		set("email", annEmail)
		av, err = f.svc.Availability(ctx, f.tech, f.user)
		require.NoError(t, err)
		require.Contains(t, av.Option(verify.MethodPush).Reason, "whole MSP")
	})
}

func TestPushApprove(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		dev, _ := f.enrol(t, true)
		v, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodPush)
		require.NoError(t, err)
		require.Equal(t, verify.MethodPush, v.Method)
		require.Equal(t, f.now.Add(verify.DefaultPushTimeout), v.ExpiresAt.UTC())
		require.Empty(t, v.Code, "a plain push has no code")
		require.Zero(t, v.MatchNumber)
		require.Contains(t, f.jobs.kinds(), "send_push")
		require.Contains(t, f.jobs.kinds(), "verify_push_check")

		// The live panel is told at once when the phone answers.
		ch, cancel := f.svc.Hub().Watch(v.ID, v.Version)
		defer cancel()
		req, err := f.svc.Respond(ctx, dev, v.ID, verify.Answer{Approve: true, IP: "198.51.100.7"})
		require.NoError(t, err)
		require.Equal(t, verify.StateVerified, req.State)
		require.Equal(t, "Acme IT", req.MSP)
		require.Equal(t, "Tess Tech", req.Technician)
		select {
		case <-ch:
		case <-time.After(time.Second):
			t.Fatal("no signal")
		}
		_, err = f.svc.Respond(ctx, dev, v.ID, verify.Answer{Approve: false})
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err), "one answer")
		require.Equal(t, []string{"push.subscribe", "device.enrol", "verification.start", "verification.verified"}, f.actions(t))
	})
}

func TestPushDenyAndOtherDevice(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		dev, _ := f.enrol(t, true)
		v, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodPush)
		require.NoError(t, err)

		// A device of another end user of the tenant cannot see or answer it.
		var bob string
		require.NoError(t, d.Bun.NewSelect().Table("end_users").Column("customer_id").Where("id = ?", f.user).Scan(ctx, &bob))
		bobID := db.NewID()
		_, err = d.Bun.NewInsert().Model(&map[string]any{"id": bobID, "tenant_id": f.tenant, "customer_id": bob, "username": "bob",
			"created_at": f.now, "updated_at": f.now}).TableExpr("end_users").Exec(ctx)
		require.NoError(t, err)
		var bobDev *device.Device
		require.NoError(t, d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			_, bobDev, err = f.devices.Enrol(ctx, tx, f.tenant, bobID, "Bob's phone", nil)
			return err
		}))
		_, err = f.svc.ForDevice(ctx, bobDev, v.ID)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
		_, err = f.svc.Respond(ctx, bobDev, v.ID, verify.Answer{Approve: true})
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))

		req, err := f.svc.Respond(ctx, dev, v.ID, verify.Answer{Approve: false})
		require.NoError(t, err)
		require.Equal(t, verify.StateDenied, req.State)
		require.Equal(t, verify.ReasonEndUserDenied, req.Verification.Reason)

		// Timed out: the phone's late answer is refused.
		v, err = f.svc.Start(ctx, f.tech, f.user, verify.MethodPush)
		require.NoError(t, err)
		f.advance(verify.DefaultPushTimeout)
		_, err = f.svc.Respond(ctx, dev, v.ID, verify.Answer{Approve: true})
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
		got, err := f.svc.Get(ctx, f.tenant, v.ID)
		require.NoError(t, err)
		require.Equal(t, verify.StateExpired, got.State)
	})
}

func TestPushCode(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		dev, _ := f.enrol(t, true)
		v, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodPushCode)
		require.NoError(t, err)
		code, err := f.svc.Code(v)
		require.NoError(t, err)
		require.Regexp(t, `^\d{6}$`, code)
		_, err = f.svc.Decide(ctx, f.tech, f.user, v.ID, true)
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err), "the phone approves first")
		req, err := f.svc.ForDevice(ctx, dev, v.ID)
		require.NoError(t, err)
		require.Empty(t, req.Code, "the phone shows the code only after approving")

		f.advance(10 * time.Second)
		req, err = f.svc.Respond(ctx, dev, v.ID, verify.Answer{Approve: true})
		require.NoError(t, err)
		require.Equal(t, verify.StateApproved, req.State)
		require.Equal(t, code, req.Code)
		require.Equal(t, f.clock().Add(verify.DefaultCodeTTL), req.Verification.ExpiresAt.UTC(), "the code lifetime runs from the approval")

		v, err = f.svc.Decide(ctx, f.tech, f.user, v.ID, true)
		require.NoError(t, err)
		require.Equal(t, verify.StateVerified, v.State)
		require.Equal(t, []string{"verification.start", "verification.approved", "verification.verified"}, f.actions(t)[2:])
	})
}

func TestNumberMatching(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		_, err := f.svc.SaveSettings(ctx, f.tech, verify.SettingsInput{CodeMinutes: "5", NumberMatching: true})
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(err))
		for _, bad := range []string{"0", "11", "x", ""} {
			_, err = f.svc.SaveSettings(ctx, f.admin, verify.SettingsInput{CodeMinutes: bad})
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err), bad)
		}
		st, err := f.svc.SaveSettings(ctx, f.admin, verify.SettingsInput{CodeMinutes: "3", NumberMatching: true})
		require.NoError(t, err)
		require.Equal(t, 3*time.Minute, st.CodeTTL)
		st, err = f.svc.Settings(ctx, f.tenant)
		require.NoError(t, err)
		require.True(t, st.NumberMatching)

		dev, _ := f.enrol(t, true)
		v, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodPush)
		require.NoError(t, err)
		require.GreaterOrEqual(t, v.MatchNumber, 10)
		require.LessOrEqual(t, v.MatchNumber, 99)
		choices := v.Choices()
		require.Len(t, choices, 3)
		require.Contains(t, choices, strconv.Itoa(v.MatchNumber))
		require.Len(t, slices.Compact(slices.Sorted(slices.Values(choices))), 3, "three different numbers")

		_, err = f.svc.Respond(ctx, dev, v.ID, verify.Answer{Approve: true})
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "a number must be picked")
		wrong := 0
		for _, c := range choices {
			if n, _ := strconv.Atoi(c); n != v.MatchNumber {
				wrong = n
			}
		}
		req, err := f.svc.Respond(ctx, dev, v.ID, verify.Answer{Approve: true, Number: wrong})
		require.NoError(t, err)
		require.Equal(t, verify.StateDenied, req.State, "a wrong pick ends it: no second guess")
		require.Equal(t, verify.ReasonWrongNumber, req.Verification.Reason)

		v, err = f.svc.Start(ctx, f.tech, f.user, verify.MethodPush)
		require.NoError(t, err)
		req, err = f.svc.Respond(ctx, dev, v.ID, verify.Answer{Approve: true, Number: v.MatchNumber})
		require.NoError(t, err)
		require.Equal(t, verify.StateVerified, req.State)

		// SMS codes now last 3 minutes.
		v, err = f.svc.Start(ctx, f.tech, f.user, verify.MethodSMS)
		require.NoError(t, err)
		require.Equal(t, 3*time.Minute, v.ExpiresAt.Sub(v.CreatedAt))
	})
}

func TestPendingPushLimit(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		f.enrol(t, true)
		for range verify.PendingPushes {
			_, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodPush)
			require.NoError(t, err)
			f.advance(time.Minute) // each times out unanswered
		}
		_, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodPush)
		require.Equal(t, apperr.RateLimited, apperr.CodeOf(err), "push bombing")
		av, err := f.svc.Availability(ctx, f.tech, f.user)
		require.NoError(t, err)
		require.Contains(t, av.Option(verify.MethodPush).Reason, "unanswered")
		_, err = f.svc.Start(ctx, f.tech, f.user, verify.MethodSMS)
		require.NoError(t, err, "a code still works")
		f.advance(verify.PendingPushWindow)
		_, err = f.svc.Start(ctx, f.tech, f.user, verify.MethodPush)
		require.NoError(t, err)
	})
}

func TestFallbackNoSubscription(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		f.enrol(t, false) // notifications not allowed on the device
		av, err := f.svc.Availability(ctx, f.tech, f.user)
		require.NoError(t, err)
		require.True(t, av.Option(verify.MethodPush).Available)
		require.Contains(t, av.Option(verify.MethodPush).Note, "SMS code goes instead")
		v, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodPush)
		require.NoError(t, err)
		require.Equal(t, verify.MethodSMS, v.Method)
		require.Equal(t, verify.MethodPush, v.RequestedMethod)
		require.Equal(t, verify.FallbackNoSubscription, v.Fallback)
		require.Equal(t, f.now.Add(verify.DefaultCodeTTL), v.ExpiresAt.UTC())
		require.Len(t, f.messages(t, "sms"), 1)
		require.Empty(t, f.messages(t, "push"))
		code, err := f.svc.Code(v)
		require.NoError(t, err)
		v, err = f.svc.CheckCode(ctx, f.tech, f.user, v.ID, code)
		require.NoError(t, err)
		require.Equal(t, verify.StateVerified, v.State)
	})
}

func TestFallbackPushGone(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		dev, ps := f.enrol(t, true)
		v, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodPush)
		require.NoError(t, err)
		again, err := f.svc.CheckPush(ctx, v.ID)
		require.NoError(t, err)
		require.True(t, again, "the push is still on its way")

		// The push service answers 410: the subscription is revoked and the verification becomes an SMS code.
		f.srv.Gone(ps.Endpoint, http.StatusGone)
		pm := f.messages(t, "push")
		require.Len(t, pm, 1)
		_, err = f.push.Deliver(ctx, pm[0].ID, false)
		require.NoError(t, err)
		ch, cancel := f.svc.Hub().Watch(v.ID, v.Version)
		defer cancel()
		again, err = f.svc.CheckPush(ctx, v.ID)
		require.NoError(t, err)
		require.False(t, again)
		select {
		case <-ch:
		case <-time.After(time.Second):
			t.Fatal("the live panel was not told")
		}
		got, err := f.svc.Get(ctx, f.tenant, v.ID)
		require.NoError(t, err)
		require.Equal(t, verify.MethodSMS, got.Method)
		require.Equal(t, verify.FallbackPushFailed, got.Fallback)
		require.Equal(t, verify.StatePending, got.State)
		require.Len(t, f.messages(t, "sms"), 1)
		require.Contains(t, f.actions(t), "verification.fallback")
		_, err = f.svc.Respond(ctx, dev, v.ID, verify.Answer{Approve: true})
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err), "the push is no longer answerable")

		// Now the device has no working subscription: the next push goes straight to SMS.
		v, err = f.svc.Start(ctx, f.tech, f.user, verify.MethodPush)
		require.NoError(t, err)
		require.Equal(t, verify.FallbackNoSubscription, v.Fallback)
	})
}

func TestHubPollsOtherProcesses(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		dev, _ := f.enrol(t, true)
		v, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodPush)
		require.NoError(t, err)

		// A second service on the same database stands for another server process.
		other := verify.NewService(verify.Deps{DB: d, Keys: f.keys, Jobs: f.jobs, SMS: f.smsSvc.Queue(), Push: f.push.Queue(),
			Mail: notify.NewQueue(f.jobs, f.keys, f.clock), Now: f.clock})
		ch, cancel := f.svc.Hub().Watch(v.ID, v.Version)
		defer cancel()
		_, err = other.Respond(ctx, dev, v.ID, verify.Answer{Approve: true})
		require.NoError(t, err)
		select {
		case <-ch:
		case <-time.After(2 * time.Second):
			t.Fatal("the change of another process was not noticed")
		}
		cancel()
		require.Eventually(t, func() bool { return f.svc.Hub().Watching() == 0 }, time.Second, 10*time.Millisecond)
	})
}

func TestCodesAreRandomSixDigits(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		seen := map[string]bool{}
		for range 4 {
			v, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodSMS)
			require.NoError(t, err)
			c, _ := f.svc.Code(v)
			require.True(t, sixDigits.MatchString(c))
			seen[c] = true
		}
		require.Greater(t, len(seen), 1)
	})
}
