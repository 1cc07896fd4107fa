package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/db"
)

func writeCSV(t *testing.T, body string) string {
	path := filepath.Join(t.TempDir(), "logins.csv")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func signIn(p *page, email string) {
	p.t.Helper()
	p.open("/signin")
	p.fill(`#f-email`, email)
	p.fill(`#f-password`, apptest.Password)
	p.click(tid("signin-submit"))
	p.wait(tid("sidebar"))
}

// TestBrowserLoginCSVImportWithBadRow uploads a CSV with a bad row: the
// preview shows the row's error and nothing can be invited; the fixed file
// invites every row.
func TestBrowserLoginCSVImportWithBadRow(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, db.SQLite)
	f := env.Setup("Acme IT")
	p := newPage(t, env.URL)
	signIn(p, f.Primary.Email)
	p.open("/logins/import")
	p.wait(tid("import-form"))
	bad := "First Name,Last Name,Email,Role\nTess,Tech,tess@acmeit.example,Technician\nHank,Help,not-an-email,Help desk\n"
	p.do(chromedp.SetUploadFiles(chromedp.CSS(`input[type="file"]`), []string{writeCSV(t, bad)}))
	p.click(tid("import-upload"))
	p.wait(tid("import-preview"))
	require.Contains(t, p.text(tid("row-error-3")), "email")
	require.False(t, p.exists(`[data-testid="import-confirm"]:not([disabled])`), "nothing can be invited while a row is wrong")
	n, err := env.App.DB.Bun.NewSelect().Table("logins").Count(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "only the Primary exists")

	good := "first name,LAST NAME,email,role\nTess,Tech,tess@acmeit.example,Technician\nHank,Help,hank@acmeit.example,Help desk\n"
	p.open("/logins/import")
	p.do(chromedp.SetUploadFiles(chromedp.CSS(`input[type="file"]`), []string{writeCSV(t, good)}))
	p.click(tid("import-upload"))
	p.wait(tid("import-ready"))
	p.click(tid("import-confirm"))
	p.wait(chromedp.CSS(`[data-testid="login-row-hank@acmeit.example"]`))
	require.Contains(t, p.lastDialog(), "2", "the confirmation names how many logins are invited")
	require.True(t, p.exists(`[data-testid="login-row-tess@acmeit.example"]`))
	p.screenshot("logins-after-import")
}
