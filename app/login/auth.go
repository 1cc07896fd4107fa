package login

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/password"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
)

// Throttling figures (security bar): lock the account for one minute after 10
// password failures, doubling with each further lockout; 10 TOTP failures in
// 24 hours lock MFA sign-in for 24 hours and alert the admins.
const (
	MaxFailedLogins  = 10
	BaseLockout      = time.Minute
	MaxLockout       = 24 * time.Hour
	MaxTOTPFailures  = 10
	TOTPFailureSpan  = 24 * time.Hour
	InviteLifetime   = 7 * 24 * time.Hour
	ResetLifetime    = 30 * time.Minute
	tokenInvite      = "invite"
	tokenReset       = "reset"
	msgBadCredential = "The email or password is incorrect."
)

// Token purposes for single-use links.
const (
	TokenInvite = tokenInvite
	TokenReset  = tokenReset
)

// PrimaryInput is the first step of the setup wizard.
type PrimaryInput struct {
	FirstName, LastName, Email, Password, Confirm string
}

// ValidateIdentity checks a name and email, collecting field errors.
func ValidateIdentity(f *apperr.Fields, first, last, email string) {
	validateName(f, "first_name", first, "Enter a first name.")
	validateName(f, "last_name", last, "Enter a last name.")
	e := NormalizeEmail(email)
	if a, err := mail.ParseAddress(e); e == "" || err != nil || a.Address != e || !strings.Contains(e[strings.Index(e, "@"):], ".") {
		f.Add("email", "Enter an email address like name@example.com.")
	}
}

// validateName checks one part of a login's name: present, plain text (no
// control character, valid UTF-8) and at most 100 characters.
func validateName(f *apperr.Fields, field, v, missing string) {
	switch {
	case strings.TrimSpace(v) == "":
		f.Add(field, missing)
	case !apperr.PlainText(v, ""):
		f.Add(field, "The name contains characters that cannot be shown, such as a line break.")
	case utf8.RuneCountInString(v) > 100:
		f.Add(field, "Use at most 100 characters.")
	}
}

// ValidateNewPassword checks a new password and its confirmation.
func ValidateNewPassword(f *apperr.Fields, pw, confirm string, context ...string) {
	if err := password.CheckLoginPassword(pw, context...); err != nil {
		var re *password.RuleError
		if errors.As(err, &re) {
			f.Add("password", re.Message)
		} else {
			f.Add("password", "Choose another password.")
		}
		return
	}
	if pw != confirm {
		f.Add("confirm", "The two passwords do not match.")
	}
}

// CreateTenantWithPrimary creates the tenant and its Primary login in one
// transaction (setup wizard, step 1). It fails with Conflict when a tenant
// already exists. Errors: Invalid, Conflict.
func (s *Service) CreateTenantWithPrimary(ctx context.Context, in PrimaryInput, ip string) (*tenant.Tenant, *Login, error) {
	var f apperr.Fields
	ValidateIdentity(&f, in.FirstName, in.LastName, in.Email)
	ValidateNewPassword(&f, in.Password, in.Confirm, in.Email, in.FirstName, in.LastName)
	if err := f.Err(); err != nil {
		return nil, nil, err
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, nil, fmt.Errorf("login: hash: %w", err)
	}
	now := s.now().UTC()
	t := tenant.New(now)
	t.SetupStep = tenant.StepSettings
	l := &Login{
		ID: db.NewID(), TenantID: t.ID, Email: NormalizeEmail(in.Email), FirstName: strings.TrimSpace(in.FirstName),
		LastName: strings.TrimSpace(in.LastName), Role: RolePrimary, Status: StatusActive, PasswordHash: hash,
		PasswordChangedAt: &now, SessionsValidAfter: now, CreatedAt: now, UpdatedAt: now,
	}
	err = s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if any, err := tenant.Any(ctx, tx); err != nil {
			return err
		} else if any {
			return apperr.New(apperr.Conflict, "Latchkey is already set up. Sign in instead.")
		}
		if err := tenant.Insert(ctx, tx, t); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO installation (id, tenant_id, created_at) VALUES (1, ?, ?)", t.ID, now); err != nil {
			if db.IsUniqueViolation(err) || strings.Contains(err.Error(), "constraint failed") {
				return apperr.New(apperr.Conflict, "Latchkey is already set up. Sign in instead.")
			}
			return fmt.Errorf("login: claim installation: %w", err)
		}
		if _, err := tx.NewInsert().Model(l).Exec(ctx); err != nil {
			return fmt.Errorf("login: insert primary: %w", err)
		}
		a := audit.Actor{TenantID: t.ID, LoginID: l.ID, Name: l.Name(), Role: string(l.Role), IP: ip}
		return audit.Record(ctx, tx, now, a, audit.Entry{Action: "setup.primary_created", TargetType: "login", TargetID: l.ID, Target: l.Email})
	})
	if err != nil {
		return nil, nil, err
	}
	return t, l, nil
}

// SignInResult says what a successful password check leads to.
type SignInResult struct {
	Login     *Login
	NeedsTOTP bool // ask for the authenticator code next
	NeedsMFA  bool // MFA is enforced and the login has none: enrol now
}

// Authenticate checks an email and password. Unknown emails cost the same
// time as known ones and get the same answer. Failures are counted on the
// account (not the IP) and lock it for a growing period.
// Errors: Invalid (wrong email or password), RateLimited (locked).
func (s *Service) Authenticate(ctx context.Context, email, pw, ip string) (*SignInResult, error) {
	email = NormalizeEmail(email)
	if email == "" || pw == "" {
		return nil, apperr.New(apperr.Invalid, "Enter your email and password.")
	}
	l, err := ByEmail(ctx, s.db.Bun, email)
	if apperr.CodeOf(err) == apperr.NotFound {
		_ = s.hasher.DummyVerify(ctx)
		return nil, apperr.New(apperr.Invalid, msgBadCredential)
	}
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	if l.LockedUntil != nil && now.Before(*l.LockedUntil) {
		return nil, apperr.New(apperr.RateLimited, "Too many failed sign-ins for this account. Try again in %s.", humanWait(l.LockedUntil.Sub(now)))
	}
	if l.Status != StatusActive || l.PasswordHash == "" {
		_ = s.hasher.DummyVerify(ctx)
		if l.Status == StatusDisabled {
			s.recordAuth(ctx, l, ip, "auth.signin", audit.ResultDenied, "login is disabled")
		}
		return nil, apperr.New(apperr.Invalid, msgBadCredential)
	}
	ok, rehash, err := s.hasher.Verify(ctx, pw, l.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("login: verify: %w", err)
	}
	if !ok {
		if err := s.countFailure(ctx, l, ip); err != nil {
			return nil, err
		}
		return nil, apperr.New(apperr.Invalid, msgBadCredential)
	}
	if rehash {
		if h, err := s.hasher.Hash(ctx, pw); err == nil {
			_, _ = s.db.Bun.NewUpdate().Model((*Login)(nil)).Set("password_hash = ?", h).Where("id = ?", l.ID).Exec(ctx)
		}
	}
	if _, err := s.db.Bun.NewUpdate().Model((*Login)(nil)).Set("failed_logins = 0").Where("id = ? AND failed_logins <> 0", l.ID).Exec(ctx); err != nil {
		return nil, fmt.Errorf("login: reset failures: %w", err)
	}
	res := &SignInResult{Login: l}
	if l.MFAEnabled() {
		res.NeedsTOTP = true
		return res, nil
	}
	t, err := tenant.Get(ctx, s.db.Bun, l.TenantID)
	if err != nil {
		return nil, err
	}
	res.NeedsMFA = t.EnforceMFA
	return res, nil
}

// countFailure records a wrong password and locks the account when the
// threshold is reached.
func (s *Service) countFailure(ctx context.Context, l *Login, ip string) error {
	now := s.now().UTC()
	return s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		cur := new(Login)
		if err := tx.NewSelect().Model(cur).Column("failed_logins", "lockouts").Where("id = ?", l.ID).Scan(ctx); err != nil {
			return fmt.Errorf("login: read failures: %w", err)
		}
		failed, lockouts := cur.FailedLogins+1, cur.Lockouts
		q := tx.NewUpdate().Model((*Login)(nil)).Where("id = ?", l.ID)
		detail := fmt.Sprintf("wrong password (%d of %d)", failed, MaxFailedLogins)
		if failed >= MaxFailedLogins {
			wait := BaseLockout << min(lockouts, 20)
			if wait > MaxLockout || wait <= 0 {
				wait = MaxLockout
			}
			until := now.Add(wait)
			q = q.Set("failed_logins = 0").Set("lockouts = ?", lockouts+1).Set("locked_until = ?", until)
			detail = fmt.Sprintf("account locked for %s after %d wrong passwords", humanWait(wait), MaxFailedLogins)
		} else {
			q = q.Set("failed_logins = ?", failed)
		}
		if _, err := q.Exec(ctx); err != nil {
			return fmt.Errorf("login: count failure: %w", err)
		}
		a := audit.Actor{TenantID: l.TenantID, IP: ip, Name: "(sign-in attempt)"}
		return audit.Record(ctx, tx, now, a, audit.Entry{Action: "auth.signin", TargetType: "login", TargetID: l.ID, Target: l.Email, Result: audit.ResultFailed, Detail: detail})
	})
}

// VerifyTOTP completes sign-in with an authenticator code. A code is accepted
// once: the step it matched is remembered and it and earlier steps are
// refused. Errors: Invalid, RateLimited, Unauthorized.
func (s *Service) VerifyTOTP(ctx context.Context, loginID, code, ip string) (*Login, error) {
	var out *Login
	var failure error
	now := s.now().UTC()
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		l, err := s.byID(ctx, tx, loginID)
		if err != nil {
			return err
		}
		if l.Status != StatusActive || !l.MFAEnabled() {
			return apperr.New(apperr.Unauthorized, "Please sign in again.")
		}
		if l.TOTPLockedUntil != nil && now.Before(*l.TOTPLockedUntil) {
			return apperr.New(apperr.RateLimited, "Too many wrong authenticator codes. Sign-in with this account is locked until %s UTC; ask an admin to reset your MFA.", l.TOTPLockedUntil.Format("Jan 2 15:04"))
		}
		sec, err := s.keys.Decrypt(l.TOTPSecret, aad(l))
		if err != nil {
			return fmt.Errorf("login: decrypt totp secret: %w", err)
		}
		step, verr := credential.ValidateTOTP(code, string(sec), now, l.TOTPLastStep)
		if verr == nil {
			if _, err := tx.NewUpdate().Model((*Login)(nil)).Set("totp_last_step = ?", step).Where("id = ?", l.ID).Exec(ctx); err != nil {
				return fmt.Errorf("login: store totp step: %w", err)
			}
			out = l
			return nil
		}
		if !errors.Is(verr, credential.ErrTOTPInvalid) && !errors.Is(verr, credential.ErrTOTPReplay) {
			return fmt.Errorf("login: validate totp: %w", verr)
		}
		// Count the failure across sessions, in a 24-hour window.
		failures, start := l.TOTPFailures+1, now
		if l.TOTPWindowStart != nil && now.Sub(*l.TOTPWindowStart) < TOTPFailureSpan {
			start = *l.TOTPWindowStart
		} else {
			failures = 1
		}
		q := tx.NewUpdate().Model((*Login)(nil)).Set("totp_failures = ?", failures).Set("totp_window_start = ?", start).Where("id = ?", l.ID)
		detail := "wrong authenticator code"
		if errors.Is(verr, credential.ErrTOTPReplay) {
			detail = "authenticator code already used"
		}
		failure = apperr.Field("code", "That code is not right. Enter the current 6-digit code from your authenticator app.")
		if failures >= MaxTOTPFailures {
			until := now.Add(TOTPFailureSpan)
			q = q.Set("totp_locked_until = ?", until)
			detail = fmt.Sprintf("MFA locked for 24 h after %d wrong codes", failures)
			failure = apperr.New(apperr.RateLimited, "Too many wrong authenticator codes. Sign-in with this account is locked for 24 hours; your admins have been told.")
			if err := s.notifyAdmins(ctx, tx, l.TenantID, "Sign-in locked after repeated wrong MFA codes",
				fmt.Sprintf("%s (%s) entered %d wrong authenticator codes within 24 hours. Signing in with this login is locked for 24 hours.", l.Name(), l.Email, failures),
				"If this was not them, someone knows their password: reset it and their MFA under Logins."); err != nil {
				return err
			}
		}
		if _, err := q.Exec(ctx); err != nil {
			return fmt.Errorf("login: count totp failure: %w", err)
		}
		return audit.Record(ctx, tx, now, audit.Actor{TenantID: l.TenantID, LoginID: l.ID, Name: l.Name(), IP: ip},
			audit.Entry{Action: "auth.totp", TargetType: "login", TargetID: l.ID, Target: l.Email, Result: audit.ResultFailed, Detail: detail})
	})
	if err != nil {
		return nil, err
	}
	if failure != nil {
		return nil, failure
	}
	return out, nil
}

// CompleteSignIn records a successful sign-in (after password and, where
// enabled, the authenticator) and clears failure counters.
func (s *Service) CompleteSignIn(ctx context.Context, l *Login, ip string) error {
	now := s.now().UTC()
	return s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if _, err := tx.NewUpdate().Model((*Login)(nil)).Set("last_login_at = ?", now).Set("failed_logins = 0").
			Set("lockouts = 0").Set("locked_until = NULL").Set("totp_failures = 0").Where("id = ?", l.ID).Exec(ctx); err != nil {
			return fmt.Errorf("login: record sign-in: %w", err)
		}
		detail := "password"
		if l.MFAEnabled() {
			detail = "password and authenticator"
		}
		return audit.Record(ctx, tx, now, audit.Actor{TenantID: l.TenantID, LoginID: l.ID, Name: l.Name(), Role: string(l.Role), IP: ip},
			audit.Entry{Action: "auth.signin", TargetType: "login", TargetID: l.ID, Target: l.Email, Detail: detail})
	})
}

// RecordSignOut audits a sign-out.
func (s *Service) RecordSignOut(ctx context.Context, a audit.Actor) error {
	return s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		return audit.Record(ctx, tx, s.now(), a, audit.Entry{Action: "auth.signout", TargetType: "login", TargetID: a.LoginID, Target: a.Name})
	})
}

func (s *Service) recordAuth(ctx context.Context, l *Login, ip, action, result, detail string) {
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		return audit.Record(ctx, tx, s.now(), audit.Actor{TenantID: l.TenantID, IP: ip, Name: "(sign-in attempt)"},
			audit.Entry{Action: action, TargetType: "login", TargetID: l.ID, Target: l.Email, Result: result, Detail: detail})
	})
	if err != nil {
		s.log.ErrorContext(ctx, "audit sign-in", "err", err)
	}
}

// TOTPEnrolment is a pending authenticator set-up shown to the user once.
type TOTPEnrolment struct {
	Secret string // base32, for typing into an app
	URL    string // otpauth:// URL for the QR code
}

// BeginTOTP creates a new pending authenticator secret for the login (stored
// encrypted until confirmed) and returns it for display.
func (s *Service) BeginTOTP(ctx context.Context, loginID string) (*TOTPEnrolment, error) {
	l, err := s.byID(ctx, s.db.Bun, loginID)
	if err != nil {
		return nil, err
	}
	t, err := tenant.Get(ctx, s.db.Bun, l.TenantID)
	if err != nil {
		return nil, err
	}
	issuer := "Latchkey"
	if t.Name != "" {
		issuer = "Latchkey (" + t.Name + ")"
	}
	sec, url, err := credential.NewTOTPKey(issuer, l.Email)
	if err != nil {
		return nil, fmt.Errorf("login: totp key: %w", err)
	}
	enc, err := s.keys.Encrypt([]byte(sec), aad(l))
	if err != nil {
		return nil, fmt.Errorf("login: encrypt totp: %w", err)
	}
	if _, err := s.db.Bun.NewUpdate().Model((*Login)(nil)).Set("totp_pending = ?", enc).Where("id = ?", l.ID).Exec(ctx); err != nil {
		return nil, fmt.Errorf("login: store pending totp: %w", err)
	}
	return &TOTPEnrolment{Secret: sec, URL: url}, nil
}

// PendingTOTP returns the pending enrolment (to show it again after a failed
// confirmation) or NotFound.
func (s *Service) PendingTOTP(ctx context.Context, loginID string) (*TOTPEnrolment, error) {
	l, err := s.byID(ctx, s.db.Bun, loginID)
	if err != nil {
		return nil, err
	}
	if len(l.TOTPPending) == 0 {
		return nil, apperr.New(apperr.NotFound, "Start the authenticator set-up again.")
	}
	sec, err := s.keys.Decrypt(l.TOTPPending, aad(l))
	if err != nil {
		return nil, fmt.Errorf("login: decrypt pending totp: %w", err)
	}
	t, err := tenant.Get(ctx, s.db.Bun, l.TenantID)
	if err != nil {
		return nil, err
	}
	issuer := "Latchkey"
	if t.Name != "" {
		issuer = "Latchkey (" + t.Name + ")"
	}
	return &TOTPEnrolment{Secret: string(sec), URL: totpURL(issuer, l.Email, string(sec))}, nil
}

// ConfirmTOTP turns the pending secret on after checking a code from the
// app, and tells the admins. Errors: Invalid, NotFound.
func (s *Service) ConfirmTOTP(ctx context.Context, loginID, code, ip string) error {
	now := s.now().UTC()
	return s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		l, err := s.byID(ctx, tx, loginID)
		if err != nil {
			return err
		}
		if len(l.TOTPPending) == 0 {
			return apperr.New(apperr.NotFound, "Start the authenticator set-up again.")
		}
		sec, err := s.keys.Decrypt(l.TOTPPending, aad(l))
		if err != nil {
			return fmt.Errorf("login: decrypt pending totp: %w", err)
		}
		step, err := credential.ValidateTOTP(code, string(sec), now, 0)
		if err != nil {
			return apperr.Field("code", "That code does not match. Enter the 6-digit code your authenticator app shows now.")
		}
		if _, err := tx.NewUpdate().Model((*Login)(nil)).Set("totp_secret = totp_pending").Set("totp_pending = NULL").
			Set("totp_enabled_at = ?", now).Set("totp_last_step = ?", step).Set("totp_failures = 0").
			Set("totp_locked_until = NULL").Set("updated_at = ?", now).Where("id = ?", l.ID).Exec(ctx); err != nil {
			return fmt.Errorf("login: enable totp: %w", err)
		}
		if err := s.notifyAdmins(ctx, tx, l.TenantID, "Authenticator added to a login",
			fmt.Sprintf("%s (%s) set up an authenticator app for multi-factor sign-in.", l.Name(), l.Email)); err != nil {
			return err
		}
		return audit.Record(ctx, tx, now, audit.Actor{TenantID: l.TenantID, LoginID: l.ID, Name: l.Name(), Role: string(l.Role), IP: ip},
			audit.Entry{Action: "login.mfa_enabled", TargetType: "login", TargetID: l.ID, Target: l.Email})
	})
}

// notifyAdmins emails every active Primary and Super login of the tenant.
func (s *Service) notifyAdmins(ctx context.Context, tx *db.Tx, tenantID, subject string, lines ...string) error {
	admins, err := Admins(ctx, tx, tenantID)
	if err != nil {
		return err
	}
	for _, a := range admins {
		_, err := s.mail.Email(ctx, tx, tenantID, a.Email, "login_change", notify.Email{
			Subject: subject, Greeting: "Hi " + a.FirstName + ",", Lines: lines,
			ActionText: "Review logins", ActionURL: s.link("/logins"),
			After: []string{"You get this email because you are a Primary or Super login. Every change to a login or its MFA is also in the Events page."},
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// NotifyAdmins emails every active Primary and Super login in tx.
func (s *Service) NotifyAdmins(ctx context.Context, tx *db.Tx, tenantID, subject string, lines ...string) error {
	return s.notifyAdmins(ctx, tx, tenantID, subject, lines...)
}

// RequestPasswordReset emails a single-use reset link when the email belongs
// to an active login. It behaves the same either way so that the form does
// not reveal which emails exist.
func (s *Service) RequestPasswordReset(ctx context.Context, email, ip string) error {
	l, err := ByEmail(ctx, s.db.Bun, email)
	if apperr.CodeOf(err) == apperr.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if l.Status != StatusActive {
		return nil
	}
	now := s.now().UTC()
	return s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		tok, err := s.IssueToken(ctx, tx, l, TokenReset, ResetLifetime)
		if err != nil {
			return err
		}
		if _, err := s.mail.Email(ctx, tx, l.TenantID, l.Email, "login_password_reset", notify.Email{
			Subject: "Reset your Latchkey password", Greeting: "Hi " + l.FirstName + ",",
			Lines:      []string{"Someone (hopefully you) asked to reset the password of your Latchkey login. The link works once and expires in 30 minutes."},
			ActionText: "Choose a new password", ActionURL: s.link("/password/" + tok),
			After: []string{"If you did not ask for this, ignore this email: your password stays as it is."},
		}); err != nil {
			return err
		}
		return audit.Record(ctx, tx, now, audit.Actor{TenantID: l.TenantID, IP: ip, Name: "(password reset request)"},
			audit.Entry{Action: "login.password_reset_requested", TargetType: "login", TargetID: l.ID, Target: l.Email})
	})
}

// IssueToken stores a new single-use token for the login (superseding older
// ones of the same purpose) and returns the token for the link.
func (s *Service) IssueToken(ctx context.Context, tx *db.Tx, l *Login, purpose string, life time.Duration) (string, error) {
	tok, hash, err := credential.NewToken()
	if err != nil {
		return "", fmt.Errorf("login: token: %w", err)
	}
	now := s.now().UTC()
	if _, err := tx.NewUpdate().Table("login_tokens").Set("used_at = ?", now).
		Where("login_id = ? AND purpose = ? AND used_at IS NULL", l.ID, purpose).Exec(ctx); err != nil {
		return "", fmt.Errorf("login: supersede tokens: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO login_tokens (id, tenant_id, login_id, purpose, token_hash, expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, db.NewID(), l.TenantID, l.ID, purpose, hash, now.Add(life), now); err != nil {
		return "", fmt.Errorf("login: insert token: %w", err)
	}
	return tok, nil
}

// TokenLogin returns the login and purpose of a valid, unused token without
// consuming it (to show the set-password form). Errors: NotFound.
func (s *Service) TokenLogin(ctx context.Context, token string) (*Login, string, error) {
	return s.tokenLogin(ctx, s.db.Bun, token)
}

func (s *Service) tokenLogin(ctx context.Context, idb bun.IDB, token string) (*Login, string, error) {
	var row struct {
		LoginID   string    `bun:"login_id"`
		Purpose   string    `bun:"purpose"`
		ExpiresAt time.Time `bun:"expires_at"`
	}
	err := idb.NewSelect().Table("login_tokens").Column("login_id", "purpose", "expires_at").
		Where("token_hash = ? AND used_at IS NULL", credential.HashToken(token)).Scan(ctx, &row)
	if err != nil || s.now().After(row.ExpiresAt) {
		return nil, "", apperr.New(apperr.NotFound, "This link has expired or was already used. Ask for a new one.")
	}
	l, err := s.byID(ctx, idb, row.LoginID)
	if err != nil || l.Status == StatusDisabled {
		return nil, "", apperr.New(apperr.NotFound, "This link has expired or was already used. Ask for a new one.")
	}
	return l, row.Purpose, nil
}

// SetPasswordWithToken consumes a single-use invite or reset token and sets
// the login's password; it activates an invited login and ends the login's
// other sessions. Errors: NotFound (bad or used token), Invalid.
func (s *Service) SetPasswordWithToken(ctx context.Context, token, pw, confirm, ip string) (*Login, error) {
	l, _, err := s.TokenLogin(ctx, token)
	if err != nil {
		return nil, err
	}
	var f apperr.Fields
	ValidateNewPassword(&f, pw, confirm, l.Email, l.FirstName, l.LastName)
	if err := f.Err(); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return nil, fmt.Errorf("login: hash: %w", err)
	}
	now := s.now().UTC()
	err = s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		l2, purpose, err := s.tokenLogin(ctx, tx, token)
		if err != nil {
			return err
		}
		res, err := tx.NewUpdate().Table("login_tokens").Set("used_at = ?", now).
			Where("token_hash = ? AND used_at IS NULL", credential.HashToken(token)).Exec(ctx)
		if err != nil {
			return fmt.Errorf("login: use token: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.New(apperr.NotFound, "This link has expired or was already used. Ask for a new one.")
		}
		if _, err := tx.NewUpdate().Model((*Login)(nil)).Set("password_hash = ?", hash).Set("password_changed_at = ?", now).
			Set("status = ?", StatusActive).Set("sessions_valid_after = ?", now).Set("failed_logins = 0").
			Set("locked_until = NULL").Set("updated_at = ?", now).Where("id = ?", l2.ID).Exec(ctx); err != nil {
			return fmt.Errorf("login: set password: %w", err)
		}
		action, what := "login.password_reset", "reset their password with an emailed link"
		if purpose == TokenInvite {
			action, what = "login.invite_accepted", "accepted their invitation and set a password"
		}
		if err := s.notifyAdmins(ctx, tx, l2.TenantID, "A login's password was set",
			fmt.Sprintf("%s (%s) %s.", l2.Name(), l2.Email, what)); err != nil {
			return err
		}
		l = l2
		return audit.Record(ctx, tx, now, audit.Actor{TenantID: l2.TenantID, LoginID: l2.ID, Name: l2.Name(), IP: ip},
			audit.Entry{Action: action, TargetType: "login", TargetID: l2.ID, Target: l2.Email})
	})
	if err != nil {
		return nil, err
	}
	l.Status = StatusActive
	return l, nil
}

func humanWait(d time.Duration) string {
	switch {
	case d <= time.Minute:
		return "a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Round(time.Minute)/time.Minute))
	default:
		return fmt.Sprintf("%d hours", int(d.Round(time.Hour)/time.Hour))
	}
}
