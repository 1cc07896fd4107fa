package app

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/latchkey/latchkey/app/audit"
)

// errChainBroken is returned by `latchkey audit-verify` when any chain is
// broken, so that the process exits with status 1.
var errChainBroken = errors.New("audit-verify: an audit chain is broken")

// verifyAudit checks every tenant's audit chain and prints one line per
// tenant. It returns an error when a chain is broken or cannot be read.
func verifyAudit(ctx context.Context, a *App, w io.Writer) error {
	results, err := audit.VerifyAll(ctx, a.DB.Bun)
	if err != nil {
		return err
	}
	if len(results) == 0 {
		fmt.Fprintln(w, "no tenants yet: nothing to verify")
		return nil
	}
	bad := 0
	for _, r := range results {
		name := r.TenantName
		if name == "" {
			name = "(no tenant row)"
		}
		if r.OK {
			fmt.Fprintf(w, "tenant %s (%s): %d events, chain intact\n", name, r.TenantID, r.Checked)
			continue
		}
		bad++
		fmt.Fprintf(w, "tenant %s (%s): BROKEN at event #%d: %s\n", name, r.TenantID, r.BrokenAt, r.Reason)
		a.Log.Error("audit chain broken", "tenant", r.TenantID, "seq", r.BrokenAt, "reason", r.Reason)
	}
	if bad > 0 {
		return fmt.Errorf("%w (%d of %d tenants)", errChainBroken, bad, len(results))
	}
	return nil
}
