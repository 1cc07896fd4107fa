package selfserve

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/device"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/verify"
	"github.com/latchkey/latchkey/db"
)

// Method is a way to prove who one is, as a page offers it.
type Method struct {
	Channel string
	// Destination is where a code goes, masked, when the page may say so
	// (enrolment: the end user is known from the link); "" in reset and
	// unlock flows.
	Destination string
}

// Methods lists the ways the flow's end user may prove who they are,
// strongest first. A reset or unlock flow offers the same list to everyone
// (push when the installation has it, authenticator app, SMS, email): the
// page must not tell which an account has. An enrolment offers an SMS code
// to the mobile number on record, then an email code.
func (s *Service) Methods(ctx context.Context, f *Flow) ([]Method, error) {
	if f.Purpose != PurposeEnrol {
		var out []Method
		if s.PushAvailable() {
			out = append(out, Method{Channel: ChannelPush})
		}
		return append(out, Method{Channel: ChannelTOTP}, Method{Channel: ChannelSMS}, Method{Channel: ChannelEmail}), nil
	}
	acc, err := loadAccount(ctx, s.d.DB.Bun, f.TenantID, f.EndUserID)
	if err != nil {
		return nil, err
	}
	var out []Method
	if acc.Mobile != "" {
		out = append(out, Method{Channel: ChannelSMS, Destination: enduser.MaskMobile(acc.Mobile)})
	}
	if acc.Email != "" {
		out = append(out, Method{Channel: ChannelEmail, Destination: enduser.MaskValue(enduser.FieldEmail, acc.Email)})
	}
	return out, nil
}

// Proof is a proof in progress, as its page shows it.
type Proof struct {
	ID        string
	Channel   string
	ExpiresAt time.Time
	// MatchNumber: a push with number matching: the number to tap on the
	// phone (a decoy flow shows one too).
	MatchNumber int
	// Destination: enrolment only (see Method).
	Destination string
}

type proofRow struct {
	bun.BaseModel `bun:"table:selfserve_proofs"`

	ID             string     `bun:"id,pk"`
	TenantID       string     `bun:"tenant_id"`
	EndUserID      *string    `bun:"end_user_id"`
	Subject        string     `bun:"subject"`
	Purpose        string     `bun:"purpose"`
	Channel        string     `bun:"channel"`
	Code           []byte     `bun:"code"`
	Destination    string     `bun:"destination"`
	VerificationID string     `bun:"verification_id"`
	FlowID         string     `bun:"flow_id"`
	WrongTries     int        `bun:"wrong_tries"`
	CreatedAt      time.Time  `bun:"created_at"`
	ExpiresAt      time.Time  `bun:"expires_at"`
	UsedAt         *time.Time `bun:"used_at"`
}

func proofAAD(tenantID, id string) []byte { return []byte("selfserve_proofs/" + tenantID + "/" + id) }

// codeSettings are the tenant's code lifetime and number matching (the
// verification settings).
func (s *Service) codeSettings(ctx context.Context, tenantID string) verify.Settings {
	if s.d.Verify == nil {
		return verify.DefaultSettings
	}
	st, err := s.d.Verify.Settings(ctx, tenantID)
	if err != nil {
		return verify.DefaultSettings
	}
	return st
}

// CodeLifetime is how long the tenant's codes work.
func (s *Service) CodeLifetime(ctx context.Context, tenantID string) time.Duration {
	return s.codeSettings(ctx, tenantID).CodeTTL
}

// errFlowGone answers a step of a flow that expired or does not fit.
func errFlowGone() error {
	return apperr.New(apperr.Conflict, "This page has expired. Start again.")
}

func validChannel(purpose, channel string) bool {
	switch channel {
	case ChannelSMS, ChannelEmail:
		return true
	case ChannelTOTP, ChannelPush:
		return purpose != PurposeEnrol
	}
	return false
}

// SendProof starts a proof of the flow's end user by channel: sends a code
// by SMS or email, asks the enrolled devices for a push approval, or
// prepares for an authenticator code. In a decoy flow, or when the account
// has no such channel (no mobile, no authenticator app, no device with
// notifications), it sends nothing and the proof accepts no code; it answers
// the same. Audited as selfserve.code_send. The returned flow carries the
// proof.
// A code (SMS or email) asked for again by the same flow within
// DuplicateWindow, while the one sent is unused, untried and unexpired, is
// not sent again: the flow gets that proof as it is (see duplicate).
// Errors: Conflict (expired flow), Invalid (channel), RateLimited
// (SendsPerHour codes and pushes in the last hour: blocked 24 hours; or
// already blocked).
func (s *Service) SendProof(ctx context.Context, f *Flow, channel, ip string) (*Flow, *Proof, error) {
	now := s.now()
	if f == nil || f.Expired(now) {
		return nil, nil, errFlowGone()
	}
	if !validChannel(f.Purpose, channel) || channel == ChannelPush && !s.PushAvailable() {
		return nil, nil, apperr.New(apperr.Invalid, "Choose how to prove it is you.")
	}
	st := s.codeSettings(ctx, f.TenantID)
	ttl := st.CodeTTL
	if channel == ChannelPush {
		ttl = s.d.Verify.PushTimeout()
	}
	out := *f
	out.StartedAt, out.ProvenAt, out.ProvenBy = now, nil, ""
	row := &proofRow{ID: db.NewID(), TenantID: f.TenantID, Subject: f.Subject, Purpose: f.Purpose, Channel: channel,
		FlowID: f.ID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	p := &Proof{ID: row.ID, Channel: channel, ExpiresAt: row.ExpiresAt}
	var (
		limitErr error
		pushTo   string // end user to send the push to, after the transaction
	)
	err := s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := s.lockSubject(ctx, tx, f.TenantID, f.Subject); err != nil {
			return err
		}
		var acc *account
		if f.EndUserID != "" {
			var err error
			if acc, err = loadAccount(ctx, tx, f.TenantID, f.EndUserID); err != nil {
				return err
			}
		}
		a := endUserActor(f.TenantID, f.Name, ip)
		target := f.Typed
		if acc != nil {
			target = acc.Username
		}
		if until, err := blockedUntil(ctx, tx, f.TenantID, f.Subject, now); err != nil || until != nil {
			limitErr = errBlocked()
			return err
		}
		if channel == ChannelSMS || channel == ChannelEmail {
			dup, err := duplicate(ctx, tx, f, f.Purpose, channel, "", now)
			if err != nil {
				return err
			}
			if dup != nil {
				row = dup
				p = &Proof{ID: row.ID, Channel: channel, ExpiresAt: row.ExpiresAt}
				return nil
			}
		}
		if channel != ChannelTOTP {
			n, err := tx.NewSelect().Model((*proofRow)(nil)).
				Where("tenant_id = ? AND subject = ? AND channel <> ? AND created_at > ?", f.TenantID, f.Subject, ChannelTOTP, now.Add(-time.Hour)).
				Count(ctx)
			if err != nil {
				return fmt.Errorf("selfserve: count sends: %w", err)
			}
			if n >= SendsPerHour {
				limitErr = errBlocked()
				return block(ctx, tx, a, f.Subject, fmt.Sprintf("%d codes or pushes in an hour", n), target, f.EndUserID, now)
			}
		}
		sent, detail, err := s.send(ctx, tx, acc, row, channel, st)
		if err != nil {
			return err
		}
		if channel == ChannelPush && sent {
			pushTo = acc.ID
		}
		if sent {
			row.EndUserID = &acc.ID
		}
		if channel == ChannelPush && st.NumberMatching && !sent {
			p.MatchNumber = decoyNumber()
		}
		if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
			return fmt.Errorf("selfserve: insert proof: %w", err)
		}
		e := audit.Entry{Action: "selfserve.code_send", TargetType: "end_user", Target: target, Detail: detail}
		if acc != nil {
			e.TargetID = acc.ID
		}
		if !sent {
			e.Result = audit.ResultDenied
		}
		return audit.Record(ctx, tx, now, a, e)
	})
	if err != nil {
		return nil, nil, err
	}
	if limitErr != nil {
		return nil, nil, limitErr
	}
	if pushTo != "" {
		v, err := s.d.Verify.Start(ctx, endUserActor(f.TenantID, f.Name, ip), pushTo, verify.MethodPush)
		switch {
		case err == nil:
			p.MatchNumber, p.ExpiresAt = v.MatchNumber, v.ExpiresAt
			if _, err := s.d.DB.Bun.NewUpdate().Model((*proofRow)(nil)).Set("verification_id = ?", v.ID).Set("expires_at = ?", v.ExpiresAt).
				Where("id = ?", row.ID).Exec(ctx); err != nil {
				return nil, nil, fmt.Errorf("selfserve: push proof: %w", err)
			}
		case apperr.CodeOf(err) == apperr.RateLimited || apperr.CodeOf(err) == apperr.Conflict:
			// Pushes are limited on their own (unanswered pushes): the proof
			// simply never gets approved, as a decoy's.
			s.d.Log.InfoContext(ctx, "selfserve: push not sent", "err", apperr.MessageOf(err))
			if st.NumberMatching {
				p.MatchNumber = decoyNumber()
			}
		default:
			return nil, nil, err
		}
	}
	if f.Purpose == PurposeEnrol && row.Destination != "" {
		p.Destination = row.Destination
	}
	out.ProofID, out.Channel, out.ProofExpiresAt, out.MatchNumber, out.Destination = row.ID, channel, p.ExpiresAt, p.MatchNumber, p.Destination
	return &out, p, nil
}

// lockSubject serialises, on PostgreSQL, the transactions that send to one
// subject, so that two requests at once neither both pass the hourly count
// nor both miss each other's proof (SQLite's write transactions, begun
// IMMEDIATE, are serialised already).
func (s *Service) lockSubject(ctx context.Context, tx *db.Tx, tenantID, subject string) error {
	if s.d.DB.Dialect != db.Postgres {
		return nil
	}
	if _, err := tx.NewRaw("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", "selfserve_send/"+tenantID+"/"+subject).Exec(ctx); err != nil {
		return fmt.Errorf("selfserve: lock subject: %w", err)
	}
	return nil
}

// duplicate returns the code proof the flow was sent by channel (to
// destination, when not "") within DuplicateWindow and that is still
// unused, untried and unexpired, or nil: asked for again (a double tap),
// the flow gets that proof unchanged rather than a second code, which would
// make the first to arrive a wrong code and use up a send. Its code's life
// is not extended.
func duplicate(ctx context.Context, tx *db.Tx, f *Flow, purpose, channel, destination string, now time.Time) (*proofRow, error) {
	if f.ID == "" {
		return nil, nil
	}
	row := new(proofRow)
	q := tx.NewSelect().Model(row).
		Where("tenant_id = ? AND subject = ? AND flow_id = ? AND purpose = ? AND channel = ?", f.TenantID, f.Subject, f.ID, purpose, channel).
		Where("created_at > ? AND expires_at > ? AND used_at IS NULL AND wrong_tries = 0", now.Add(-DuplicateWindow), now)
	if destination != "" {
		q = q.Where("destination = ?", destination)
	}
	err := q.OrderExpr("created_at DESC").Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("selfserve: duplicate proof: %w", err)
	}
	return row, nil
}

// send delivers a proof to acc by channel (acc nil: a decoy) and fills the
// row's code; it reports whether anything went out, and a line for the
// audit trail.
func (s *Service) send(ctx context.Context, tx *db.Tx, acc *account, row *proofRow, channel string, st verify.Settings) (bool, string, error) {
	if acc == nil {
		return false, "no account that may use self-serve: nothing sent", nil
	}
	switch channel {
	case ChannelTOTP:
		n, err := tx.NewSelect().Table("end_user_authenticators").
			Where("end_user_id = ? AND tenant_id = ? AND confirmed_at IS NOT NULL", acc.ID, acc.TenantID).Count(ctx)
		if err != nil {
			return false, "", fmt.Errorf("selfserve: authenticator: %w", err)
		}
		if n == 0 {
			return false, "authenticator code asked for; no authenticator app is set up", nil
		}
		return true, "authenticator code asked for", nil
	case ChannelPush:
		if s.d.Devices == nil {
			return false, "push asked for; push is not available", nil
		}
		c, err := device.CountActive(ctx, tx, acc.TenantID, acc.ID)
		if err != nil {
			return false, "", err
		}
		if c.Push == 0 {
			return false, "push asked for; no enrolled device accepts notifications: nothing sent", nil
		}
		return true, fmt.Sprintf("push approval sent to %d device(s)", c.Push), nil
	case ChannelSMS:
		if acc.Mobile == "" {
			return false, "SMS code asked for; no mobile number on record: nothing sent", nil
		}
		row.Destination = enduser.MaskMobile(acc.Mobile)
		return s.sendCode(ctx, tx, acc, row, acc.Mobile, st)
	case ChannelEmail:
		if acc.Email == "" {
			return false, "email code asked for; no email address on record: nothing sent", nil
		}
		if acc.Privileged {
			return false, "email code asked for; privileged account: email codes do not prove it", nil
		}
		row.Destination = enduser.MaskValue(enduser.FieldEmail, acc.Email)
		return s.sendCode(ctx, tx, acc, row, acc.Email, st)
	}
	return false, "", apperr.New(apperr.Invalid, "Choose how to prove it is you.")
}

// sendCode gives row a new code and queues it to addr (an E.164 number for
// SMS, else an email address).
func (s *Service) sendCode(ctx context.Context, tx *db.Tx, acc *account, row *proofRow, addr string, st verify.Settings) (bool, string, error) {
	code, err := credential.NewCode6()
	if err != nil {
		return false, "", err
	}
	if row.Code, err = s.d.Keys.Encrypt([]byte(code), proofAAD(row.TenantID, row.ID)); err != nil {
		return false, "", fmt.Errorf("selfserve: encrypt code: %w", err)
	}
	msp, err := tenantName(ctx, tx, acc.TenantID)
	if err != nil {
		return false, "", err
	}
	minutes := max(1, int(st.CodeTTL.Round(time.Minute)/time.Minute))
	what := codePurpose(row.Purpose)
	if row.Channel == ChannelSMS {
		body := fmt.Sprintf("%s: your code to %s is %s. It expires in %d min. Never share it with anyone, not even IT staff.", msp, what, code, minutes)
		if _, err := s.d.SMS.SMS(ctx, tx, acc.TenantID, addr, "selfserve_code", body, sms.Options{ExpiresAt: row.ExpiresAt}); err != nil {
			if code := apperr.CodeOf(err); code == apperr.Invalid || code == apperr.Conflict || code == apperr.RateLimited {
				// Opted out, the tenant's daily limit, a bad number: the
				// page says "if…", and the MSP sees why in the audit trail.
				return false, "SMS code to " + row.Destination + " not sent: " + apperr.MessageOf(err), nil
			}
			return false, "", err
		}
		return true, "SMS code sent to " + row.Destination, nil
	}
	greeting := "Hi,"
	if acc.FirstName != "" {
		greeting = "Hi " + acc.FirstName + ","
	}
	if _, err := s.d.Mail.Email(ctx, tx, acc.TenantID, addr, "selfserve_code", notify.Email{
		// The code stays out of the subject and preheader: they show on
		// lock screens and in notifications.
		Subject:   fmt.Sprintf("%s: your code to %s", msp, what),
		Preheader: "Enter this code on the page you have open.",
		Greeting:  greeting,
		Lines: []string{
			fmt.Sprintf("Someone (hopefully you) asked %s for a code to %s. Enter this code on the page you have open:", msp, what),
			code,
			fmt.Sprintf("It works once and expires in %d minutes. Never share it with anyone, not even IT staff.", minutes),
		},
		After: []string{fmt.Sprintf("If this was not you, ignore this email and tell %s.", msp)},
	}); err != nil {
		return false, "", err
	}
	return true, "email code sent to " + row.Destination, nil
}

func codePurpose(purpose string) string {
	switch purpose {
	case PurposeUnlock:
		return "unlock your account"
	case PurposeEnrol:
		return "set up self-serve"
	case purposeMobile:
		return "confirm your mobile number"
	}
	return "reset your password"
}

func tenantName(ctx context.Context, idb bun.IDB, tenantID string) (string, error) {
	var name string
	if err := idb.NewSelect().Table("tenants").Column("name").Where("id = ?", tenantID).Scan(ctx, &name); err != nil {
		return "", fmt.Errorf("selfserve: tenant name: %w", err)
	}
	if name == "" {
		name = "Your IT provider"
	}
	return name, nil
}

// decoyNumber is a number-matching number for a push that went nowhere.
func decoyNumber() int {
	code, err := credential.NewCode6()
	if err != nil {
		return 42
	}
	n := 0
	fmt.Sscanf(code[:2], "%d", &n) //nolint:errcheck
	return 10 + n%90
}

// loadProof reads the flow's current proof. Errors: Conflict.
func loadProof(ctx context.Context, idb bun.IDB, f *Flow) (*proofRow, error) {
	row := new(proofRow)
	err := idb.NewSelect().Model(row).Where("id = ? AND tenant_id = ? AND subject = ?", f.ProofID, f.TenantID, f.Subject).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errFlowGone()
	}
	if err != nil {
		return nil, fmt.Errorf("selfserve: proof: %w", err)
	}
	return row, nil
}

// errWrongCode is the answer to a wrong code, decoy or not.
func errWrongCode(left int) error {
	f := apperr.Fields{}
	if left == 1 {
		f.Add("code", "That code is not right. 1 try left.")
	} else {
		f.Add("code", fmt.Sprintf("That code is not right. %d tries left.", left))
	}
	return f.Err()
}

// sixDigits reports whether typed (spaces removed) has the shape of a code.
func sixDigits(typed string) bool {
	if len(typed) != 6 {
		return false
	}
	for _, r := range typed {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// errCodeShape answers what cannot be a code (a slip of the finger, not a
// guess): it uses no try, for decoys alike.
func errCodeShape(channel string) error {
	if channel == ChannelTOTP {
		return apperr.Field("code", "Enter the 6-digit code shown in your authenticator app (6 numbers).")
	}
	return apperr.Field("code", "Enter the 6-digit code from the message we sent (6 numbers).")
}

func errProofLocked() error {
	return apperr.New(apperr.RateLimited, "Too many wrong codes. Ask for a new code.")
}

// Prove checks the code the end user typed for the flow's proof (SMS,
// email or authenticator): the right code proves the flow (selfserve.proof,
// and on the end user's first proof their status becomes Accessed
// self-serve); a wrong one counts (WrongPerProof lock the proof,
// WrongPerDay for the subject block self-serve for 24 hours and alert the
// MSP's admins). A decoy's proof takes no code. An enrolment's proof uses
// up the welcome link.
// Input that is not six digits is refused without using a try.
// Errors: Conflict (expired flow or no proof), Invalid with Fields["code"]
// (not six digits, wrong or expired code), RateLimited (locked proof,
// blocked subject).
func (s *Service) Prove(ctx context.Context, f *Flow, typed, ip string) (*Flow, error) {
	now := s.now()
	if f == nil || f.ProofID == "" || f.Expired(now) {
		return nil, errFlowGone()
	}
	typed = strings.Join(strings.Fields(typed), "")
	var (
		out      *Flow
		wrongErr error
	)
	err := s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := requireOpen(ctx, tx, f, now); err != nil {
			return err
		}
		row, err := loadProof(ctx, tx, f)
		if err != nil {
			return err
		}
		if row.Channel == ChannelPush {
			return apperr.New(apperr.Conflict, "Approve the request on your phone.")
		}
		switch {
		case row.UsedAt != nil:
			return errFlowGone()
		case row.WrongTries >= WrongPerProof:
			return errProofLocked()
		case !now.Before(row.ExpiresAt):
			return apperr.Field("code", "That code has expired. Ask for a new one.")
		case !sixDigits(typed):
			return errCodeShape(row.Channel)
		}
		ok, err := s.check(ctx, tx, row, typed, now)
		if err != nil {
			return err
		}
		if !ok {
			wrongErr, err = s.wrong(ctx, tx, f, row, now, ip)
			return err
		}
		out, err = s.proven(ctx, tx, f, row, now, ip)
		return err
	})
	if err != nil {
		return nil, err
	}
	if wrongErr != nil {
		return nil, wrongErr
	}
	return out, nil
}

// check compares typed with the proof's code (or the authenticator's).
func (s *Service) check(ctx context.Context, tx *db.Tx, row *proofRow, typed string, now time.Time) (bool, error) {
	if row.EndUserID == nil || len(typed) != 6 {
		return false, nil
	}
	if row.Channel == ChannelTOTP {
		return s.checkTOTP(ctx, tx, row.TenantID, *row.EndUserID, typed, now)
	}
	code, err := s.d.Keys.Decrypt(row.Code, proofAAD(row.TenantID, row.ID))
	if err != nil {
		return false, fmt.Errorf("selfserve: decrypt code: %w", err)
	}
	return subtle.ConstantTimeCompare(code, []byte(typed)) == 1, nil
}

// wrong counts a wrong code and returns the answer to give.
func (s *Service) wrong(ctx context.Context, tx *db.Tx, f *Flow, row *proofRow, now time.Time, ip string) (error, error) {
	row.WrongTries++
	if _, err := tx.NewUpdate().Model(row).Column("wrong_tries").WherePK().Exec(ctx); err != nil {
		return nil, fmt.Errorf("selfserve: wrong code: %w", err)
	}
	if err := addEvent(ctx, tx, f.TenantID, f.Subject, kindFail, now); err != nil {
		return nil, err
	}
	a := endUserActor(f.TenantID, f.Name, ip)
	target := f.Typed
	if f.EndUserID != "" {
		target = f.Name
	}
	if err := audit.Record(ctx, tx, now, a, audit.Entry{Action: "selfserve.proof", TargetType: "end_user", TargetID: f.EndUserID,
		Target: target, Result: audit.ResultFailed, Detail: fmt.Sprintf("wrong %s code (%d of %d)", row.Channel, row.WrongTries, WrongPerProof)}); err != nil {
		return nil, err
	}
	n, err := countEvents(ctx, tx, f.TenantID, f.Subject, kindFail, now.Add(-24*time.Hour))
	if err != nil {
		return nil, err
	}
	if n >= WrongPerDay {
		if err := block(ctx, tx, a, f.Subject, fmt.Sprintf("%d wrong codes in 24 hours", n), target, f.EndUserID, now); err != nil {
			return nil, err
		}
		if f.EndUserID != "" && s.d.Logins != nil {
			if err := s.d.Logins.NotifyAdmins(ctx, tx, f.TenantID, "Self-serve blocked for "+f.Name,
				fmt.Sprintf("%d wrong codes were entered for %s's self-serve in 24 hours, so their self-serve is blocked for 24 hours.", n, f.Name),
				"If it was not them, someone may be trying to take over the account: check with them."); err != nil {
				return nil, err
			}
		}
		return errBlocked(), nil
	}
	if row.WrongTries >= WrongPerProof {
		return errProofLocked(), nil
	}
	return errWrongCode(WrongPerProof - row.WrongTries), nil
}

// proven records a successful proof: the proof is used up, the end user's
// access times are set, an enrolment's link is used up.
func (s *Service) proven(ctx context.Context, tx *db.Tx, f *Flow, row *proofRow, now time.Time, ip string) (*Flow, error) {
	res, err := tx.NewUpdate().Model((*proofRow)(nil)).Set("used_at = ?", now).Where("id = ? AND used_at IS NULL", row.ID).Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("selfserve: use proof: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, errFlowGone()
	}
	acc, err := loadAccount(ctx, tx, f.TenantID, f.EndUserID)
	if err != nil {
		return nil, err
	}
	if why := acc.Ineligibility(f.Purpose); why != "" && f.Purpose != PurposeEnrol {
		return nil, apperr.New(apperr.Forbidden, "Self-serve is not available for your account. Contact your IT provider.")
	}
	out := *f
	out.ProvenAt, out.ProvenBy = &now, row.Channel
	q := tx.NewUpdate().Table("end_users").Set("last_access_at = ?", now).Set("first_access_at = COALESCE(first_access_at, ?)", now).
		Where("id = ? AND tenant_id = ?", acc.ID, acc.TenantID)
	if f.Purpose == PurposeEnrol && row.Channel == ChannelSMS && acc.Mobile != "" {
		q = q.Set("mobile_confirmed_at = ?", now)
		out.MobileProven = acc.Mobile
	}
	if _, err := q.Exec(ctx); err != nil {
		return nil, fmt.Errorf("selfserve: access: %w", err)
	}
	if f.Purpose == PurposeEnrol {
		if err := enduser.UseEnrolmentToken(ctx, tx, f.TokenHash, acc.ID, now); err != nil {
			return nil, err
		}
	}
	detail := fmt.Sprintf("%s: proved by %s", f.Purpose, channelLabel(row.Channel))
	if acc.FirstAccessAt == nil {
		detail += "; first self-serve sign-in (status: Accessed self-serve)"
	}
	if out.MobileProven != "" {
		detail += "; mobile number " + enduser.MaskMobile(acc.Mobile) + " confirmed"
	}
	if err := audit.Record(ctx, tx, now, endUserActor(f.TenantID, acc.Name(), ip), audit.Entry{Action: "selfserve.proof",
		TargetType: "end_user", TargetID: acc.ID, Target: acc.Username, Detail: detail}); err != nil {
		return nil, err
	}
	out.Name = acc.Name()
	return &out, nil
}

func channelLabel(c string) string {
	switch c {
	case ChannelPush:
		return "push approval"
	case ChannelTOTP:
		return "authenticator code"
	case ChannelSMS:
		return "SMS code"
	case ChannelEmail:
		return "email code"
	}
	return c
}

// Push states of a proof, for the waiting page.
const (
	PushWaiting  = "waiting"
	PushApproved = "approved"
	PushDenied   = "denied"
	PushExpired  = "expired"
)

// PushStatus looks at the flow's push proof: still waiting, approved on the
// phone (the flow is then proven, as Prove does), denied, or timed out. A
// decoy's push waits until it times out.
// Errors: Conflict (expired flow, not a push proof), RateLimited (blocked).
func (s *Service) PushStatus(ctx context.Context, f *Flow, ip string) (*Flow, string, error) {
	now := s.now()
	if f == nil || f.ProofID == "" || f.Expired(now) {
		return nil, "", errFlowGone()
	}
	row, err := loadProof(ctx, s.d.DB.Bun, f)
	if err != nil {
		return nil, "", err
	}
	if row.Channel != ChannelPush {
		return nil, "", errFlowGone()
	}
	if row.UsedAt != nil {
		return provenElsewhere(f, row, now)
	}
	state := PushWaiting
	if row.VerificationID != "" && row.EndUserID != nil {
		v, err := s.d.Verify.Settle(ctx, f.TenantID, row.VerificationID)
		if err != nil {
			return nil, "", err
		}
		switch v.StateAt(now) {
		case verify.StateVerified:
			state = PushApproved
		case verify.StateDenied:
			state = PushDenied
		case verify.StatePending, verify.StateApproved:
		default:
			state = PushExpired
		}
	} else if !now.Before(row.ExpiresAt) {
		state = PushExpired
	}
	if state != PushApproved {
		return f, state, nil
	}
	var out *Flow
	err = s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := requireOpen(ctx, tx, f, now); err != nil {
			return err
		}
		out, err = s.proven(ctx, tx, f, row, now, ip)
		return err
	})
	if apperr.CodeOf(err) == apperr.Conflict {
		// Another request of the visit may have used the proof meanwhile.
		if again, lerr := loadProof(ctx, s.d.DB.Bun, f); lerr == nil && again.UsedAt != nil {
			return provenElsewhere(f, again, now)
		}
	}
	if err != nil {
		return nil, "", err
	}
	return out, PushApproved, nil
}

// provenElsewhere answers for a push proof already used: another request of
// the same visit (the flow holds the proof's id, which only the visit's
// session has), such as a second tab polling at once, proved the flow. It
// returns the flow as that request proved it, so that this request does
// not store the unproven flow over the proven one; nothing is recorded
// again.
func provenElsewhere(f *Flow, row *proofRow, now time.Time) (*Flow, string, error) {
	if f.Proven() {
		return f, PushApproved, nil
	}
	if row.EndUserID == nil || *row.EndUserID != f.EndUserID || row.UsedAt == nil {
		return nil, "", errFlowGone()
	}
	out := *f
	at := row.UsedAt.UTC()
	out.ProvenAt, out.ProvenBy = &at, ChannelPush
	if out.Expired(now) {
		return nil, "", errFlowGone()
	}
	return &out, PushApproved, nil
}
