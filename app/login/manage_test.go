package login_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

const testPassword = "correct horse battery staple"

// bundle is a login service on a fresh database with one tenant and its Primary.
type bundle struct {
	d       *db.DB
	svc     *login.Service
	tenant  *tenant.Tenant
	primary *login.Login
	keys    *secret.Keyring
	now     time.Time
}

func setup(t *testing.T, d *db.DB) *bundle {
	t.Helper()
	ctx := context.Background()
	key, err := secret.GenerateKey()
	require.NoError(t, err)
	keys, err := secret.ParseKeys(key)
	require.NoError(t, err)
	q, err := db.NewQueue(d, &river.Config{})
	require.NoError(t, err)
	svc := login.NewService(login.Deps{
		DB: d, Hasher: credential.NewHasher(2), Keys: keys, Mail: notify.NewQueue(q, keys, time.Now),
		Link: func(p string) string { return "http://latchkey.test" + p }, Now: time.Now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	tn, primary, err := svc.CreateTenantWithPrimary(ctx, login.PrimaryInput{
		FirstName: "Pat", LastName: "Primary", Email: "pat@acme.example", Password: testPassword, Confirm: testPassword,
	}, "127.0.0.1")
	require.NoError(t, err)
	_, err = d.Bun.NewUpdate().Model((*tenant.Tenant)(nil)).Set("name = ?", "Acme IT").Where("id = ?", tn.ID).Exec(ctx)
	require.NoError(t, err)
	return &bundle{d: d, svc: svc, tenant: tn, primary: primary, keys: keys, now: time.Now()}
}

// mustLogin inserts an active login of the role in tenantID.
func mustLogin(t *testing.T, d *db.DB, tenantID string, role login.Role, email string) *login.Login {
	t.Helper()
	now := time.Now().UTC()
	l := &login.Login{
		ID: db.NewID(), TenantID: tenantID, Email: email, FirstName: strings.Split(email, "@")[0], LastName: "Tester",
		Role: role, Status: login.StatusActive, PasswordHash: "x", SessionsValidAfter: now.Add(-time.Minute), CreatedAt: now, UpdatedAt: now,
	}
	_, err := d.Bun.NewInsert().Model(l).Exec(context.Background())
	require.NoError(t, err)
	return l
}

// mustTenant inserts a second tenant with a Primary login.
func mustTenant(t *testing.T, d *db.DB, name string) (*tenant.Tenant, *login.Login) {
	t.Helper()
	tn := tenant.New(time.Now())
	tn.Name = name
	require.NoError(t, tenant.Insert(context.Background(), d.Bun, tn))
	return tn, mustLogin(t, d, tn.ID, login.RolePrimary, "primary@"+strings.ToLower(strings.ReplaceAll(name, " ", ""))+".example")
}

func actorOf(l *login.Login) audit.Actor {
	return audit.Actor{TenantID: l.TenantID, LoginID: l.ID, Name: l.Name(), Role: string(l.Role), IP: "192.0.2.1"}
}

func messagesTo(t *testing.T, d *db.DB, to string) []notify.Message {
	t.Helper()
	var ms []notify.Message
	require.NoError(t, d.Bun.NewSelect().Model(&ms).Where("to_addr = ?", to).Order("created_at").Scan(context.Background()))
	return ms
}

// emailOf decrypts the content of an email message.
func (b *bundle) emailOf(t *testing.T, m notify.Message) notify.Email {
	t.Helper()
	e, err := m.EmailData(b.keys)
	require.NoError(t, err)
	return e
}

func auditActions(t *testing.T, d *db.DB, tenantID, targetID string) []string {
	t.Helper()
	var evs []audit.Event
	require.NoError(t, d.Bun.NewSelect().Model(&evs).Where("tenant_id = ? AND target_id = ?", tenantID, targetID).Order("seq").Scan(context.Background()))
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Action
	}
	return out
}

func countLogins(t *testing.T, d *db.DB) int {
	t.Helper()
	n, err := d.Bun.NewSelect().Model((*login.Login)(nil)).Count(context.Background())
	require.NoError(t, err)
	return int(n)
}

func TestInviteCreatesInvitedLoginWithEmailsAndAudit(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		sup := mustLogin(t, d, b.tenant.ID, login.RoleSuper, "sue@acme.example")

		l, err := b.svc.Invite(ctx, actorOf(b.primary), login.InviteInput{FirstName: " Dana ", LastName: "Tech", Email: " Dana@Acme.Example ", Role: login.RoleTechnician})
		require.NoError(t, err)
		require.Equal(t, login.StatusInvited, l.Status)
		require.Equal(t, "dana@acme.example", l.Email)
		require.Equal(t, "Dana", l.FirstName)

		got, err := b.svc.Get(ctx, b.tenant.ID, l.ID)
		require.NoError(t, err)
		require.Equal(t, login.StatusInvited, got.Status)
		require.Empty(t, got.PasswordHash)

		inv := messagesTo(t, d, "dana@acme.example")
		require.Len(t, inv, 1)
		require.Equal(t, "login_invite", inv[0].Kind)
		e := b.emailOf(t, inv[0])
		require.True(t, strings.HasPrefix(e.ActionURL, "http://latchkey.test/password/"), e.ActionURL)
		require.Contains(t, strings.Join(e.Lines, " "), "Acme IT")
		require.Contains(t, strings.Join(e.Lines, " "), "Pat Primary")

		// The link's token works for this login.
		tl, purpose, err := b.svc.TokenLogin(ctx, strings.TrimPrefix(e.ActionURL, "http://latchkey.test/password/"))
		require.NoError(t, err)
		require.Equal(t, l.ID, tl.ID)
		require.Equal(t, login.TokenInvite, purpose)

		for _, admin := range []string{b.primary.Email, sup.Email} {
			ms := messagesTo(t, d, admin)
			require.Len(t, ms, 1, admin)
			require.Equal(t, "login_change", ms[0].Kind)
		}
		require.Equal(t, []string{"login.invite"}, auditActions(t, d, b.tenant.ID, l.ID))
	})
}

func TestInviteValidation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		a := actorOf(b.primary)
		_, other := mustTenant(t, d, "Other MSP")

		cases := []struct {
			name  string
			in    login.InviteInput
			field string
		}{
			{"taken in this tenant", login.InviteInput{FirstName: "P", LastName: "P", Email: "PAT@acme.example", Role: login.RoleSuper}, "email"},
			{"taken in another tenant", login.InviteInput{FirstName: "P", LastName: "P", Email: other.Email, Role: login.RoleSuper}, "email"},
			{"bad email", login.InviteInput{FirstName: "P", LastName: "P", Email: "not-an-email", Role: login.RoleSuper}, "email"},
			{"no first name", login.InviteInput{LastName: "P", Email: "a@acme.example", Role: login.RoleSuper}, "first_name"},
			{"no last name", login.InviteInput{FirstName: "P", Email: "a@acme.example", Role: login.RoleSuper}, "last_name"},
			{"primary role", login.InviteInput{FirstName: "P", LastName: "P", Email: "a@acme.example", Role: login.RolePrimary}, "role"},
			{"unknown role", login.InviteInput{FirstName: "P", LastName: "P", Email: "a@acme.example", Role: "admin"}, "role"},
			{"no role", login.InviteInput{FirstName: "P", LastName: "P", Email: "a@acme.example"}, "role"},
		}
		before := countLogins(t, d)
		for _, tc := range cases {
			_, err := b.svc.Invite(ctx, a, tc.in)
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err), tc.name)
			require.Contains(t, apperr.FieldsOf(err), tc.field, tc.name)
		}
		_, err := b.svc.Invite(ctx, a, login.InviteInput{FirstName: "P", LastName: "P", Email: "pat@acme.example", Role: login.RoleSuper})
		require.Equal(t, "A login with this email already exists.", apperr.FieldsOf(err)["email"])
		require.Equal(t, before, countLogins(t, d))

		for _, role := range []login.Role{login.RoleTechnician, login.RoleHelpDesk} {
			l := mustLogin(t, d, b.tenant.ID, role, string(role)+"@acme.example")
			_, err := b.svc.Invite(ctx, actorOf(l), login.InviteInput{FirstName: "P", LastName: "P", Email: "x@acme.example", Role: login.RoleTechnician})
			require.Equal(t, apperr.Forbidden, apperr.CodeOf(err), role)
			_, err = b.svc.List(ctx, actorOf(l), login.ListFilter{})
			require.Equal(t, apperr.Forbidden, apperr.CodeOf(err), role)
		}
	})
}

func TestInviteManyIsAllOrNothing(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		a := actorOf(b.primary)
		before := countLogins(t, d)

		bad := []login.InviteInput{
			{FirstName: "Ann", LastName: "One", Email: "ann@acme.example", Role: login.RoleTechnician},
			{FirstName: "Bob", LastName: "Two", Email: "bob@acme.example", Role: login.RoleHelpDesk},
			{FirstName: "Bob", LastName: "Again", Email: "BOB@acme.example", Role: login.RoleHelpDesk},
			{FirstName: "Pat", LastName: "Copy", Email: "pat@acme.example", Role: login.RoleSuper},
			{FirstName: "", LastName: "NoFirst", Email: "nf@acme.example", Role: login.RolePrimary},
		}
		_, err := b.svc.InviteMany(ctx, a, bad)
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
		re := login.RowErrorsOf(err)
		require.NotNil(t, re)
		require.NotContains(t, re.Rows, 0)
		require.Contains(t, re.Rows[1], "email")
		require.Contains(t, re.Rows[2], "email")
		require.Equal(t, "A login with this email already exists.", re.Rows[3]["email"])
		require.Contains(t, re.Rows[4], "first_name")
		require.Contains(t, re.Rows[4], "role")
		require.Equal(t, before, countLogins(t, d), "nothing is created when a row is invalid")
		require.Empty(t, messagesTo(t, d, "ann@acme.example"))

		_, err = b.svc.InviteMany(ctx, a, nil)
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))

		good := []login.InviteInput{bad[0], bad[1], {FirstName: "Cy", LastName: "Three", Email: "cy@acme.example", Role: login.RoleSuper}}
		ls, err := b.svc.InviteMany(ctx, a, good)
		require.NoError(t, err)
		require.Len(t, ls, 3)
		require.Equal(t, before+3, countLogins(t, d))
		for _, l := range ls {
			require.Equal(t, login.StatusInvited, l.Status)
			require.Len(t, messagesTo(t, d, l.Email), 1)
			require.Equal(t, []string{"login.invite"}, auditActions(t, d, b.tenant.ID, l.ID))
		}
		// One summary for the admins, not one email per login.
		require.Len(t, messagesTo(t, d, b.primary.Email), 1)
	})
}

func TestLoginPrimaryCannotBeDeletedDisabledOrDemoted(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		sup := mustLogin(t, d, b.tenant.ID, login.RoleSuper, "sue@acme.example")
		tech := mustLogin(t, d, b.tenant.ID, login.RoleTechnician, "tom@acme.example")
		p, s := actorOf(b.primary), actorOf(sup)
		id := b.primary.ID

		require.Equal(t, apperr.Conflict, apperr.CodeOf(b.svc.Disable(ctx, s, id)))
		require.Equal(t, apperr.Conflict, apperr.CodeOf(b.svc.Delete(ctx, s, id)))
		require.Equal(t, apperr.Conflict, apperr.CodeOf(b.svc.Disable(ctx, p, id)))
		require.Equal(t, apperr.Conflict, apperr.CodeOf(b.svc.Delete(ctx, p, id)))
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(b.svc.Update(ctx, s, id, login.UpdateInput{FirstName: "X", LastName: "Y", Email: b.primary.Email})))
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(b.svc.ResetMFA(ctx, s, id)))
		require.Equal(t, apperr.Conflict, apperr.CodeOf(b.svc.Update(ctx, p, id, login.UpdateInput{FirstName: "Pat", LastName: "Primary", Email: b.primary.Email, Role: login.RoleSuper})))
		// Nobody is promoted to Primary.
		err := b.svc.Update(ctx, p, tech.ID, login.UpdateInput{FirstName: "Tom", LastName: "T", Email: tech.Email, Role: login.RolePrimary})
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
		require.Contains(t, apperr.FieldsOf(err), "role")
		// Nobody changes their own role, disables or deletes themselves.
		require.Equal(t, apperr.Forbidden, apperr.CodeOf(b.svc.Update(ctx, s, sup.ID, login.UpdateInput{FirstName: "Sue", LastName: "S", Email: sup.Email, Role: login.RoleTechnician})))
		require.Equal(t, apperr.Conflict, apperr.CodeOf(b.svc.Disable(ctx, s, sup.ID)))
		require.Equal(t, apperr.Conflict, apperr.CodeOf(b.svc.Delete(ctx, s, sup.ID)))

		got, err := b.svc.Get(ctx, b.tenant.ID, id)
		require.NoError(t, err)
		require.Equal(t, login.RolePrimary, got.Role)
		require.Equal(t, login.StatusActive, got.Status)
		require.Equal(t, "Pat", got.FirstName)

		// The Primary edits its own details.
		require.NoError(t, b.svc.Update(ctx, p, id, login.UpdateInput{FirstName: "Patricia", LastName: "Primary", Email: b.primary.Email}))
		got, err = b.svc.Get(ctx, b.tenant.ID, id)
		require.NoError(t, err)
		require.Equal(t, "Patricia", got.FirstName)
		require.Equal(t, login.RolePrimary, got.Role)
	})
}

func TestLoginRoleChangeAndDisableEndSessions(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		a := actorOf(b.primary)
		tech := mustLogin(t, d, b.tenant.ID, login.RoleTechnician, "tom@acme.example")
		signedIn := time.Now()
		_, err := b.svc.ForSession(ctx, tech.ID, signedIn)
		require.NoError(t, err)

		require.NoError(t, b.svc.Update(ctx, a, tech.ID, login.UpdateInput{FirstName: "Tom", LastName: "Tester", Email: tech.Email, Role: login.RoleHelpDesk}))
		_, err = b.svc.ForSession(ctx, tech.ID, signedIn)
		require.Equal(t, apperr.Unauthorized, apperr.CodeOf(err), "a role change ends the sessions")
		again := time.Now().Add(10 * time.Millisecond)
		l, err := b.svc.ForSession(ctx, tech.ID, again)
		require.NoError(t, err, "a new sign-in works")
		require.Equal(t, login.RoleHelpDesk, l.Role)
		require.Equal(t, []string{"login.update"}, auditActions(t, d, b.tenant.ID, tech.ID))

		// A name-only change keeps the sessions.
		require.NoError(t, b.svc.Update(ctx, a, tech.ID, login.UpdateInput{FirstName: "Thomas", LastName: "Tester", Email: tech.Email}))
		_, err = b.svc.ForSession(ctx, tech.ID, again)
		require.NoError(t, err)

		require.NoError(t, b.svc.Disable(ctx, a, tech.ID))
		_, err = b.svc.ForSession(ctx, tech.ID, time.Now())
		require.Equal(t, apperr.Unauthorized, apperr.CodeOf(err), "disabling ends the sessions")
		require.Equal(t, apperr.Conflict, apperr.CodeOf(b.svc.Disable(ctx, a, tech.ID)))

		require.NoError(t, b.svc.Enable(ctx, a, tech.ID))
		got, err := b.svc.Get(ctx, b.tenant.ID, tech.ID)
		require.NoError(t, err)
		require.Equal(t, login.StatusActive, got.Status)
		_, err = b.svc.ForSession(ctx, tech.ID, time.Now().Add(time.Second))
		require.NoError(t, err)
		require.Equal(t, []string{"login.update", "login.update", "login.disable", "login.enable"}, auditActions(t, d, b.tenant.ID, tech.ID))
		require.Len(t, messagesTo(t, d, b.primary.Email), 4, "every change emails the admins")
	})
}

func TestAnotherTenantsLoginIsNotFound(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		a := actorOf(b.primary)
		otherTenant, otherPrimary := mustTenant(t, d, "Other MSP")
		victim := mustLogin(t, d, otherTenant.ID, login.RoleTechnician, "victim@other.example")
		for _, id := range []string{victim.ID, otherPrimary.ID} {
			require.Equal(t, apperr.NotFound, apperr.CodeOf(b.svc.Update(ctx, a, id, login.UpdateInput{FirstName: "X", LastName: "Y", Email: "x@y.example", Role: login.RoleHelpDesk})))
			require.Equal(t, apperr.NotFound, apperr.CodeOf(b.svc.Disable(ctx, a, id)))
			require.Equal(t, apperr.NotFound, apperr.CodeOf(b.svc.Enable(ctx, a, id)))
			require.Equal(t, apperr.NotFound, apperr.CodeOf(b.svc.Delete(ctx, a, id)))
			require.Equal(t, apperr.NotFound, apperr.CodeOf(b.svc.ResetMFA(ctx, a, id)))
			require.Equal(t, apperr.NotFound, apperr.CodeOf(b.svc.ResendInvite(ctx, a, id)))
		}
		ls, err := b.svc.List(ctx, a, login.ListFilter{})
		require.NoError(t, err)
		for _, l := range ls {
			require.Equal(t, b.tenant.ID, l.TenantID)
		}
		got, err := b.svc.Get(ctx, otherTenant.ID, victim.ID)
		require.NoError(t, err)
		require.Equal(t, login.StatusActive, got.Status)
		require.Equal(t, "victim", got.FirstName)
	})
}

func TestLoginResetMFAClearsAuthenticatorAndLocks(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		tech := mustLogin(t, d, b.tenant.ID, login.RoleTechnician, "tom@acme.example")
		now := time.Now().UTC()
		_, err := d.Bun.NewUpdate().Model((*login.Login)(nil)).Set("totp_secret = ?", []byte("secret")).Set("totp_pending = ?", []byte("pending")).
			Set("totp_enabled_at = ?", now).Set("totp_last_step = 99").Set("totp_failures = 7").Set("totp_locked_until = ?", now.Add(time.Hour)).
			Set("failed_logins = 3").Set("lockouts = 2").Set("locked_until = ?", now.Add(time.Hour)).Where("id = ?", tech.ID).Exec(ctx)
		require.NoError(t, err)

		require.NoError(t, b.svc.ResetMFA(ctx, actorOf(b.primary), tech.ID))
		got, err := b.svc.Get(ctx, b.tenant.ID, tech.ID)
		require.NoError(t, err)
		require.False(t, got.MFAEnabled())
		require.Empty(t, got.TOTPSecret)
		require.Empty(t, got.TOTPPending)
		require.Nil(t, got.TOTPEnabledAt)
		require.Zero(t, got.TOTPLastStep)
		require.Zero(t, got.TOTPFailures)
		require.Nil(t, got.TOTPLockedUntil)
		require.Zero(t, got.FailedLogins)
		require.Zero(t, got.Lockouts)
		require.Nil(t, got.LockedUntil)
		require.Equal(t, []string{"login.mfa_reset"}, auditActions(t, d, b.tenant.ID, tech.ID))
		require.Len(t, messagesTo(t, d, tech.Email), 1, "the login itself is told")
		require.Len(t, messagesTo(t, d, b.primary.Email), 1)
	})
}

func TestDeleteAndResendInvite(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		a := actorOf(b.primary)
		l, err := b.svc.Invite(ctx, a, login.InviteInput{FirstName: "Ivy", LastName: "Invited", Email: "ivy@acme.example", Role: login.RoleHelpDesk})
		require.NoError(t, err)
		first := messagesTo(t, d, l.Email)
		require.Len(t, first, 1)

		require.NoError(t, b.svc.ResendInvite(ctx, a, l.ID))
		ms := messagesTo(t, d, l.Email)
		require.Len(t, ms, 2)
		e1, e2 := b.emailOf(t, ms[0]), b.emailOf(t, ms[1])
		_, _, err = b.svc.TokenLogin(ctx, strings.TrimPrefix(e1.ActionURL, "http://latchkey.test/password/"))
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err), "the first link stops working")
		_, _, err = b.svc.TokenLogin(ctx, strings.TrimPrefix(e2.ActionURL, "http://latchkey.test/password/"))
		require.NoError(t, err)

		require.Equal(t, apperr.Conflict, apperr.CodeOf(b.svc.ResendInvite(ctx, a, b.primary.ID)), "not invited")

		require.NoError(t, b.svc.Delete(ctx, a, l.ID))
		_, err = b.svc.Get(ctx, b.tenant.ID, l.ID)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
		var ev audit.Event
		require.NoError(t, d.Bun.NewSelect().Model(&ev).Where("action = ? AND target_id = ?", "login.delete", l.ID).Scan(ctx))
		require.Equal(t, "ivy@acme.example", ev.Target)
		require.Equal(t, b.primary.ID, ev.ActorID)
	})
}

func TestLoginUpdateEmail(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		a := actorOf(b.primary)
		l, err := b.svc.Invite(ctx, a, login.InviteInput{FirstName: "Ivy", LastName: "Typo", Email: "ivy@acme.exmaple", Role: login.RoleHelpDesk})
		require.NoError(t, err)
		old := b.emailOf(t, messagesTo(t, d, "ivy@acme.exmaple")[0])

		err = b.svc.Update(ctx, a, l.ID, login.UpdateInput{FirstName: "Ivy", LastName: "Typo", Email: b.primary.Email})
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
		require.Contains(t, apperr.FieldsOf(err), "email")

		require.NoError(t, b.svc.Update(ctx, a, l.ID, login.UpdateInput{FirstName: "Ivy", LastName: "Fixed", Email: "ivy@acme.example"}))
		_, _, err = b.svc.TokenLogin(ctx, strings.TrimPrefix(old.ActionURL, "http://latchkey.test/password/"))
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err), "the link sent to the old address stops working")
		ms := messagesTo(t, d, "ivy@acme.example")
		require.Len(t, ms, 1)
		require.Equal(t, "login_invite", ms[0].Kind)
		require.Len(t, messagesTo(t, d, "ivy@acme.exmaple"), 2, "the old address is told")
	})
}

func TestLoginList(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		a := actorOf(b.primary)
		mustLogin(t, d, b.tenant.ID, login.RoleTechnician, "zed@acme.example")
		mustLogin(t, d, b.tenant.ID, login.RoleHelpDesk, "amy@acme.example")
		mustLogin(t, d, b.tenant.ID, login.RoleSuper, "mo_100%@acme.example")
		other, _ := mustTenant(t, d, "Other MSP")
		mustLogin(t, d, other.ID, login.RoleTechnician, "amy@other.example")

		names := func(f login.ListFilter) []string {
			ls, err := b.svc.List(ctx, a, f)
			require.NoError(t, err)
			out := make([]string, len(ls))
			for i, l := range ls {
				out[i] = l.Email
			}
			return out
		}
		require.Equal(t, []string{"amy@acme.example", "mo_100%@acme.example", "pat@acme.example", "zed@acme.example"}, names(login.ListFilter{}))
		require.Equal(t, []string{"amy@acme.example"}, names(login.ListFilter{Query: "AMY"}))
		require.Equal(t, []string{"pat@acme.example"}, names(login.ListFilter{Query: "pat prim"}))
		require.Equal(t, []string{"mo_100%@acme.example"}, names(login.ListFilter{Query: "0%"}))
		require.Empty(t, names(login.ListFilter{Query: "_" + "x"}))
		require.Equal(t, []string{"zed@acme.example"}, names(login.ListFilter{Role: login.RoleTechnician}))
		require.Empty(t, names(login.ListFilter{Status: login.StatusInvited}))
	})
}

// TestForSessionTenantWithoutLogoBytes checks that the tenant a session
// loads with every request comes without its logo's bytes but still says
// it has one.
func TestForSessionTenantWithoutLogoBytes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		b := setup(t, d)
		ctx := context.Background()
		l, err := b.svc.ForSession(ctx, b.primary.ID, time.Now())
		require.NoError(t, err)
		require.False(t, l.Tenant.HasLogo())

		_, err = d.Bun.NewUpdate().Table("tenants").Set("logo = ?", []byte("\x89PNG not really")).Set("logo_type = ?", tenant.LogoType).
			Where("id = ?", b.tenant.ID).Exec(ctx)
		require.NoError(t, err)
		l, err = b.svc.ForSession(ctx, b.primary.ID, time.Now())
		require.NoError(t, err)
		require.Equal(t, b.tenant.ID, l.Tenant.ID)
		require.Nil(t, l.Tenant.Logo, "the logo's bytes are read when the logo is served")
		require.True(t, l.Tenant.HasLogo())
	})
}
