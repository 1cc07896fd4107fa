package selfserve

import (
	"context"
	"fmt"

	"github.com/latchkey/latchkey/app/rekey"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/db"
)

// Re-encryption after a key rotation (`latchkey rekey`): each function
// re-encrypts one kind of the package's ciphertexts that are not under the
// keyring's current key, with the additional data they were sealed with,
// and returns how many it rewrote. A value that changed since it was read
// keeps its newer value; an interrupted run can be repeated.

// ReencryptProofs re-encrypts self-serve codes (selfserve_proofs.code),
// used, expired or pending, and the replacement authenticator secrets kept
// in proof rows until confirmed (purpose "authenticator", sealed as the
// end user's authenticator).
func ReencryptProofs(ctx context.Context, d *db.DB, keys *secret.Keyring) (int, error) {
	return rekey.Rows(ctx, d, "selfserve: proofs", func(ctx context.Context, after string) ([]rekey.Item, string, error) {
		var rows []proofRow
		if err := d.Bun.NewSelect().Model(&rows).Column("id", "tenant_id", "end_user_id", "purpose", "code").
			Where("code IS NOT NULL AND id > ?", after).Order("id").Limit(rekey.Batch).Scan(ctx); err != nil {
			return nil, "", err
		}
		var items []rekey.Item
		for _, p := range rows {
			aad := proofAAD(p.TenantID, p.ID)
			if p.Purpose == purposeAuthenticator {
				if p.EndUserID == nil {
					items = append(items, rekey.Item{Key: p.ID, Err: fmt.Errorf("a pending authenticator without an end user")})
					continue
				}
				aad = authenticatorAAD(p.TenantID, *p.EndUserID)
			}
			items = rekey.Value(items, keys, p.ID, p.Code, aad)
		}
		return items, rekey.LastKey(rows, func(p proofRow) string { return p.ID }), nil
	}, func(ctx context.Context, tx *db.Tx, it rekey.Item) (int64, error) {
		return rekey.Affected(tx.NewUpdate().Model((*proofRow)(nil)).Set("code = ?", it.New).
			Where("id = ? AND code = ?", it.Key, it.Old).Exec(ctx))
	})
}

// ReencryptAuthenticators re-encrypts end users' authenticator app secrets
// (end_user_authenticators.secret), confirmed or not.
func ReencryptAuthenticators(ctx context.Context, d *db.DB, keys *secret.Keyring) (int, error) {
	return rekey.Rows(ctx, d, "selfserve: authenticators", func(ctx context.Context, after string) ([]rekey.Item, string, error) {
		var rows []authenticatorRow
		if err := d.Bun.NewSelect().Model(&rows).Column("end_user_id", "tenant_id", "secret").
			Where("end_user_id > ?", after).Order("end_user_id").Limit(rekey.Batch).Scan(ctx); err != nil {
			return nil, "", err
		}
		var items []rekey.Item
		for _, a := range rows {
			items = rekey.Value(items, keys, a.EndUserID, a.Secret, authenticatorAAD(a.TenantID, a.EndUserID))
		}
		return items, rekey.LastKey(rows, func(a authenticatorRow) string { return a.EndUserID }), nil
	}, func(ctx context.Context, tx *db.Tx, it rekey.Item) (int64, error) {
		return rekey.Affected(tx.NewUpdate().Model((*authenticatorRow)(nil)).Set("secret = ?", it.New).
			Where("end_user_id = ? AND secret = ?", it.Key, it.Old).Exec(ctx))
	})
}
