package sms

import (
	"context"
	"encoding/base64"
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

// smsSecrets are a tenant's two encrypted Twilio secrets (nil: none, or
// nothing to change).
type smsSecrets struct{ authToken, apiKeySecret []byte }

// ReencryptSettings re-encrypts tenants' Twilio secrets
// (sms_settings.auth_token and api_key_secret) and returns how many
// tenants' settings it rewrote.
func ReencryptSettings(ctx context.Context, d *db.DB, keys *secret.Keyring) (int, error) {
	return rekey.Rows(ctx, d, "sms: settings", func(ctx context.Context, after string) ([]rekey.Item, string, error) {
		var rows []settingsRow
		if err := d.Bun.NewSelect().Model(&rows).Column("tenant_id", "auth_token", "api_key_secret").
			Where("tenant_id > ?", after).Order("tenant_id").Limit(rekey.Batch).Scan(ctx); err != nil {
			return nil, "", err
		}
		var items []rekey.Item
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
				items = append(items, rekey.Item{Key: st.TenantID, Old: smsSecrets{st.AuthToken, st.APIKeySecret}, New: news, Err: err})
			}
		}
		return items, rekey.LastKey(rows, func(st settingsRow) string { return st.TenantID }), nil
	}, func(ctx context.Context, tx *db.Tx, it rekey.Item) (int64, error) {
		old, news := it.Old.(smsSecrets), it.New.(smsSecrets)
		q := tx.NewUpdate().Model((*settingsRow)(nil)).Where("tenant_id = ?", it.Key)
		if news.authToken != nil {
			q = q.Set("auth_token = ?", news.authToken).Where("auth_token = ?", old.authToken)
		}
		if news.apiKeySecret != nil {
			q = q.Set("api_key_secret = ?", news.apiKeySecret).Where("api_key_secret = ?", old.apiKeySecret)
		}
		return rekey.Affected(q.Exec(ctx))
	})
}

// ReencryptBodies re-encrypts the bodies of text messages (messages.data of
// channel sms, base64 of the ciphertext), sent or not.
func ReencryptBodies(ctx context.Context, d *db.DB, keys *secret.Keyring) (int, error) {
	return rekey.Rows(ctx, d, "sms: message bodies", func(ctx context.Context, after string) ([]rekey.Item, string, error) {
		var rows []Record
		if err := d.Bun.NewSelect().Model(&rows).Column("id", "tenant_id", "data").
			Where("channel = ? AND data <> '' AND id > ?", Channel, after).Order("id").Limit(rekey.Batch).Scan(ctx); err != nil {
			return nil, "", err
		}
		var items []rekey.Item
		for _, m := range rows {
			ct, err := base64.StdEncoding.DecodeString(m.Data)
			switch {
			case err != nil:
				items = append(items, rekey.Item{Key: m.ID, Err: fmt.Errorf("the body is not base64")})
			case !keys.NeedsRotation(ct):
			default:
				out, err := keys.Reencrypt(ct, bodyAAD(m.TenantID, m.ID))
				items = append(items, rekey.Item{Key: m.ID, Old: m.Data, New: base64.StdEncoding.EncodeToString(out), Err: err})
			}
		}
		return items, rekey.LastKey(rows, func(m Record) string { return m.ID }), nil
	}, func(ctx context.Context, tx *db.Tx, it rekey.Item) (int64, error) {
		return rekey.Affected(tx.NewUpdate().Model((*Record)(nil)).Set("data = ?", it.New).
			Where("id = ? AND data = ?", it.Key, it.Old).Exec(ctx))
	})
}

// Reencrypt re-encrypts the SMS secrets that are not under the current key
// (after a key rotation) and returns how many tenants' settings changed
// (see ReencryptSettings; `latchkey rekey` also runs ReencryptBodies).
func (s *Service) Reencrypt(ctx context.Context) (int, error) {
	return ReencryptSettings(ctx, s.d.DB, s.d.Keys)
}
