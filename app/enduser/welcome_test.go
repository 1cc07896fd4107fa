package enduser_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

// welcomeJobs returns the args of the queued send_welcome jobs.
func welcomeJobs(t *testing.T, f *fixture) []jobargs.SendWelcome {
	t.Helper()
	var raw []string
	col := "args::text"
	if f.d.Dialect == db.SQLite {
		col = "json(args)" // River's SQLite driver keeps args as JSONB
	}
	require.NoError(t, f.d.Bun.NewSelect().Table("river_job").ColumnExpr(col).Where("kind = ?", "send_welcome").
		Order("id").Scan(context.Background(), &raw))
	out := make([]jobargs.SendWelcome, len(raw))
	for i, r := range raw {
		require.NoError(t, json.Unmarshal([]byte(r), &out[i]))
	}
	return out
}

// welcomeMessages returns the welcome emails written to an address.
func welcomeMessages(t *testing.T, f *fixture, to string) []notify.Email {
	t.Helper()
	var ms []notify.Message
	require.NoError(t, f.d.Bun.NewSelect().Model(&ms).Where("to_addr = ? AND kind = ?", to, enduser.WelcomeKind).
		Order("created_at").Scan(context.Background()))
	out := make([]notify.Email, len(ms))
	for i, m := range ms {
		e, err := m.EmailData(f.keys)
		require.NoError(t, err)
		out[i] = e
	}
	return out
}

func tokenOf(t *testing.T, link string) string {
	t.Helper()
	const prefix = "https://latchkey.example/welcome/"
	require.True(t, strings.HasPrefix(link, prefix), link)
	return strings.TrimPrefix(link, prefix)
}

func TestSendWelcomeOncePerDay(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		ann := f.addUser(t, "ann", func(u *enduser.EndUser) { u.Email = "ann@globex.example" })
		bob := f.addUser(t, "bob", func(u *enduser.EndUser) { u.Email = "bob@globex.example" })
		noEmail := f.addUser(t, "carl", nil)
		gone := f.addUser(t, "dora", func(u *enduser.EndUser) {
			u.Email = "dora@globex.example"
			now := f.clock.Now()
			u.UnlinkedAt = &now
		})

		_, _, err := f.svc.SendWelcome(ctx, f.actor, enduser.Selection{}, f.clock.Now())
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))

		queued, skipped, err := f.svc.SendWelcome(ctx, f.actor, enduser.Selection{IDs: []string{ann.ID, noEmail.ID, gone.ID, "unknown"}}, f.clock.Now())
		require.NoError(t, err)
		require.Equal(t, []int{1, 2}, []int{queued, skipped})

		// Everyone matching the filter, the same day: only bob is new.
		sel := enduser.Selection{All: true, Filter: enduser.Filter{CustomerID: f.cust.ID}}
		queued, skipped, err = f.svc.SendWelcome(ctx, f.actor, sel, f.clock.Now())
		require.NoError(t, err)
		require.Equal(t, []int{1, 3}, []int{queued, skipped})
		queued, _, err = f.svc.SendWelcome(ctx, f.actor, sel, f.clock.Now())
		require.NoError(t, err)
		require.Zero(t, queued, "a second welcome the same day enqueues nothing")
		jobs := welcomeJobs(t, f)
		require.Len(t, jobs, 2)
		require.ElementsMatch(t, []string{ann.ID, bob.ID}, []string{jobs[0].EndUserID, jobs[1].EndUserID})

		ok, err := f.svc.SendWelcomeTo(ctx, f.actor, ann.ID, f.clock.Now())
		require.NoError(t, err)
		require.False(t, ok)
		_, err = f.svc.SendWelcomeTo(ctx, f.actor, noEmail.ID, f.clock.Now())
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))

		// Another tenant's end users are never selected.
		other := tenant.New(f.clock.Now())
		require.NoError(t, tenant.Insert(ctx, d.Bun, other))
		theirs := f.addCustomer(t, other.ID, "Theirs")
		x := f.addUser(t, "xena", func(u *enduser.EndUser) { u.TenantID, u.CustomerID, u.Email = other.ID, theirs.ID, "x@theirs.example" })
		queued, skipped, err = f.svc.SendWelcome(ctx, f.actor, enduser.Selection{IDs: []string{x.ID}}, f.clock.Now())
		require.NoError(t, err)
		require.Equal(t, []int{0, 0}, []int{queued, skipped})
		queued, _, err = f.svc.SendWelcome(ctx, f.actor, enduser.Selection{All: true, Filter: enduser.Filter{CustomerID: theirs.ID}}, f.clock.Now())
		require.NoError(t, err)
		require.Zero(t, queued)
		_, err = f.svc.SendWelcomeTo(ctx, f.actor, x.ID, f.clock.Now())
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
		require.Len(t, welcomeJobs(t, f), 2)
		require.Equal(t, 6, f.count(t, "audit_events", "action = ?", "enduser.welcome"), "every send but the refused ones is audited")
	})
}

func TestDeliverWelcome(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		ann := f.addUser(t, "ann", func(u *enduser.EndUser) {
			u.FirstName, u.Email, u.Mobile, u.MobileSource = "Ann", "ann@globex.example", "+64215550199", enduser.ValueImport
		})
		requested := f.clock.Now()
		require.NoError(t, f.svc.DeliverWelcome(ctx, ann.ID, requested))
		msgs := welcomeMessages(t, f, "ann@globex.example")
		require.Len(t, msgs, 1)
		m := msgs[0]
		require.Equal(t, "Hi Ann,", m.Greeting)
		require.Contains(t, m.Subject, "Acme IT")
		require.Contains(t, strings.Join(m.Lines, " "), "Globex", "the email names the customer")
		require.Contains(t, strings.Join(m.Lines, " "), "reset your password and unlock your account")
		tok := tokenOf(t, m.ActionURL)
		require.GreaterOrEqual(t, len(tok), 22, "at least 128 bits")

		// Only the hash is stored, with a 7-day expiry.
		var rows []struct {
			TokenHash string    `bun:"token_hash"`
			ExpiresAt time.Time `bun:"expires_at"`
			UsedAt    *time.Time
		}
		require.NoError(t, d.Bun.NewSelect().Table("enrolment_tokens").Column("token_hash", "expires_at", "used_at").Scan(ctx, &rows))
		require.Len(t, rows, 1)
		require.Equal(t, credential.HashToken(tok), rows[0].TokenHash)
		require.NotContains(t, rows[0].TokenHash, tok)
		require.WithinDuration(t, f.clock.Now().Add(7*24*time.Hour), rows[0].ExpiresAt, time.Second)
		require.NotNil(t, f.user(t, "ann").WelcomeSentAt)

		// A retry of the same request sends nothing more.
		require.NoError(t, f.svc.DeliverWelcome(ctx, ann.ID, requested))
		require.Len(t, welcomeMessages(t, f, "ann@globex.example"), 1)

		// The link shows the page without using the token up.
		p, err := f.svc.Welcome(ctx, tok)
		require.NoError(t, err)
		require.Equal(t, ann.ID, p.EndUser.ID)
		require.Equal(t, "Acme IT", p.Tenant.Name)
		require.Equal(t, "Globex", p.Customer.Name)

		// A later welcome supersedes the first link.
		f.clock.Advance(25 * time.Hour)
		require.NoError(t, f.svc.DeliverWelcome(ctx, ann.ID, f.clock.Now()))
		msgs = welcomeMessages(t, f, "ann@globex.example")
		require.Len(t, msgs, 2)
		_, err = f.svc.Welcome(ctx, tok)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err), "superseded")
		tok2 := tokenOf(t, msgs[1].ActionURL)
		_, err = f.svc.Welcome(ctx, tok2)
		require.NoError(t, err)
		f.clock.Advance(enduser.EnrolmentLifetime)
		_, err = f.svc.Welcome(ctx, tok2)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err), "expired")
		_, err = f.svc.Welcome(ctx, "not-a-token")
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))

		// Gone or without email: nothing, no error.
		require.NoError(t, f.svc.DeliverWelcome(ctx, "missing", f.clock.Now()))
		carl := f.addUser(t, "carl", nil)
		require.NoError(t, f.svc.DeliverWelcome(ctx, carl.ID, f.clock.Now()))
		require.Equal(t, 2, f.count(t, "enrolment_tokens", ""))
		require.Equal(t, 2, f.count(t, "audit_events", "action = ?", "enduser.welcome_sent"))
	})
}

func TestWelcomeConfirmMobile(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		ann := f.addUser(t, "ann", func(u *enduser.EndUser) {
			u.FirstName, u.Email, u.Mobile, u.MobileSource = "Ann", "ann@globex.example", "+64215550199", enduser.ValueImport
		})
		require.NoError(t, f.svc.DeliverWelcome(ctx, ann.ID, f.clock.Now()))
		tok := tokenOf(t, welcomeMessages(t, f, "ann@globex.example")[0].ActionURL)

		p, err := f.svc.ConfirmMobile(ctx, tok, true, "", "", "198.51.100.7")
		require.NoError(t, err)
		require.Equal(t, "+64215550199", p.EndUser.Mobile)
		u := f.user(t, "ann")
		require.Equal(t, enduser.ValueEndUser, u.MobileSource)
		require.NotNil(t, u.MobileConfirmedAt)
		require.Equal(t, 1, f.count(t, "audit_events", "action = ? AND target_id = ? AND ip = ?", "enduser.mobile_confirm", ann.ID, "198.51.100.7"))

		// The link proves control of the email only: it cannot replace the
		// number on record (an identity factor).
		_, err = f.svc.ConfirmMobile(ctx, tok, false, "+64", "021 555 0123", "")
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
		require.Equal(t, "+64215550199", f.user(t, "ann").Mobile)

		// Without a number on record, the end user supplies one.
		bob := f.addUser(t, "bob", func(u *enduser.EndUser) { u.FirstName, u.Email = "Bob", "bob@globex.example" })
		require.NoError(t, f.svc.DeliverWelcome(ctx, bob.ID, f.clock.Now()))
		btok := tokenOf(t, welcomeMessages(t, f, "bob@globex.example")[0].ActionURL)
		_, err = f.svc.ConfirmMobile(ctx, btok, false, "+64", "021 555", "")
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
		require.Contains(t, apperr.FieldsOf(err), "mobile")
		p, err = f.svc.ConfirmMobile(ctx, btok, false, "+64", "021 555 0123", "")
		require.NoError(t, err)
		require.Equal(t, "+64215550123", p.EndUser.Mobile)
		require.Equal(t, "+64215550123", f.user(t, "bob").Mobile)
		require.Equal(t, 1, f.count(t, "audit_events", "action = ?", "enduser.mobile_change"))
		require.Equal(t, 0, f.count(t, "enrolment_tokens", "used_at IS NOT NULL"), "the token stays for the enrolment")

		_, err = f.svc.ConfirmMobile(ctx, "bogus", true, "", "", "")
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
	})
}

func TestMaskMobile(t *testing.T) {
	t.Parallel()
	require.Equal(t, "+64 ••• ••• 199", enduser.MaskMobile("+64215550199"))
	require.Equal(t, "+1 ••• ••• 100", enduser.MaskMobile("+14155550100"))
	require.Equal(t, "+••• ••• 456", enduser.MaskMobile("+99912345456"))
	require.Equal(t, "", enduser.MaskMobile(""))
}

func TestWelcomeNotSentWhileTenantSelfServeIsOff(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		ann := f.addUser(t, "ann", func(u *enduser.EndUser) { u.FirstName, u.Email = "Ann", "ann@globex.example" })
		// Queued while on, then the MSP turns self-serve off before delivery: nothing is sent.
		_, err := f.svc.SendWelcomeTo(ctx, f.actor, ann.ID, f.clock.Now())
		require.NoError(t, err)
		_, err = d.Bun.NewUpdate().Table("tenants").Set("self_serve_enabled = ?", false).Where("id = ?", f.actor.TenantID).Exec(ctx)
		require.NoError(t, err)
		require.NoError(t, f.svc.DeliverWelcome(ctx, ann.ID, f.clock.Now()))
		require.Equal(t, 0, f.count(t, "messages", "kind = ?", enduser.WelcomeKind))
		// And nothing can be queued while it is off.
		_, err = f.svc.SendWelcomeTo(ctx, f.actor, ann.ID, f.clock.Now())
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
		_, _, err = f.svc.SendWelcome(ctx, f.actor, enduser.Selection{IDs: []string{ann.ID}}, f.clock.Now())
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
	})
}
