package webpush_test

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/app/webpush/pushtest"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

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

type fixture struct {
	d       *db.DB
	keys    *secret.Keyring
	svc     *webpush.Service
	jobs    *jobs
	push    *pushtest.Server
	tenant  string
	user    string
	actor   audit.Actor
	mu      sync.Mutex
	now     time.Time
	started time.Time
}

func (f *fixture) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }

func (f *fixture) advance(d time.Duration) { f.mu.Lock(); f.now = f.now.Add(d); f.mu.Unlock() }

func (f *fixture) service(allowAny bool) *webpush.Service {
	return webpush.NewService(webpush.Deps{
		DB: f.d, Keys: f.keys, Jobs: f.jobs, AllowAnyEndpoint: allowAny, Now: f.clock,
		Link: func(p string) string { return "https://latchkey.msp.example" + p },
	})
}

// endUser stores a tenant with a customer and an end user.
func endUser(t *testing.T, d *db.DB, now time.Time, name string) (tenantID, userID string) {
	t.Helper()
	ctx := context.Background()
	tn := tenant.New(now)
	tn.Name = name
	require.NoError(t, tenant.Insert(ctx, d.Bun, tn))
	customerID, userID := db.NewID(), db.NewID()
	_, err := d.Bun.NewInsert().Model(&map[string]any{"id": customerID, "tenant_id": tn.ID, "name": "Globex", "created_at": now, "updated_at": now}).
		TableExpr("customers").Exec(ctx)
	require.NoError(t, err)
	_, err = d.Bun.NewInsert().Model(&map[string]any{"id": userID, "tenant_id": tn.ID, "customer_id": customerID, "username": "ann", "created_at": now, "updated_at": now}).
		TableExpr("end_users").Exec(ctx)
	require.NoError(t, err)
	return tn.ID, userID
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	key, err := secret.GenerateKey()
	require.NoError(t, err)
	keys, err := secret.ParseKeys(key)
	require.NoError(t, err)
	f := &fixture{d: d, keys: keys, jobs: &jobs{}, now: time.Now().UTC().Truncate(time.Second), push: pushtest.New(t)}
	f.started = f.now
	f.tenant, f.user = endUser(t, d, f.now, "Acme IT")
	f.actor = audit.Actor{TenantID: f.tenant, Name: "Ann (end user)", IP: "192.0.2.7"}
	f.svc = f.service(true)
	return f
}

func (f *fixture) subscribe(t *testing.T, label string) (pushtest.Subscription, *webpush.Subscription) {
	t.Helper()
	pub, err := f.svc.PublicKey(context.Background())
	require.NoError(t, err)
	ps := f.push.Subscribe(t, pub)
	sub, err := f.svc.Save(context.Background(), f.actor, f.user, webpush.SubscriptionInput{
		Endpoint: ps.Endpoint, P256dh: ps.P256dh, Auth: ps.Auth, UserAgent: "Mozilla/5.0 (iPhone)", DeviceLabel: label,
	})
	require.NoError(t, err)
	f.advance(time.Second) // the next device is newer
	return ps, sub
}

func (f *fixture) pushNow(t *testing.T, p webpush.Payload, ttl time.Duration) ([]webpush.Delivery, error) {
	t.Helper()
	var out []webpush.Delivery
	err := f.d.RunInTx(context.Background(), func(ctx context.Context, tx *db.Tx) error {
		var err error
		out, err = f.svc.Queue().Push(ctx, tx, f.tenant, f.user, p, ttl, webpush.UrgencyHigh)
		return err
	})
	return out, err
}

func (f *fixture) status(t *testing.T, id string) notify.Message {
	t.Helper()
	m, err := notify.Load(context.Background(), f.d.Bun, id)
	require.NoError(t, err)
	return *m
}

func TestPushEndToEnd(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := newFixture(t, d)
		ctx := context.Background()

		// One key pair per installation, private key encrypted at rest.
		pub, err := f.svc.PublicKey(ctx)
		require.NoError(t, err)
		pub2, err := f.service(true).PublicKey(ctx)
		require.NoError(t, err)
		require.Equal(t, pub, pub2)
		var priv []byte
		require.NoError(t, d.Bun.NewSelect().Table("push_vapid").Column("private_key").Scan(ctx, &priv))
		_, err = f.keys.Decrypt(priv, []byte("push_vapid/1"))
		require.NoError(t, err)

		_, err = f.pushNow(t, webpush.Payload{Title: "Approve?"}, time.Minute)
		require.ErrorIs(t, err, webpush.ErrNoSubscription)

		phone, sub := f.subscribe(t, "iPhone · Safari")
		tablet, _ := f.subscribe(t, "iPad · Safari")
		ok, err := webpush.HasActive(ctx, d.Bun, f.tenant, f.user)
		require.NoError(t, err)
		require.True(t, ok)

		p := webpush.Payload{Title: "Acme IT: is this you?", Body: "Approve the verification on the call", URL: "/v/01abc", ID: "01abc", Kind: "verification"}
		ds, err := f.pushNow(t, p, time.Minute)
		require.NoError(t, err)
		require.Len(t, ds, 2)
		require.Equal(t, jobargs.SendPush{MessageID: ds[0].MessageID}, f.jobs.args[0])
		m := f.status(t, ds[0].MessageID)
		require.Equal(t, "push", m.Channel)
		require.Equal(t, "verification", m.Kind)
		require.Equal(t, "iPhone · Safari", m.To)
		require.NotContains(t, m.Data, "01abc", "the payload is encrypted at rest")

		for _, dl := range ds {
			out, err := f.svc.Deliver(ctx, dl.MessageID, false)
			require.NoError(t, err)
			require.NoError(t, out.Err)
			require.Equal(t, notify.StatusSent, out.Status)
			out, err = f.svc.Deliver(ctx, dl.MessageID, false) // duplicate job: nothing
			require.NoError(t, err)
			require.Equal(t, notify.StatusSent, out.Status)
		}
		got := f.push.Messages()
		require.Len(t, got, 2, "rejected: %v", f.push.Rejected())
		require.Equal(t, phone.Endpoint, got[0].Endpoint)
		require.Equal(t, tablet.Endpoint, got[1].Endpoint)
		var dec webpush.Payload
		require.NoError(t, json.Unmarshal(got[0].Payload, &dec))
		p.URL = "https://latchkey.msp.example/v/01abc"
		require.Equal(t, p, dec, "decrypted payload equals what was sent")
		require.Equal(t, pub, got[0].VAPIDKey)
		require.Equal(t, f.push.URL, got[0].Audience)
		require.Equal(t, "https://latchkey.msp.example", got[0].Subject)
		require.Equal(t, "high", got[0].Urgency)
		require.InDelta(t, 60, got[0].TTL, 1)
		subs, err := webpush.ListForEndUser(ctx, d.Bun, f.tenant, f.user)
		require.NoError(t, err)
		require.Len(t, subs, 2)
		require.NotNil(t, subs[0].LastSuccessAt)

		// 410 from the push service: the subscription is revoked, audited,
		// never retried; the other device still receives.
		f.push.Gone(phone.Endpoint, 410)
		ds, err = f.pushNow(t, webpush.Payload{Title: "Again"}, time.Minute)
		require.NoError(t, err)
		out, err := f.svc.Deliver(ctx, ds[0].MessageID, false)
		require.NoError(t, err)
		require.ErrorIs(t, out.Err, webpush.ErrGone)
		require.False(t, out.Retry)
		require.Equal(t, webpush.GoneError, f.status(t, ds[0].MessageID).LastError)
		states, err := webpush.States(ctx, d.Bun, f.tenant, []string{ds[0].MessageID})
		require.NoError(t, err)
		require.True(t, states[0].Gone)
		subs, err = webpush.ListForEndUser(ctx, d.Bun, f.tenant, f.user)
		require.NoError(t, err)
		for _, s := range subs {
			require.Equal(t, s.ID == sub.ID, !s.Active())
			if s.ID == sub.ID {
				require.Equal(t, webpush.RevokedGone, s.RevokeReason)
			}
		}
		var gone []audit.Event
		require.NoError(t, d.Bun.NewSelect().Model(&gone).Where("tenant_id = ? AND action = ?", f.tenant, "push.subscription_gone").Scan(ctx))
		require.Len(t, gone, 1)

		// A 5xx is retried; the last attempt's is final.
		f.push.FailNext(1, 503)
		out, err = f.svc.Deliver(ctx, ds[1].MessageID, false)
		require.NoError(t, err)
		require.True(t, out.Retry)
		require.Equal(t, notify.StatusQueued, f.status(t, ds[1].MessageID).Status)
		out, err = f.svc.Deliver(ctx, ds[1].MessageID, true)
		require.NoError(t, err)
		require.Equal(t, notify.StatusSent, out.Status)

		// Only the tablet is left: the next push goes only there; past its
		// TTL a notification is refused.
		ds, err = f.pushNow(t, webpush.Payload{Title: "Short"}, 30*time.Second)
		require.NoError(t, err)
		require.Len(t, ds, 1)
		f.advance(30 * time.Second)
		out, err = f.svc.Deliver(ctx, ds[0].MessageID, false)
		require.NoError(t, err)
		require.ErrorIs(t, out.Err, webpush.ErrExpired)
		require.Equal(t, webpush.ExpiredError, f.status(t, ds[0].MessageID).LastError)
		require.Len(t, f.push.Messages(), 3)

		// Saving the gone endpoint again (the browser re-subscribed) makes
		// it active again.
		_, err = f.svc.Save(ctx, f.actor, f.user, webpush.SubscriptionInput{Endpoint: phone.Endpoint, P256dh: phone.P256dh, Auth: phone.Auth})
		require.NoError(t, err)
		subs, _ = webpush.ListForEndUser(ctx, d.Bun, f.tenant, f.user)
		require.Len(t, subs, 2)
		require.True(t, subs[0].Active() && subs[1].Active())
	})
}

func TestSubscriptionRules(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := newFixture(t, d)
		ctx := context.Background()
		strict := f.service(false)
		pub, err := f.svc.PublicKey(ctx)
		require.NoError(t, err)
		ps := f.push.Subscribe(t, pub)
		in := webpush.SubscriptionInput{Endpoint: ps.Endpoint, P256dh: ps.P256dh, Auth: ps.Auth}

		// By default only https endpoints of known push services.
		for _, ep := range []string{ps.Endpoint, "https://127.0.0.1/push", "https://evil.example/push", "https://fcm.googleapis.com.evil.example/x"} {
			bad := in
			bad.Endpoint = ep
			_, err := strict.Save(ctx, f.actor, f.user, bad)
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err), ep)
		}
		good := in
		good.Endpoint = "https://fcm.googleapis.com/fcm/send/abc123"
		fcm, err := strict.Save(ctx, f.actor, f.user, good)
		require.NoError(t, err)
		require.NoError(t, strict.Revoke(ctx, f.actor, fcm.ID)) // not reachable from here

		bad := in
		bad.P256dh = ps.Auth
		_, err = f.svc.Save(ctx, f.actor, f.user, bad)
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
		bad = in
		bad.Auth = ps.P256dh
		_, err = f.svc.Save(ctx, f.actor, f.user, bad)
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))

		// Another tenant's end user and subscriptions are not found.
		other, otherUser := endUser(t, d, f.now, "Other MSP")
		_, err = f.svc.Save(ctx, f.actor, otherUser, in)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
		sub, err := f.svc.Save(ctx, f.actor, f.user, in)
		require.NoError(t, err)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(f.svc.Revoke(ctx, audit.Actor{TenantID: other}, sub.ID)))
		subs, err := webpush.ListForEndUser(ctx, d.Bun, other, f.user)
		require.NoError(t, err)
		require.Empty(t, subs)

		require.NoError(t, f.svc.Revoke(ctx, f.actor, sub.ID))
		require.NoError(t, f.svc.Revoke(ctx, f.actor, sub.ID))
		n, err := d.Bun.NewSelect().Model((*audit.Event)(nil)).Where("tenant_id = ? AND action = ?", f.tenant, "push.unsubscribe").Count(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(2), n, "the fcm device and this one, each once")

		// A notification to a revoked subscription is refused.
		ps2 := f.push.Subscribe(t, pub)
		s2, err := f.svc.Save(ctx, f.actor, f.user, webpush.SubscriptionInput{Endpoint: ps2.Endpoint, P256dh: ps2.P256dh, Auth: ps2.Auth})
		require.NoError(t, err)
		ds, err := f.pushNow(t, webpush.Payload{Title: "x", URL: "https://elsewhere.example/"}, time.Minute)
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "links only under the base URL")
		require.Nil(t, ds)
		ds, err = f.pushNow(t, webpush.Payload{Title: "x"}, time.Minute)
		require.NoError(t, err)
		require.NoError(t, f.svc.Revoke(ctx, f.actor, s2.ID))
		for _, dl := range ds {
			out, err := f.svc.Deliver(ctx, dl.MessageID, false)
			require.NoError(t, err)
			require.ErrorIs(t, out.Err, webpush.ErrGone)
		}
		require.Empty(t, f.push.Messages())

		// A VAPID key other than the one the browser subscribed with is refused
		// by the push service (and not retried).
		otherKeys := webpush.NewService(webpush.Deps{DB: dbtest.New(t, db.SQLite), Keys: f.keys, Jobs: f.jobs, AllowAnyEndpoint: true,
			Link: func(p string) string { return "http://localhost:8080" + p }})
		otherPub, err := otherKeys.PublicKey(ctx)
		require.NoError(t, err)
		require.NotEqual(t, pub, otherPub)
		ps3 := f.push.Subscribe(t, otherPub)
		_, err = f.svc.Save(ctx, f.actor, f.user, webpush.SubscriptionInput{Endpoint: ps3.Endpoint, P256dh: ps3.P256dh, Auth: ps3.Auth})
		require.NoError(t, err)
		ds, err = f.pushNow(t, webpush.Payload{Title: "y"}, time.Minute)
		require.NoError(t, err)
		require.Len(t, ds, 1)
		out, err := f.svc.Deliver(ctx, ds[0].MessageID, false)
		require.NoError(t, err)
		require.False(t, out.Retry)
		require.Equal(t, notify.StatusFailed, out.Status)
		rej := f.push.Rejected()
		require.NotEmpty(t, rej)
		require.Contains(t, rej[len(rej)-1].Reason, "VAPID")
	})
}
