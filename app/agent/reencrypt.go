package agent

import (
	"context"

	"github.com/latchkey/latchkey/app/rekey"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/db"
)

// Re-encryption after a key rotation (`latchkey rekey`): each function
// re-encrypts one kind of the package's ciphertexts that are not under the
// keyring's current key, with the additional data they were sealed with,
// and returns how many it rewrote. A value that changed since it was read
// keeps its newer value; an interrupted run can be repeated.

// ReencryptBindPasswords re-encrypts customers' directory bind passwords
// (directory_settings.bind_password).
func ReencryptBindPasswords(ctx context.Context, d *db.DB, keys *secret.Keyring) (int, error) {
	return rekey.Rows(ctx, d, "agent: bind passwords", func(ctx context.Context, after string) ([]rekey.Item, string, error) {
		var rows []Settings
		if err := d.Bun.NewSelect().Model(&rows).Column("customer_id", "bind_password").
			Where("bind_password IS NOT NULL AND customer_id > ?", after).Order("customer_id").Limit(rekey.Batch).Scan(ctx); err != nil {
			return nil, "", err
		}
		var items []rekey.Item
		for _, st := range rows {
			items = rekey.Value(items, keys, st.CustomerID, st.BindPassword, settingsAAD(st.CustomerID))
		}
		return items, rekey.LastKey(rows, func(st Settings) string { return st.CustomerID }), nil
	}, func(ctx context.Context, tx *db.Tx, it rekey.Item) (int64, error) {
		return rekey.Affected(tx.NewUpdate().Model((*Settings)(nil)).Set("bind_password = ?", it.New).
			Where("customer_id = ? AND bind_password = ?", it.Key, it.Old).Exec(ctx))
	})
}

// ReencryptTaskPasswords re-encrypts the passwords of directory tasks that
// have not ended (directory_tasks.secret; erased when a task ends).
func ReencryptTaskPasswords(ctx context.Context, d *db.DB, keys *secret.Keyring) (int, error) {
	return rekey.Rows(ctx, d, "agent: task passwords", func(ctx context.Context, after string) ([]rekey.Item, string, error) {
		var rows []Task
		if err := d.Bun.NewSelect().Model(&rows).Column("id", "secret").
			Where("secret IS NOT NULL AND id > ?", after).Order("id").Limit(rekey.Batch).Scan(ctx); err != nil {
			return nil, "", err
		}
		var items []rekey.Item
		for _, t := range rows {
			items = rekey.Value(items, keys, t.ID, t.Secret, taskAAD(t.ID))
		}
		return items, rekey.LastKey(rows, func(t Task) string { return t.ID }), nil
	}, func(ctx context.Context, tx *db.Tx, it rekey.Item) (int64, error) {
		return rekey.Affected(tx.NewUpdate().Model((*Task)(nil)).Set("secret = ?", it.New).
			Where("id = ? AND secret = ?", it.Key, it.Old).Exec(ctx))
	})
}

// Reencrypt re-encrypts the stored bind passwords not under the current
// key (see ReencryptBindPasswords; `latchkey rekey` also runs
// ReencryptTaskPasswords).
func (s *Service) Reencrypt(ctx context.Context) (int, error) {
	return ReencryptBindPasswords(ctx, s.db, s.keys)
}
