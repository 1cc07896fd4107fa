package selfserve_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/selfserve"
	"github.com/latchkey/latchkey/db"
)

func TestReencryptProofsAndAuthenticatorsUnderTheNewKey(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dia db.Dialect) {
		x := setup(t, dia)
		ctx := context.Background()
		d := x.env.App.DB
		ann := x.user(x.cu.ID, "ann", nil)
		var codes []string // emailed, in order
		enrol := func() *selfserve.Flow {
			require.NoError(t, x.env.App.Web.Onboarding.DeliverWelcome(ctx, ann.ID, time.Time{}))
			var msg notify.Message
			require.NoError(t, d.Bun.NewSelect().Model(&msg).Where("kind = ?", enduser.WelcomeKind).
				OrderExpr("created_at DESC").Limit(1).Scan(ctx))
			welcome, err := msg.EmailData(x.env.App.Keys) // stored encrypted
			require.NoError(t, err)
			m := regexp.MustCompile(`/welcome/([A-Za-z0-9_-]+)`).FindStringSubmatch(welcome.ActionURL)
			require.NotNil(t, m)
			e, err := x.svc.StartEnrolment(ctx, m[1])
			require.NoError(t, err)
			f, _, err := x.svc.SendProof(ctx, e.Flow, selfserve.ChannelEmail, "")
			require.NoError(t, err)
			codes = append(codes, x.emailCode(ann.Email))
			f, err = x.svc.Prove(ctx, f, codes[len(codes)-1], "")
			require.NoError(t, err)
			return f
		}
		// An authenticator in use, a replacement waiting for confirmation
		// (kept in a proof row), two used codes and a pending one.
		f := enrol()
		inUse, err := x.svc.StartAuthenticator(ctx, f)
		require.NoError(t, err)
		code, err := totp.GenerateCode(inUse.Secret, time.Now())
		require.NoError(t, err)
		require.NoError(t, x.svc.ConfirmAuthenticator(ctx, f, code, ""))
		replacement, err := x.svc.StartAuthenticator(ctx, enrol())
		require.NoError(t, err)
		require.True(t, replacement.Confirmed)
		rf, err := x.svc.Start(ctx, x.f.Tenant.ID, selfserve.PurposeReset, "ann", "")
		require.NoError(t, err)
		_, _, err = x.svc.SendProof(ctx, rf, selfserve.ChannelEmail, "")
		require.NoError(t, err)
		codes = append(codes, x.emailCode(ann.Email))

		type proof struct {
			ID      string `bun:"id"`
			Purpose string `bun:"purpose"`
			Channel string `bun:"channel"`
			Code    []byte `bun:"code"`
		}
		proofs := func() []proof {
			var ps []proof
			require.NoError(t, d.Bun.NewSelect().Table("selfserve_proofs").Column("id", "purpose", "channel", "code").
				Where("code IS NOT NULL").OrderExpr("created_at, id").Scan(ctx, &ps))
			return ps
		}
		require.Len(t, proofs(), 4)

		b, err := secret.GenerateKey()
		require.NoError(t, err)
		rotated, err := secret.ParseKeys(b + "," + x.env.App.Config.MasterKey)
		require.NoError(t, err)
		onlyB, err := secret.ParseKeys(b)
		require.NoError(t, err)
		underB := func(ct, aad []byte) string {
			t.Helper()
			require.False(t, rotated.NeedsRotation(ct))
			got, err := onlyB.Decrypt(ct, aad)
			require.NoError(t, err)
			return string(got)
		}
		n, err := selfserve.ReencryptProofs(ctx, d, rotated)
		require.NoError(t, err)
		require.Equal(t, 4, n)
		n, err = selfserve.ReencryptAuthenticators(ctx, d, rotated)
		require.NoError(t, err)
		require.Equal(t, 1, n)

		var emailed []string
		for _, p := range proofs() {
			if p.Purpose == "authenticator" {
				require.Equal(t, replacement.Secret, underB(p.Code, selfserve.AuthenticatorAADForTest(x.f.Tenant.ID, ann.ID)))
				continue
			}
			require.Equal(t, selfserve.ChannelEmail, p.Channel)
			emailed = append(emailed, underB(p.Code, selfserve.ProofAADForTest(x.f.Tenant.ID, p.ID)))
		}
		require.Equal(t, codes, emailed)
		var sec []byte
		require.NoError(t, d.Bun.NewSelect().Table("end_user_authenticators").Column("secret").Where("end_user_id = ?", ann.ID).Scan(ctx, &sec))
		require.Equal(t, inUse.Secret, underB(sec, selfserve.AuthenticatorAADForTest(x.f.Tenant.ID, ann.ID)))

		for _, fn := range []func(context.Context, *db.DB, *secret.Keyring) (int, error){selfserve.ReencryptProofs, selfserve.ReencryptAuthenticators} {
			n, err := fn(ctx, d, rotated)
			require.NoError(t, err)
			require.Zero(t, n, "a second run has nothing to do")
		}
	})
}
