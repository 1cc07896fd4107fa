package notice

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/db"
)

// Channel notes: why a channel was not used for a notice.
const (
	NoteNoEmail    = "no email address"
	NoteSMSOff     = "text messages are off in Settings"
	NoteNoMobile   = "no mobile number"
	NoteOptedOut   = "the number replied STOP"
	NoteSMSLimit   = "the daily text-message limit was reached"
	NoteSMSInvalid = "the mobile number cannot receive text messages"
	NoteNoDevice   = "no device with notifications on"
)

// target is what a send needs of the end user, the customer and the tenant.
type target struct {
	ID                string     `bun:"id"`
	Username          string     `bun:"username"`
	FirstName         string     `bun:"first_name"`
	Email             string     `bun:"email"`
	Mobile            string     `bun:"mobile"`
	SelfServeEnabled  bool       `bun:"self_serve_enabled"`
	Status            int        `bun:"status"`
	Privileged        bool       `bun:"privileged"`
	Disabled          bool       `bun:"disabled"`
	Locked            bool       `bun:"locked"`
	UnlinkedAt        *time.Time `bun:"unlinked_at"`
	PasswordExpiresAt *time.Time `bun:"password_expires_at"`
	PasswordLastSetAt *time.Time `bun:"password_last_set_at"`

	CustomerName     string     `bun:"customer_name"`
	CustomerZone     string     `bun:"customer_zone"`
	CustomerArchived *time.Time `bun:"customer_archived_at"`

	TenantName      string `bun:"tenant_name"`
	TenantZone      string `bun:"tenant_zone"`
	SupportEmail    string `bun:"support_email"`
	TenantSelfServe bool   `bun:"tenant_self_serve"`
	NoticeSMS       bool   `bun:"notice_sms"`
}

// loadTarget reads the end user of a notice with its customer and tenant.
func loadTarget(ctx context.Context, tx *db.Tx, tenantID, endUserID string) (*target, error) {
	t := new(target)
	err := tx.NewSelect().TableExpr("end_users AS eu").
		Join("JOIN customers AS c ON c.id = eu.customer_id").
		Join("JOIN tenants AS t ON t.id = eu.tenant_id").
		ColumnExpr("eu.id, eu.username, eu.first_name, eu.email, eu.mobile, eu.self_serve_enabled, eu.status, eu.privileged").
		ColumnExpr("eu.disabled, eu.locked, eu.unlinked_at, eu.password_expires_at, eu.password_last_set_at").
		ColumnExpr("c.name AS customer_name, c.time_zone AS customer_zone, c.archived_at AS customer_archived_at").
		ColumnExpr("t.name AS tenant_name, t.time_zone AS tenant_zone, t.support_email, t.self_serve_enabled AS tenant_self_serve, t.notice_sms").
		Where("eu.tenant_id = ? AND eu.id = ?", tenantID, endUserID).Scan(ctx, t)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("notice: load end user: %w", err)
	}
	return t, nil
}

// ineligible says why the end user may not be notified ("" when they may):
// the tenant's switch, the customer, the end user's switch and status, and
// the account (privileged, disabled, gone from the directory).
func (t *target) ineligible() string {
	switch {
	case !t.TenantSelfServe:
		return "Self-serve and notifications are off for all end users (Settings)."
	case t.CustomerArchived != nil:
		return "The customer is archived."
	case !t.SelfServeEnabled:
		return "Self-serve is off for this end user."
	case t.Status < 1:
		return "The end user's registration is not complete."
	case t.Privileged:
		return "The account is privileged."
	case t.Disabled:
		return "The account is disabled in the directory."
	case t.UnlinkedAt != nil:
		return "The account is gone from the directory."
	}
	return ""
}

// sameTime reports whether two optional instants are the same to the second
// (databases keep different precisions).
func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	d := a.Sub(*b)
	return d > -time.Second && d < time.Second
}

// cancelReason says why a pending notice must not be sent now ("" to send).
func cancelReason(n *Notice, t *target, now time.Time) string {
	if t == nil {
		return "The end user no longer exists."
	}
	if r := t.ineligible(); r != "" {
		return r
	}
	loc, _ := location(n.TimeZone, "")
	if localDay(now, loc) > n.Day {
		return "The day of the notice passed before it could be sent."
	}
	switch n.Kind {
	case KindExpiry:
		if t.PasswordExpiresAt == nil {
			return "The password's expiry is no longer known."
		}
		if !sameTime(n.ExpiresAt, t.PasswordExpiresAt) || !sameTime(n.LastSetAt, t.PasswordLastSetAt) {
			return "The password was changed after the notice was planned."
		}
	case KindLockout:
		if !t.Locked {
			return "The account was unlocked before the notice went out."
		}
	}
	return ""
}

// Send sends one planned notice (the send_notice job): in one transaction
// it claims the notice (pending → sent; a notice already sent or canceled,
// or claimed by a concurrent attempt, is left alone), re-checks it, and
// either cancels it (eligibility lost, the password changed or its expiry
// moved since planning, the account unlocked, the day passed) or queues its
// messages: email always (when there is an address), SMS when the tenant
// turned text messages on and the end user has a mobile number that did not
// reply STOP, push to each of the end user's subscribed devices. The
// messages' ids, or why a channel was not used, are stored on the notice.
// It returns the notice afterwards (nil when it does not exist).
func (s *Service) Send(ctx context.Context, noticeID string) (*Notice, error) {
	now := s.now()
	var out *Notice
	err := s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		out = nil
		res, err := tx.NewUpdate().Model((*Notice)(nil)).Set("state = ?", StateSent).Set("done_at = ?", now).
			Where("id = ? AND state = ?", noticeID, StatePending).Exec(ctx)
		if err != nil {
			return fmt.Errorf("notice: claim: %w", err)
		}
		n := new(Notice)
		if err := tx.NewSelect().Model(n).Where("id = ?", noticeID).Scan(ctx); errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("notice: load: %w", err)
		}
		out = n
		if k, _ := res.RowsAffected(); k == 0 {
			return nil // sent or canceled already
		}
		t, err := loadTarget(ctx, tx, n.TenantID, n.EndUserID)
		if err != nil {
			return err
		}
		if reason := cancelReason(n, t, now); reason != "" {
			n.State, n.Reason = StateCanceled, reason
			_, err := tx.NewUpdate().Model(n).Column("state", "reason").WherePK().Exec(ctx)
			if err != nil {
				return fmt.Errorf("notice: cancel: %w", err)
			}
			return nil
		}
		if err := s.deliver(ctx, tx, n, t, now); err != nil {
			return err
		}
		n.State = StateSent
		if _, err := tx.NewUpdate().Model(n).Column("email_message_id", "email_note", "sms_message_id", "sms_note",
			"push_message_ids", "push_note").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("notice: record channels: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// deliver queues the notice's messages in tx and fills its channel columns.
func (s *Service) deliver(ctx context.Context, tx *db.Tx, n *Notice, t *target, now time.Time) error {
	c := s.compose(n, t, now)
	kind := MessageKindExpiry
	if n.Kind == KindLockout {
		kind = MessageKindLockout
	}
	loc, _ := location(n.TimeZone, "")
	endOfDay := dayStart(n.Day, 1, loc)

	if t.Email == "" {
		n.EmailNote = NoteNoEmail
	} else {
		m, err := s.d.Mail.Email(ctx, tx, n.TenantID, t.Email, kind, c.email)
		if err != nil {
			return err
		}
		n.EmailMessageID = m.ID
	}

	switch {
	case !t.NoticeSMS:
		n.SMSNote = NoteSMSOff
	case t.Mobile == "":
		n.SMSNote = NoteNoMobile
	default:
		m, err := s.d.SMS.SMS(ctx, tx, n.TenantID, t.Mobile, kind, c.sms, sms.Options{ExpiresAt: endOfDay})
		switch {
		case err == nil:
			n.SMSMessageID = m.ID
		case errors.Is(err, sms.ErrOptedOut):
			n.SMSNote = NoteOptedOut
		case apperr.CodeOf(err) == apperr.RateLimited:
			n.SMSNote = NoteSMSLimit
		case apperr.CodeOf(err) == apperr.Invalid:
			n.SMSNote = NoteSMSInvalid
		default:
			return err
		}
	}

	ttl := min(max(endOfDay.Sub(now), time.Hour), webpush.MaxTTL)
	urgency := webpush.UrgencyNormal
	if n.Kind == KindLockout {
		urgency = webpush.UrgencyHigh
	}
	ds, err := s.d.Push.Push(ctx, tx, n.TenantID, n.EndUserID, c.push, ttl, urgency)
	switch {
	case err == nil:
		ids := make([]string, len(ds))
		for i, d := range ds {
			ids[i] = d.MessageID
		}
		n.PushMessageIDs = strings.Join(ids, ",")
	case errors.Is(err, webpush.ErrNoSubscription):
		n.PushNote = NoteNoDevice
	default:
		return err
	}
	return nil
}

// composed is one notice's text on each channel.
type composed struct {
	email notify.Email
	sms   string
	push  webpush.Payload
}

// compose writes the notice's messages: each names the MSP, says when the
// password expires (in the notice's time zone: the customer's, else the
// tenant's) and links to the self-serve page under LATCHKEY_BASE_URL.
func (s *Service) compose(n *Notice, t *target, now time.Time) composed {
	loc, _ := location(n.TimeZone, "")
	msp := strings.TrimSpace(t.TenantName)
	if msp == "" {
		msp = "Your IT provider"
	}
	link := s.d.Link(ResetPath)
	greeting := "Hello,"
	if f := strings.TrimSpace(t.FirstName); f != "" {
		greeting = "Hi " + f + ","
	}
	var help []string
	if t.SupportEmail != "" {
		help = append(help, "Questions? Write to "+t.SupportEmail+".")
	}
	account := t.Username
	if t.CustomerName != "" {
		account += " at " + t.CustomerName
	}

	var c composed
	if n.Kind == KindLockout {
		// No password expiry here: it is beside the point of a lockout (and
		// would read wrong once past).
		link = s.d.Link(UnlockPath)
		c.email = notify.Email{
			Subject:    msp + ": your account is locked",
			Preheader:  "Unlock it yourself in a minute.",
			Greeting:   greeting,
			Lines:      []string{"Your account " + account + " was locked after too many sign-in attempts with a wrong password.", "You can unlock it yourself from your phone or computer."},
			ActionText: "Unlock my account",
			ActionURL:  link,
			After:      append([]string{"If this was not you, tell " + msp + " at once."}, help...),
		}
		c.sms = lockoutSMS(msp, t.Username, link)
		c.push = webpush.Payload{Title: msp + ": account locked", Body: "Your account " + t.Username + " is locked. Tap to unlock it.",
			URL: link, ID: n.ID, Kind: MessageKindLockout}
		return c
	}

	exp := now
	if n.ExpiresAt != nil {
		exp = *n.ExpiresAt
	}
	expired := !exp.After(now)
	var subject, short string
	switch {
	case n.DaysLeft == 0 && expired:
		subject, short = "your password expired today", "expired today"
	case n.DaysLeft == 0:
		subject, short = "your password expires today", "expires today"
	case n.DaysLeft == 1:
		subject, short = "your password expires tomorrow", "expires tomorrow"
	default:
		subject = fmt.Sprintf("your password expires in %d days", n.DaysLeft)
		short = fmt.Sprintf("expires in %d days", n.DaysLeft)
	}
	verb := "expires"
	if expired {
		verb = "expired"
	}
	when := longTime(exp, loc)
	c.email = notify.Email{
		Subject:    msp + ": " + subject,
		Preheader:  "Change it now, before it stops working.",
		Greeting:   greeting,
		Lines:      []string{"Your password for " + account + " " + verb + " " + when + ".", "Change it now from your phone or computer, so that you are not locked out."},
		ActionText: "Change my password",
		ActionURL:  link,
		After:      append([]string{"If you have changed it already, ignore this message."}, help...),
	}
	c.sms = msp + ": your password for " + t.Username + " " + short + " (" + shortTime(exp, loc) + "). Change it: " + link + " Reply STOP to opt out."
	c.push = webpush.Payload{Title: msp + ": password " + short, Body: "Your password for " + t.Username + " " + verb + " " + when + ". Tap to change it.",
		URL: link, ID: n.ID, Kind: MessageKindExpiry}
	return c
}

// smsSegment is one SMS segment of GSM-7 text.
const smsSegment = 160

// lockoutSMS is the lockout text, kept to one segment: the link and the
// STOP line always stay; a long username is left out, then a long MSP
// name is shortened.
func lockoutSMS(msp, username, link string) string {
	const stop = " Reply STOP to opt out."
	text := func(msp, who string) string { return msp + ": " + who + " is locked. Unlock it: " + link + stop }
	out := text(msp, "your account "+username)
	if utf8.RuneCountInString(out) <= smsSegment {
		return out
	}
	out = text(msp, "your account")
	if n := utf8.RuneCountInString(out); n > smsSegment {
		r := []rune(msp)
		cut := string(r[:max(len(r)-(n-smsSegment), 1)]) // no "…": not GSM-7
		if i := strings.LastIndexByte(cut, ' '); i > 0 {
			cut = cut[:i] // at a word
		}
		out = text(cut, "your account")
	}
	return out
}

// longTime is "on Monday 5 January 2026 at 17:00 PST".
func longTime(t time.Time, loc *time.Location) string {
	return "on " + t.In(loc).Format("Monday 2 January 2006 at 15:04 MST")
}

// shortTime is "Mon 5 Jan 17:00 PST".
func shortTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("Mon 2 Jan 15:04 MST")
}
