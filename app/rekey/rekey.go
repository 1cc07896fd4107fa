// Package rekey is the loop that `latchkey rekey` runs for each kind of
// ciphertext a package stores (see the packages' reencrypt.go): read the
// rows a page at a time in key order, re-encrypt the values that are not
// under the keyring's current key with the additional data they were sealed
// with, and write each page in one transaction, only where the stored value
// is still the one read (a value that changed meanwhile keeps its newer
// value; an interrupted run can be repeated).
package rekey

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/db"
)

// Batch is how many rows Rows reads at a time and rewrites in one
// transaction.
const Batch = 200

// Item is a row whose ciphertext is to be re-encrypted (new), or could
// not be (err).
type Item struct {
	Key      string // the row's key, named in errors
	Old, New any    // the stored value and its replacement
	Err      error  // why the value could not be re-encrypted
}

// Value appends to items what re-encrypting ct (stored in the row with
// key) takes: nothing when it is empty or already under the current key.
func Value(items []Item, keys *secret.Keyring, key string, ct, aad []byte) []Item {
	if len(ct) == 0 || !keys.NeedsRotation(ct) {
		return items
	}
	out, err := keys.Reencrypt(ct, aad)
	return append(items, Item{Key: key, Old: ct, New: out, Err: err})
}

// LastKey is the key of the last of rows, or "" when there are none.
func LastKey[T any](rows []T, key func(T) string) string {
	if len(rows) == 0 {
		return ""
	}
	return key(rows[len(rows)-1])
}

// Affected is the number of rows a statement changed.
func Affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// beforeWrite is the context key of WithBeforeWrite's func.
type beforeWrite struct{}

// WithBeforeWrite has Rows run fn between reading a page and writing it:
// tests change a row there to check that the newer value is kept.
func WithBeforeWrite(ctx context.Context, fn func()) context.Context {
	return context.WithValue(ctx, beforeWrite{}, fn)
}

// Rows re-encrypts one kind of value a page at a time: page reads the
// rows with keys after `after` (at most Batch, in key order) and
// returns the changes to make and the last key it read ("" when there are
// no more rows); set writes one change in its page's transaction, only
// where the stored value is still it.old, and returns the rows it changed.
// Values that cannot be re-encrypted do not stop the others: their number
// and the first one's error end up in the error.
func Rows(ctx context.Context, d *db.DB, what string,
	page func(ctx context.Context, after string) ([]Item, string, error),
	set func(ctx context.Context, tx *db.Tx, it Item) (int64, error),
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
			if it.Err != nil {
				if failed++; first == nil {
					first = fmt.Errorf("%s: %s: %w", what, it.Key, it.Err)
				}
				continue
			}
			todo = append(todo, it)
		}
		if len(todo) == 0 {
			continue
		}
		if hook, ok := ctx.Value(beforeWrite{}).(func()); ok {
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
