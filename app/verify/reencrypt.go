package verify

import (
	"context"

	"github.com/latchkey/latchkey/app/rekey"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/db"
)

// Re-encryption after a key rotation (`latchkey rekey`): the function
// re-encrypts the package's ciphertexts that are not under the keyring's
// current key, with the additional data they were sealed with, and returns
// how many it rewrote. A value that changed since it was read keeps its
// newer value; an interrupted run can be repeated.

// ReencryptCodes re-encrypts verification codes (verifications.code), of
// pending verifications and ended ones alike.
func ReencryptCodes(ctx context.Context, d *db.DB, keys *secret.Keyring) (int, error) {
	return rekey.Rows(ctx, d, "verify: codes", func(ctx context.Context, after string) ([]rekey.Item, string, error) {
		var rows []Verification
		if err := d.Bun.NewSelect().Model(&rows).Column("id", "tenant_id", "code").
			Where("code IS NOT NULL AND id > ?", after).Order("id").Limit(rekey.Batch).Scan(ctx); err != nil {
			return nil, "", err
		}
		var items []rekey.Item
		for _, v := range rows {
			items = rekey.Value(items, keys, v.ID, v.Code, codeAAD(v.TenantID, v.ID))
		}
		return items, rekey.LastKey(rows, func(v Verification) string { return v.ID }), nil
	}, func(ctx context.Context, tx *db.Tx, it rekey.Item) (int64, error) {
		return rekey.Affected(tx.NewUpdate().Model((*Verification)(nil)).Set("code = ?", it.New).
			Where("id = ? AND code = ?", it.Key, it.Old).Exec(ctx))
	})
}
