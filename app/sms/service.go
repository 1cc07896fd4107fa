package sms

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/db"
)

// Deps are what the SMS service needs.
type Deps struct {
	DB   *db.DB
	Keys *secret.Keyring
	Jobs db.Inserter
	// Link makes an absolute URL under LATCHKEY_BASE_URL (config.Link):
	// the webhook addresses Twilio calls.
	Link func(path string) string
	// APIURL is Twilio's REST API (TwilioAPIURL when empty).
	APIURL string
	// HTTP talks to Twilio (a client with TwilioTimeout when nil).
	HTTP *http.Client
	Now  func() time.Time
	Log  *slog.Logger
}

// Service is the SMS domain service: tenant settings, delivery, webhooks.
type Service struct {
	d     Deps
	queue *Queue
}

// NewService returns a Service.
func NewService(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.HTTP == nil {
		d.HTTP = &http.Client{Timeout: TwilioTimeout}
	}
	return &Service{d: d, queue: NewQueue(d.Jobs, d.Keys, d.Now)}
}

// Queue returns the queue that writes SMS messages in a caller's transaction.
func (s *Service) Queue() *Queue { return s.queue }

func (s *Service) now() time.Time { return s.d.Now().UTC() }

// StatusCallbackURL is where Twilio reports the delivery of one message.
func (s *Service) StatusCallbackURL(tenantID, messageID string) string {
	return s.d.Link("/webhooks/twilio/" + tenantID + "/status/" + messageID)
}

// InboundURL is the tenant's address for incoming messages (STOP/START),
// to set as the "A message comes in" webhook of the Twilio number or
// Messaging Service.
func (s *Service) InboundURL(tenantID string) string {
	return s.d.Link("/webhooks/twilio/" + tenantID + "/inbound")
}

// Roles allowed to change SMS settings (login.RolePrimary and
// login.RoleSuper; login imports packages like this one).
const (
	rolePrimary = "primary"
	roleSuper   = "super"
)

func requireAdmin(a audit.Actor) error {
	if a.TenantID == "" || (a.Role != rolePrimary && a.Role != roleSuper) {
		return apperr.New(apperr.Forbidden, "Only a Primary or Super login can change the SMS settings.")
	}
	return nil
}

// ErrOptedOut is matched (errors.Is) by the error of sending to a number
// that replied STOP.
var ErrOptedOut = errors.New("sms: the recipient opted out")

// OptedOut reports whether phone replied STOP to the tenant's messages (and
// not START since).
func OptedOut(ctx context.Context, idb bun.IDB, tenantID, phone string) (bool, error) {
	ok, err := idb.NewSelect().Model((*optOut)(nil)).Where("tenant_id = ? AND phone = ?", tenantID, phone).Exists(ctx)
	if err != nil {
		return false, fmt.Errorf("sms: opt-out: %w", err)
	}
	return ok, nil
}

// optOut is a number that replied STOP.
type optOut struct {
	bun.BaseModel `bun:"table:sms_opt_outs"`

	TenantID   string    `bun:"tenant_id,pk"`
	Phone      string    `bun:"phone,pk"`
	Keyword    string    `bun:"keyword"`
	OptedOutAt time.Time `bun:"opted_out_at"`
}

// Record is an SMS (or any) row of the messages table with the delivery
// columns.
type Record struct {
	bun.BaseModel `bun:"table:messages"`

	ID                string     `bun:"id,pk"`
	TenantID          string     `bun:"tenant_id"`
	Channel           string     `bun:"channel"`
	Kind              string     `bun:"kind"`
	To                string     `bun:"to_addr"`
	Subject           string     `bun:"subject"`
	BodyText          string     `bun:"body_text"`
	BodyHTML          string     `bun:"body_html"`
	Data              string     `bun:"data"` // the body, encrypted (see Queue.SMS)
	Status            string     `bun:"status"`
	Attempts          int        `bun:"attempts"`
	LastError         string     `bun:"last_error"`
	CreatedAt         time.Time  `bun:"created_at"`
	SentAt            *time.Time `bun:"sent_at"`
	ClaimedAt         *time.Time `bun:"claimed_at"`
	ExpiresAt         *time.Time `bun:"expires_at"`
	ProviderID        string     `bun:"provider_id"`
	DeliveryStatus    string     `bun:"delivery_status"`
	DeliveryError     string     `bun:"delivery_error"`
	DeliveryUpdatedAt *time.Time `bun:"delivery_updated_at"`
}

// Channel is the messages.channel of text messages.
const Channel = "sms"

// Get returns one of the tenant's SMS messages. Errors: NotFound (also for
// another tenant's message or another channel's).
func Get(ctx context.Context, idb bun.IDB, tenantID, id string) (*Record, error) {
	m := new(Record)
	err := idb.NewSelect().Model(m).Where("tenant_id = ? AND id = ? AND channel = ?", tenantID, id, Channel).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "This message does not exist.")
	}
	if err != nil {
		return nil, fmt.Errorf("sms: get message: %w", err)
	}
	return m, nil
}

func load(ctx context.Context, idb bun.IDB, id string) (*Record, error) {
	m := new(Record)
	err := idb.NewSelect().Model(m).Where("id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "This message does not exist.")
	}
	if err != nil {
		return nil, fmt.Errorf("sms: load message: %w", err)
	}
	return m, nil
}
