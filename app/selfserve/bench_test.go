package selfserve_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/apptest/adsite"
	"github.com/latchkey/latchkey/app/directory/ad/samba"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/db"
)

// BenchmarkSelfServeResetToDirectory measures a self-serve reset from the
// end user's submit of the new password to the password being set in Active
// Directory (a real Samba DC) by an idle agent (target: 2 s): the POST, then
// the result page (which waits for the directory task) until it says done.
// Each iteration proves a new flow first (outside the timer) and clears the
// account's rate-limit counters, so that iterations are not throttled.
func BenchmarkSelfServeResetToDirectory(b *testing.B) {
	env := apptest.New(b, db.SQLite)
	f := env.Setup("Acme IT")
	site := adsite.Start(b, env, f)
	ou := site.DC.CreateOU(b, "Staff")
	site.DC.CreateUser(b, ou, "asmith", samba.UserOpts{First: "Ann", Last: "Smith", Mail: "ann@globex.test", Mobile: "+64215550199", Password: "Old-Passw0rd!"})
	site.Import(true)
	ctx := context.Background()
	idb := env.App.DB.Bun
	var times []time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		for _, table := range []string{"selfserve_events", "selfserve_proofs", "selfserve_blocks"} {
			_, err := idb.NewDelete().Table(table).Where("tenant_id = ?", f.Tenant.ID).Exec(ctx)
			require.NoError(b, err)
		}
		c := env.Client()
		c.Get("/self-serve/reset")
		require.Equal(b, http.StatusSeeOther, c.PostForm("/self-serve/identify", url.Values{"purpose": {"reset"}, "identity": {"asmith"}}).StatusCode)
		require.Equal(b, http.StatusSeeOther, c.PostForm("/self-serve/prove", url.Values{"channel": {"email"}}).StatusCode)
		code := benchEmailCode(b, env, "ann@globex.test")
		require.Equal(b, http.StatusSeeOther, c.PostForm("/self-serve/code", url.Values{"code": {code}}).StatusCode)
		pw := fmt.Sprintf("Bench-Maple-Orbit-%d", i)
		b.StartTimer()

		start := time.Now()
		res := c.PostForm("/self-serve/password", url.Values{"password": {pw}})
		require.Equal(b, http.StatusSeeOther, res.StatusCode, res.Body)
		for {
			res = c.Get("/self-serve/result", "HX-Request", "true")
			if strings.Contains(res.Body, `data-testid="ss-done"`) {
				break
			}
			require.Contains(b, res.Body, `data-testid="ss-working"`, res.Body)
		}
		times = append(times, time.Since(start))

		b.StopTimer()
		require.NoError(b, site.Bind("asmith", pw))
		b.StartTimer()
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Milliseconds()), "ms-p50-submit-to-directory")
	b.ReportMetric(float64(times[len(times)-1].Milliseconds()), "ms-max-submit-to-directory")
	require.Less(b, times[len(times)/2], 2*time.Second, "target: 2 s with an idle agent")
}

func benchEmailCode(b *testing.B, env *apptest.Env, to string) string {
	b.Helper()
	var text string
	apptest.WaitFor(b, 10*time.Second, func() bool {
		var m notify.Message
		err := env.App.DB.Bun.NewSelect().Model(&m).Where("to_addr = ? AND kind = 'selfserve_code'", to).
			OrderExpr("created_at DESC").Limit(1).Scan(context.Background())
		if err != nil {
			return false
		}
		e, err := m.EmailData(env.App.Keys)
		require.NoError(b, err)
		text = strings.Join(e.Lines, " ")
		return six.MatchString(text)
	}, "a code")
	return six.FindString(text)
}
