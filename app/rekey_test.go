package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app"
	"github.com/latchkey/latchkey/app/agent"
	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/verify"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// TestRekeyReportsEveryFailureAndGoesOn: a failed step does not stop the
// ones after it; the report has a line per step and the total, and the
// error names every failed step.
func TestRekeyReportsEveryFailureAndGoesOn(t *testing.T) {
	t.Parallel()
	key, err := secret.GenerateKey()
	require.NoError(t, err)
	keys, err := secret.ParseKeys(key)
	require.NoError(t, err)
	var ran []string
	step := func(name string, n int, err error) app.RekeyStep {
		return app.RekeyStep{Name: name, Run: func(context.Context, *db.DB, *secret.Keyring) (int, error) {
			ran = append(ran, name)
			return n, err
		}}
	}
	broken := errors.New("1 could not be re-encrypted")
	var out bytes.Buffer
	err = app.Rekey(context.Background(), nil, keys, []app.RekeyStep{
		step("first things", 2, nil), step("broken things", 1, broken), step("more things", 3, nil),
		step("other broken things", 0, errors.New("database gone")),
	}, &out)
	require.ErrorIs(t, err, broken)
	require.ErrorContains(t, err, "2 of 4 kinds of secret failed (broken things, other broken things)")
	require.ErrorContains(t, err, "database gone")
	require.Equal(t, []string{"first things", "broken things", "more things", "other broken things"}, ran)
	report := out.String()
	require.Regexp(t, `first things: +2 re-encrypted\n`, report)
	require.Regexp(t, `broken things: +1 re-encrypted, FAILED: 1 could not be re-encrypted\n`, report)
	require.Regexp(t, `more things: +3 re-encrypted\n`, report)
	require.Contains(t, report, "total: 6 re-encrypted under key "+keys.CurrentID())
	require.NotContains(t, report, "may be removed")
}

// TestRekeyCommand runs `latchkey rekey` on an installation with secrets
// under key A: with LATCHKEY_MASTER_KEY=B,A it moves them to B; with B
// alone (A removed) a second run finds nothing left under A; a value no key
// opens makes it exit with an error after doing everything else.
func TestRekeyCommand(t *testing.T) {
	t.Parallel()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			env := apptest.New(t, dia, apptest.Options{NoWorkers: true})
			f := env.Setup("Acme IT")
			ctx := context.Background()
			a := env.App
			now := time.Now().UTC()

			// A technician's TOTP secret.
			en, err := a.Logins.BeginTOTP(ctx, f.Primary.ID)
			require.NoError(t, err)
			code, err := totp.GenerateCode(en.Secret, time.Now().Add(-30*time.Second))
			require.NoError(t, err)
			require.NoError(t, a.Logins.ConfirmTOTP(ctx, f.Primary.ID, code, ""))
			// A directory bind password.
			actor := audit.Actor{TenantID: f.Tenant.ID, LoginID: f.Primary.ID, Name: "Pat Primary", Role: "primary", IP: "127.0.0.1"}
			cu := &customer.Customer{ID: db.NewID(), TenantID: f.Tenant.ID, Name: "Globex", Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
			_, err = a.DB.Bun.NewInsert().Model(cu).Exec(ctx)
			require.NoError(t, err)
			_, err = a.Agents.SaveSettings(ctx, actor, cu.ID, agent.SettingsInput{URL: "ldaps://dc1.globex.example", BindUser: "svc@globex.example",
				BindPassword: "s3cret-bind", BaseDN: "DC=globex,DC=example", ScopeKind: agent.ScopeBase})
			require.NoError(t, err)
			// The VAPID key pair.
			_, err = a.Web.Push.PublicKey(ctx)
			require.NoError(t, err)
			// A verification code, and the text message that carries it.
			userID := db.NewID()
			_, err = a.DB.Bun.NewInsert().Model(&map[string]any{"id": userID, "tenant_id": f.Tenant.ID, "customer_id": cu.ID, "username": "ann",
				"first_name": "Ann", "mobile": "+14155550123", "created_at": now, "updated_at": now}).TableExpr("end_users").Exec(ctx)
			require.NoError(t, err)
			_, err = a.Web.Verify.Start(ctx, actor, userID, verify.MethodSMS)
			require.NoError(t, err)
			// An email.
			require.NoError(t, a.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
				_, err := a.Web.Mail.Email(ctx, tx, f.Tenant.ID, "ann@globex.example", "test", notify.Email{Subject: "Your code: 123456", Lines: []string{"123456"}})
				return err
			}))

			b, err := secret.GenerateKey()
			require.NoError(t, err)
			rekey := func(masterKey string) (string, error) {
				vars := map[string]string{
					"LATCHKEY_DATA_DIR":     a.Config.DataDir,
					"LATCHKEY_DATABASE_URL": a.Config.DatabaseURL,
					"LATCHKEY_BASE_URL":     "http://latchkey.test",
					"LATCHKEY_MASTER_KEY":   masterKey,
					"LATCHKEY_LOG_LEVEL":    "warn",
				}
				var stdout, stderr bytes.Buffer
				err := app.Run(ctx, []string{"rekey"}, func(k string) string { return vars[k] }, &stdout, &stderr)
				return stdout.String(), err
			}
			counts := func(report string) map[string]int {
				t.Helper()
				out := map[string]int{}
				for _, m := range regexp.MustCompile(`(?m)^  (.+?): +(\d+) re-encrypted`).FindAllStringSubmatch(report, -1) {
					out[m[1]], _ = strconv.Atoi(m[2])
				}
				names := make([]string, 0, len(out))
				for _, st := range app.RekeySteps() {
					names = append(names, st.Name)
				}
				require.Len(t, out, len(names), report)
				for _, n := range names {
					require.Contains(t, out, n, "a line for every kind")
				}
				return out
			}

			// Every email so far (the one above, and those the sign-in set-up sent).
			stored, err := a.DB.Bun.NewSelect().Table("messages").Where("channel = 'email'").Count(ctx)
			require.NoError(t, err)
			emails := int(stored)
			require.GreaterOrEqual(t, emails, 1)

			report, err := rekey(b + "," + a.Config.MasterKey)
			require.NoError(t, err, report)
			got := counts(report)
			for name, want := range map[string]int{"logins with TOTP secrets": 1, "directory bind passwords": 1, "web push VAPID keys": 1,
				"verification codes": 1, "text message bodies": 1, "emails (content, subjects and rendered bodies)": emails} {
				require.Equal(t, want, got[name], name)
			}
			bID := strings.SplitN(b, ":", 2)[0]
			require.Contains(t, report, fmt.Sprintf("total: %d re-encrypted under key %s", 5+emails, bID))
			require.Contains(t, report, "keys after it in LATCHKEY_MASTER_KEY may be removed")

			// A removed: everything opens with B, and nothing is left to do.
			report, err = rekey(b)
			require.NoError(t, err, report)
			for name, n := range counts(report) {
				require.Zero(t, n, name)
			}
			require.Contains(t, report, "total: 0 re-encrypted")

			// A value under a key that is gone: reported, the rest still done.
			c, err := secret.GenerateKey()
			require.NoError(t, err)
			cKeys, err := secret.ParseKeys(c)
			require.NoError(t, err)
			lost, err := cKeys.Encrypt([]byte("x"), []byte("directory_settings:"+cu.ID))
			require.NoError(t, err)
			_, err = a.DB.Bun.NewUpdate().Table("directory_settings").Set("bind_password = ?", lost).Where("customer_id = ?", cu.ID).Exec(ctx)
			require.NoError(t, err)
			d, err := secret.GenerateKey()
			require.NoError(t, err)
			report, err = rekey(d + "," + b)
			require.Error(t, err)
			require.ErrorIs(t, err, secret.ErrUnknownKey)
			require.ErrorContains(t, err, "1 of "+fmt.Sprint(len(app.RekeySteps()))+" kinds of secret failed (directory bind passwords)")
			require.Regexp(t, `directory bind passwords: +0 re-encrypted, FAILED: 1 could not be re-encrypted`, report)
			got = counts(report)
			require.Equal(t, 1, got["logins with TOTP secrets"], "the others were done")
			require.Equal(t, 1, got["verification codes"])
			require.Equal(t, emails, got["emails (content, subjects and rendered bodies)"])
			require.NotContains(t, report, "may be removed")
		})
	}
}
