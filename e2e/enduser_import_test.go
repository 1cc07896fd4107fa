package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/db"
)

// TestBrowserEndUserCSVImportWithBadRow imports a CSV with one bad row into a
// customer: the preview shows the row's error, the valid rows are imported
// on confirmation, and the summary counts them.
func TestBrowserEndUserCSVImportWithBadRow(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	ctx := context.Background()
	now := time.Now().UTC()
	// The customers UI is another area's: the customer goes straight into the database.
	cu := &customer.Customer{ID: db.NewID(), TenantID: f.Tenant.ID, Name: "Globex", Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
	_, err := env.App.DB.Bun.NewInsert().Model(cu).Exec(ctx)
	require.NoError(t, err)

	p := newPage(t, env.URL)
	signIn(p, f.Primary.Email)
	p.open("/customers/" + cu.ID + "/end-users/import")
	p.wait(tid("import-form"))
	require.Equal(t, enduser.ImportHeader, mustValue(t, p, `[data-testid="import-header"]`))

	csv := "\xef\xbb\xbfUsername,First Name,Last Name,Email,Mobile\n" +
		"asmith,Ann,Smith,ann@globex.example,+64 21 555 0199\n" +
		"bjones,Bob,Jones,bob-at-globex,\n" +
		"cdoe,Cat,Doe,cat@globex.example,\n"
	path := filepath.Join(t.TempDir(), "globex-users.csv")
	require.NoError(t, os.WriteFile(path, []byte(csv), 0o600))
	p.do(chromedp.SetUploadFiles(chromedp.CSS(`input[type="file"]`), []string{path}))
	p.click(tid("import-upload"))
	p.wait(tid("import-preview"))
	require.Contains(t, p.text(tid("row-error-3")), "not an email address")
	require.Equal(t, "Rejected", p.text(tid("row-action-3")))
	require.Equal(t, "New", p.text(tid("row-action-2")))
	require.Contains(t, p.text(tid("import-confirm")), "Import 2 valid rows (1 rejected row will be skipped)")
	p.screenshot("enduser-import-preview")
	n, err := env.App.DB.Bun.NewSelect().Table("end_users").Count(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "nothing is imported before the confirmation")

	p.click(tid("import-confirm"))
	p.wait(tid("import-summary"))
	require.Contains(t, p.lastDialog(), "Import 2 valid rows")
	require.Equal(t, "2", p.text(tid("summary-created")))
	require.Equal(t, "1", p.text(tid("summary-rejected")))
	require.Equal(t, "0", p.text(tid("summary-updated")))
	p.screenshot("enduser-import-summary")
	n, err = env.App.DB.Bun.NewSelect().Table("end_users").Where("customer_id = ?", cu.ID).Count(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), n)
}

func mustValue(t *testing.T, p *page, css string) string {
	t.Helper()
	v, err := chromedpValue(p, css)
	require.NoError(t, err)
	return v
}

// TestBrowserWelcomeLinkOnPhone opens a welcome link on a phone-sized
// screen, proves it is the end user with an email code, confirms the mobile
// number with an SMS code, and sees the summary. (The whole enrolment, with
// an authenticator app and the device, is e2e/selfserve_test.go's.)
func TestBrowserWelcomeLinkOnPhone(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	ctx := context.Background()
	now := time.Now().UTC()
	cu := &customer.Customer{ID: db.NewID(), TenantID: f.Tenant.ID, Name: "Globex", Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
	_, err := env.App.DB.Bun.NewInsert().Model(cu).Exec(ctx)
	require.NoError(t, err)
	u := &enduser.EndUser{ID: db.NewID(), TenantID: f.Tenant.ID, CustomerID: cu.ID, Username: "asmith", FirstName: "Ann",
		Email: "ann@globex.example", EmailSource: enduser.ValueImport, Mobile: "+64215550199", MobileSource: enduser.ValueImport,
		Source: enduser.SourceCSV, CreatedAt: now, UpdatedAt: now}
	_, err = env.App.DB.Bun.NewInsert().Model(u).Exec(ctx)
	require.NoError(t, err)
	require.NoError(t, env.App.Web.Onboarding.DeliverWelcome(ctx, u.ID, time.Time{}))
	var m notify.Message
	require.NoError(t, env.App.DB.Bun.NewSelect().Model(&m).Where("kind = ?", enduser.WelcomeKind).Scan(ctx))
	e, err := m.EmailData(env.App.Keys)
	require.NoError(t, err)
	i := strings.Index(e.ActionURL, "/welcome/")
	require.Positive(t, i)
	link := e.ActionURL[i:]

	p := newPage(t, env.URL)
	p.viewport(390, 844)
	p.open(link)
	p.wait(tid("welcome-page"))
	require.Equal(t, "+64 ••• ••• 199", p.text(tid("masked-mobile")))
	p.screenshot("welcome-phone")
	p.click(tid("welcome-method-email"))
	p.fill(tid("ss-code"), welcomeCode(t, env, "email", u.Email))
	p.click(tid("ss-code-submit"))
	p.wait(tid("welcome-mobile"))
	require.Equal(t, "+64 ••• ••• 199", p.text(tid("masked-mobile")))
	require.Contains(t, p.text(tid("welcome-not-mine")), "cannot be changed from this link")
	p.click(tid("welcome-keep"))
	p.fill(tid("ss-code"), welcomeCode(t, env, "sms", u.Mobile))
	p.click(tid("ss-code-submit"))
	p.wait(tid("welcome-thanks"))
	require.Equal(t, "+64 ••• ••• 199", p.text(tid("saved-mobile")))
	p.screenshot("welcome-phone-thanks")
	var confirmed *time.Time
	require.NoError(t, env.App.DB.Bun.NewSelect().Table("end_users").Column("mobile_confirmed_at").Where("id = ?", u.ID).Scan(ctx, &confirmed))
	require.NotNil(t, confirmed, "the end user confirmed the number on record")
}

// welcomeCode waits for the self-serve code sent by channel to `to` (an
// SMS once its job put it in the outbox) and returns it.
func welcomeCode(t *testing.T, env *apptest.Env, channel, to string) string {
	t.Helper()
	code := ""
	apptest.WaitFor(t, 30*time.Second, func() bool {
		var m notify.Message
		err := env.App.DB.Bun.NewSelect().Model(&m).
			Where("to_addr = ? AND channel = ? AND kind = 'selfserve_code'", to, channel).OrderExpr("created_at DESC").Limit(1).Scan(context.Background())
		if err != nil {
			return false
		}
		var text string
		if m.Channel == sms.Channel { // an SMS in the outbox, stored encrypted
			if m.Status != notify.StatusOutbox {
				return false
			}
			text, err = sms.Text(env.App.Keys, &m)
			require.NoError(t, err)
		}
		if m.Channel == notify.ChannelEmail {
			e, err := m.EmailData(env.App.Keys) // stored encrypted
			require.NoError(t, err)
			text = strings.Join(e.Lines, " ")
		}
		code = regexp.MustCompile(`\b\d{6}\b`).FindString(text)
		return code != ""
	}, "a code to %s", to)
	return code
}
