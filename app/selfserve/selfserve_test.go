package selfserve_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/config"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/device"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/selfserve"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/verify"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/app/webpush/pushtest"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// eachDialect runs fn on SQLite and PostgreSQL (the whole application on
// each: the service needs the agents, queues and verification service).
func eachDialect(t *testing.T, fn func(t *testing.T, dia db.Dialect)) {
	t.Helper()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			fn(t, dia)
		})
	}
}

// fixture is a tenant with a customer Globex, the service, and helpers.
type fixture struct {
	t   *testing.T
	env *apptest.Env
	f   *apptest.Fixture
	cu  *customer.Customer
	svc *selfserve.Service
}

func setup(t *testing.T, dia db.Dialect) *fixture {
	t.Helper()
	env := apptest.New(t, dia)
	f := env.Setup("Acme IT")
	return &fixture{t: t, env: env, f: f, cu: customerOf(t, env, f.Tenant.ID, "Globex"), svc: env.App.Web.SelfServe}
}

func customerOf(t *testing.T, env *apptest.Env, tenantID, name string) *customer.Customer {
	t.Helper()
	now := time.Now().UTC()
	c := &customer.Customer{ID: db.NewID(), TenantID: tenantID, Name: name, Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
	_, err := env.App.DB.Bun.NewInsert().Model(c).Exec(context.Background())
	require.NoError(t, err)
	return c
}

// user stores an end user that may use self-serve, changed by edit.
func (x *fixture) user(customerID, username string, edit func(*enduser.EndUser), extra ...any) *enduser.EndUser {
	x.t.Helper()
	now := time.Now().UTC()
	u := &enduser.EndUser{ID: db.NewID(), TenantID: x.f.Tenant.ID, CustomerID: customerID, Username: username, FirstName: strings.ToUpper(username[:1]) + username[1:],
		LastName: "Smith", Email: username + "@globex.example", Mobile: "+64215550199", Source: enduser.SourceAD, ExternalID: db.NewID(),
		SelfServeEnabled: true, CreatedAt: now, UpdatedAt: now}
	if edit != nil {
		edit(u)
	}
	_, err := x.env.App.DB.Bun.NewInsert().Model(u).Exec(context.Background())
	require.NoError(x.t, err)
	for i := 0; i+1 < len(extra); i += 2 { // column, value (dn, upn, disabled…)
		_, err := x.env.App.DB.Bun.NewUpdate().Table("end_users").Set(extra[i].(string)+" = ?", extra[i+1]).Where("id = ?", u.ID).Exec(context.Background())
		require.NoError(x.t, err)
	}
	return u
}

var six = regexp.MustCompile(`\b\d{6}\b`)

// emailCode returns the newest self-serve code emailed to `to`.
func (x *fixture) emailCode(to string) string {
	x.t.Helper()
	var ms []notify.Message
	require.NoError(x.t, x.env.App.DB.Bun.NewSelect().Model(&ms).Where("to_addr = ? AND kind = 'selfserve_code'", to).
		Order("created_at DESC").Limit(1).Scan(context.Background()))
	require.NotEmpty(x.t, ms, "a code to %s", to)
	e, err := ms[0].EmailData(x.env.App.Keys)
	require.NoError(x.t, err)
	return six.FindString(strings.Join(e.Lines, " "))
}

func (x *fixture) audits(action, result string) int {
	x.t.Helper()
	n, err := x.env.App.DB.Bun.NewSelect().Model((*audit.Event)(nil)).Where("action = ? AND result = ?", action, result).Count(context.Background())
	require.NoError(x.t, err)
	return int(n)
}

func TestStartMatchesOneEligibleAccount(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dia db.Dialect) {
		x := setup(t, dia)
		ctx := context.Background()
		initech := customerOf(t, x.env, x.f.Tenant.ID, "Initech")
		ann := x.user(x.cu.ID, "ann", nil, "upn", "ann.smith@globex.local")
		x.user(x.cu.ID, "bob", nil)
		x.user(initech.ID, "bob", func(u *enduser.EndUser) { u.Email = "bob@initech.example" })
		x.user(x.cu.ID, "root", func(u *enduser.EndUser) { u.Privileged = true })
		x.user(x.cu.ID, "dis", nil, "disabled", true)
		x.user(x.cu.ID, "csv", func(u *enduser.EndUser) { u.Source = enduser.SourceCSV })
		x.user(x.cu.ID, "nomob", func(u *enduser.EndUser) { u.Mobile = "" })
		x.user(x.cu.ID, "gone", func(u *enduser.EndUser) { now := time.Now(); u.UnlinkedAt = &now })
		other := x.env.Setup("Other MSP")
		xo := &fixture{t: t, env: x.env, f: other}
		xo.user(customerOf(t, x.env, other.Tenant.ID, "Theirs").ID, "xena", nil)

		for typed, want := range map[string]string{
			"ann": ann.ID, "ANN": ann.ID, `GLOBEX\ann`: ann.ID, " ann@globex.example ": ann.ID, "Ann.Smith@Globex.local": ann.ID,
			"bob":  "", // two accounts: neither
			"root": "", "dis": "", "csv": "", "nomob": "", "gone": "", "nobody": "", "xena": "",
		} {
			f, err := x.svc.Start(ctx, x.f.Tenant.ID, selfserve.PurposeReset, typed, "192.0.2.9")
			require.NoError(t, err, typed)
			require.Equal(t, want, f.EndUserID, typed)
			require.False(t, f.Proven())
		}
		require.Equal(t, 5, x.audits("selfserve.start", audit.ResultOK))
		require.Equal(t, 8, x.audits("selfserve.start", audit.ResultDenied))
		var detail string
		require.NoError(t, x.env.App.DB.Bun.NewSelect().Table("audit_events").Column("detail").
			Where("action = 'selfserve.start' AND target = 'root'").Scan(ctx, &detail))
		require.Contains(t, detail, "privileged account", "the MSP sees why")

		// A CSV account may not reset (no directory), but may enrol.
		csvFlow, err := x.svc.Start(ctx, x.f.Tenant.ID, selfserve.PurposeUnlock, "csv", "")
		require.NoError(t, err)
		require.Empty(t, csvFlow.EndUserID)

		_, err = x.svc.Start(ctx, x.f.Tenant.ID, selfserve.PurposeReset, "", "")
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
		_, err = x.svc.Start(ctx, x.f.Tenant.ID, "nonsense", "ann", "")
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
		_, err = x.env.App.DB.Bun.NewUpdate().Table("tenants").Set("self_serve_enabled = FALSE").Where("id = ?", x.f.Tenant.ID).Exec(ctx)
		require.NoError(t, err)
		_, err = x.svc.Start(ctx, x.f.Tenant.ID, selfserve.PurposeReset, "ann", "")
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
	})
}

func TestDecoyFlowSendsNothingAndTakesNoCode(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dia db.Dialect) {
		x := setup(t, dia)
		ctx := context.Background()
		root := x.user(x.cu.ID, "root", func(u *enduser.EndUser) { u.Privileged = true })
		for _, typed := range []string{"root", "nobody"} {
			f, err := x.svc.Start(ctx, x.f.Tenant.ID, selfserve.PurposeReset, typed, "")
			require.NoError(t, err)
			for _, ch := range []string{selfserve.ChannelEmail, selfserve.ChannelSMS, selfserve.ChannelTOTP, selfserve.ChannelPush} {
				f2, p, err := x.svc.SendProof(ctx, f, ch, "")
				require.NoError(t, err, ch)
				require.Equal(t, ch, p.Channel)
				if ch == selfserve.ChannelPush {
					_, state, err := x.svc.PushStatus(ctx, f2, "")
					require.NoError(t, err)
					require.Equal(t, selfserve.PushWaiting, state)
					continue
				}
				for _, code := range []string{"000000", "123456", "999999"} {
					_, err = x.svc.Prove(ctx, f2, code, "")
					require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "%s %s", typed, ch)
				}
			}
		}
		n, err := x.env.App.DB.Bun.NewSelect().Table("messages").Where("to_addr IN (?)", []string{root.Email, root.Mobile}).Count(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "nothing is sent to a privileged account")
	})
}

func TestProofLocksAndFlowExpires(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dia db.Dialect) {
		x := setup(t, dia)
		ctx := context.Background()
		ann := x.user(x.cu.ID, "ann", nil)
		f, err := x.svc.Start(ctx, x.f.Tenant.ID, selfserve.PurposeUnlock, "ann", "")
		require.NoError(t, err)
		f, _, err = x.svc.SendProof(ctx, f, selfserve.ChannelEmail, "")
		require.NoError(t, err)
		code := x.emailCode(ann.Email)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		// What is not six digits is a slip, not a try: it says so, and
		// the five tries remain.
		for _, typed := range []string{"12345", "1234567", "12a456", "", "12 34 5"} {
			_, err = x.svc.Prove(ctx, f, typed, "")
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err), typed)
			require.Contains(t, apperr.FieldsOf(err)["code"], "Enter the 6-digit code", typed)
		}
		for i := 1; i < selfserve.WrongPerProof; i++ {
			_, err = x.svc.Prove(ctx, f, wrong, "")
			want := fmt.Sprintf("%d tries left", selfserve.WrongPerProof-i)
			if selfserve.WrongPerProof-i == 1 {
				want = "1 try left"
			}
			require.Contains(t, apperr.FieldsOf(err)["code"], want)
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
			require.Contains(t, apperr.FieldsOf(err)["code"], "left")
		}
		_, err = x.svc.Prove(ctx, f, wrong, "")
		require.Equal(t, apperr.RateLimited, apperr.CodeOf(err))
		_, err = x.svc.Prove(ctx, f, code, "")
		require.Equal(t, apperr.RateLimited, apperr.CodeOf(err), "locked: even the right code")

		// A new code; it expires with the tenant's code lifetime.
		f, _, err = x.svc.SendProof(ctx, f, selfserve.ChannelEmail, "")
		require.NoError(t, err)
		code = x.emailCode(ann.Email)
		x.env.Clock.Set(time.Now().Add(x.svc.CodeLifetime(ctx, x.f.Tenant.ID) + time.Second))
		_, err = x.svc.Prove(ctx, f, code, "")
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
		require.Contains(t, apperr.FieldsOf(err)["code"], "expired")
		x.env.Clock.Set(time.Now())
		proven, err := x.svc.Prove(ctx, f, code, "")
		require.NoError(t, err)
		require.True(t, proven.Proven())
		_, err = x.svc.Prove(ctx, f, code, "")
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err), "single use")

		// After the proof: 10 minutes to act.
		x.env.Clock.Set(time.Now().Add(selfserve.StepLifetime + time.Second))
		_, _, err = x.svc.Unlock(ctx, proven, "")
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
		_, err = x.svc.FlowRules(ctx, proven)
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
	})
}

// TestDoubleTapSendsOneCode: a code asked for twice at once by one flow
// (a double tap on a method) is sent once, and counts once; the flow gets
// the same proof both times, without a longer life. Later, or after a
// wrong try, a new code goes out.
func TestDoubleTapSendsOneCode(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dia db.Dialect) {
		x := setup(t, dia)
		ctx := context.Background()
		ann := x.user(x.cu.ID, "ann", nil)
		proofs := func() int {
			n, err := x.env.App.DB.Bun.NewSelect().Table("selfserve_proofs").Count(ctx)
			require.NoError(t, err)
			return int(n)
		}
		emails := func() int {
			n, err := x.env.App.DB.Bun.NewSelect().Table("messages").Where("to_addr = ? AND kind = 'selfserve_code'", ann.Email).Count(ctx)
			require.NoError(t, err)
			return int(n)
		}
		for _, typed := range []string{"ann", "nobody"} {
			before := proofs()
			f, err := x.svc.Start(ctx, x.f.Tenant.ID, selfserve.PurposeReset, typed, "")
			require.NoError(t, err)
			type sent struct {
				f   *selfserve.Flow
				p   *selfserve.Proof
				err error
			}
			ch := make(chan sent, 2)
			for range 2 {
				go func() {
					f2, p, err := x.svc.SendProof(ctx, f, selfserve.ChannelEmail, "")
					ch <- sent{f2, p, err}
				}()
			}
			a, b := <-ch, <-ch
			require.NoError(t, a.err)
			require.NoError(t, b.err)
			require.Equal(t, a.p.ID, b.p.ID, "%s: one proof for both taps", typed)
			require.WithinDuration(t, a.p.ExpiresAt, b.p.ExpiresAt, time.Millisecond, "the code's life is not extended (as stored)")
			require.Equal(t, before+1, proofs(), "%s: one send counted", typed)
			if typed == "ann" {
				require.Equal(t, 1, emails(), "one code sent")
				// The code works in whichever flow the session kept.
				_, err := x.svc.Prove(ctx, b.f, x.emailCode(ann.Email), "")
				require.NoError(t, err)
			}

			// A tap after the window, or after a wrong try, sends anew.
			x.env.Clock.Set(time.Now().Add(selfserve.DuplicateWindow + time.Second))
			f3, p3, err := x.svc.SendProof(ctx, f, selfserve.ChannelEmail, "")
			require.NoError(t, err)
			require.NotEqual(t, a.p.ID, p3.ID)
			_, err = x.svc.Prove(ctx, f3, "000001", "")
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
			_, p4, err := x.svc.SendProof(ctx, f3, selfserve.ChannelEmail, "")
			require.NoError(t, err)
			require.NotEqual(t, p3.ID, p4.ID, "a code tried wrong is replaced at once")
			require.Equal(t, before+3, proofs())
			x.env.Clock.Set(time.Now())
		}
		require.Equal(t, 3, emails())

		// Enrolment: the welcome link opened by both taps, and a double
		// tap on "text me a code" for the mobile number, send one code each.
		x.env.Clock.Set(time.Now().Add(time.Minute)) // after the codes above
		require.NoError(t, x.env.App.Web.Onboarding.DeliverWelcome(ctx, ann.ID, time.Time{}))
		var msg notify.Message
		require.NoError(t, x.env.App.DB.Bun.NewSelect().Model(&msg).Where("kind = ?", enduser.WelcomeKind).Limit(1).Scan(ctx))
		e, err := msg.EmailData(x.env.App.Keys)
		require.NoError(t, err)
		tok := regexp.MustCompile(`/welcome/([A-Za-z0-9_-]+)`).FindStringSubmatch(e.ActionURL)[1]
		en1, err := x.svc.StartEnrolment(ctx, tok)
		require.NoError(t, err)
		en2, err := x.svc.StartEnrolment(ctx, tok)
		require.NoError(t, err)
		_, p1, err := x.svc.SendProof(ctx, en1.Flow, selfserve.ChannelEmail, "")
		require.NoError(t, err)
		f2, p2, err := x.svc.SendProof(ctx, en2.Flow, selfserve.ChannelEmail, "")
		require.NoError(t, err)
		require.Equal(t, p1.ID, p2.ID)
		f2, err = x.svc.Prove(ctx, f2, x.emailCode(ann.Email), "")
		require.NoError(t, err)
		_, m1, err := x.svc.SendMobileCode(ctx, f2, true, "", "", "")
		require.NoError(t, err)
		_, m2, err := x.svc.SendMobileCode(ctx, f2, true, "", "", "")
		require.NoError(t, err)
		require.Equal(t, m1.ID, m2.ID)
		f2.ProofID = m1.ID
		_, err = x.svc.ProveMobile(ctx, f2, "12345", "")
		require.Contains(t, apperr.FieldsOf(err)["code"], "Enter the 6-digit code", "not a try")
		var tries int
		require.NoError(t, x.env.App.DB.Bun.NewSelect().Table("selfserve_proofs").Column("wrong_tries").Where("id = ?", m1.ID).Scan(ctx, &tries))
		require.Zero(t, tries)
	})
}

// TestCodeEmail: the code is in the body only (subjects show on lock
// screens), and the words name the MSP once, plainly.
func TestCodeEmail(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dia db.Dialect) {
		x := setup(t, dia)
		ctx := context.Background()
		ann := x.user(x.cu.ID, "ann", nil)
		f, err := x.svc.Start(ctx, x.f.Tenant.ID, selfserve.PurposeReset, "ann", "")
		require.NoError(t, err)
		_, _, err = x.svc.SendProof(ctx, f, selfserve.ChannelEmail, "")
		require.NoError(t, err)
		code := x.emailCode(ann.Email)
		var m notify.Message
		require.NoError(t, x.env.App.DB.Bun.NewSelect().Model(&m).Where("to_addr = ? AND kind = 'selfserve_code'", ann.Email).Scan(ctx))
		e, err := m.EmailData(x.env.App.Keys)
		require.NoError(t, err)
		require.Equal(t, "Acme IT: your code to reset your password", e.Subject)
		require.NotContains(t, e.Subject+e.Preheader, code)
		require.Contains(t, e.Lines[0], "Someone (hopefully you) asked Acme IT for a code to reset your password.")
		require.Equal(t, code, e.Lines[1])
	})
}

// TestSendsPerHour: a sixth code in an hour blocks the subject's self-serve
// for a day, the same for an account that does not exist.
func TestSendsPerHour(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dia db.Dialect) {
		x := setup(t, dia)
		ctx := context.Background()
		x.user(x.cu.ID, "ann", nil)
		for _, typed := range []string{"ann", "nobody"} {
			f, err := x.svc.Start(ctx, x.f.Tenant.ID, selfserve.PurposeReset, typed, "")
			require.NoError(t, err)
			for i := 0; i < selfserve.SendsPerHour; i++ {
				x.env.Clock.Set(time.Now().Add(time.Duration(i) * time.Minute)) // not a double tap
				_, _, err := x.svc.SendProof(ctx, f, selfserve.ChannelEmail, "")
				require.NoError(t, err, "%s %d", typed, i)
			}
			x.env.Clock.Set(time.Now().Add(selfserve.SendsPerHour * time.Minute))
			_, _, err = x.svc.SendProof(ctx, f, selfserve.ChannelEmail, "")
			require.Equal(t, apperr.RateLimited, apperr.CodeOf(err), typed)
			_, err = x.svc.Start(ctx, x.f.Tenant.ID, selfserve.PurposeReset, typed, "")
			require.Equal(t, apperr.RateLimited, apperr.CodeOf(err), "blocked: %s", typed)
		}
		require.Equal(t, 2, x.audits("selfserve.blocked", audit.ResultDenied))
		// A day later, open again; two days later, the old proofs and
		// counters are gone.
		x.env.Clock.Set(time.Now().Add(selfserve.BlockFor + time.Hour))
		_, err := x.svc.Start(ctx, x.f.Tenant.ID, selfserve.PurposeReset, "ann", "")
		require.NoError(t, err)
		x.env.Clock.Set(time.Now().Add(selfserve.BlockFor + 50*time.Hour))
		_, err = x.svc.Start(ctx, x.f.Tenant.ID, selfserve.PurposeReset, "ann", "")
		require.NoError(t, err)
		for table, want := range map[string]int{"selfserve_proofs": 0, "selfserve_events": 1, "selfserve_blocks": 0} {
			n, err := x.env.App.DB.Bun.NewSelect().Table(table).Count(ctx)
			require.NoError(t, err)
			require.EqualValues(t, want, n, table)
		}
	})
}

// TestEnrolment: the link's flow, proven by email, uses the link up; the
// mobile on record is proven by SMS; an authenticator app is added and,
// later, replaced (the old one works until the new one is confirmed).
func TestEnrolment(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dia db.Dialect) {
		x := setup(t, dia)
		ctx := context.Background()
		ann := x.user(x.cu.ID, "ann", nil)
		token := func() string {
			require.NoError(t, x.env.App.Web.Onboarding.DeliverWelcome(ctx, ann.ID, time.Time{}))
			var msg notify.Message
			require.NoError(t, x.env.App.DB.Bun.NewSelect().Model(&msg).Where("kind = ?", enduser.WelcomeKind).
				OrderExpr("created_at DESC").Limit(1).Scan(ctx))
			e, err := msg.EmailData(x.env.App.Keys)
			require.NoError(t, err)
			m := regexp.MustCompile(`/welcome/([A-Za-z0-9_-]+)`).FindStringSubmatch(e.ActionURL)
			require.NotNil(t, m)
			return m[1]
		}
		tok := token()
		e, err := x.svc.StartEnrolment(ctx, tok)
		require.NoError(t, err)
		require.True(t, e.Active)
		require.False(t, e.MobileConfirmed())
		ms, err := x.svc.Methods(ctx, e.Flow)
		require.NoError(t, err)
		require.Len(t, ms, 2)
		require.Equal(t, "+64 ••• ••• 199", ms[0].Destination)
		f, p, err := x.svc.SendProof(ctx, e.Flow, selfserve.ChannelEmail, "")
		require.NoError(t, err)
		require.NotEmpty(t, p.Destination)
		f, err = x.svc.Prove(ctx, f, x.emailCode(ann.Email), "")
		require.NoError(t, err)
		_, err = x.svc.StartEnrolment(ctx, tok)
		require.Equal(t, apperr.NotFound, apperr.CodeOf(err), "the link works once")

		// The mobile number: replacing it from the link is refused.
		_, _, err = x.svc.SendMobileCode(ctx, f, false, "+64", "021 555 0123", "")
		require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
		f, _, err = x.svc.SendMobileCode(ctx, f, true, "", "", "")
		require.NoError(t, err)
		var smsText string
		apptest.WaitFor(t, 15*time.Second, func() bool {
			var m notify.Message
			if err := x.env.App.DB.Bun.NewSelect().Model(&m).
				Where("to_addr = ? AND status = ?", ann.Mobile, notify.StatusOutbox).Limit(1).Scan(ctx); err != nil {
				return false
			}
			text, err := sms.Text(x.env.App.Keys, &m) // stored encrypted
			require.NoError(t, err)
			smsText = text
			return six.MatchString(smsText)
		}, "the SMS in the outbox")
		f, err = x.svc.ProveMobile(ctx, f, six.FindString(smsText), "")
		require.NoError(t, err)
		e, err = x.svc.EnrolmentOf(ctx, f)
		require.NoError(t, err)
		require.True(t, e.MobileConfirmed())

		// The authenticator app.
		a, err := x.svc.StartAuthenticator(ctx, f)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(a.URL, "otpauth://totp/Acme%20IT:ann@globex.example?"), a.URL)
		again, err := x.svc.StartAuthenticator(ctx, f)
		require.NoError(t, err)
		require.Equal(t, a.Secret, again.Secret, "the same secret until confirmed")
		require.Equal(t, apperr.Invalid, apperr.CodeOf(x.svc.ConfirmAuthenticator(ctx, f, "000000", "")))
		require.Contains(t, apperr.FieldsOf(x.svc.ConfirmAuthenticator(ctx, f, "12345", ""))["code"], "Enter the 6-digit code shown in your authenticator app",
			"a code of the wrong shape says what a code looks like")
		code, err := totp.GenerateCode(a.Secret, time.Now())
		require.NoError(t, err)
		require.NoError(t, x.svc.ConfirmAuthenticator(ctx, f, code, ""))
		has, err := x.svc.HasAuthenticator(ctx, f)
		require.NoError(t, err)
		require.True(t, has)

		// Enrolling again (a new link) replaces the app only once confirmed.
		e2, err := x.svc.StartEnrolment(ctx, token())
		require.NoError(t, err)
		f2, _, err := x.svc.SendProof(ctx, e2.Flow, selfserve.ChannelEmail, "")
		require.NoError(t, err)
		f2, err = x.svc.Prove(ctx, f2, x.emailCode(ann.Email), "")
		require.NoError(t, err)
		b, err := x.svc.StartAuthenticator(ctx, f2)
		require.NoError(t, err)
		require.True(t, b.Confirmed)
		require.NotEqual(t, a.Secret, b.Secret)
		reset := func(secret string, at time.Time) error {
			rf, err := x.svc.Start(ctx, x.f.Tenant.ID, selfserve.PurposeReset, "ann", "")
			require.NoError(t, err)
			rf, _, err = x.svc.SendProof(ctx, rf, selfserve.ChannelTOTP, "")
			require.NoError(t, err)
			c, err := totp.GenerateCode(secret, at)
			require.NoError(t, err)
			_, err = x.svc.Prove(ctx, rf, c, "")
			return err
		}
		require.NoError(t, reset(a.Secret, time.Now().Add(30*time.Second)), "the old app still works")
		code, err = totp.GenerateCode(b.Secret, time.Now())
		require.NoError(t, err)
		require.NoError(t, x.svc.ConfirmAuthenticator(ctx, f2, code, ""))
		require.Equal(t, apperr.Invalid, apperr.CodeOf(reset(a.Secret, time.Now().Add(30*time.Second))), "replaced")
		require.NoError(t, reset(b.Secret, time.Now().Add(30*time.Second)))
	})
}

func TestRules(t *testing.T) {
	t.Parallel()
	p, known := selfserve.PolicyOf("")
	require.False(t, known)
	require.Equal(t, selfserve.DefaultPolicy, p)
	p, known = selfserve.PolicyOf(`{"source":"Staff PSO","min_length":12,"complexity":true,"history_length":3}`)
	require.True(t, known)
	require.Equal(t, 12, p.MinLength)
	r := &selfserve.Rules{Policy: p, Username: "u4711", DisplayName: "Ann Smith"}
	rules := func(v selfserve.Violations) []string {
		var out []string
		for _, x := range v {
			out = append(out, x.Rule)
		}
		return out
	}
	require.Empty(t, r.Check(""))
	require.Equal(t, []string{"length", "complexity"}, rules(r.Check("abc")))
	require.Equal(t, []string{"username"}, rules(r.Check("Hello-U4711-2026")))
	require.Equal(t, []string{"displayname"}, rules(r.Check("Smithereens-2026!")))
	require.Equal(t, []string{"common"}, rules(r.Check("Password123456")))
	require.Empty(t, rules(r.Blocking(r.Check("Password123456"))), "the technician is warned only")
	r.Blocklist = true
	require.Equal(t, []string{"common"}, rules(r.Blocking(r.Check("Password123456"))))
	require.Equal(t, []string{"control"}, rules(r.Check("Maple-Orbit-\tSandy7")))
	require.Contains(t, r.Hints(), "At least 12 characters")
	require.Contains(t, r.Hints(), "Can't reuse your last 3 passwords")
	req := r.Requirements()
	require.Equal(t, 12, req.MinLength)
	require.ElementsMatch(t, []string{"u4711", "Ann", "Smith"}, req.Avoid)
}

// TestPushStatusTwoTabs: two requests of one visit ask about an approved
// push with the flow as it was before the approval (two tabs polling at
// once): the second must not answer with the unproven flow, which the page
// would save over the proven one.
func TestPushStatusTwoTabs(t *testing.T) {
	t.Parallel()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			env := apptest.New(t, dia, apptest.Options{Configure: func(c *config.Config) { c.PushAnyEndpoint = true }})
			x := &fixture{t: t, env: env, f: env.Setup("Acme IT"), svc: env.App.Web.SelfServe}
			x.cu = customerOf(t, env, x.f.Tenant.ID, "Globex")
			ctx := context.Background()
			ann := x.user(x.cu.ID, "ann", nil)
			push := pushtest.New(t)
			pub, err := env.App.Web.Push.PublicKey(ctx)
			require.NoError(t, err)
			ps := push.Subscribe(t, pub)
			var d *device.Device
			require.NoError(t, env.App.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
				_, d, err = env.App.Web.Devices.Enrol(ctx, tx, x.f.Tenant.ID, ann.ID, "iPhone",
					&webpush.SubscriptionInput{Endpoint: ps.Endpoint, P256dh: ps.P256dh, Auth: ps.Auth, UserAgent: "Mozilla/5.0 (iPhone)"})
				return err
			}))
			f, err := x.svc.Start(ctx, x.f.Tenant.ID, selfserve.PurposeReset, "ann", "")
			require.NoError(t, err)
			f, _, err = x.svc.SendProof(ctx, f, selfserve.ChannelPush, "")
			require.NoError(t, err)
			var vid string
			require.NoError(t, env.App.DB.Bun.NewSelect().Table("selfserve_proofs").Column("verification_id").Where("id = ?", f.ProofID).Scan(ctx, &vid))
			require.NotEmpty(t, vid)
			_, err = env.App.Web.Verify.Respond(ctx, d, vid, verify.Answer{Approve: true})
			require.NoError(t, err)

			a, state, err := x.svc.PushStatus(ctx, f, "")
			require.NoError(t, err)
			require.Equal(t, selfserve.PushApproved, state)
			require.True(t, a.Proven())
			b, state, err := x.svc.PushStatus(ctx, f, "") // the other tab, same stale flow
			require.NoError(t, err)
			require.Equal(t, selfserve.PushApproved, state)
			require.True(t, b.Proven(), "the other tab's answer is proven too, not the stale flow")
			require.Equal(t, 1, x.audits("selfserve.proof", audit.ResultOK), "proven once")
		})
	}
}
