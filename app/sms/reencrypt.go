package sms

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"

	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/db"
)

// Re-encryption after a key rotation (`latchkey rekey`): each function
// re-encrypts one kind of the package's ciphertexts that are not under the
// keyring's current key, with the additional data they were sealed with,
// and returns how many it rewrote. A value that changed since it was read
// keeps its newer value; an interrupted run can be repeated.

// smsSecrets are a tenant's two encrypted Twilio secrets (nil: none, or
// nothing to change).
type smsSecrets struct{ authToken, apiKeySecret []byte }

// ReencryptSettings re-encrypts tenants' Twilio secrets
// (sms_settings.auth_token and api_key_secret) and returns how many
// tenants' settings it rewrote.
func ReencryptSettings(ctx context.Context, d *db.DB, keys *secret.Keyring) (int, error) {
	return rekeyRows(ctx, d, "sms: settings", func(ctx context.Context, after string) ([]rekeyItem, string, error) {
		var rows []settingsRow
		if err := d.Bun.NewSelect().Model(&rows).Column("tenant_id", "auth_token", "api_key_secret").
			Where("tenant_id > ?", after).Order("tenant_id").Limit(rekeyBatch).Scan(ctx); err != nil {
			return nil, "", err
		}
		var items []rekeyItem
		for _, st := range rows {
			var news smsSecrets
			var err error
			for _, f := range []struct {
				col string
				val []byte
				new *[]byte
			}{{"auth_token", st.AuthToken, &news.authToken}, {"api_key_secret", st.APIKeySecret, &news.apiKeySecret}} {
				if len(f.val) == 0 || !keys.NeedsRotation(f.val) || err != nil {
					continue
				}
				if *f.new, err = keys.Reencrypt(f.val, secretAAD(st.TenantID, f.col)); err != nil {
					err = fmt.Errorf("%s: %w", f.col, err)
				}
			}
			if err != nil || news.authToken != nil || news.apiKeySecret != nil {
				items = append(items, rekeyItem{key: st.TenantID, old: smsSecrets{st.AuthToken, st.APIKeySecret}, new: news, err: err})
			}
		}
		return items, lastKey(rows, func(st settingsRow) string { return st.TenantID }), nil
	}, func(ctx context.Context, tx *db.Tx, it rekeyItem) (int64, error) {
		old, news := it.old.(smsSecrets), it.new.(smsSecrets)
		q := tx.NewUpdate().Model((*settingsRow)(nil)).Where("tenant_id = ?", it.key)
		if news.authToken != nil {
			q = q.Set("auth_token = ?", news.authToken).Where("auth_token = ?", old.authToken)
		}
		if news.apiKeySecret != nil {
			q = q.Set("api_key_secret = ?", news.apiKeySecret).Where("api_key_secret = ?", old.apiKeySecret)
		}
		return affected(q.Exec(ctx))
	})
}

// ReencryptBodies re-encrypts the bodies of text messages (messages.data of
// channel sms, base64 of the ciphertext), sent or not.
func ReencryptBodies(ctx context.Context, d *db.DB, keys *secret.Keyring) (int, error) {
	return rekeyRows(ctx, d, "sms: message bodies", func(ctx context.Context, after string) ([]rekeyItem, string, error) {
		var rows []Record
		if err := d.Bun.NewSelect().Model(&rows).Column("id", "tenant_id", "data").
			Where("channel = ? AND data <> '' AND id > ?", Channel, after).Order("id").Limit(rekeyBatch).Scan(ctx); err != nil {
			return nil, "", err
		}
		var items []rekeyItem
		for _, m := range rows {
			ct, err := base64.StdEncoding.DecodeString(m.Data)
			switch {
			case err != nil:
				items = append(items, rekeyItem{key: m.ID, err: fmt.Errorf("the body is not base64")})
			case !keys.NeedsRotation(ct):
			default:
				out, err := keys.Reencrypt(ct, bodyAAD(m.TenantID, m.ID))
				items = append(items, rekeyItem{key: m.ID, old: m.Data, new: base64.StdEncoding.EncodeToString(out), err: err})
			}
		}
		return items, lastKey(rows, func(m Record) string { return m.ID }), nil
	}, func(ctx context.Context, tx *db.Tx, it rekeyItem) (int64, error) {
		return affected(tx.NewUpdate().Model((*Record)(nil)).Set("data = ?", it.new).
			Where("id = ? AND data = ?", it.key, it.old).Exec(ctx))
	})
}

// Reencrypt re-encrypts the SMS secrets that are not under the current key
// (after a key rotation) and returns how many tenants' settings changed
// (see ReencryptSettings; `latchkey rekey` also runs ReencryptBodies).
func (s *Service) Reencrypt(ctx context.Context) (int, error) {
	return ReencryptSettings(ctx, s.d.DB, s.d.Keys)
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
