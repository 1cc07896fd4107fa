package webpush

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

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
	return rekeyRows(ctx, d, "webpush: VAPID key", func(ctx context.Context, after string) ([]rekeyItem, string, error) {
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
		return rekeyValue(nil, keys, "1", row.PrivateKey, vapidAAD), "1", nil
	}, func(ctx context.Context, tx *db.Tx, it rekeyItem) (int64, error) {
		return affected(tx.NewUpdate().Model((*vapidRow)(nil)).Set("private_key = ?", it.new).
			Where("id = 1 AND private_key = ?", it.old).Exec(ctx))
	})
}

// ReencryptSubscriptions re-encrypts the auth secrets of push subscriptions
// (push_subscriptions.auth), revoked ones included.
func ReencryptSubscriptions(ctx context.Context, d *db.DB, keys *secret.Keyring) (int, error) {
	return rekeyRows(ctx, d, "webpush: subscriptions", func(ctx context.Context, after string) ([]rekeyItem, string, error) {
		var rows []Subscription
		if err := d.Bun.NewSelect().Model(&rows).Column("id", "tenant_id", "auth").
			Where("id > ?", after).Order("id").Limit(rekeyBatch).Scan(ctx); err != nil {
			return nil, "", err
		}
		var items []rekeyItem
		for _, sub := range rows {
			items = rekeyValue(items, keys, sub.ID, sub.Auth, authAAD(sub.TenantID, sub.ID))
		}
		return items, lastKey(rows, func(sub Subscription) string { return sub.ID }), nil
	}, func(ctx context.Context, tx *db.Tx, it rekeyItem) (int64, error) {
		return affected(tx.NewUpdate().Model((*Subscription)(nil)).Set("auth = ?", it.new).
			Where("id = ? AND auth = ?", it.key, it.old).Exec(ctx))
	})
}

// ReencryptPayloads re-encrypts the payloads of push notifications (the
// "payload" of messages.data of channel push), sent or not.
func ReencryptPayloads(ctx context.Context, d *db.DB, keys *secret.Keyring) (int, error) {
	return rekeyRows(ctx, d, "webpush: payloads", func(ctx context.Context, after string) ([]rekeyItem, string, error) {
		var rows []message
		if err := d.Bun.NewSelect().Model(&rows).Column("id", "tenant_id", "data").
			Where("channel = ? AND data <> '' AND id > ?", Channel, after).Order("id").Limit(rekeyBatch).Scan(ctx); err != nil {
			return nil, "", err
		}
		var items []rekeyItem
		for _, m := range rows {
			data, changed, err := reencryptPayload(keys, m)
			if err != nil || changed {
				items = append(items, rekeyItem{key: m.ID, old: m.Data, new: data, err: err})
			}
		}
		return items, lastKey(rows, func(m message) string { return m.ID }), nil
	}, func(ctx context.Context, tx *db.Tx, it rekeyItem) (int64, error) {
		return affected(tx.NewUpdate().Model((*message)(nil)).Set("data = ?", it.new).
			Where("id = ? AND data = ?", it.key, it.old).Exec(ctx))
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
