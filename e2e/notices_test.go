package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/notice"
	"github.com/latchkey/latchkey/db"
)

// TestBrowserNotifications: the Settings card saves the notification
// settings in place; the preview shows who the next run notifies, per
// customer, then the customer's list; after the run, the end user's page
// lists the notice and its delivery.
func TestBrowserNotifications(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite, apptest.Options{NoWorkers: true})
	f := env.Setup("Acme IT")
	ctx := context.Background()
	bun := env.App.DB.Bun
	now := time.Now().UTC()
	cu := &customer.Customer{ID: db.NewID(), TenantID: f.Tenant.ID, Name: "Contoso", Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
	_, err := bun.NewInsert().Model(cu).Exec(ctx)
	require.NoError(t, err)
	exp := now.Truncate(24*time.Hour).AddDate(0, 0, 3).Add(12 * time.Hour) // noon UTC, three days on
	u := &enduser.EndUser{ID: db.NewID(), TenantID: f.Tenant.ID, CustomerID: cu.ID, Username: "ann", FirstName: "Ann", LastName: "Archer",
		Email: "ann@contoso.example", Mobile: "+14155550100", Source: enduser.SourceAD, SelfServeEnabled: true,
		PasswordExpiresAt: &exp, CreatedAt: now, UpdatedAt: now}
	_, err = bun.NewInsert().Model(u).Exec(ctx)
	require.NoError(t, err)
	_, err = bun.NewUpdate().Table("tenants").Set("notification_hour = 0").Where("id = ?", f.Tenant.ID).Exec(ctx)
	require.NoError(t, err)

	p := newPage(t, env.URL)
	signIn(p, f.Primary.Email)
	p.open("/settings")
	p.wait(tid("notice-settings"))
	gridChoose(p, `#f-days_before`, "5")
	p.click(tid("switch-sms"))
	p.click(tid("notice-settings-submit"))
	p.waitFor(`document.querySelector('[data-testid="notice-settings"] .alert') !== null`)
	st, err := env.App.Notices.Settings(ctx, f.Tenant.ID)
	require.NoError(t, err)
	require.Equal(t, notice.Settings{DaysBefore: 5, SMS: true}, st)
	p.screenshot("notice-settings")

	p.open("/notifications")
	p.wait(tid("notices-customer-" + cu.ID))
	require.Equal(t, "1", p.text(tid("notices-count")))
	require.Equal(t, "now (within 15 minutes)", p.text(tid("notices-next-run")))
	p.screenshot("notices-preview")
	p.click(tid("notices-customer-link"))
	p.wait(tid("notices-user-" + u.ID))
	require.Contains(t, p.text(tid("notices-channels")), "SMS")
	p.viewport(375, 812)
	p.screenshot("notices-customer-phone")

	_, err = env.App.Notices.Sweep(ctx)
	require.NoError(t, err)
	var n notice.Notice
	require.NoError(t, bun.NewSelect().Model(&n).Where("end_user_id = ?", u.ID).Scan(ctx))
	_, err = env.App.Notices.Send(ctx, n.ID)
	require.NoError(t, err)
	p.open("/end-users/" + u.ID)
	p.wait(tid("notice-" + n.ID))
	require.Contains(t, p.text(tid("notice-what")), "Password expires in 3 days")
	require.Contains(t, p.text(tid("notice-channel-Email")), "Queued")
	require.Contains(t, p.text(tid("notice-channel-SMS")), "Queued")
	p.screenshot("enduser-notices")
}
