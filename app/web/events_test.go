package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app"
	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// eventsEach runs fn against a fresh application per database engine.
func eventsEach(t *testing.T, fn func(t *testing.T, env *apptest.Env)) {
	t.Helper()
	for _, dia := range dbtest.Dialects {
		t.Run(string(dia), func(t *testing.T) {
			t.Parallel()
			fn(t, apptest.New(t, dia, apptest.Options{NoWorkers: true}))
		})
	}
}

// recordEvents appends n events "custom.<i%3>" for the tenant, one minute apart from start.
func recordEvents(t *testing.T, env *apptest.Env, tenantID string, start time.Time, n int, detail func(i int) string) {
	t.Helper()
	require.NoError(t, env.App.DB.RunInTx(context.Background(), func(ctx context.Context, tx *db.Tx) error {
		for i := range n {
			result := audit.ResultOK
			if i%5 == 4 {
				result = audit.ResultDenied
			}
			d := ""
			if detail != nil {
				d = detail(i)
			}
			if err := audit.Record(ctx, tx, start.Add(time.Duration(i)*time.Minute),
				audit.Actor{TenantID: tenantID, Name: "Terry Tech", IP: "198.51.100.9"},
				audit.Entry{Action: fmt.Sprintf("custom.kind%d", i%3), Target: fmt.Sprintf("enduser%03d@customer.example", i), Result: result, Detail: d}); err != nil {
				return err
			}
		}
		return nil
	}))
}

var eventRowRe = regexp.MustCompile(`data-testid="event-(\d+)"`)

func eventSeqs(body string) []string {
	var out []string
	for _, m := range eventRowRe.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

var t0 = time.Date(2026, 1, 15, 17, 0, 0, 0, time.UTC)

func TestEventsPageListsOnlyOwnTenant(t *testing.T) {
	t.Parallel()
	eventsEach(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		other := env.Setup("Other MSP")
		recordEvents(t, env, f.Tenant.ID, t0, 3, func(int) string { return `<script>alert(1)</script>` })
		recordEvents(t, env, other.Tenant.ID, t0, 2, nil)
		require.NoError(t, env.App.DB.RunInTx(context.Background(), func(ctx context.Context, tx *db.Tx) error {
			return audit.Record(ctx, tx, t0, audit.Actor{TenantID: other.Tenant.ID, Name: "Olga"}, audit.Entry{Action: "custom.other", Target: "secret@other.example"})
		}))

		c := env.Client()
		c.SignIn(f.Primary.Email)
		res := c.Get("/events")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="events-table"`)
		require.Contains(t, res.Body, "enduser002@customer.example")
		require.Contains(t, res.Body, "custom.kind2")
		require.Contains(t, res.Body, "198.51.100.9")
		require.Contains(t, res.Body, "&lt;script&gt;alert(1)&lt;/script&gt;")
		require.NotContains(t, res.Body, "<script>alert(1)")
		require.NotContains(t, res.Body, "secret@other.example")
		require.NotContains(t, res.Body, "custom.other")
		require.Contains(t, res.Body, `data-testid="chain-check"`)
		require.Contains(t, res.Body, `data-testid="event-result"`)

		// A tenant id in the query is ignored.
		res = c.Get("/events?tenant_id=" + other.Tenant.ID + "&target=secret")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="events-empty"`)
	})
}

func TestEventsPageShowsTenantTimeZone(t *testing.T) {
	t.Parallel()
	eventsEach(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		_, err := env.App.DB.Bun.NewUpdate().Table("tenants").Set("time_zone = ?", "America/New_York").Where("id = ?", f.Tenant.ID).Exec(context.Background())
		require.NoError(t, err)
		recordEvents(t, env, f.Tenant.ID, t0, 1, nil)
		c := env.Client()
		c.SignIn(f.Primary.Email)
		res := c.Get("/events?action=custom")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `<span class="nowrap">2026-01-15</span> <span class="nowrap">12:00:00 EST</span>`, "the day, then the time (which may wrap under it)")
		require.Contains(t, res.Body, `datetime="2026-01-15T17:00:00Z"`)

		// Date filters are days in the tenant's zone: 2026-01-15 in New York
		// runs to 05:00 UTC on the 16th.
		recordEvents(t, env, f.Tenant.ID, time.Date(2026, 1, 16, 4, 30, 0, 0, time.UTC), 1, nil) // Jan 15, 23:30 EST
		recordEvents(t, env, f.Tenant.ID, time.Date(2026, 1, 16, 5, 30, 0, 0, time.UTC), 1, nil) // Jan 16, 00:30 EST
		res = c.Get("/events?action=custom&from=2026-01-15&to=2026-01-15")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Len(t, eventSeqs(res.Body), 2)
		res = c.Get("/events?action=custom&from=2026-01-16")
		require.Len(t, eventSeqs(res.Body), 1)
	})
}

func TestEventsFilterPagingAndHTMX(t *testing.T) {
	t.Parallel()
	eventsEach(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		recordEvents(t, env, f.Tenant.ID, t0, 130, nil)
		c := env.Client()
		c.SignIn(f.Primary.Email)

		res := c.Get("/events?action=CUSTOM.")
		require.Equal(t, http.StatusOK, res.StatusCode)
		page1 := eventSeqs(res.Body)
		require.Len(t, page1, 50)
		require.Contains(t, res.Body, `data-testid="events-pagination"`)
		require.Contains(t, res.Body, `data-testid="events-count"`)
		require.Contains(t, res.Body, "1–50 of 130 events")
		require.Contains(t, res.Body, `href="/events?action=CUSTOM.&amp;page=2"`)

		res = c.Get("/events?action=CUSTOM.&page=3")
		page3 := eventSeqs(res.Body)
		require.Len(t, page3, 30)
		require.Contains(t, res.Body, "101–130 of 130 events")
		require.NotContains(t, page3, page1[0])
		// Newest first, no overlap, stable.
		res2 := c.Get("/events?action=CUSTOM.&page=3")
		require.Equal(t, page3, eventSeqs(res2.Body))

		// Past the last page: the last page.
		res = c.Get("/events?action=CUSTOM.&page=99")
		require.Equal(t, page3, eventSeqs(res.Body))

		// Live filtering swaps the results only.
		res = c.Get("/events?action=custom.kind1&result=denied", "HX-Request", "true", "HX-Target", "events-results")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.NotContains(t, res.Body, "<html")
		require.NotContains(t, res.Body, `data-testid="events-filter"`)
		require.True(t, strings.HasPrefix(strings.TrimSpace(res.Body), `<div id="events-results"`), res.Body)
		// i%3==1 and i%5==4: i = 4, 19, 34, …, 124 → 9 events.
		require.Len(t, eventSeqs(res.Body), 9)
		require.Contains(t, res.Body, `href="/events.csv?action=custom.kind1&amp;result=denied"`)
		require.Contains(t, strings.Join(res.Header.Values("Vary"), ","), "HX-Target")

		res = c.Get("/events?target=nobody-like-this")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="events-empty"`)
		require.Contains(t, res.Body, "Clear filters")

		res = c.Get("/events?from=yesterday")
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="error-from"`)
		require.Contains(t, res.Body, "&#34;yesterday&#34; is not a date", "the date box cannot show it: the message quotes it")
		res = c.Get("/events?from=2026-02-01&to=2026-01-01")
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="error-to"`)
	})
}

func TestEventsCSVExport(t *testing.T) {
	t.Parallel()
	eventsEach(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		other := env.Setup("Other MSP")
		recordEvents(t, env, f.Tenant.ID, t0, 70, func(i int) string {
			if i == 0 {
				return "=cmd|' /C calc'!A0"
			}
			return ""
		})
		recordEvents(t, env, other.Tenant.ID, t0, 5, nil)
		c := env.Client()
		c.SignIn(f.Primary.Email)

		res := c.Get("/events.csv?action=custom.&page=2")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))
		require.Contains(t, res.Header.Get("Content-Disposition"), "attachment; filename=\"latchkey-events-")
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		rows, err := csv.NewReader(strings.NewReader(res.Body)).ReadAll()
		require.NoError(t, err)
		require.Len(t, rows, 71) // header + all 70 (paging is ignored), none of the other tenant
		require.Equal(t, "custom.kind0", rows[70][4])
		require.Equal(t, "'=cmd|' /C calc'!A0", rows[70][9])

		// The export itself is in the trail.
		res = c.Get("/events?action=audit.export")
		require.Contains(t, res.Body, "action~custom.")
		require.Len(t, eventSeqs(res.Body), 1)

		res = c.Get("/events.csv?from=nope")
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	})
}

func TestEventsIntegrityCheck(t *testing.T) {
	t.Parallel()
	eventsEach(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		recordEvents(t, env, f.Tenant.ID, t0, 10, nil)
		c := env.Client()
		c.SignIn(f.Primary.Email)

		res := c.Get("/events/verify", "HX-Request", "true", "HX-Target", "chain-status")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="chain-ok"`)
		require.NotContains(t, res.Body, "<html")
		r, err := audit.Verify(context.Background(), env.App.DB.Bun, f.Tenant.ID)
		require.NoError(t, err)
		require.Contains(t, res.Body, fmt.Sprintf("%d events checked", r.Checked))

		// Without htmx: the whole page with the result.
		res = c.Get("/events/verify")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="chain-ok"`)
		require.Contains(t, res.Body, `data-testid="events-table"`)

		tamperEvent(t, env, f.Tenant.ID, 3)
		res = c.Get("/events/verify", "HX-Request", "true", "HX-Target", "chain-status")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Body, `data-testid="chain-broken"`)
		require.Contains(t, res.Body, "Broken at event #3")
		require.Contains(t, res.Body, "alert-danger")
	})
}

// tamperEvent edits an event's detail behind Latchkey's back.
func tamperEvent(t *testing.T, env *apptest.Env, tenantID string, seq int) {
	t.Helper()
	ctx := context.Background()
	d := env.App.DB
	if d.Dialect == db.SQLite {
		_, err := d.Bun.ExecContext(ctx, "DROP TRIGGER IF EXISTS audit_events_no_update")
		require.NoError(t, err)
	} else {
		_, err := d.Bun.ExecContext(ctx, "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update")
		require.NoError(t, err)
	}
	_, err := d.Bun.ExecContext(ctx, "UPDATE audit_events SET detail = 'edited' WHERE tenant_id = ? AND seq = ?", tenantID, seq)
	require.NoError(t, err)
}

func TestEventsRoutesNeedAdmin(t *testing.T) {
	t.Parallel()
	eventsEach(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		env.CreateLogin(f, login.RoleTechnician, "tech@acme.example")
		env.CreateLogin(f, login.RoleSuper, "super@acme.example")
		tech := env.Client()
		tech.SignIn("tech@acme.example")
		for _, p := range []string{"/events", "/events.csv", "/events/verify", "/settings/outbox", "/settings/outbox/abc"} {
			res := tech.Get(p)
			require.Equal(t, http.StatusForbidden, res.StatusCode, p)
			res = tech.Get(p, "HX-Request", "true", "HX-Target", "events-results")
			require.Equal(t, http.StatusForbidden, res.StatusCode, p)
		}
		anon := env.Client()
		res := anon.Get("/events")
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		require.True(t, strings.HasPrefix(res.Header.Get("Location"), "/signin"))

		super := env.Client()
		super.SignIn("super@acme.example")
		require.Equal(t, http.StatusOK, super.Get("/events").StatusCode)
		require.Equal(t, http.StatusOK, super.Get("/events.csv").StatusCode)
	})
}

func TestEventsAuditVerifyCommand(t *testing.T) {
	t.Parallel()
	eventsEach(t, func(t *testing.T, env *apptest.Env) {
		f := env.Setup("Acme IT")
		other := env.Setup("Other MSP")
		recordEvents(t, env, f.Tenant.ID, t0, 4, nil)
		recordEvents(t, env, other.Tenant.ID, t0, 2, nil)
		cfg := env.App.Config
		vars := map[string]string{
			"LATCHKEY_DATABASE_URL": cfg.DatabaseURL, "LATCHKEY_DATA_DIR": cfg.DataDir,
			"LATCHKEY_MASTER_KEY": cfg.MasterKey, "LATCHKEY_LOG_LEVEL": "error",
		}
		run := func() (string, error) {
			var out, errb bytes.Buffer
			err := app.Run(context.Background(), []string{"audit-verify"}, func(k string) string { return vars[k] }, &out, &errb)
			return out.String(), err
		}
		out, err := run()
		require.NoError(t, err, out)
		ra, err := audit.Verify(context.Background(), env.App.DB.Bun, f.Tenant.ID)
		require.NoError(t, err)
		require.Contains(t, out, fmt.Sprintf("tenant Acme IT (%s): %d events, chain intact", f.Tenant.ID, ra.Checked))
		require.Contains(t, out, fmt.Sprintf("tenant Other MSP (%s): ", other.Tenant.ID))

		tamperEvent(t, env, other.Tenant.ID, 1)
		out, err = run()
		require.Error(t, err)
		require.Contains(t, out, fmt.Sprintf("tenant Other MSP (%s): BROKEN at event #1: ", other.Tenant.ID))
		require.Contains(t, out, "chain intact") // Acme's is still fine
	})
}
