package webpush

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
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

// ReencryptVAPIDKey re-encrypts the installation's VAPID private key
// (push_vapid.private_key): 1 when it did, 0 when there is none or it is
// under the current key already.
func ReencryptVAPIDKey(ctx context.Context, d *db.DB, keys *secret.Keyring) (int, error) {
	return rekey.Rows(ctx, d, "webpush: VAPID key", func(ctx context.Context, after string) ([]rekey.Item, string, error) {
		if after != "" {
			return nil, "", nil
		}
		row := new(vapidRow)
		err := d.Bun.NewSelect().Model(row).Column("id", "private_key").Where("id = 1").Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, "", nil
		}
		if err != nil {
			return nil, "", err
		}
		return rekey.Value(nil, keys, "1", row.PrivateKey, vapidAAD), "1", nil
	}, func(ctx context.Context, tx *db.Tx, it rekey.Item) (int64, error) {
		return rekey.Affected(tx.NewUpdate().Model((*vapidRow)(nil)).Set("private_key = ?", it.New).
			Where("id = 1 AND private_key = ?", it.Old).Exec(ctx))
	})
}

// ReencryptSubscriptions re-encrypts the auth secrets of push subscriptions
// (push_subscriptions.auth), revoked ones included.
func ReencryptSubscriptions(ctx context.Context, d *db.DB, keys *secret.Keyring) (int, error) {
	return rekey.Rows(ctx, d, "webpush: subscriptions", func(ctx context.Context, after string) ([]rekey.Item, string, error) {
		var rows []Subscription
		if err := d.Bun.NewSelect().Model(&rows).Column("id", "tenant_id", "auth").
			Where("id > ?", after).Order("id").Limit(rekey.Batch).Scan(ctx); err != nil {
			return nil, "", err
		}
		var items []rekey.Item
		for _, sub := range rows {
			items = rekey.Value(items, keys, sub.ID, sub.Auth, authAAD(sub.TenantID, sub.ID))
		}
		return items, rekey.LastKey(rows, func(sub Subscription) string { return sub.ID }), nil
	}, func(ctx context.Context, tx *db.Tx, it rekey.Item) (int64, error) {
		return rekey.Affected(tx.NewUpdate().Model((*Subscription)(nil)).Set("auth = ?", it.New).
			Where("id = ? AND auth = ?", it.Key, it.Old).Exec(ctx))
	})
}

// ReencryptPayloads re-encrypts the payloads of push notifications (the
// "payload" of messages.data of channel push), sent or not.
func ReencryptPayloads(ctx context.Context, d *db.DB, keys *secret.Keyring) (int, error) {
	return rekey.Rows(ctx, d, "webpush: payloads", func(ctx context.Context, after string) ([]rekey.Item, string, error) {
		var rows []message
		if err := d.Bun.NewSelect().Model(&rows).Column("id", "tenant_id", "data").
			Where("channel = ? AND data <> '' AND id > ?", Channel, after).Order("id").Limit(rekey.Batch).Scan(ctx); err != nil {
			return nil, "", err
		}
		var items []rekey.Item
		for _, m := range rows {
			data, changed, err := reencryptPayload(keys, m)
			if err != nil || changed {
				items = append(items, rekey.Item{Key: m.ID, Old: m.Data, New: data, Err: err})
			}
		}
		return items, rekey.LastKey(rows, func(m message) string { return m.ID }), nil
	}, func(ctx context.Context, tx *db.Tx, it rekey.Item) (int64, error) {
		return rekey.Affected(tx.NewUpdate().Model((*message)(nil)).Set("data = ?", it.New).
			Where("id = ? AND data = ?", it.Key, it.Old).Exec(ctx))
	})
}

// reencryptPayload returns m's data with its payload re-encrypted (changed
// false: no payload, or under the current key already). The data's other
// fields stay as they are.
func reencryptPayload(keys *secret.Keyring, m message) (data string, changed bool, err error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(m.Data), &fields); err != nil {
		return "", false, fmt.Errorf("the data is not JSON: %w", err)
	}
	var payload string
	if raw, ok := fields["payload"]; ok {
		if err := json.Unmarshal(raw, &payload); err != nil {
			return "", false, fmt.Errorf("the payload is not a string: %w", err)
		}
	}
	if payload == "" {
		return "", false, nil
	}
	ct, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return "", false, errors.New("the payload is not base64")
	}
	if !keys.NeedsRotation(ct) {
		return "", false, nil
	}
	out, err := keys.Reencrypt(ct, payloadAAD(m.TenantID, m.ID))
	if err != nil {
		return "", false, err
	}
	if fields["payload"], err = json.Marshal(base64.StdEncoding.EncodeToString(out)); err != nil {
		return "", false, err
	}
	b, err := json.Marshal(fields)
	return string(b), true, err
}

// Reencrypt re-encrypts the VAPID private key and the subscriptions' auth
// secrets that are not under the current key, and returns how many rows
// changed (see ReencryptVAPIDKey and ReencryptSubscriptions; `latchkey
// rekey` also runs ReencryptPayloads).
func (s *Service) Reencrypt(ctx context.Context) (int, error) {
	n, err := ReencryptVAPIDKey(ctx, s.d.DB, s.d.Keys)
	if err != nil {
		return n, err
	}
	m, err := ReencryptSubscriptions(ctx, s.d.DB, s.d.Keys)
	return n + m, err
}
