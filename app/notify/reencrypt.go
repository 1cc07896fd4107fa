package notify

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/db"
)

// reencryptBatch is how many email messages ReencryptEmails reads and
// rewrites per transaction.
const reencryptBatch = 200

// reencryptTries bounds how often one message is re-read when it changed
// (a send job stored its bodies) between reading and rewriting it.
const reencryptTries = 3

// emailColumns are the columns ReencryptEmails reads and rewrites.
var emailColumns = []string{"id", "tenant_id", "subject", "data", "body_text", "body_html"}

// ReencryptEmails re-encrypts the encrypted columns (data, body_text,
// body_html) of every email message that are not under the keyring's current
// key (after a new key was put first in LATCHKEY_MASTER_KEY), and encrypts
// the legacy rows older versions stored in clear (their subject is then
// emptied: it is kept inside data). It returns how many messages were
// rewritten. Messages are read in batches of reencryptBatch by id, each
// batch rewritten in one transaction, so an interrupted run can be repeated.
// A message that cannot be decrypted (its key was removed) stops the run
// with an error wrapping ErrUndecryptable that names it.
func ReencryptEmails(ctx context.Context, d *db.DB, keys *secret.Keyring) (int, error) {
	if keys == nil {
		return 0, errors.New("notify: re-encrypt emails: no keyring")
	}
	n := 0
	after := ""
	for {
		var batch []Message
		if err := d.Bun.NewSelect().Model(&batch).Column(emailColumns...).
			Where("channel = ? AND id > ?", ChannelEmail, after).OrderExpr("id").Limit(reencryptBatch).
			Scan(ctx); err != nil {
			return n, fmt.Errorf("notify: re-encrypt emails: list: %w", err)
		}
		if len(batch) == 0 {
			return n, nil
		}
		after = batch[len(batch)-1].ID
		done := 0
		err := d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			done = 0
			for i := range batch {
				ok, err := reencryptEmail(ctx, tx, keys, &batch[i])
				if err != nil {
					return err
				}
				if ok {
					done++
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += done
	}
}

// reencryptEmail rewrites one message when any of its columns needs it,
// guarded by the values it read; when the message changed meanwhile it is
// read again (in tx) and retried. It reports whether it rewrote the message.
func reencryptEmail(ctx context.Context, tx *db.Tx, keys *secret.Keyring, m *Message) (bool, error) {
	for range reencryptTries {
		data, text, html, changed, err := rotated(keys, m)
		if err != nil || !changed {
			return false, err
		}
		res, err := tx.NewUpdate().Model((*Message)(nil)).
			Set("data = ?", data).Set("subject = ''").Set("body_text = ?", text).Set("body_html = ?", html).
			Where("id = ? AND data = ? AND body_text = ? AND body_html = ?", m.ID, m.Data, m.BodyText, m.BodyHTML).
			Exec(ctx)
		ok, err := affected(res, err, "re-encrypt message "+m.ID)
		if err != nil || ok {
			return ok, err
		}
		fresh := new(Message)
		err = tx.NewSelect().Model(fresh).Column(emailColumns...).Where("id = ?", m.ID).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil // deleted with its tenant
		}
		if err != nil {
			return false, fmt.Errorf("notify: re-encrypt message %s: reload: %w", m.ID, err)
		}
		m = fresh
	}
	return false, fmt.Errorf("notify: re-encrypt message %s: it kept changing while being rewritten; run again", m.ID)
}

// rotated returns m's columns under the current key and whether any changed.
func rotated(keys *secret.Keyring, m *Message) (data, text, html string, changed bool, err error) {
	if m.legacy() {
		if data, err = sealLegacyData(keys, m); err != nil {
			return "", "", "", false, err
		}
		if text, err = sealBody(keys, partText, m, m.BodyText); err != nil {
			return "", "", "", false, err
		}
		if html, err = sealBody(keys, partHTML, m, m.BodyHTML); err != nil {
			return "", "", "", false, err
		}
		return data, text, html, true, nil
	}
	var c [3]bool
	if data, c[0], err = rotate(keys, partData, m, m.Data); err != nil {
		return "", "", "", false, err
	}
	if text, c[1], err = rotate(keys, partText, m, m.BodyText); err != nil {
		return "", "", "", false, err
	}
	if html, c[2], err = rotate(keys, partHTML, m, m.BodyHTML); err != nil {
		return "", "", "", false, err
	}
	return data, text, html, c[0] || c[1] || c[2], nil
}

// rotate re-encrypts one stored column under the current key when it is
// under another ("" stays "": a body not rendered yet).
func rotate(keys *secret.Keyring, part string, m *Message, stored string) (string, bool, error) {
	if stored == "" {
		return "", false, nil
	}
	ct, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return "", false, fmt.Errorf("notify: re-encrypt the %s of message %s: not base64: %w", part, m.ID, ErrUndecryptable)
	}
	if !keys.NeedsRotation(ct) {
		return stored, false, nil
	}
	out, err := keys.Reencrypt(ct, emailAAD(part, m.TenantID, m.ID))
	if err != nil {
		return "", false, fmt.Errorf("notify: re-encrypt the %s of message %s: %w: %w", part, m.ID, ErrUndecryptable, err)
	}
	return base64.StdEncoding.EncodeToString(out), true, nil
}
