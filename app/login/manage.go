package login

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
)

// Login management by the tenant's Primary and Super logins: list, invite
// (one or many), edit, disable, enable, delete, reset MFA and resend an
// invitation. Every change is audited in its transaction and emailed to the
// tenant's Primary and Super logins.

// MaxBatch is the most logins InviteMany (and a CSV import) creates at once.
const MaxBatch = 500

// msgEmailTaken is the field message for an email that already has a login
// (emails are unique across the installation, since sign-in is by email).
const msgEmailTaken = "A login with this email already exists."

// msgEmailRepeated is the field message for an email given to more than one
// row of a batch.
const msgEmailRepeated = "This email is on more than one row; each login needs its own."

// ListFilter narrows List. Zero values do not filter.
type ListFilter struct {
	Query  string // part of the name or email, case-insensitive
	Role   Role
	Status string // StatusInvited, StatusActive or StatusDisabled
}

// InviteInput is a new login to invite.
type InviteInput struct {
	FirstName, LastName, Email string
	Role                       Role
}

// UpdateInput is the editable part of a login. An empty Role keeps the
// login's role.
type UpdateInput struct {
	FirstName, LastName, Email string
	Role                       Role
}

// RowErrors carries the validation messages of a batch (InviteMany): Rows
// maps the index of each invalid row in the input slice (from 0) to its
// messages by field (first_name, last_name, email, role). InviteMany returns
// it wrapped in an apperr.Invalid error; get it with RowErrorsOf.
type RowErrors struct {
	Rows map[int]map[string]string
}

// Error implements error.
func (e *RowErrors) Error() string {
	return fmt.Sprintf("login: %d invalid row(s)", len(e.Rows))
}

// add records a message for a row's field unless it already has one.
func (e *RowErrors) add(row int, field, msg string) {
	if e.Rows == nil {
		e.Rows = map[int]map[string]string{}
	}
	if e.Rows[row] == nil {
		e.Rows[row] = map[string]string{}
	}
	if _, ok := e.Rows[row][field]; !ok {
		e.Rows[row][field] = msg
	}
}

// RowErrorsOf returns the per-row messages carried by err, or nil.
func RowErrorsOf(err error) *RowErrors {
	var re *RowErrors
	if errors.As(err, &re) {
		return re
	}
	return nil
}

// requireAdmin refuses actors that are not a Primary or Super login of a tenant.
func requireAdmin(a audit.Actor) error {
	if a.TenantID == "" || a.LoginID == "" || !Role(a.Role).IsAdmin() {
		return apperr.New(apperr.Forbidden, "Only a Primary or Super login can manage logins.")
	}
	return nil
}

// changed is what an admin action on one login did: its audit action and
// detail, and the email to the Primary and Super logins.
type changed struct {
	action, detail string
	subject        string
	lines          []string
}

// change is the frame of every admin action on one login: the admin check,
// one transaction, the tenant-scoped target (NotFound for another tenant's),
// the action itself, then its audit event and the admins' email in the same
// transaction.
func (s *Service) change(ctx context.Context, a audit.Actor, id string,
	do func(ctx context.Context, tx *db.Tx, l *Login, now time.Time) (changed, error)) error {
	if err := requireAdmin(a); err != nil {
		return err
	}
	now := s.now().UTC()
	return s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		l, err := target(ctx, tx, a, id)
		if err != nil {
			return err
		}
		c, err := do(ctx, tx, l, now)
		if err != nil {
			return err
		}
		if err := audit.Record(ctx, tx, now, a, audit.Entry{Action: c.action, TargetType: "login", TargetID: l.ID, Target: l.Email, Detail: c.detail}); err != nil {
			return err
		}
		return s.NotifyAdmins(ctx, tx, a.TenantID, c.subject, c.lines...)
	})
}

// likeEscaper escapes LIKE wildcards with "!" (ESCAPE '!' works the same on
// SQLite and PostgreSQL).
var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

// List returns the tenant's logins matching f, sorted by name.
// Errors: Forbidden.
func (s *Service) List(ctx context.Context, a audit.Actor, f ListFilter) ([]*Login, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	var out []*Login
	q := s.db.Bun.NewSelect().Model(&out).Where("tenant_id = ?", a.TenantID)
	if t := strings.ToLower(strings.TrimSpace(f.Query)); t != "" {
		like := "%" + likeEscaper.Replace(t) + "%"
		q = q.Where("(lower(first_name || ' ' || last_name) LIKE ? ESCAPE '!' OR lower(email) LIKE ? ESCAPE '!')", like, like)
	}
	if f.Role != "" {
		q = q.Where("role = ?", f.Role)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if err := q.OrderExpr("lower(first_name), lower(last_name), email").Scan(ctx); err != nil {
		return nil, fmt.Errorf("login: list: %w", err)
	}
	return out, nil
}

// roleMessage says what is wrong with a role given to a login, or "" when it
// can be assigned.
func roleMessage(r Role) string {
	switch {
	case slices.Contains(AssignableRoles, r):
		return ""
	case r == "":
		return "Choose a role: " + roleList() + "."
	case r == RolePrimary:
		return "A tenant has exactly one Primary login, so nobody can be made Primary. Choose " + roleList() + "."
	default:
		return fmt.Sprintf("%q is not a role. Choose %s.", string(r), roleList())
	}
}

// roleList is "Super, Technician or Help desk".
func roleList() string {
	labels := make([]string, len(AssignableRoles))
	for i, r := range AssignableRoles {
		labels[i] = r.Label()
	}
	return strings.Join(labels[:len(labels)-1], ", ") + " or " + labels[len(labels)-1]
}

// validateInvite checks one invitation on its own (not against the database).
func validateInvite(in InviteInput) apperr.Fields {
	var f apperr.Fields
	ValidateIdentity(&f, in.FirstName, in.LastName, in.Email)
	if m := roleMessage(in.Role); m != "" {
		f.Add("role", m)
	}
	return f
}

// existingEmails returns which of the (normalised) emails already belong to a
// login, in any tenant.
func existingEmails(ctx context.Context, idb bun.IDB, emails []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(emails) == 0 {
		return out, nil
	}
	var found []string
	if err := idb.NewSelect().Model((*Login)(nil)).Column("email").Where("email IN (?)", bun.In(emails)).Scan(ctx, &found); err != nil {
		return nil, fmt.Errorf("login: existing emails: %w", err)
	}
	for _, e := range found {
		out[e] = true
	}
	return out, nil
}

// checkBatch validates every row of a batch: each row on its own, emails
// repeated within the batch, and emails that already have a login.
func checkBatch(ctx context.Context, idb bun.IDB, ins []InviteInput) (*RowErrors, error) {
	re := &RowErrors{}
	first := map[string]int{}
	var emails []string
	for i, in := range ins {
		for field, msg := range validateInvite(in) {
			re.add(i, field, msg)
		}
		e := NormalizeEmail(in.Email)
		if e == "" {
			continue
		}
		if j, ok := first[e]; ok {
			re.add(i, "email", msgEmailRepeated)
			re.add(j, "email", msgEmailRepeated)
			continue
		}
		first[e] = i
		emails = append(emails, e)
	}
	taken, err := existingEmails(ctx, idb, emails)
	if err != nil {
		return nil, err
	}
	for e, i := range first {
		if taken[e] {
			re.add(i, "email", msgEmailTaken)
		}
	}
	return re, nil
}

// actorName is how emails name the person who acted.
func actorName(a audit.Actor) string {
	if a.Name == "" {
		return "An administrator"
	}
	return a.Name
}

// inviteEmail is the invitation an invited login receives.
func (s *Service) inviteEmail(t *tenant.Tenant, a audit.Actor, l *Login, token string, again bool) notify.Email {
	msp := t.DisplayName()
	intro := fmt.Sprintf("%s has invited you to Latchkey at %s, with the %s role. %s uses Latchkey to confirm who end users are before helping them with their accounts and passwords.",
		actorName(a), msp, l.Role.Label(), msp)
	subject := fmt.Sprintf("%s invited you to Latchkey", msp)
	if again {
		intro = fmt.Sprintf("%s sent you a new invitation to Latchkey at %s, with the %s role. Any earlier invitation link no longer works.", actorName(a), msp, l.Role.Label())
		subject = fmt.Sprintf("Your invitation to Latchkey at %s", msp)
	}
	return notify.Email{
		Subject:   subject,
		Preheader: "Choose a password to activate your login. The link expires in 7 days.",
		Greeting:  "Hi " + l.FirstName + ",",
		Lines: []string{
			intro,
			"Choose a password to activate your login. The link works once and expires in 7 days.",
		},
		ActionText: "Choose your password",
		ActionURL:  s.link("/password/" + token),
		After: []string{
			fmt.Sprintf("You will sign in with this email address, %s.", l.Email),
			"If you were not expecting this invitation, ignore this email: nothing happens until a password is chosen.",
		},
	}
}

// createInvited inserts an invited login, issues its invitation token, emails
// it and audits it, all in tx.
func (s *Service) createInvited(ctx context.Context, tx *db.Tx, t *tenant.Tenant, a audit.Actor, in InviteInput, now time.Time) (*Login, error) {
	l := &Login{
		ID: db.NewID(), TenantID: t.ID, Email: NormalizeEmail(in.Email), FirstName: strings.TrimSpace(in.FirstName),
		LastName: strings.TrimSpace(in.LastName), Role: in.Role, Status: StatusInvited,
		SessionsValidAfter: now, CreatedAt: now, UpdatedAt: now,
	}
	if _, err := tx.NewInsert().Model(l).Exec(ctx); err != nil {
		if db.IsUniqueViolation(err) {
			return nil, apperr.Field("email", msgEmailTaken)
		}
		return nil, fmt.Errorf("login: insert invited: %w", err)
	}
	tok, err := s.IssueToken(ctx, tx, l, TokenInvite, InviteLifetime)
	if err != nil {
		return nil, err
	}
	if _, err := s.mail.Email(ctx, tx, t.ID, l.Email, "login_invite", s.inviteEmail(t, a, l, tok, false)); err != nil {
		return nil, err
	}
	if err := audit.Record(ctx, tx, now, a, audit.Entry{Action: "login.invite", TargetType: "login", TargetID: l.ID, Target: l.Email,
		Detail: fmt.Sprintf("%s invited as %s", l.Name(), l.Role.Label())}); err != nil {
		return nil, err
	}
	return l, nil
}

// Invite creates an invited login in the actor's tenant and emails it a
// single-use link (valid 7 days) to choose a password.
// Errors: Forbidden (not Primary or Super), Invalid (with Fields first_name,
// last_name, email, role; an email that already has a login is invalid).
func (s *Service) Invite(ctx context.Context, a audit.Actor, in InviteInput) (*Login, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	var out *Login
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		re, err := checkBatch(ctx, tx, []InviteInput{in})
		if err != nil {
			return err
		}
		if f := apperr.Fields(re.Rows[0]); len(f) > 0 {
			return f.Err()
		}
		t, err := tenant.Get(ctx, tx, a.TenantID)
		if err != nil {
			return err
		}
		l, err := s.createInvited(ctx, tx, t, a, in, now)
		if err != nil {
			return err
		}
		out = l
		return s.NotifyAdmins(ctx, tx, a.TenantID, "A login was invited",
			fmt.Sprintf("%s invited %s (%s) to Latchkey with the %s role.", actorName(a), l.Name(), l.Email, l.Role.Label()),
			"They become active once they follow the emailed link and choose a password.")
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// InviteMany invites every login of ins, all or nothing, in one transaction
// (CSV import, setup wizard). Every row is checked first, including emails
// repeated within ins; when any row is wrong nothing is created and the error
// is Invalid, carrying a *RowErrors (see RowErrorsOf) keyed by the index in ins.
// The admins get one email for the whole batch.
// Errors: Forbidden, Invalid (empty batch, more than MaxBatch rows, or rows).
func (s *Service) InviteMany(ctx context.Context, a audit.Actor, ins []InviteInput) ([]*Login, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	switch {
	case len(ins) == 0:
		return nil, apperr.New(apperr.Invalid, "Add at least one login to invite.")
	case len(ins) > MaxBatch:
		return nil, apperr.New(apperr.Invalid, "Invite at most %d logins at a time.", MaxBatch)
	}
	now := s.now().UTC()
	var out []*Login
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		re, err := checkBatch(ctx, tx, ins)
		if err != nil {
			return err
		}
		if len(re.Rows) > 0 {
			return &apperr.Error{Code: apperr.Invalid, Err: re,
				Message: fmt.Sprintf("%d of the %d logins need correcting. Nothing was created.", len(re.Rows), len(ins))}
		}
		t, err := tenant.Get(ctx, tx, a.TenantID)
		if err != nil {
			return err
		}
		out = make([]*Login, 0, len(ins))
		lines := []string{fmt.Sprintf("%s invited %d logins to Latchkey:", actorName(a), len(ins))}
		for i, in := range ins {
			l, err := s.createInvited(ctx, tx, t, a, in, now)
			if err != nil {
				if fe := apperr.FieldsOf(err); fe != nil {
					// A concurrent invitation took the email after the check.
					r := &RowErrors{Rows: map[int]map[string]string{i: fe}}
					return &apperr.Error{Code: apperr.Invalid, Err: r, Message: "A login needs correcting. Nothing was created."}
				}
				return err
			}
			out = append(out, l)
			if i < 50 {
				lines = append(lines, fmt.Sprintf("%s (%s), %s", l.Name(), l.Email, l.Role.Label()))
			}
		}
		if len(ins) > 50 {
			lines = append(lines, fmt.Sprintf("…and %d more.", len(ins)-50))
		}
		lines = append(lines, "They become active once they follow the emailed link and choose a password.")
		return s.NotifyAdmins(ctx, tx, a.TenantID, fmt.Sprintf("%d logins were invited", len(ins)), lines...)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// target loads a login of the actor's tenant in tx. Errors: NotFound.
func target(ctx context.Context, tx *db.Tx, a audit.Actor, id string) (*Login, error) {
	return Get(ctx, tx, a.TenantID, id)
}

// Update changes a login's name, email and role. Only the Primary changes the
// Primary's details, and its role never changes; nobody changes their own
// role; a role change ends the login's sessions (it signs in again with the
// new role). Changing an email cancels the login's outstanding links, tells
// the old address, and for an invited login sends a new invitation to the
// new address.
// Errors: Forbidden (not an admin, a Super editing the Primary, one's own
// role), NotFound, Conflict (the Primary's role), Invalid (Fields).
func (s *Service) Update(ctx context.Context, a audit.Actor, id string, in UpdateInput) error {
	if err := requireAdmin(a); err != nil {
		return err
	}
	now := s.now().UTC()
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		l, err := target(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if l.Role == RolePrimary && l.ID != a.LoginID {
			return apperr.New(apperr.Forbidden, "Only the Primary login can change its own details.")
		}
		role := in.Role
		if role == "" {
			role = l.Role
		}
		if role != l.Role {
			switch {
			case l.Role == RolePrimary:
				return apperr.New(apperr.Conflict, "The Primary login's role cannot change: every MSP has exactly one Primary.")
			case l.ID == a.LoginID:
				return apperr.New(apperr.Forbidden, "You cannot change your own role. Ask another Primary or Super login.")
			}
		}
		var f apperr.Fields
		ValidateIdentity(&f, in.FirstName, in.LastName, in.Email)
		if role != l.Role {
			if m := roleMessage(role); m != "" {
				f.Add("role", m)
			}
		}
		email := NormalizeEmail(in.Email)
		if _, ok := f["email"]; !ok && email != l.Email {
			taken, err := existingEmails(ctx, tx, []string{email})
			if err != nil {
				return err
			}
			if taken[email] {
				f.Add("email", msgEmailTaken)
			}
		}
		if err := f.Err(); err != nil {
			return err
		}

		first, last := strings.TrimSpace(in.FirstName), strings.TrimSpace(in.LastName)
		var changes []string
		if first != l.FirstName || last != l.LastName {
			changes = append(changes, fmt.Sprintf("name %q → %q", l.Name(), strings.TrimSpace(first+" "+last)))
		}
		if email != l.Email {
			changes = append(changes, fmt.Sprintf("email %s → %s", l.Email, email))
		}
		if role != l.Role {
			changes = append(changes, fmt.Sprintf("role %s → %s", l.Role.Label(), role.Label()))
		}
		if len(changes) == 0 {
			return nil
		}
		q := tx.NewUpdate().Model((*Login)(nil)).Set("first_name = ?", first).Set("last_name = ?", last).
			Set("email = ?", email).Set("role = ?", role).Set("updated_at = ?", now).Where("id = ?", l.ID)
		if role != l.Role {
			q = q.Set("sessions_valid_after = ?", now)
		}
		if _, err := q.Exec(ctx); err != nil {
			if db.IsUniqueViolation(err) {
				return apperr.Field("email", msgEmailTaken)
			}
			return fmt.Errorf("login: update: %w", err)
		}
		old := *l
		l.FirstName, l.LastName, l.Email, l.Role = first, last, email, role
		if email != old.Email {
			if err := s.emailChanged(ctx, tx, a, &old, l, now); err != nil {
				return err
			}
		}
		if err := audit.Record(ctx, tx, now, a, audit.Entry{Action: "login.update", TargetType: "login", TargetID: l.ID,
			Target: l.Email, Detail: strings.Join(changes, "; ")}); err != nil {
			return err
		}
		lines := []string{fmt.Sprintf("%s changed the login of %s: %s.", actorName(a), old.Name(), strings.Join(changes, "; "))}
		if role != old.Role {
			lines = append(lines, "The role change signed them out; they sign in again with the new role.")
		}
		return s.NotifyAdmins(ctx, tx, a.TenantID, "A login was changed", lines...)
	})
	return err
}

// emailChanged cancels the login's outstanding links, tells the old address,
// and re-invites an invited login at its new address.
func (s *Service) emailChanged(ctx context.Context, tx *db.Tx, a audit.Actor, old, l *Login, now time.Time) error {
	if err := cancelTokens(ctx, tx, l.ID, now); err != nil {
		return err
	}
	t, err := tenant.Get(ctx, tx, l.TenantID)
	if err != nil {
		return err
	}
	if _, err := s.mail.Email(ctx, tx, l.TenantID, old.Email, "login_email_changed", notify.Email{
		Subject:  "The email of your Latchkey login was changed",
		Greeting: "Hi " + old.FirstName + ",",
		Lines: []string{fmt.Sprintf("%s changed the email address of your Latchkey login at %s from %s to %s. You now sign in with the new address.",
			actorName(a), t.DisplayName(), old.Email, l.Email)},
		After: []string{"If you did not expect this, contact the administrators at " + t.DisplayName() + "."},
	}); err != nil {
		return err
	}
	if l.Status != StatusInvited {
		return nil
	}
	tok, err := s.IssueToken(ctx, tx, l, TokenInvite, InviteLifetime)
	if err != nil {
		return err
	}
	_, err = s.mail.Email(ctx, tx, l.TenantID, l.Email, "login_invite", s.inviteEmail(t, a, l, tok, false))
	return err
}

// cancelTokens marks every unused link of the login as used.
func cancelTokens(ctx context.Context, tx *db.Tx, loginID string, now time.Time) error {
	if _, err := tx.NewUpdate().Table("login_tokens").Set("used_at = ?", now).
		Where("login_id = ? AND used_at IS NULL", loginID).Exec(ctx); err != nil {
		return fmt.Errorf("login: cancel tokens: %w", err)
	}
	return nil
}

// Disable stops a login from signing in and ends its sessions at once; its
// outstanding links stop working.
// Errors: Forbidden, NotFound, Conflict (the Primary, oneself, already disabled).
func (s *Service) Disable(ctx context.Context, a audit.Actor, id string) error {
	return s.change(ctx, a, id, func(ctx context.Context, tx *db.Tx, l *Login, now time.Time) (changed, error) {
		switch {
		case l.Role == RolePrimary:
			return changed{}, apperr.New(apperr.Conflict, "The Primary login cannot be disabled.")
		case l.ID == a.LoginID:
			return changed{}, apperr.New(apperr.Conflict, "You cannot disable your own login.")
		case l.Status == StatusDisabled:
			return changed{}, apperr.New(apperr.Conflict, "This login is already disabled.")
		}
		if _, err := tx.NewUpdate().Model((*Login)(nil)).Set("status = ?", StatusDisabled).
			Set("sessions_valid_after = ?", now).Set("updated_at = ?", now).Where("id = ?", l.ID).Exec(ctx); err != nil {
			return changed{}, fmt.Errorf("login: disable: %w", err)
		}
		if err := cancelTokens(ctx, tx, l.ID, now); err != nil {
			return changed{}, err
		}
		return changed{action: "login.disable", subject: "A login was disabled",
			lines: []string{fmt.Sprintf("%s disabled the login of %s (%s). They were signed out and cannot sign in until the login is enabled again.", actorName(a), l.Name(), l.Email)}}, nil
	})
}

// Enable lets a disabled login sign in again (an invited login that never
// chose a password goes back to invited and needs a new invitation).
// Errors: Forbidden, NotFound, Conflict (not disabled).
func (s *Service) Enable(ctx context.Context, a audit.Actor, id string) error {
	return s.change(ctx, a, id, func(ctx context.Context, tx *db.Tx, l *Login, now time.Time) (changed, error) {
		if l.Status != StatusDisabled {
			return changed{}, apperr.New(apperr.Conflict, "This login is not disabled.")
		}
		status := StatusActive
		if l.PasswordHash == "" {
			status = StatusInvited
		}
		if _, err := tx.NewUpdate().Model((*Login)(nil)).Set("status = ?", status).Set("updated_at = ?", now).
			Where("id = ?", l.ID).Exec(ctx); err != nil {
			return changed{}, fmt.Errorf("login: enable: %w", err)
		}
		return changed{action: "login.enable", subject: "A login was enabled",
			lines: []string{fmt.Sprintf("%s enabled the login of %s (%s) again.", actorName(a), l.Name(), l.Email)}}, nil
	})
}

// Delete removes a login and its links for good. The audit trail keeps its
// email and its past actions.
// Errors: Forbidden, NotFound, Conflict (the Primary, oneself).
func (s *Service) Delete(ctx context.Context, a audit.Actor, id string) error {
	return s.change(ctx, a, id, func(ctx context.Context, tx *db.Tx, l *Login, now time.Time) (changed, error) {
		switch {
		case l.Role == RolePrimary:
			return changed{}, apperr.New(apperr.Conflict, "The Primary login cannot be deleted.")
		case l.ID == a.LoginID:
			return changed{}, apperr.New(apperr.Conflict, "You cannot delete your own login.")
		}
		if _, err := tx.NewDelete().Table("login_tokens").Where("login_id = ?", l.ID).Exec(ctx); err != nil {
			return changed{}, fmt.Errorf("login: delete tokens: %w", err)
		}
		if _, err := tx.NewDelete().Model((*Login)(nil)).Where("id = ? AND tenant_id = ?", l.ID, a.TenantID).Exec(ctx); err != nil {
			return changed{}, fmt.Errorf("login: delete: %w", err)
		}
		return changed{action: "login.delete", detail: fmt.Sprintf("%s, %s", l.Name(), l.Role.Label()), subject: "A login was deleted",
			lines: []string{fmt.Sprintf("%s deleted the login of %s (%s, %s).", actorName(a), l.Name(), l.Email, l.Role.Label())}}, nil
	})
}

// ResetMFA removes a login's authenticator (and one being set up) and clears
// its failure and lock counters; the login sets up an authenticator again at
// its next sign-in when the tenant enforces MFA. Only the Primary resets the
// Primary's MFA.
// Errors: Forbidden (not an admin, a Super and the Primary), NotFound.
func (s *Service) ResetMFA(ctx context.Context, a audit.Actor, id string) error {
	return s.change(ctx, a, id, func(ctx context.Context, tx *db.Tx, l *Login, now time.Time) (changed, error) {
		if l.Role == RolePrimary && l.ID != a.LoginID {
			return changed{}, apperr.New(apperr.Forbidden, "Only the Primary login can reset its own MFA.")
		}
		if _, err := tx.NewUpdate().Model((*Login)(nil)).Set("totp_secret = NULL").Set("totp_pending = NULL").
			Set("totp_enabled_at = NULL").Set("totp_last_step = 0").Set("totp_failures = 0").Set("totp_window_start = NULL").
			Set("totp_locked_until = NULL").Set("failed_logins = 0").Set("lockouts = 0").Set("locked_until = NULL").
			Set("updated_at = ?", now).Where("id = ?", l.ID).Exec(ctx); err != nil {
			return changed{}, fmt.Errorf("login: reset mfa: %w", err)
		}
		had := "no authenticator"
		if l.MFAEnabled() {
			had = "authenticator removed"
		}
		if !l.Role.IsAdmin() || l.Status != StatusActive {
			// Admins hear of it with the others; anyone else is told directly.
			if _, err := s.mail.Email(ctx, tx, l.TenantID, l.Email, "login_mfa_reset", notify.Email{
				Subject:  "Your Latchkey two-step sign-in was reset",
				Greeting: "Hi " + l.FirstName + ",",
				Lines:    []string{fmt.Sprintf("%s reset the two-step sign-in of your Latchkey login. The next time you sign in you may be asked to set up your authenticator app again.", actorName(a))},
				After:    []string{"If you did not ask for this, tell your administrators."},
			}); err != nil {
				return changed{}, err
			}
		}
		return changed{action: "login.mfa_reset", detail: had, subject: "A login's MFA was reset",
			lines: []string{fmt.Sprintf("%s reset the two-step sign-in (authenticator) of %s (%s).", actorName(a), l.Name(), l.Email),
				"If MFA is required, they set up an authenticator again at their next sign-in."}}, nil
	})
}

// ResendInvite emails an invited login a new invitation link; earlier links
// stop working. Errors: Forbidden, NotFound, Conflict (not invited).
func (s *Service) ResendInvite(ctx context.Context, a audit.Actor, id string) error {
	return s.change(ctx, a, id, func(ctx context.Context, tx *db.Tx, l *Login, now time.Time) (changed, error) {
		switch l.Status {
		case StatusInvited:
		case StatusDisabled:
			return changed{}, apperr.New(apperr.Conflict, "This login is disabled. Enable it before sending a new invitation.")
		default:
			return changed{}, apperr.New(apperr.Conflict, "This login has already accepted its invitation.")
		}
		t, err := tenant.Get(ctx, tx, a.TenantID)
		if err != nil {
			return changed{}, err
		}
		tok, err := s.IssueToken(ctx, tx, l, TokenInvite, InviteLifetime)
		if err != nil {
			return changed{}, err
		}
		if _, err := s.mail.Email(ctx, tx, l.TenantID, l.Email, "login_invite", s.inviteEmail(t, a, l, tok, true)); err != nil {
			return changed{}, err
		}
		return changed{action: "login.invite_resent", subject: "An invitation was sent again",
			lines: []string{fmt.Sprintf("%s sent a new invitation to %s (%s). The earlier link no longer works.", actorName(a), l.Name(), l.Email)}}, nil
	})
}
