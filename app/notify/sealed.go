package notify

// Email content at rest.
//
// Emails carry verification codes (some in the subject) and single-use links,
// so their content is stored encrypted (app/secret: AES-256-GCM under the
// keyring's current key, the key id in each ciphertext), as base64:
//
//   - data: the JSON of the Email, written by Queue.Email;
//   - body_text, body_html: the rendered bodies, written by the send job
//     (ClaimEmail, KeepEmailInOutbox); "" until then;
//   - subject: left empty (the subject is inside data).
//
// The additional data of each column is "email/<column>/<tenant>/<message>",
// so a ciphertext cannot be moved to another message, tenant or column, nor
// between kinds of message (text messages and push notifications use
// "messages/<tenant>/<message>").
//
// Legacy rows: older versions stored all of it in clear, data as JSON. A row
// whose data begins with "{" (never the first character of base64) is such a
// row, and its columns are read as they are. SQL cannot encrypt them (the
// keys are outside the database); instead the send job encrypts a legacy
// row when it delivers it, and ReencryptEmails (latchkey rekey) encrypts
// every legacy row.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/secret"
)

// ErrUndecryptable is wrapped by the errors of EmailData and Content when an
// email's stored content cannot be decrypted with the keyring: the key it
// was encrypted with is no longer configured, or the stored data is damaged.
var ErrUndecryptable = errors.New("notify: the email cannot be decrypted")

// The encrypted columns of an email message.
const (
	partData = "data"
	partText = "body_text"
	partHTML = "body_html"
)

// emailAAD binds an encrypted column to its message and tenant.
func emailAAD(part, tenantID, messageID string) []byte {
	return []byte("email/" + part + "/" + tenantID + "/" + messageID)
}

// legacy reports whether the message was stored in clear by an older
// version (its data is JSON).
func (m *Message) legacy() bool {
	return strings.HasPrefix(m.Data, "{")
}

// seal encrypts one column of m.
func seal(keys *secret.Keyring, part string, m *Message, plain []byte) (string, error) {
	if keys == nil {
		return "", fmt.Errorf("notify: no keyring to encrypt the %s of message %s", part, m.ID)
	}
	ct, err := keys.Encrypt(plain, emailAAD(part, m.TenantID, m.ID))
	if err != nil {
		return "", fmt.Errorf("notify: encrypt the %s of message %s: %w", part, m.ID, err)
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}

// sealBody encrypts a rendered body; an empty body stays empty (not rendered).
func sealBody(keys *secret.Keyring, part string, m *Message, body string) (string, error) {
	if body == "" {
		return "", nil
	}
	return seal(keys, part, m, []byte(body))
}

// open decrypts one column of m.
func open(keys *secret.Keyring, part string, m *Message, stored string) ([]byte, error) {
	if keys == nil {
		return nil, fmt.Errorf("notify: no keyring to decrypt the %s of message %s", part, m.ID)
	}
	ct, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return nil, fmt.Errorf("notify: the %s of message %s is neither JSON nor base64: %w", part, m.ID, ErrUndecryptable)
	}
	b, err := keys.Decrypt(ct, emailAAD(part, m.TenantID, m.ID))
	if err != nil {
		return nil, fmt.Errorf("notify: decrypt the %s of message %s: %w: %w", part, m.ID, ErrUndecryptable, err)
	}
	return b, nil
}

// openBody decrypts a rendered body ("" when not rendered yet); a legacy
// row's body is returned as stored.
func (m *Message) openBody(keys *secret.Keyring, part, stored string) (string, error) {
	if stored == "" || m.legacy() {
		return stored, nil
	}
	b, err := open(keys, part, m, stored)
	return string(b), err
}

// EmailData returns the content that Queue.Email stored with the email
// message, decrypting it with keys (a legacy clear row is read as it is).
// Errors wrap ErrUndecryptable when the content cannot be decrypted.
func (m *Message) EmailData(keys *secret.Keyring) (Email, error) {
	raw := []byte(m.Data)
	if !m.legacy() {
		b, err := open(keys, partData, m, m.Data)
		if err != nil {
			return Email{}, err
		}
		raw = b
	}
	var e Email
	if err := json.Unmarshal(raw, &e); err != nil {
		return Email{}, fmt.Errorf("notify: decode message %s: %w", m.ID, err)
	}
	if e.Subject == "" {
		e.Subject = m.Subject
	}
	return e, nil
}

// Content is an email message in clear: what Queue.Email stored and the
// bodies the send job rendered.
type Content struct {
	Email
	Text, HTML string // "" until the send job rendered the message
}

// Content decrypts the email message with keys (a legacy clear row is read
// as it is). Errors wrap ErrUndecryptable when it cannot be decrypted.
func (m *Message) Content(keys *secret.Keyring) (Content, error) {
	e, err := m.EmailData(keys)
	if err != nil {
		return Content{}, err
	}
	c := Content{Email: e}
	if c.Text, err = m.openBody(keys, partText, m.BodyText); err != nil {
		return Content{}, err
	}
	if c.HTML, err = m.openBody(keys, partHTML, m.BodyHTML); err != nil {
		return Content{}, err
	}
	return c, nil
}

// sealRendered returns the columns that store r for the email message m:
// its bodies encrypted, and for a legacy row its data encrypted as well (the
// subject column is then emptied by the caller).
func sealRendered(keys *secret.Keyring, m *Message, r Rendered) (data, text, html string, err error) {
	data = m.Data
	if m.legacy() {
		if data, err = sealLegacyData(keys, m); err != nil {
			return "", "", "", err
		}
	}
	if text, err = sealBody(keys, partText, m, r.Text); err != nil {
		return "", "", "", err
	}
	if html, err = sealBody(keys, partHTML, m, r.HTML); err != nil {
		return "", "", "", err
	}
	return data, text, html, nil
}

// sealLegacyData encrypts a legacy row's data, its clear subject included.
func sealLegacyData(keys *secret.Keyring, m *Message) (string, error) {
	e, err := m.EmailData(keys)
	if err != nil {
		return "", err
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return "", fmt.Errorf("notify: encode message %s: %w", m.ID, err)
	}
	return seal(keys, partData, m, raw)
}

// KeepEmailInOutbox stores the rendered email message m encrypted and moves
// it from queued to outbox (no SMTP server is configured); a legacy clear
// row is encrypted on the way. It reports false when the message was no
// longer queued.
func KeepEmailInOutbox(ctx context.Context, idb bun.IDB, keys *secret.Keyring, m *Message, r Rendered) (bool, error) {
	data, text, html, err := sealRendered(keys, m, r)
	if err != nil {
		return false, err
	}
	res, err := idb.NewUpdate().Model((*Message)(nil)).
		Set("data = ?", data).Set("subject = ''").Set("body_text = ?", text).Set("body_html = ?", html).
		Set("status = ?", StatusOutbox).
		Where("id = ? AND status = ?", m.ID, StatusQueued).Exec(ctx)
	return affected(res, err, "keep in outbox")
}

// ClaimEmail stores the rendered email message m encrypted and moves it from
// queued to sending before the SMTP conversation starts (see Claim); a
// legacy clear row is encrypted on the way. Only one attempt can win the
// claim; it reports false when the message was no longer queued.
func ClaimEmail(ctx context.Context, idb bun.IDB, keys *secret.Keyring, m *Message, r Rendered, now time.Time) (bool, error) {
	data, text, html, err := sealRendered(keys, m, r)
	if err != nil {
		return false, err
	}
	res, err := idb.NewUpdate().Model((*Message)(nil)).
		Set("data = ?", data).Set("subject = ''").Set("body_text = ?", text).Set("body_html = ?", html).
		Set("status = ?", StatusSending).Set("claimed_at = ?", now.UTC()).
		Where("id = ? AND status = ?", m.ID, StatusQueued).Exec(ctx)
	return affected(res, err, "claim")
}
