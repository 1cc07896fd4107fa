package device_test

import (
	"context"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/device"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/app/webpush/pushtest"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

type noJobs struct{}

func (noJobs) InsertTx(context.Context, *db.Tx, river.JobArgs, *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return &rivertype.JobInsertResult{}, nil
}

type fixture struct {
	d      *db.DB
	svc    *device.Service
	push   *webpush.Service
	srv    *pushtest.Server
	tenant string
	user   string
	mu     sync.Mutex
	now    time.Time
}

func (f *fixture) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }

func (f *fixture) advance(d time.Duration) { f.mu.Lock(); f.now = f.now.Add(d); f.mu.Unlock() }

// endUser stores a tenant with a customer and an end user Ann.
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
	_, err = d.Bun.NewInsert().Model(&map[string]any{"id": userID, "tenant_id": tn.ID, "customer_id": customerID, "username": "ann",
		"first_name": "Ann", "last_name": "Lee", "created_at": now, "updated_at": now}).TableExpr("end_users").Exec(ctx)
	require.NoError(t, err)
	return tn.ID, userID
}

func setup(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	key, err := secret.GenerateKey()
	require.NoError(t, err)
	keys, err := secret.ParseKeys(key)
	require.NoError(t, err)
	f := &fixture{d: d, now: time.Now().UTC().Truncate(time.Second), srv: pushtest.New(t)}
	f.push = webpush.NewService(webpush.Deps{DB: d, Keys: keys, Jobs: noJobs{}, AllowAnyEndpoint: true, Now: f.clock,
		Link: func(p string) string { return "https://latchkey.msp.example" + p }})
	f.svc = device.NewService(device.Deps{DB: d, Push: f.push, Now: f.clock})
	f.tenant, f.user = endUser(t, d, f.now, "Acme IT")
	return f
}

func (f *fixture) subscription(t *testing.T) *webpush.SubscriptionInput {
	t.Helper()
	pub, err := f.push.PublicKey(context.Background())
	require.NoError(t, err)
	ps := f.srv.Subscribe(t, pub)
	return &webpush.SubscriptionInput{Endpoint: ps.Endpoint, P256dh: ps.P256dh, Auth: ps.Auth, UserAgent: "Mozilla/5.0 (iPhone)"}
}

func (f *fixture) enrol(t *testing.T, tenantID, userID, label string, sub *webpush.SubscriptionInput) (string, *device.Device, error) {
	t.Helper()
	var (
		cred string
		dev  *device.Device
	)
	err := f.d.RunInTx(context.Background(), func(ctx context.Context, tx *db.Tx) error {
		var err error
		cred, dev, err = f.svc.Enrol(ctx, tx, tenantID, userID, label, sub)
		return err
	})
	return cred, dev, err
}

func request(cred string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "https://latchkey.msp.example/self-serve/verify/x", nil)
	if cred != "" {
		r.AddCookie(device.Cookie(cred, true))
	}
	return r
}

func TestEnrolAuthenticateRevoke(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()

		// With a push subscription: the credential is random, stored hashed.
		cred, dev, err := f.enrol(t, f.tenant, f.user, "iPhone · Safari", f.subscription(t))
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(cred), 43, "256-bit credential")
		require.Equal(t, credential.HashToken(cred), dev.CredentialHash)
		require.NotContains(t, dev.CredentialHash, cred)
		require.True(t, dev.HasPush())
		var stored int
		require.NoError(t, d.Bun.NewSelect().Table("devices").ColumnExpr("COUNT(*)").Where("credential_hash = ?", cred).Scan(ctx, &stored))
		require.Zero(t, stored, "the credential itself is never stored")

		// The cookie: long-lived, HttpOnly, Strict, Secure over https, self-serve paths only.
		ck := device.Cookie(cred, true)
		require.True(t, ck.HttpOnly)
		require.True(t, ck.Secure)
		require.Equal(t, http.SameSiteStrictMode, ck.SameSite)
		require.Equal(t, "/self-serve", ck.Path)
		require.Greater(t, ck.MaxAge, 300*24*3600)
		require.False(t, device.Cookie(cred, false).Secure)

		got, err := f.svc.Authenticate(ctx, request(cred))
		require.NoError(t, err)
		require.Equal(t, dev.ID, got.ID)
		require.Equal(t, f.user, got.EndUserID)
		for _, bad := range []string{"", "nope", cred + "x"} {
			_, err = f.svc.Authenticate(ctx, request(bad))
			require.Equal(t, apperr.Unauthorized, apperr.CodeOf(err), "credential %q", bad)
		}

		// Without a subscription (notifications not allowed yet), then allowed later.
		f.advance(time.Second)
		cred2, dev2, err := f.enrol(t, f.tenant, f.user, "Pixel · Chrome", nil)
		require.NoError(t, err)
		require.False(t, dev2.HasPush())
		c, err := device.CountActive(ctx, d.Bun, f.tenant, f.user)
		require.NoError(t, err)
		require.Equal(t, device.Counts{Active: 2, Push: 1}, c)
		dev2, err = f.svc.SetSubscription(ctx, dev2, "192.0.2.9", *f.subscription(t))
		require.NoError(t, err)
		require.True(t, dev2.HasPush())
		c, err = device.CountActive(ctx, d.Bun, f.tenant, f.user)
		require.NoError(t, err)
		require.Equal(t, device.Counts{Active: 2, Push: 2}, c)

		list, err := f.svc.List(ctx, f.tenant, f.user)
		require.NoError(t, err)
		require.Len(t, list, 2)
		require.Equal(t, dev2.ID, list[0].ID, "newest first")
		require.True(t, list[0].PushActive)

		// Another tenant cannot revoke it; its own technician can.
		other, _ := endUser(t, d, f.now, "Other MSP")
		err = f.svc.Revoke(ctx, audit.Actor{TenantID: other, Name: "Mallory"}, dev.ID, "")
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
		a := audit.Actor{TenantID: f.tenant, LoginID: "l1", Name: "Tess Tech"}
		require.NoError(t, f.svc.Revoke(ctx, a, dev.ID, ""))
		require.NoError(t, f.svc.Revoke(ctx, a, dev.ID, ""), "twice is a no-op")
		_, err = f.svc.Authenticate(ctx, request(cred))
		require.Equal(t, apperr.Unauthorized, apperr.CodeOf(err), "a revoked device opens nothing")
		_, err = f.svc.Authenticate(ctx, request(cred2))
		require.NoError(t, err)
		list, err = f.svc.List(ctx, f.tenant, f.user)
		require.NoError(t, err)
		require.Equal(t, dev.ID, list[1].ID, "revoked last")
		require.False(t, list[1].PushActive, "its push subscription is revoked too")
		c, err = device.CountActive(ctx, d.Bun, f.tenant, f.user)
		require.NoError(t, err)
		require.Equal(t, device.Counts{Active: 1, Push: 1}, c)

		// Enrolment is audited, and so is the revocation.
		var actions []string
		require.NoError(t, d.Bun.NewSelect().Table("audit_events").Column("action").Where("tenant_id = ?", f.tenant).
			Order("seq").Scan(ctx, &actions))
		require.Equal(t, []string{"push.subscribe", "device.enrol", "device.enrol", "push.subscribe", "device.revoke", "push.unsubscribe"}, actions)
	})
}

func TestEnrolOtherTenant(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		other, _ := endUser(t, d, f.now, "Other MSP")
		_, _, err := f.enrol(t, other, f.user, "Phone", nil)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err), "an end user of another tenant")
		_, _, err = f.enrol(t, f.tenant, f.user, "Phone", &webpush.SubscriptionInput{Endpoint: "not a url"})
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
	})
}

func TestLastUsedOncePerMinute(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		cred, dev, err := f.enrol(t, f.tenant, f.user, "Phone", nil)
		require.NoError(t, err)
		f.advance(10 * time.Second)
		got, err := f.svc.AuthenticateCredential(ctx, cred)
		require.NoError(t, err)
		require.Equal(t, dev.LastUsedAt.Unix(), got.LastUsedAt.Unix(), "not written again within a minute")
		f.advance(time.Minute)
		before := d.Statements()
		got, err = f.svc.AuthenticateCredential(ctx, cred)
		require.NoError(t, err)
		require.Equal(t, f.clock().Unix(), got.LastUsedAt.Unix())
		require.Equal(t, int64(2), d.Statements()-before, "one read, one write")
	})
}
