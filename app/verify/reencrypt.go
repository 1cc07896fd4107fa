package verify

import (
	"context"
	"database/sql"
	"fmt"

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
	return rekeyRows(ctx, d, "verify: codes", func(ctx context.Context, after string) ([]rekeyItem, string, error) {
		var rows []Verification
		if err := d.Bun.NewSelect().Model(&rows).Column("id", "tenant_id", "code").
			Where("code IS NOT NULL AND id > ?", after).Order("id").Limit(rekeyBatch).Scan(ctx); err != nil {
			return nil, "", err
		}
		var items []rekeyItem
		for _, v := range rows {
			items = rekeyValue(items, keys, v.ID, v.Code, codeAAD(v.TenantID, v.ID))
		}
		return items, lastKey(rows, func(v Verification) string { return v.ID }), nil
	}, func(ctx context.Context, tx *db.Tx, it rekeyItem) (int64, error) {
		return affected(tx.NewUpdate().Model((*Verification)(nil)).Set("code = ?", it.new).
			Where("id = ? AND code = ?", it.key, it.old).Exec(ctx))
	})
}

// rekeyBatch is how many rows rekeyRows reads at a time and rewrites in one
// transaction.
const rekeyBatch = 200

// rekeyItem is a row whose ciphertext is to be re-encrypted (new), or could
// not be (err).
type rekeyItem struct {
	key      string
	old, new any
	err      error
}

// rekeyValue appends to items what re-encrypting ct (stored in the row with
// key) takes: nothing when it is empty or already under the current key.
func rekeyValue(items []rekeyItem, keys *secret.Keyring, key string, ct, aad []byte) []rekeyItem {
	if len(ct) == 0 || !keys.NeedsRotation(ct) {
		return items
	}
	out, err := keys.Reencrypt(ct, aad)
	return append(items, rekeyItem{key: key, old: ct, new: out, err: err})
}

func lastKey[T any](rows []T, key func(T) string) string {
	if len(rows) == 0 {
		return ""
	}
	return key(rows[len(rows)-1])
}

func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// beforeRekeyWrite is the context key of a func() that tests have
// rekeyRows run between reading a page and writing it.
type beforeRekeyWrite struct{}

// rekeyRows re-encrypts one kind of value a page at a time: page reads the
// rows with keys after `after` (at most rekeyBatch, in key order) and
// returns the changes to make and the last key it read ("" when there are
// no more rows); set writes one change in its page's transaction, only
// where the stored value is still it.old, and returns the rows it changed.
// Values that cannot be re-encrypted do not stop the others: their number
// and the first one's error end up in the error.
func rekeyRows(ctx context.Context, d *db.DB, what string,
	page func(ctx context.Context, after string) ([]rekeyItem, string, error),
	set func(ctx context.Context, tx *db.Tx, it rekeyItem) (int64, error),
) (int, error) {
	n, failed := 0, 0
	var first error
	for after := ""; ; {
		items, last, err := page(ctx, after)
		if err != nil {
			return n, fmt.Errorf("%s: read: %w", what, err)
		}
		if last == "" {
			break
		}
		after = last
		todo := items[:0:0]
		for _, it := range items {
			if it.err != nil {
				if failed++; first == nil {
					first = fmt.Errorf("%s: %s: %w", what, it.key, it.err)
				}
				continue
			}
			todo = append(todo, it)
		}
		if len(todo) == 0 {
			continue
		}
		if hook, ok := ctx.Value(beforeRekeyWrite{}).(func()); ok {
			hook()
		}
		var m int64
		if err := d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			m = 0
			for _, it := range todo {
				k, err := set(ctx, tx, it)
				if err != nil {
					return err
				}
				m += k
			}
			return nil
		}); err != nil {
			return n, fmt.Errorf("%s: write: %w", what, err)
		}
		n += int(m)
	}
	if failed > 0 {
		return n, fmt.Errorf("%d could not be re-encrypted (%w)", failed, first)
	}
	return n, nil
}
