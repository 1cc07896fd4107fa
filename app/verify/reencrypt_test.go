package verify_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/verify"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// withKeys rebuilds the fixture's services on keys.
func (f *fixture) withKeys(keys *secret.Keyring) *verify.Service {
	link := func(p string) string { return "https://latchkey.msp.example" + p }
	push := webpush.NewService(webpush.Deps{DB: f.d, Keys: keys, Jobs: f.jobs, AllowAnyEndpoint: true, Now: f.clock, Link: link})
	smsSvc := sms.NewService(sms.Deps{DB: f.d, Keys: keys, Jobs: f.jobs, Link: link, Now: f.clock})
	return verify.NewService(verify.Deps{DB: f.d, Keys: keys, Jobs: f.jobs, SMS: smsSvc.Queue(), Push: push.Queue(),
		Mail: notify.NewQueue(f.jobs, keys, f.clock), Now: f.clock})
}

func TestReencryptCodesUnderTheNewKey(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		f := setup(t, d)
		ctx := context.Background()
		a, err := secret.GenerateKey()
		require.NoError(t, err)
		aKeys, err := secret.ParseKeys(a)
		require.NoError(t, err)
		f.svc = f.withKeys(aKeys)

		// One verification ended, one pending.
		done, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodSMS)
		require.NoError(t, err)
		doneCode, err := f.svc.Code(done)
		require.NoError(t, err)
		_, err = f.svc.Decide(ctx, f.tech, f.user, done.ID, true)
		require.NoError(t, err)
		pending, err := f.svc.Start(ctx, f.tech, f.user, verify.MethodEmail)
		require.NoError(t, err)
		pendingCode, err := f.svc.Code(pending)
		require.NoError(t, err)

		b, err := secret.GenerateKey()
		require.NoError(t, err)
		rotated, err := secret.ParseKeys(b + "," + a)
		require.NoError(t, err)
		onlyB, err := secret.ParseKeys(b)
		require.NoError(t, err)
		n, err := verify.ReencryptCodes(ctx, d, rotated)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		for id, code := range map[string]string{done.ID: doneCode, pending.ID: pendingCode} {
			var ct []byte
			require.NoError(t, d.Bun.NewSelect().Table("verifications").Column("code").Where("id = ?", id).Scan(ctx, &ct))
			require.False(t, rotated.NeedsRotation(ct))
			got, err := onlyB.Decrypt(ct, verify.CodeAADForTest(f.tenant, id))
			require.NoError(t, err)
			require.Equal(t, code, string(got))
		}
		n, err = verify.ReencryptCodes(ctx, d, rotated)
		require.NoError(t, err)
		require.Zero(t, n, "a second run has nothing to do")

		// Only B is needed to check the pending code.
		svc := f.withKeys(onlyB)
		v, err := svc.CheckCode(ctx, f.tech, f.user, pending.ID, pendingCode)
		require.NoError(t, err)
		require.Equal(t, verify.StateVerified, v.State)
	})
}
