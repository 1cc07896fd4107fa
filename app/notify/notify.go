// Package notify writes outgoing messages to the messages table (the outbox
// and delivery log) and enqueues their delivery in the same transaction as the
// action that caused them.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

// ChannelEmail is the channel of email messages.
const ChannelEmail = "email"

// Message statuses.
const (
	StatusQueued = "queued" // waiting for the send_email job
	StatusSent   = "sent"   // accepted by the SMTP server
	StatusOutbox = "outbox" // no SMTP configured: kept for reading under Settings → Outbox
	StatusFailed = "failed" // gave up after retries
)

// Message is one outgoing message and its delivery state.
//
// An email's content is encrypted at rest (see sealed.go): Data holds the
// encrypted JSON of its Email, BodyText and BodyHTML the encrypted rendered
// bodies ("" until the send job rendered them), and Subject is "" because a
// subject may carry a code. Read them with EmailData and Content. Rows
// written by older versions hold all four in clear (Data is then JSON); they
// are read as they are until their delivery or ReencryptEmails (latchkey
// rekey) encrypts them. Text messages and push notifications use the
// columns their own way (app/sms, app/webpush).
type Message struct {
	bun.BaseModel `bun:"table:messages"`

	ID        string     `bun:"id,pk"`
	TenantID  string     `bun:"tenant_id"`
	Channel   string     `bun:"channel"` // "email"
	Kind      string     `bun:"kind"`
	To        string     `bun:"to_addr"`
	Subject   string     `bun:"subject"`
	BodyText  string     `bun:"body_text"`
	BodyHTML  string     `bun:"body_html"`
	Data      string     `bun:"data"` // email: base64 of the encrypted JSON of Email
	Status    string     `bun:"status"`
	Attempts  int        `bun:"attempts"`
	LastError string     `bun:"last_error"`
	CreatedAt time.Time  `bun:"created_at"`
	SentAt    *time.Time `bun:"sent_at"`
}

// Email is the content of a branded email. The send job renders it with the
// tenant's name into HTML and plain text.
type Email struct {
	Subject    string   `json:"subject"`
	Preheader  string   `json:"preheader,omitempty"`
	Greeting   string   `json:"greeting,omitempty"` // "Hi Dana,"
	Lines      []string `json:"lines"`              // paragraphs before the button
	ActionText string   `json:"action_text,omitempty"`
	ActionURL  string   `json:"action_url,omitempty"` // absolute, built from LATCHKEY_BASE_URL
	After      []string `json:"after,omitempty"`      // paragraphs after the button
}

// Queue writes email messages and enqueues their delivery.
type Queue struct {
	jobs db.Inserter
	keys *secret.Keyring
	now  func() time.Time
}

// NewQueue returns a Queue that enqueues through jobs and encrypts each
// email's content with keys (emails carry codes and single-use links).
func NewQueue(jobs db.Inserter, keys *secret.Keyring, now func() time.Time) *Queue {
	if now == nil {
		now = time.Now
	}
	return &Queue{jobs: jobs, keys: keys, now: now}
}

// Email writes an email to `to` for tenantID in tx and enqueues its delivery.
// kind names the reason (e.g. "login_invite") for the delivery log. The
// email, subject included, is stored encrypted; the returned Message holds
// it as stored (read it back with EmailData).
func (q *Queue) Email(ctx context.Context, tx *db.Tx, tenantID, to, kind string, e Email) (*Message, error) {
	if q.keys == nil {
		return nil, errors.New("notify: the queue has no keyring to encrypt emails with")
	}
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("notify: encode email: %w", err)
	}
	m := &Message{
		ID: db.NewID(), TenantID: tenantID, Channel: ChannelEmail, Kind: kind, To: to,
		Status: StatusQueued, CreatedAt: q.now().UTC(),
	}
	if m.Data, err = seal(q.keys, partData, m, data); err != nil {
		return nil, err
	}
	if _, err := tx.NewInsert().Model(m).Exec(ctx); err != nil {
		return nil, fmt.Errorf("notify: insert message: %w", err)
	}
	if _, err := q.jobs.InsertTx(ctx, tx, jobargs.SendEmail{MessageID: m.ID}, &river.InsertOpts{
		MaxAttempts: 8,
		UniqueOpts:  river.UniqueOpts{ByArgs: true},
	}); err != nil {
		return nil, fmt.Errorf("notify: enqueue: %w", err)
	}
	return m, nil
}
