package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/notice"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

// noticeUser inserts an eligible end user of c (self-serve on, email and
// mobile) whose password expires after `in`.
func noticeUser(t *testing.T, env *apptest.Env, c *customer.Customer, username string, in time.Duration) *enduser.EndUser {
	t.Helper()
	now := time.Now().UTC()
	exp := now.Add(in)
	u := &enduser.EndUser{ID: db.NewID(), TenantID: c.TenantID, CustomerID: c.ID, Username: username, FirstName: strings.ToUpper(username[:1]) + username[1:],
		Email: username + "@example.com", Mobile: "+14155550100", Source: enduser.SourceAD, SelfServeEnabled: true,
		PasswordExpiresAt: &exp, CreatedAt: now, UpdatedAt: now}
	_, err := env.App.DB.Bun.NewInsert().Model(u).Exec(context.Background())
	require.NoError(t, err)
	return u
}

// noticeHourZero makes every customer of the tenant due at once.
func noticeHourZero(t *testing.T, env *apptest.Env, f *apptest.Fixture) {
	t.Helper()
	_, err := env.App.DB.Bun.NewUpdate().Table("tenants").Set("notification_hour = 0").Where("id = ?", f.Tenant.ID).Exec(context.Background())
	require.NoError(t, err)
}

func TestNoticePreviewPages(t *testing.T) {
	t.Parallel()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			// No workers: the sweep that runs at start would plan the day.
			testNoticePreviewPages(t, apptest.New(t, dia, apptest.Options{NoWorkers: true}))
		})
	}
}

func testNoticePreviewPages(t *testing.T, env *apptest.Env) {
	f := env.Setup("Acme IT")
	noticeHourZero(t, env, f)
	cu := custCreate(t, env, f, "Contoso", "contoso.com")
	ann := noticeUser(t, env, cu, "ann", 3*24*time.Hour)
	noticeUser(t, env, cu, "ben", 40*24*time.Hour) // outside the window
	tech := env.CreateLogin(f, login.RoleTechnician, "tess@acme.example")
	help := env.CreateLogin(f, login.RoleHelpDesk, "hank@acme.example")

	c := signedIn(env, tech.Email)
	before := env.Statements()
	res := c.Get("/notifications")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.LessOrEqual(t, env.Statements()-before, int64(12), "a handful of statements")
	require.Contains(t, res.Body, setupTestID("notices-customer-"+cu.ID))
	require.Regexp(t, `data-testid="notices-count">1<`, res.Body)
	require.Contains(t, res.Body, "now (within 15 minutes)")
	require.NotContains(t, res.Body, `href="/settings#notifications"`, "technicians do not change settings")

	res = c.Get("/notifications/customers/" + cu.ID)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, res.Body, setupTestID("notices-user-"+ann.ID))
	require.NotContains(t, res.Body, "ben@example.com")
	require.Contains(t, res.Body, ">Email<")
	require.NotContains(t, res.Body, ">SMS<", "text messages are off by default")

	// Help desk may not see the preview; nothing was sent.
	h := signedIn(env, help.Email)
	require.Equal(t, http.StatusForbidden, h.Get("/notifications").StatusCode)
	n, err := env.App.DB.Bun.NewSelect().Table("notices").Count(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)

	// Another tenant: the customer is not found, the preview empty.
	other := env.Setup("Other MSP")
	o := signedIn(env, other.Primary.Email)
	for _, hx := range [][]string{nil, {"HX-Request", "true"}} {
		require.Equal(t, http.StatusNotFound, o.Get("/notifications/customers/"+cu.ID, hx...).StatusCode)
	}
	res = o.Get("/notifications")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.NotContains(t, res.Body, cu.ID)
	require.Contains(t, res.Body, setupTestID("notices-empty"))
}

func TestNoticeSettingsCard(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		ctx := context.Background()
		c := signedIn(env, f.Primary.Email)
		res := c.Get("/settings")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("notice-settings"))
		require.Contains(t, res.Body, `<option value="10" selected>`)

		res = c.PostForm("/settings/notifications", url.Values{"days_before": {"31"}}, "HX-Request", "true")
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, `id="e-days_before"`)

		res = c.PostForm("/settings/notifications", url.Values{"days_before": {"5"}, "sms": {"on"}}, "HX-Request", "true")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Header.Get("HX-Trigger"), "Notification settings saved.")
		st, err := env.App.Notices.Settings(ctx, f.Tenant.ID)
		require.NoError(t, err)
		require.Equal(t, notice.Settings{DaysBefore: 5, SMS: true}, st)

		res = c.PostForm("/settings/notifications", url.Values{"days_before": {"7"}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.Equal(t, "/settings#notifications", res.Header.Get("Location"))

		// A technician may not; a tenant id in the form is ignored.
		tech := env.CreateLogin(f, login.RoleTechnician, "tess@acme.example")
		tc := signedIn(env, tech.Email)
		require.Equal(t, http.StatusForbidden, tc.PostForm("/settings/notifications", url.Values{"days_before": {"1"}}).StatusCode)
		other := env.Setup("Other MSP")
		o := signedIn(env, other.Primary.Email)
		res = o.PostForm("/settings/notifications", url.Values{"days_before": {"2"}, "tenant_id": {f.Tenant.ID}})
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		st, err = env.App.Notices.Settings(ctx, f.Tenant.ID)
		require.NoError(t, err)
		require.Equal(t, notice.Settings{DaysBefore: 7, SMS: false}, st)
	})
}

func TestEndUserPageListsNotices(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		// The workers' sweep run at start must be over before Ann exists:
		// run later (River elects its leader in its own time), it planned
		// her notice before the page below was read (a CI failure).
		apptest.WaitFor(t, 30*time.Second, func() bool {
			n, err := env.App.DB.Bun.NewSelect().Table("river_job").
				Where("kind = ? AND state = 'completed'", (jobargs.NoticeSweep{}).Kind()).Count(context.Background())
			return err == nil && n > 0
		}, "the notice sweep run at start")
		f := env.Setup("Acme IT")
		ctx := context.Background()
		noticeHourZero(t, env, f)
		cu := custCreate(t, env, f, "Contoso", "contoso.com")
		ann := noticeUser(t, env, cu, "ann", 2*24*time.Hour+time.Hour)
		c := signedIn(env, f.Primary.Email)
		res := c.Get("/end-users/" + ann.ID)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("enduser-notices-empty"))

		_, err := env.App.Notices.Sweep(ctx)
		require.NoError(t, err)
		var n notice.Notice
		apptest.WaitFor(t, 20*time.Second, func() bool {
			err := env.App.DB.Bun.NewSelect().Model(&n).Where("end_user_id = ?", ann.ID).Scan(ctx)
			return err == nil && n.State == notice.StateSent
		}, "the notice sent by the worker")

		res = c.Get("/end-users/" + ann.ID)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("notice-"+n.ID))
		require.Contains(t, res.Body, setupTestID("notice-channel-Email"))
		require.Contains(t, res.Body, "text messages are off in Settings")
		require.Contains(t, res.Body, "no device with notifications on")

		other := env.Setup("Other MSP")
		o := signedIn(env, other.Primary.Email)
		require.Equal(t, http.StatusNotFound, o.Get("/end-users/"+ann.ID).StatusCode)
	})
}

// TestEndUserPageAfterRetention: once the retention job has deleted a
// notice's messages, the end user's page still lists the notice and says
// its delivery record is no longer kept; the outbox says how long messages
// are kept, and a deleted message's page is a 404.
func TestEndUserPageAfterRetention(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, env *apptest.Env) {
		// The workers' sweep run at start must be over before Ann exists:
		// run later (River elects its leader in its own time), it planned
		// her notice before the page below was read (a CI failure).
		apptest.WaitFor(t, 30*time.Second, func() bool {
			n, err := env.App.DB.Bun.NewSelect().Table("river_job").
				Where("kind = ? AND state = 'completed'", (jobargs.NoticeSweep{}).Kind()).Count(context.Background())
			return err == nil && n > 0
		}, "the notice sweep run at start")
		f := env.Setup("Acme IT")
		ctx := context.Background()
		noticeHourZero(t, env, f)
		cu := custCreate(t, env, f, "Contoso", "contoso.com")
		ann := noticeUser(t, env, cu, "ann", 2*24*time.Hour+time.Hour)
		_, err := env.App.Notices.Sweep(ctx)
		require.NoError(t, err)
		var n notice.Notice
		apptest.WaitFor(t, 20*time.Second, func() bool {
			err := env.App.DB.Bun.NewSelect().Model(&n).Where("end_user_id = ?", ann.ID).Scan(ctx)
			if err != nil || n.State != notice.StateSent {
				return false
			}
			m, err := notify.Load(ctx, env.App.DB.Bun, n.EmailMessageID)
			return err == nil && m.Status == notify.StatusOutbox
		}, "the notice sent by the worker, its email in the outbox")

		deleted, err := notify.Prune(ctx, env.App.DB.Bun, time.Now().Add(time.Hour), 1000)
		require.NoError(t, err)
		require.Positive(t, deleted)
		_, err = notify.Load(ctx, env.App.DB.Bun, n.EmailMessageID)
		require.Error(t, err, "the notice's email is gone")

		c := signedIn(env, f.Primary.Email)
		res := c.Get("/end-users/" + ann.ID)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("notice-"+n.ID))
		require.Contains(t, res.Body, setupTestID("notice-channel-Email"))
		require.Contains(t, res.Body, "delivery record no longer kept")
		require.Contains(t, res.Body, "text messages are off in Settings", "a channel not used still says why")

		res = c.Get("/settings/outbox/" + n.EmailMessageID)
		require.Equal(t, http.StatusNotFound, res.StatusCode)
		res = c.Get("/settings/outbox")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, setupTestID("outbox-empty"))
		require.Contains(t, res.Body, "Messages are deleted 30 days after they were created.")
	})
}
