package sms_test

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/db"
)

func TestReencryptSettingsAndBodiesUnderTheNewKey(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		f.configure(t)
		require.NoError(t, f.svc.SaveSettings(ctx, f.admin, sms.SettingsInput{
			AccountSID: f.twilio.AccountSID, APIKeySID: f.twilio.APIKeySID, APIKeySecret: f.twilio.APIKeySecret, FromNumber: ourPhone,
		}))
		const sentBody, pendingBody = "Your code is 111111.", "Your code is 222222."
		sent, err := f.queue(t, dana, sentBody, sms.Options{ExpiresAt: f.now.Add(5 * time.Minute)})
		require.NoError(t, err)
		out, err := f.svc.Deliver(ctx, sent.ID, false)
		require.NoError(t, err)
		require.Equal(t, notify.StatusSent, out.Status)
		pending, err := f.queue(t, dana, pendingBody, sms.Options{ExpiresAt: f.now.Add(5 * time.Minute)})
		require.NoError(t, err)

		b, err := secret.GenerateKey()
		require.NoError(t, err)
		rotated, err := secret.ParseKeys(b + "," + f.keyEntry)
		require.NoError(t, err)
		onlyB, err := secret.ParseKeys(b)
		require.NoError(t, err)
		underB := func(ct, aad []byte, want string) {
			t.Helper()
			require.False(t, rotated.NeedsRotation(ct))
			got, err := onlyB.Decrypt(ct, aad)
			require.NoError(t, err)
			require.Equal(t, want, string(got))
		}

		n, err := sms.ReencryptSettings(ctx, d, rotated)
		require.NoError(t, err)
		require.Equal(t, 1, n, "one tenant's settings")
		n, err = sms.ReencryptBodies(ctx, d, rotated)
		require.NoError(t, err)
		require.Equal(t, 2, n, "sent and pending")

		var st struct {
			AuthToken    []byte `bun:"auth_token"`
			APIKeySecret []byte `bun:"api_key_secret"`
		}
		require.NoError(t, d.Bun.NewSelect().Table("sms_settings").Column("auth_token", "api_key_secret").
			Where("tenant_id = ?", f.tenant.ID).Scan(ctx, &st))
		underB(st.AuthToken, sms.SecretAADForTest(f.tenant.ID, "auth_token"), f.twilio.AuthToken)
		underB(st.APIKeySecret, sms.SecretAADForTest(f.tenant.ID, "api_key_secret"), f.twilio.APIKeySecret)
		for id, body := range map[string]string{sent.ID: sentBody, pending.ID: pendingBody} {
			ct, err := base64.StdEncoding.DecodeString(f.message(t, id).Data)
			require.NoError(t, err)
			underB(ct, sms.BodyAADForTest(f.tenant.ID, id), body)
		}
		for _, fn := range []func(context.Context, *db.DB, *secret.Keyring) (int, error){sms.ReencryptSettings, sms.ReencryptBodies} {
			n, err := fn(ctx, d, rotated)
			require.NoError(t, err)
			require.Zero(t, n, "a second run has nothing to do")
		}

		// Only B is needed to send the pending message.
		svc := sms.NewService(sms.Deps{DB: d, Keys: onlyB, Jobs: f.jobs, APIURL: f.twilio.URL, Now: f.clock,
			Link: func(p string) string { return "https://latchkey.msp.example" + p }})
		out, err = svc.Deliver(ctx, pending.ID, false)
		require.NoError(t, err)
		require.NoError(t, out.Err)
		require.Equal(t, notify.StatusSent, out.Status)
		msgs := f.twilio.Messages()
		require.Equal(t, pendingBody, msgs[len(msgs)-1].Body)
	})
}

// TestReencryptSettingsKeepsANewerSecret: a token saved between rekey's read
// and its write is not overwritten with the old one; the next run moves it.
func TestReencryptSettingsKeepsANewerSecret(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		f.configure(t)
		b, err := secret.GenerateKey()
		require.NoError(t, err)
		rotated, err := secret.ParseKeys(b + "," + f.keyEntry)
		require.NoError(t, err)
		const newer = "0123456789abcdef0123456789abcdef"
		saved := false
		hooked := sms.WithBeforeRekeyWriteForTest(ctx, func() {
			// Another process, still on key A, saves a new token.
			require.NoError(t, f.svc.SaveSettings(ctx, f.admin, sms.SettingsInput{
				AccountSID: f.twilio.AccountSID, AuthToken: newer, FromNumber: ourPhone,
			}))
			saved = true
		})
		n, err := sms.ReencryptSettings(hooked, d, rotated)
		require.NoError(t, err)
		require.True(t, saved)
		require.Zero(t, n, "the row changed meanwhile: left alone")
		token := func() []byte {
			var ct []byte
			require.NoError(t, d.Bun.NewSelect().Table("sms_settings").Column("auth_token").Where("tenant_id = ?", f.tenant.ID).Scan(ctx, &ct))
			return ct
		}
		require.True(t, rotated.NeedsRotation(token()), "still the other process's value, under A")
		got, err := rotated.Decrypt(token(), sms.SecretAADForTest(f.tenant.ID, "auth_token"))
		require.NoError(t, err)
		require.Equal(t, newer, string(got))

		n, err = sms.ReencryptSettings(ctx, d, rotated)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.False(t, rotated.NeedsRotation(token()))
		got, err = rotated.Decrypt(token(), sms.SecretAADForTest(f.tenant.ID, "auth_token"))
		require.NoError(t, err)
		require.Equal(t, newer, string(got))
	})
}
