package login_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

func TestReencryptMovesTOTPSecretsToTheNewKey(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		oldKey, err := secret.GenerateKey()
		require.NoError(t, err)
		newKey, err := secret.GenerateKey()
		require.NoError(t, err)
		q, err := db.NewQueue(d, &river.Config{})
		require.NoError(t, err)
		svc := func(keys string) *login.Service {
			kr, err := secret.ParseKeys(keys)
			require.NoError(t, err)
			return login.NewService(login.Deps{DB: d, Hasher: credential.NewHasher(1), Keys: kr, Mail: notify.NewQueue(q, kr, time.Now),
				Link: func(p string) string { return "http://x" + p }, Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		}
		old := svc(oldKey)
		_, l, err := old.CreateTenantWithPrimary(ctx, login.PrimaryInput{FirstName: "Pat", LastName: "P", Email: "pat@x.example",
			Password: "long enough passphrase", Confirm: "long enough passphrase"}, "")
		require.NoError(t, err)
		en, err := old.BeginTOTP(ctx, l.ID)
		require.NoError(t, err)
		code, err := totp.GenerateCode(en.Secret, time.Now().Add(-30*time.Second))
		require.NoError(t, err)
		require.NoError(t, old.ConfirmTOTP(ctx, l.ID, code, ""))

		// New key first, old key still present to decrypt.
		rotated := svc(newKey + "," + oldKey)
		n, err := rotated.Reencrypt(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		n, err = rotated.Reencrypt(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "a second run has nothing left to do")

		// Only the new key is needed now: sign-in with a fresh code works.
		onlyNew := svc(newKey)
		code, err = totp.GenerateCode(en.Secret, time.Now())
		require.NoError(t, err)
		_, err = onlyNew.VerifyTOTP(ctx, l.ID, code, "")
		require.NoError(t, err)
	})
}
