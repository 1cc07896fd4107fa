// Package notify writes outgoing messages to the messages table (the outbox
// and delivery log) and enqueues their delivery in the same transaction as the
// action that caused them.
package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

// Message statuses.
const (
	StatusQueued = "queued" // waiting for the send_email job
	StatusSent   = "sent"   // accepted by the SMTP server
	StatusOutbox = "outbox" // no SMTP configured: kept for reading under Settings → Outbox
	StatusFailed = "failed" // gave up after retries
)

// Message is one outgoing message and its delivery state.
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
	Data      string     `bun:"data"` // JSON of Email, rendered by the job
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
	now  func() time.Time
}

// NewQueue returns a Queue that enqueues through jobs.
func NewQueue(jobs db.Inserter, now func() time.Time) *Queue {
	return &Queue{jobs: jobs, now: now}
}

// Email writes an email to `to` for tenantID in tx and enqueues its delivery.
// kind names the reason (e.g. "login_invite") for the delivery log.
func (q *Queue) Email(ctx context.Context, tx *db.Tx, tenantID, to, kind string, e Email) (*Message, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("notify: encode email: %w", err)
	}
	m := &Message{
		ID: db.NewID(), TenantID: tenantID, Channel: "email", Kind: kind, To: to, Subject: e.Subject,
		Data: string(data), Status: StatusQueued, CreatedAt: q.now().UTC(),
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
