// Package notice warns end users before their passwords expire and when
// their accounts are locked out: who is eligible, the tenant's notice
// settings, the sweep that plans each day's expiry notices per customer at
// the tenant's notification hour in the customer's time zone, the send job
// that re-checks and delivers a notice by email, SMS and web push, the
// lockout notice, the preview of the next run, and each end user's history.
//
// "Never twice" is the database's job: a notice is a row of the notices
// table, unique by end user, kind and local day, inserted in the same
// transaction as its send job (a unique River job); the send job claims the
// row (pending → sent) in the same transaction as the messages it queues.
package notice

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/db"
)

// Kinds of notices.
const (
	KindExpiry  = "expiry"  // the password expires in N days (0: today)
	KindLockout = "lockout" // the account was locked out
)

// States of a notice.
const (
	StatePending  = "pending"  // planned; the send job has not run yet
	StateSent     = "sent"     // its messages are queued (see the channels' statuses)
	StateCanceled = "canceled" // not sent: Reason says why
)

// Message kinds (messages.kind) of the notices' email, SMS and push.
const (
	MessageKindExpiry  = "notice_expiry"
	MessageKindLockout = "notice_lockout"
)

// Settings limits.
const (
	DefaultDaysBefore = 10
	MinDaysBefore     = 1
	MaxDaysBefore     = 30
)

// Where notices send end users (the self-serve pages, under
// LATCHKEY_BASE_URL): an expiry notice to reset the password, a lockout
// notice to unlock the account.
const (
	ResetPath  = "/self-serve/reset"
	UnlockPath = "/self-serve/unlock"
)

// dayLayout is the layout of a local day (notices.day, notice_runs.day).
const dayLayout = "2006-01-02"

// Notice is one notice to one end user.
type Notice struct {
	bun.BaseModel `bun:"table:notices"`

	ID             string     `bun:"id,pk"`
	TenantID       string     `bun:"tenant_id"`
	CustomerID     string     `bun:"customer_id"`
	EndUserID      string     `bun:"end_user_id"`
	Kind           string     `bun:"kind"`
	Day            string     `bun:"day"` // local date YYYY-MM-DD in TimeZone
	TimeZone       string     `bun:"time_zone"`
	DaysLeft       int        `bun:"days_left"`
	ExpiresAt      *time.Time `bun:"expires_at"`  // when planned
	LastSetAt      *time.Time `bun:"last_set_at"` // when planned
	LockoutEventID string     `bun:"lockout_event_id"`
	State          string     `bun:"state"`
	Reason         string     `bun:"reason"`
	EmailMessageID string     `bun:"email_message_id"`
	EmailNote      string     `bun:"email_note"`
	SMSMessageID   string     `bun:"sms_message_id"`
	SMSNote        string     `bun:"sms_note"`
	PushMessageIDs string     `bun:"push_message_ids"`
	PushNote       string     `bun:"push_note"`
	PlannedAt      time.Time  `bun:"planned_at"`
	DoneAt         *time.Time `bun:"done_at"`
}

// Jobs enqueues River jobs inside a transaction (db.Queue implements it).
type Jobs interface {
	InsertTx(ctx context.Context, tx *db.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	InsertManyTx(ctx context.Context, tx *db.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

// Deps are the service's collaborators.
type Deps struct {
	DB   *db.DB
	Jobs Jobs
	Mail *notify.Queue
	SMS  *sms.Queue
	Push *webpush.Queue
	// Link makes an absolute URL under LATCHKEY_BASE_URL (config.Link).
	Link func(path string) string
	Now  func() time.Time
	Log  *slog.Logger
	// BatchSize is the number of end users planned per transaction by the
	// sweep (default 2,000).
	BatchSize int
}

// Service is the notice domain service.
type Service struct {
	d Deps
}

// New returns the service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.BatchSize <= 0 {
		d.BatchSize = 2000
	}
	return &Service{d: d}
}

func (s *Service) now() time.Time { return s.d.Now().UTC() }

// Settings are a tenant's notice settings.
type Settings struct {
	DaysBefore int  // expiry notices start this many days before (1–30)
	SMS        bool // also by text message
}

// settingsRow reads the notice columns of tenants.
type settingsRow struct {
	bun.BaseModel `bun:"table:tenants"`

	ID         string `bun:"id,pk"`
	DaysBefore int    `bun:"notice_days_before"`
	SMS        bool   `bun:"notice_sms"`
}

// Settings returns the tenant's notice settings. Errors: NotFound.
func (s *Service) Settings(ctx context.Context, tenantID string) (Settings, error) {
	r := new(settingsRow)
	err := s.d.DB.Bun.NewSelect().Model(r).Column("notice_days_before", "notice_sms").Where("id = ?", tenantID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return Settings{}, apperr.New(apperr.NotFound, "This MSP account no longer exists.")
	}
	if err != nil {
		return Settings{}, fmt.Errorf("notice: settings: %w", err)
	}
	return Settings{DaysBefore: r.DaysBefore, SMS: r.SMS}, nil
}

// SettingsInput is the Settings page's notifications form.
type SettingsInput struct {
	DaysBefore string // as posted
	SMS        bool
}

// Roles allowed to change the settings (login.RolePrimary and
// login.RoleSuper; this package does not import login).
const (
	rolePrimary = "primary"
	roleSuper   = "super"
)

// Validate checks the input and returns the settings, or Invalid with
// Fields (days_before).
func (in SettingsInput) Validate() (Settings, error) {
	n, err := strconv.Atoi(strings.TrimSpace(in.DaysBefore))
	if err != nil || n < MinDaysBefore || n > MaxDaysBefore {
		var f apperr.Fields
		f.Add("days_before", fmt.Sprintf("Choose from %d to %d days.", MinDaysBefore, MaxDaysBefore))
		return Settings{}, f.Err()
	}
	return Settings{DaysBefore: n, SMS: in.SMS}, nil
}

// UpdateSettings stores the actor's tenant's notice settings and audits
// `tenant.notice_settings_update` with what changed; nothing is written when
// nothing changed.
// Errors: Invalid (Fields: days_before), Forbidden (not Primary or Super),
// NotFound.
func (s *Service) UpdateSettings(ctx context.Context, a audit.Actor, in SettingsInput) (Settings, error) {
	if a.TenantID == "" || (a.Role != rolePrimary && a.Role != roleSuper) {
		return Settings{}, apperr.New(apperr.Forbidden, "Only a Primary or Super login can change the notification settings.")
	}
	v, err := in.Validate()
	if err != nil {
		return Settings{}, err
	}
	now := s.now()
	err = s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		cur := new(settingsRow)
		err := tx.NewSelect().Model(cur).Column("id", "notice_days_before", "notice_sms").Where("id = ?", a.TenantID).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.New(apperr.NotFound, "This MSP account no longer exists.")
		}
		if err != nil {
			return fmt.Errorf("notice: settings: %w", err)
		}
		var changed []string
		if cur.DaysBefore != v.DaysBefore {
			changed = append(changed, fmt.Sprintf("days before expiry %d → %d", cur.DaysBefore, v.DaysBefore))
		}
		if cur.SMS != v.SMS {
			changed = append(changed, fmt.Sprintf("text messages %s → %s", onOff(cur.SMS), onOff(v.SMS)))
		}
		if len(changed) == 0 {
			return nil
		}
		if _, err := tx.NewUpdate().Model((*settingsRow)(nil)).Set("notice_days_before = ?", v.DaysBefore).
			Set("notice_sms = ?", v.SMS).Set("updated_at = ?", now).Where("id = ?", a.TenantID).Exec(ctx); err != nil {
			return fmt.Errorf("notice: save settings: %w", err)
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{Action: "tenant.notice_settings_update", TargetType: "tenant",
			TargetID: a.TenantID, Detail: "Notifications: " + strings.Join(changed, ", ")})
	})
	if err != nil {
		return Settings{}, err
	}
	return v, nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// location loads a time zone: the customer's, else the tenant's, else UTC.
func location(customerZone, tenantZone string) (*time.Location, string) {
	for _, z := range []string{customerZone, tenantZone} {
		if z == "" {
			continue
		}
		if loc, err := time.LoadLocation(z); err == nil {
			return loc, z
		}
	}
	return time.UTC, "UTC"
}

// localDay is t's date in loc, as YYYY-MM-DD.
func localDay(t time.Time, loc *time.Location) string { return t.In(loc).Format(dayLayout) }

// dayStart is the instant a local date (YYYY-MM-DD) plus add days begins in loc.
func dayStart(day string, add int, loc *time.Location) time.Time {
	d, _ := time.ParseInLocation(dayLayout, day, loc)
	return time.Date(d.Year(), d.Month(), d.Day()+add, 0, 0, 0, 0, loc).UTC()
}

// daysBetween is the number of calendar days from date a to date b (YYYY-MM-DD).
func daysBetween(a, b string) int {
	ta, _ := time.Parse(dayLayout, a)
	tb, _ := time.Parse(dayLayout, b)
	return int(tb.Sub(ta) / (24 * time.Hour)) // UTC dates: whole days apart
}
