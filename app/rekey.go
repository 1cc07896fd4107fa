package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/latchkey/latchkey/app/agent"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/selfserve"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/verify"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/db"
)

// RekeyStep is one kind of encrypted value that `latchkey rekey`
// re-encrypts: Run rewrites the values not under keys' current key and
// returns how many it rewrote.
type RekeyStep struct {
	Name string // what Run counts, for the report
	Run  func(ctx context.Context, d *db.DB, keys *secret.Keyring) (int, error)
}

// RekeySteps returns every kind of encrypted column, each with the function
// of its owning package that re-encrypts it. A new encrypted column gets a
// step here.
func RekeySteps() []RekeyStep {
	return []RekeyStep{
		{"logins with TOTP secrets", func(ctx context.Context, d *db.DB, keys *secret.Keyring) (int, error) {
			return login.NewService(login.Deps{DB: d, Keys: keys}).Reencrypt(ctx)
		}},
		{"directory bind passwords", agent.ReencryptBindPasswords},
		{"directory task passwords", agent.ReencryptTaskPasswords},
		{"tenants' Twilio settings", sms.ReencryptSettings},
		{"text message bodies", sms.ReencryptBodies},
		{"web push VAPID keys", webpush.ReencryptVAPIDKey},
		{"web push subscriptions", webpush.ReencryptSubscriptions},
		{"web push payloads", webpush.ReencryptPayloads},
		{"verification codes", verify.ReencryptCodes},
		{"self-serve codes and pending authenticators", selfserve.ReencryptProofs},
		{"end-user authenticators", selfserve.ReencryptAuthenticators},
		{"emails (content, subjects and rendered bodies)", notify.ReencryptEmails},
	}
}

// Rekey runs every step under keys (the first key encrypts; the others
// only have to decrypt what is still under them), writing one line per step
// and a total to out. A failed step does not stop the others; the error
// names every one that failed, and the old keys must stay until a run
// succeeds.
func Rekey(ctx context.Context, d *db.DB, keys *secret.Keyring, steps []RekeyStep, out io.Writer) error {
	fmt.Fprintf(out, "re-encrypting stored secrets under key %s\n", keys.CurrentID())
	total := 0
	var failed []string
	var errs []error
	for _, st := range steps {
		n, err := st.Run(ctx, d, keys)
		total += n
		if err != nil {
			fmt.Fprintf(out, "  %-46s %6d re-encrypted, FAILED: %v\n", st.Name+":", n, err)
			failed = append(failed, st.Name)
			errs = append(errs, fmt.Errorf("%s: %w", st.Name, err))
			continue
		}
		fmt.Fprintf(out, "  %-46s %6d re-encrypted\n", st.Name+":", n)
	}
	fmt.Fprintf(out, "total: %d re-encrypted under key %s\n", total, keys.CurrentID())
	if len(failed) > 0 {
		return fmt.Errorf("rekey: %d of %d kinds of secret failed (%s); keep the old keys in LATCHKEY_MASTER_KEY and run rekey again once fixed: %w",
			len(failed), len(steps), strings.Join(failed, ", "), errors.Join(errs...))
	}
	fmt.Fprintf(out, "every stored secret is under key %s: keys after it in LATCHKEY_MASTER_KEY may be removed\n", keys.CurrentID())
	return nil
}
