package jobs_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
	"github.com/latchkey/latchkey/jobs/jobargs"
)

// TestSendWelcomeJob enqueues a welcome through the service, lets River work
// send_welcome and send_email, and follows the emailed link.
func TestSendWelcomeJob(t *testing.T) {
	t.Parallel()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			env := apptest.New(t, dia)
			f := env.Setup("Acme IT")
			ctx := context.Background()
			bun := env.App.DB.Bun
			now := time.Now().UTC()
			cu := &customer.Customer{ID: db.NewID(), TenantID: f.Tenant.ID, Name: "Globex", Source: customer.SourceManual, CreatedAt: now, UpdatedAt: now}
			_, err := bun.NewInsert().Model(cu).Exec(ctx)
			require.NoError(t, err)
			u := &enduser.EndUser{ID: db.NewID(), TenantID: f.Tenant.ID, CustomerID: cu.ID, Username: "ann", FirstName: "Ann",
				Email: "ann@globex.example", EmailSource: enduser.ValueImport, Source: enduser.SourceCSV, CreatedAt: now, UpdatedAt: now}
			_, err = bun.NewInsert().Model(u).Exec(ctx)
			require.NoError(t, err)

			ob := env.App.Web.Onboarding
			a := audit.Actor{TenantID: f.Tenant.ID, LoginID: f.Primary.ID, Name: f.Primary.Name()}
			queued, skipped, err := ob.SendWelcome(ctx, a, enduser.Selection{IDs: []string{u.ID}}, env.Clock.Now())
			require.NoError(t, err)
			require.Equal(t, []int{1, 0}, []int{queued, skipped})

			var m notify.Message
			apptest.WaitFor(t, 20*time.Second, func() bool {
				err := bun.NewSelect().Model(&m).Where("to_addr = ? AND kind = ?", u.Email, enduser.WelcomeKind).Scan(ctx)
				return err == nil && m.Status == notify.StatusOutbox
			}, "welcome email rendered into the outbox")
			c, err := m.Content(env.App.Keys)
			require.NoError(t, err)
			e := c.Email
			require.True(t, strings.HasPrefix(e.ActionURL, "http://latchkey.test/welcome/"), e.ActionURL)
			require.Contains(t, c.Text, e.ActionURL)
			require.Contains(t, c.HTML, `href="`+e.ActionURL+`"`)
			require.Contains(t, c.Text, "Globex")
			tok := strings.TrimPrefix(e.ActionURL, "http://latchkey.test/welcome/")
			for _, stored := range []string{m.Subject, m.Data, m.BodyText, m.BodyHTML} {
				require.NotContains(t, stored, tok, "the enrolment token is stored encrypted only")
			}
			var hashes []string
			require.NoError(t, bun.NewSelect().Table("enrolment_tokens").Column("token_hash").Where("end_user_id = ?", u.ID).Scan(ctx, &hashes))
			require.Equal(t, []string{credential.HashToken(tok)}, hashes, "only the token's hash is stored")

			res := env.Client().Get("/welcome/" + tok)
			require.Equal(t, http.StatusOK, res.StatusCode)
			require.Contains(t, res.Body, "Hi Ann,")

			// The same day: nothing new is enqueued. A retry of the job that
			// already delivered sends nothing more.
			queued, skipped, err = ob.SendWelcome(ctx, a, enduser.Selection{IDs: []string{u.ID}}, env.Clock.Now())
			require.NoError(t, err)
			require.Equal(t, []int{0, 1}, []int{queued, skipped})
			var raw []string
			col := "args::text"
			if dia == db.SQLite {
				col = "json(args)"
			}
			require.NoError(t, bun.NewSelect().Table("river_job").ColumnExpr(col).Where("kind = ?", "send_welcome").Scan(ctx, &raw))
			require.Len(t, raw, 1)
			var args jobargs.SendWelcome
			require.NoError(t, json.Unmarshal([]byte(raw[0]), &args))
			require.NoError(t, ob.DeliverWelcome(ctx, args.EndUserID, args.RequestedAt))
			n, err := bun.NewSelect().Model((*notify.Message)(nil)).Where("kind = ?", enduser.WelcomeKind).Count(ctx)
			require.NoError(t, err)
			require.Equal(t, int64(1), n)
		})
	}
}
