package enduser

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

// Jobs enqueues River jobs inside a transaction (db.Queue implements it).
type Jobs interface {
	InsertManyTx(ctx context.Context, tx *db.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

// OnboardingDeps are the Onboarding service's collaborators.
type OnboardingDeps struct {
	DB   *db.DB
	Jobs Jobs
	Mail *notify.Queue
	Link func(path string) string // absolute link under LATCHKEY_BASE_URL
	Now  func() time.Time
	Log  *slog.Logger
}

// Onboarding brings end users into Latchkey: the CSV import into a customer
// (csvimport.go) and the welcome email with its enrolment link and landing
// page (welcome.go).
type Onboarding struct {
	db   *db.DB
	jobs Jobs
	mail *notify.Queue
	link func(string) string
	now  func() time.Time
	log  *slog.Logger
}

// NewOnboarding returns the Onboarding service.
func NewOnboarding(d OnboardingDeps) *Onboarding {
	now, log := d.Now, d.Log
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Onboarding{db: d.DB, jobs: d.Jobs, mail: d.Mail, link: d.Link, now: now, log: log}
}

// Welcome email and enrolment link.
const (
	// EnrolmentLifetime is how long a welcome link works (security bar: 7 days).
	EnrolmentLifetime = 7 * 24 * time.Hour
	// WelcomeKind is the messages.kind of the welcome email.
	WelcomeKind = "enduser_welcome"
	// welcomeBatch is the number of jobs per InsertManyTx call.
	welcomeBatch = 500
)

// welcomeOpts make a welcome job unique per end user and day: however often
// a technician clicks, an end user gets at most one welcome email a day.
var welcomeOpts = &river.InsertOpts{
	MaxAttempts: 5,
	UniqueOpts:  river.UniqueOpts{ByArgs: true, ByPeriod: 24 * time.Hour},
}

// welcomeCandidate is an end user a welcome may go to.
type welcomeCandidate struct {
	ID         string     `bun:"id"`
	Email      string     `bun:"email"`
	UnlinkedAt *time.Time `bun:"unlinked_at"`
}

// SendWelcome enqueues a welcome email (job send_welcome, see DeliverWelcome)
// for every selected end user of the actor's tenant that has an email
// address and is still in its directory, in one transaction with one audit
// event enduser.welcome. queued counts the jobs enqueued; skipped counts the
// selected end users without an email address, gone from the directory, or
// already sent a welcome today (River's unique jobs, by end user and day).
// Errors: Invalid (nothing selected).
func (s *Onboarding) SendWelcome(ctx context.Context, a audit.Actor, sel Selection, now time.Time) (queued int, skipped int, err error) {
	if sel.Empty() {
		return 0, 0, apperr.New(apperr.Invalid, "Select at least one end user.")
	}
	now = now.UTC()
	err = s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := requireTenantSelfServe(ctx, tx, a.TenantID); err != nil {
			return err
		}
		var cands []welcomeCandidate
		q := tx.NewSelect().TableExpr("end_users AS eu").ColumnExpr("eu.id, eu.email, eu.unlinked_at")
		if sel.All {
			q = sel.Filter.Where(q, a.TenantID, now)
		} else {
			q = q.Where("eu.tenant_id = ? AND eu.id IN (?)", a.TenantID, bun.In(sel.IDs))
		}
		if err := q.OrderExpr("eu.id").Scan(ctx, &cands); err != nil {
			return fmt.Errorf("enduser: welcome selection: %w", err)
		}
		var ids []string
		for _, c := range cands {
			if c.Email == "" || c.UnlinkedAt != nil {
				skipped++
				continue
			}
			ids = append(ids, c.ID)
		}
		n, err := s.enqueueWelcome(ctx, tx, ids, now)
		if err != nil {
			return err
		}
		queued, skipped = n, skipped+len(ids)-n
		target := fmt.Sprintf("%d selected end users", len(sel.IDs))
		if sel.All {
			target = sel.Filter.Describe()
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{
			Action: "enduser.welcome", TargetType: "end_users", Target: target,
			Detail: fmt.Sprintf("%d welcome emails queued, %d skipped (no email, gone from the directory, or already sent today)", queued, skipped),
		})
	})
	if err != nil {
		return 0, 0, err
	}
	return queued, skipped, nil
}

// SendWelcomeTo enqueues a welcome email for one end user of the actor's
// tenant (see SendWelcome). queued is false when one was already sent today.
// Errors: NotFound (also another tenant's end user), Invalid (no email
// address), Conflict (gone from the directory).
func (s *Onboarding) SendWelcomeTo(ctx context.Context, a audit.Actor, endUserID string, now time.Time) (queued bool, err error) {
	now = now.UTC()
	err = s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		u, err := Get(ctx, tx, a.TenantID, endUserID)
		if err != nil {
			return err
		}
		if err := requireTenantSelfServe(ctx, tx, a.TenantID); err != nil {
			return err
		}
		if u.Email == "" {
			return apperr.New(apperr.Invalid, "%s has no email address yet. Add one before sending the welcome email.", u.Name())
		}
		if u.UnlinkedAt != nil {
			return apperr.New(apperr.Conflict, "%s is no longer in the customer's directory.", u.Name())
		}
		n, err := s.enqueueWelcome(ctx, tx, []string{u.ID}, now)
		if err != nil {
			return err
		}
		queued = n == 1
		detail := "welcome email queued to " + u.Email
		if !queued {
			detail = "a welcome email was already sent today; not sent again"
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{
			Action: "enduser.welcome", TargetType: "end_user", TargetID: u.ID, Target: u.Username, Detail: detail,
		})
	})
	return queued, err
}

// enqueueWelcome inserts the welcome jobs in batches and returns how many
// were new (the others are duplicates of today's).
func (s *Onboarding) enqueueWelcome(ctx context.Context, tx *db.Tx, ids []string, now time.Time) (int, error) {
	at := now.Truncate(time.Microsecond) // the precision the database keeps
	n := 0
	for i := 0; i < len(ids); i += welcomeBatch {
		batch := ids[i:min(i+welcomeBatch, len(ids))]
		params := make([]river.InsertManyParams, len(batch))
		for j, id := range batch {
			params[j] = river.InsertManyParams{Args: jobargs.SendWelcome{EndUserID: id, RequestedAt: at}, InsertOpts: welcomeOpts}
		}
		res, err := s.jobs.InsertManyTx(ctx, tx, params)
		if err != nil {
			return 0, fmt.Errorf("enduser: enqueue welcome: %w", err)
		}
		for _, r := range res {
			if !r.UniqueSkippedAsDuplicate {
				n++
			}
		}
	}
	return n, nil
}

// DeliverWelcome is the work of a send_welcome job: in one transaction it
// issues the end user a new enrolment token (older unused ones are
// superseded; it expires after EnrolmentLifetime; only its hash is stored),
// writes the welcome email with the link LATCHKEY_BASE_URL/welcome/<token>,
// and records welcome_sent_at. An end user who is gone, has no email address
// or left the directory is skipped without error. requestedAt is when the
// welcome was asked for: if one was delivered since (a retry after the
// transaction committed), nothing is sent again.
func (s *Onboarding) DeliverWelcome(ctx context.Context, endUserID string, requestedAt time.Time) error {
	return s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		u := new(EndUser)
		err := tx.NewSelect().Model(u).Where("id = ?", endUserID).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("enduser: welcome: load: %w", err)
		}
		if u.Email == "" || u.UnlinkedAt != nil {
			return nil
		}
		if !requestedAt.IsZero() && u.WelcomeSentAt != nil && !u.WelcomeSentAt.Before(requestedAt) {
			return nil // delivered already for this request
		}
		t, err := tenant.Get(ctx, tx, u.TenantID)
		if err != nil {
			return err
		}
		if !t.SelfServeEnabled {
			return nil // turned off for the whole MSP since it was queued: send nothing
		}
		c, err := customer.Get(ctx, tx, u.TenantID, u.CustomerID)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		tok, err := issueEnrolmentToken(ctx, tx, u, now)
		if err != nil {
			return err
		}
		if _, err := s.mail.Email(ctx, tx, u.TenantID, u.Email, WelcomeKind, welcomeEmail(t, c, u, s.link("/welcome/"+tok))); err != nil {
			return err
		}
		if _, err := tx.NewUpdate().Model((*EndUser)(nil)).Set("welcome_sent_at = ?", now).Where("id = ?", u.ID).Exec(ctx); err != nil {
			return fmt.Errorf("enduser: welcome: mark sent: %w", err)
		}
		return audit.Record(ctx, tx, now, audit.System(u.TenantID), audit.Entry{
			Action: "enduser.welcome_sent", TargetType: "end_user", TargetID: u.ID, Target: u.Username,
			Detail: "welcome email with an enrolment link (valid 7 days) to " + u.Email,
		})
	})
}

// issueEnrolmentToken supersedes the end user's unused enrolment tokens and
// stores the hash of a new one; it returns the token for the link.
func issueEnrolmentToken(ctx context.Context, tx *db.Tx, u *EndUser, now time.Time) (string, error) {
	tok, hash, err := credential.NewToken()
	if err != nil {
		return "", fmt.Errorf("enduser: token: %w", err)
	}
	if _, err := tx.NewUpdate().Table("enrolment_tokens").Set("used_at = ?", now).
		Where("end_user_id = ? AND used_at IS NULL", u.ID).Exec(ctx); err != nil {
		return "", fmt.Errorf("enduser: supersede tokens: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO enrolment_tokens (id, tenant_id, customer_id, end_user_id, token_hash, expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, db.NewID(), u.TenantID, u.CustomerID, u.ID, hash, now.Add(EnrolmentLifetime), now); err != nil {
		return "", fmt.Errorf("enduser: insert token: %w", err)
	}
	return tok, nil
}

// welcomeEmail is the welcome email's content.
func welcomeEmail(t *tenant.Tenant, c *customer.Customer, u *EndUser, link string) notify.Email {
	msp := t.DisplayName()
	greeting := "Hello,"
	if u.FirstName != "" {
		greeting = "Hi " + u.FirstName + ","
	}
	return notify.Email{
		Subject:   "Reset your own password with " + msp,
		Preheader: "Confirm your mobile number to get started.",
		Greeting:  greeting,
		Lines: []string{
			fmt.Sprintf("%s looks after IT for %s. It uses Latchkey so that you can reset your password and unlock your account yourself, from your phone, without waiting for the help desk.", msp, c.Name),
			"To get started, open the link below and check the mobile number we have for you. It is used to prove that it is really you before a reset. Once self-serve is on for your account, Latchkey also reminds you before your password expires.",
		},
		ActionText: "Get started",
		ActionURL:  link,
		After: []string{
			fmt.Sprintf("The link is personal and works for 7 days. If you did not expect this email, do not use the link: contact %s instead.", msp),
		},
	}
}

// WelcomePage is what the welcome link's page shows.
type WelcomePage struct {
	EndUser  *EndUser
	Tenant   *tenant.Tenant
	Customer *customer.Customer
	// ExpiresAt is when the link stops working.
	ExpiresAt time.Time
}

// errWelcomeLinkGone is the one answer for an unknown, used or expired link, so the
// page does not tell which (nor anything about other end users).
func errWelcomeLinkGone() error {
	return apperr.New(apperr.NotFound, "This link has expired or was already used. Ask your IT provider for a new one.")
}

// tokenUser returns the end user of a valid, unused, unexpired enrolment token.
func (s *Onboarding) tokenUser(ctx context.Context, idb bun.IDB, token string) (*EndUser, time.Time, error) {
	if token == "" || len(token) > 128 {
		return nil, time.Time{}, errWelcomeLinkGone()
	}
	var row struct {
		EndUserID string    `bun:"end_user_id"`
		TenantID  string    `bun:"tenant_id"`
		ExpiresAt time.Time `bun:"expires_at"`
	}
	err := idb.NewSelect().Table("enrolment_tokens").Column("end_user_id", "tenant_id", "expires_at").
		Where("token_hash = ? AND used_at IS NULL", credential.HashToken(token)).Scan(ctx, &row)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !s.now().Before(row.ExpiresAt)) {
		return nil, time.Time{}, errWelcomeLinkGone()
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("enduser: token: %w", err)
	}
	u, err := Get(ctx, idb, row.TenantID, row.EndUserID)
	if apperr.CodeOf(err) == apperr.NotFound || (err == nil && u.UnlinkedAt != nil) {
		return nil, time.Time{}, errWelcomeLinkGone()
	}
	return u, row.ExpiresAt, err
}

// UseEnrolmentToken uses up the welcome link whose token hashes to
// tokenHash (credential.HashToken), when it is the end user's, unused and
// unexpired at now: the self-serve enrolment calls it in the transaction of
// the end user's identity proof, so that the link works once.
// Errors: NotFound (unknown, used or expired link, or another end user's).
func UseEnrolmentToken(ctx context.Context, tx *db.Tx, tokenHash, endUserID string, now time.Time) error {
	res, err := tx.NewUpdate().Table("enrolment_tokens").Set("used_at = ?", now).
		Where("token_hash = ? AND end_user_id = ? AND used_at IS NULL AND expires_at > ?", tokenHash, endUserID, now).Exec(ctx)
	if err != nil {
		return fmt.Errorf("enduser: use token: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errWelcomeLinkGone()
	}
	return nil
}

// Welcome returns the welcome page of an enrolment token without using the
// token up: the self-serve enrolment that follows (identity proof, then the
// device) consumes it.
// Errors: NotFound (unknown, used or expired link).
func (s *Onboarding) Welcome(ctx context.Context, token string) (*WelcomePage, error) {
	return s.welcomePage(ctx, s.db.Bun, token)
}

func (s *Onboarding) welcomePage(ctx context.Context, idb bun.IDB, token string) (*WelcomePage, error) {
	u, expires, err := s.tokenUser(ctx, idb, token)
	if err != nil {
		return nil, err
	}
	t, err := tenant.Get(ctx, idb, u.TenantID)
	if err != nil {
		return nil, err
	}
	c, err := customer.Get(ctx, idb, u.TenantID, u.CustomerID)
	if err != nil {
		return nil, err
	}
	return &WelcomePage{EndUser: u, Tenant: t, Customer: c, ExpiresAt: expires}, nil
}

// ConfirmMobile records the end user's mobile number from the welcome page:
// the number on record when keep is set, or the number typed when none is on
// record (country is the calling code chosen for a number typed without +).
// A number on record is never replaced from the link (Conflict). The number's source
// becomes end_user and mobile_confirmed_at is set; an audit event
// enduser.mobile_confirm or enduser.mobile_change records it. The token is
// not used up (see Welcome).
// Errors: NotFound (link), Invalid (field "mobile"), Conflict (replacing a number).
func (s *Onboarding) ConfirmMobile(ctx context.Context, token string, keep bool, country, number, ip string) (*WelcomePage, error) {
	var page *WelcomePage
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		p, err := s.welcomePage(ctx, tx, token)
		if err != nil {
			return err
		}
		u := p.EndUser
		mobile := u.Mobile
		if !keep && mobile != "" {
			// The mobile number is an identity factor (SMS codes): a link
			// that proves control of the email only may add a missing
			// number or confirm the one on record, never replace it.
			return apperr.New(apperr.Conflict, "A mobile number is already on record for you. To change it, contact your IT provider.")
		}
		if mobile == "" {
			if strings.TrimSpace(number) == "" {
				return apperr.Field("mobile", "Enter your mobile number.")
			}
			m, msg := tenant.NormalizePhone(country, number)
			if msg != "" {
				return apperr.Field("mobile", strings.ReplaceAll(msg, "the MSP's phone number", "your mobile number"))
			}
			mobile = m
		}
		now := s.now().UTC()
		if _, err := tx.NewUpdate().Model((*EndUser)(nil)).Set("mobile = ?", mobile).Set("mobile_source = ?", ValueEndUser).
			Set("mobile_confirmed_at = ?", now).Set("updated_at = ?", now).Where("id = ?", u.ID).Exec(ctx); err != nil {
			return fmt.Errorf("enduser: confirm mobile: %w", err)
		}
		action, detail := "enduser.mobile_confirm", "confirmed the mobile number on record ("+MaskMobile(mobile)+") from the welcome link"
		if mobile != u.Mobile {
			action = "enduser.mobile_change"
			detail = "set the mobile number to " + MaskMobile(mobile) + " from the welcome link"
			if u.Mobile != "" {
				detail += " (was " + MaskMobile(u.Mobile) + ")"
			}
		}
		actorName := u.Name() + " (end user)"
		if err := audit.Record(ctx, tx, now, audit.Actor{TenantID: u.TenantID, Name: actorName, IP: ip}, audit.Entry{
			Action: action, TargetType: "end_user", TargetID: u.ID, Target: u.Username, Detail: detail,
		}); err != nil {
			return err
		}
		u.Mobile, u.MobileSource, u.MobileConfirmedAt = mobile, ValueEndUser, &now
		page = p
		return nil
	})
	return page, err
}

// MaskMobile shows an E.164 number with its country code and last three
// digits only ("+64 ••• ••• 199"), or "" for none.
func MaskMobile(e164 string) string {
	if e164 == "" {
		return ""
	}
	cc, national := tenant.SplitPhone(e164)
	if cc == "" {
		national = strings.TrimPrefix(e164, "+")
		cc = "+"
	} else {
		cc += " "
	}
	if len(national) <= 3 {
		return cc + "•••"
	}
	return cc + "••• ••• " + national[len(national)-3:]
}

// requireTenantSelfServe refuses to write to end users while self-serve is
// off for the whole MSP (the tenant switch overrides everything: nothing is
// sent to end users). Errors: Conflict.
func requireTenantSelfServe(ctx context.Context, idb bun.IDB, tenantID string) error {
	t, err := tenant.Get(ctx, idb, tenantID)
	if err != nil {
		return err
	}
	if !t.SelfServeEnabled {
		return apperr.New(apperr.Conflict, "Self-serve is turned off for the whole MSP in Settings, so nothing is sent to end users. Turn it on in Settings first.")
	}
	return nil
}
