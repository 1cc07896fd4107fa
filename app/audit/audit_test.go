package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// record appends n events for tenantID, one minute apart from start, in one transaction.
func record(t *testing.T, d *db.DB, tenantID string, start time.Time, n int) {
	t.Helper()
	err := d.RunInTx(context.Background(), func(ctx context.Context, tx *db.Tx) error {
		for i := range n {
			result := audit.ResultOK
			if i%3 == 1 {
				result = audit.ResultDenied
			}
			err := audit.Record(ctx, tx, start.Add(time.Duration(i)*time.Minute),
				audit.Actor{TenantID: tenantID, LoginID: "l1", Name: fmt.Sprintf("Tech %d", i%2), IP: "192.0.2.7"},
				audit.Entry{Action: []string{"auth.signin", "login.create"}[i%2], TargetType: "login", TargetID: "x",
					Target: fmt.Sprintf("user%d@acme.example", i), Result: result, Detail: fmt.Sprintf("event %d", i)})
			if err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
}

// tamper runs sql on the events table with the append-only triggers off, as
// an attacker with database access could.
func tamper(t *testing.T, d *db.DB, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	if d.Dialect == db.SQLite {
		_, err := d.Bun.ExecContext(ctx, "DROP TRIGGER IF EXISTS audit_events_no_update")
		require.NoError(t, err)
		_, err = d.Bun.ExecContext(ctx, "DROP TRIGGER IF EXISTS audit_events_no_delete")
		require.NoError(t, err)
	} else {
		_, err := d.Bun.ExecContext(ctx, "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update")
		require.NoError(t, err)
	}
	_, err := d.Bun.ExecContext(ctx, sql, args...)
	require.NoError(t, err)
}

func TestAuditChainVerifies(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		record(t, d, "tenant-a", t0, 12)
		record(t, d, "tenant-b", t0, 3)
		record(t, d, "tenant-a", t0.Add(time.Hour), 3) // a second transaction continues the chain
		r, err := audit.Verify(ctx, d.Bun, "tenant-a")
		require.NoError(t, err)
		require.Equal(t, audit.VerifyResult{OK: true, Checked: 15}, r)

		r, err = audit.Verify(ctx, d.Bun, "nobody")
		require.NoError(t, err)
		require.True(t, r.OK)
		require.Zero(t, r.Checked)
	})
}

func TestAuditVerifyPagesThroughLongChains(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		record(t, d, "tenant-a", t0, 2105)
		r, err := audit.Verify(context.Background(), d.Bun, "tenant-a")
		require.NoError(t, err)
		require.True(t, r.OK, r.Reason)
		require.Equal(t, 2105, r.Checked)

		tamper(t, d, "UPDATE audit_events SET actor = 'Mallory' WHERE tenant_id = 'tenant-a' AND seq = 1500")
		r, err = audit.Verify(context.Background(), d.Bun, "tenant-a")
		require.NoError(t, err)
		require.False(t, r.OK)
		require.EqualValues(t, 1500, r.BrokenAt)
	})
}

func TestAuditVerifyDetectsEditedDetail(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		record(t, d, "tenant-a", t0, 10)
		record(t, d, "tenant-b", t0, 10)
		tamper(t, d, "UPDATE audit_events SET detail = 'nothing to see' WHERE tenant_id = 'tenant-a' AND seq = 4")
		r, err := audit.Verify(context.Background(), d.Bun, "tenant-a")
		require.NoError(t, err)
		require.False(t, r.OK)
		require.EqualValues(t, 4, r.BrokenAt)
		require.Contains(t, r.Reason, "changed")
		require.Equal(t, 4, r.Checked)

		// Another tenant's chain is unaffected.
		r, err = audit.Verify(context.Background(), d.Bun, "tenant-b")
		require.NoError(t, err)
		require.True(t, r.OK)

		all, err := audit.VerifyAll(context.Background(), d.Bun)
		require.NoError(t, err)
		require.Len(t, all, 2)
		byID := map[string]audit.TenantResult{}
		for _, x := range all {
			byID[x.TenantID] = x
		}
		require.False(t, byID["tenant-a"].OK)
		require.True(t, byID["tenant-b"].OK)
	})
}

func TestAuditVerifyDetectsRehashedEdit(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		record(t, d, "tenant-a", t0, 6)
		// An attacker who edits a row and recomputes its own hash still breaks
		// the link of the next event.
		var e audit.Event
		require.NoError(t, d.Bun.NewSelect().Model(&e).Where("tenant_id = 'tenant-a' AND seq = 3").Scan(ctx))
		e.Result = audit.ResultOK
		e.Detail = "rewritten"
		tamper(t, d, "UPDATE audit_events SET detail = ?, result = ?, hash = ? WHERE id = ?", e.Detail, e.Result, e.ComputeHash(), e.ID)
		r, err := audit.Verify(ctx, d.Bun, "tenant-a")
		require.NoError(t, err)
		require.False(t, r.OK)
		require.EqualValues(t, 4, r.BrokenAt)
		require.Contains(t, r.Reason, "link")
	})
}

func TestAuditVerifyDetectsDeletedRows(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		record(t, d, "last", t0, 5)
		tamper(t, d, "DELETE FROM audit_events WHERE tenant_id = 'last' AND seq = 5")
		r, err := audit.Verify(ctx, d.Bun, "last")
		require.NoError(t, err)
		require.False(t, r.OK)
		require.EqualValues(t, 5, r.BrokenAt)
		require.Contains(t, r.Reason, "chain head")
		require.Equal(t, 4, r.Checked)

		record(t, d, "middle", t0, 5)
		tamper(t, d, "DELETE FROM audit_events WHERE tenant_id = 'middle' AND seq = 2")
		r, err = audit.Verify(ctx, d.Bun, "middle")
		require.NoError(t, err)
		require.False(t, r.OK)
		require.EqualValues(t, 2, r.BrokenAt)
		require.Contains(t, r.Reason, "missing")

		// Deleting the whole trail leaves the head behind.
		record(t, d, "all", t0, 3)
		tamper(t, d, "DELETE FROM audit_events WHERE tenant_id = 'all'")
		r, err = audit.Verify(ctx, d.Bun, "all")
		require.NoError(t, err)
		require.False(t, r.OK)
		require.EqualValues(t, 1, r.BrokenAt)
	})
}

func TestAuditVerifyDetectsReorderedRows(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		record(t, d, "tenant-a", t0, 5)
		// Swap the sequence numbers of events 2 and 3.
		tamper(t, d, "UPDATE audit_events SET seq = 100 WHERE tenant_id = 'tenant-a' AND seq = 2")
		tamper(t, d, "UPDATE audit_events SET seq = 2 WHERE tenant_id = 'tenant-a' AND seq = 3")
		tamper(t, d, "UPDATE audit_events SET seq = 3 WHERE tenant_id = 'tenant-a' AND seq = 100")
		r, err := audit.Verify(context.Background(), d.Bun, "tenant-a")
		require.NoError(t, err)
		require.False(t, r.OK)
		require.EqualValues(t, 2, r.BrokenAt)
	})
}

func TestAuditVerifyDetectsAppendedRowOutsideChain(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		record(t, d, "tenant-a", t0, 3)
		var last audit.Event
		require.NoError(t, d.Bun.NewSelect().Model(&last).Where("tenant_id = 'tenant-a' AND seq = 3").Scan(ctx))
		forged := audit.Event{ID: db.NewID(), TenantID: "tenant-a", Seq: 4, At: t0.Add(time.Hour), Actor: "Mallory",
			Action: "auth.signin", Result: audit.ResultOK, PrevHash: last.Hash}
		forged.Hash = forged.ComputeHash()
		_, err := d.Bun.NewInsert().Model(&forged).Exec(ctx)
		require.NoError(t, err)
		r, err := audit.Verify(ctx, d.Bun, "tenant-a")
		require.NoError(t, err)
		require.False(t, r.OK)
		require.EqualValues(t, 4, r.BrokenAt)
	})
}

func TestAuditConcurrentRecordOnPostgres(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t, db.Postgres)
	ctx := context.Background()
	const workers, each = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				errs <- d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
					return audit.Record(ctx, tx, time.Now(), audit.Actor{TenantID: "busy", Name: fmt.Sprintf("w%d", w)},
						audit.Entry{Action: "test.concurrent", Detail: fmt.Sprintf("%d/%d", w, i)})
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	r, err := audit.Verify(ctx, d.Bun, "busy")
	require.NoError(t, err)
	require.True(t, r.OK, r.Reason)
	require.Equal(t, workers*each, r.Checked)
}

func TestAuditRecordRolledBackLeavesNothing(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		boom := errors.New("boom")
		err := d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			if err := audit.Record(ctx, tx, t0, audit.Actor{TenantID: "tenant-a"}, audit.Entry{Action: "test.rollback"}); err != nil {
				return err
			}
			return boom
		})
		require.ErrorIs(t, err, boom)
		n, err := d.Bun.NewSelect().Model((*audit.Event)(nil)).Count(ctx)
		require.NoError(t, err)
		require.Zero(t, n)
		n, err = d.Bun.NewSelect().Table("audit_heads").Count(ctx)
		require.NoError(t, err)
		require.Zero(t, n)

		// The chain starts cleanly afterwards.
		record(t, d, "tenant-a", t0, 2)
		r, err := audit.Verify(ctx, d.Bun, "tenant-a")
		require.NoError(t, err)
		require.Equal(t, audit.VerifyResult{OK: true, Checked: 2}, r)
	})
}

func TestAuditListFilters(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		record(t, d, "tenant-a", t0, 120)
		record(t, d, "tenant-b", t0, 5)

		evs, total, err := audit.List(ctx, d.Bun, "tenant-a", audit.Filter{})
		require.NoError(t, err)
		require.Equal(t, 120, total)
		require.Len(t, evs, audit.DefaultPerPage)
		require.EqualValues(t, 120, evs[0].Seq) // newest first
		require.EqualValues(t, 71, evs[49].Seq)

		evs, _, err = audit.List(ctx, d.Bun, "tenant-a", audit.Filter{Page: 3})
		require.NoError(t, err)
		require.Len(t, evs, 20)
		require.EqualValues(t, 20, evs[0].Seq)
		require.EqualValues(t, 1, evs[19].Seq)

		_, total, err = audit.List(ctx, d.Bun, "tenant-a", audit.Filter{Action: "LOGIN.C"})
		require.NoError(t, err)
		require.Equal(t, 60, total)

		_, total, err = audit.List(ctx, d.Bun, "tenant-a", audit.Filter{Actor: "tech 1", Result: audit.ResultDenied})
		require.NoError(t, err)
		require.Equal(t, 20, total) // odd i with i%3 == 1: 1, 7, 13, …

		evs, total, err = audit.List(ctx, d.Bun, "tenant-a", audit.Filter{Target: "USER7@"})
		require.NoError(t, err)
		require.Equal(t, 1, total)
		require.Equal(t, "user7@acme.example", evs[0].Target)

		// LIKE wildcards in the filter are literal.
		_, total, err = audit.List(ctx, d.Bun, "tenant-a", audit.Filter{Target: "user_"})
		require.NoError(t, err)
		require.Zero(t, total)
		_, total, err = audit.List(ctx, d.Bun, "tenant-a", audit.Filter{Action: "%"})
		require.NoError(t, err)
		require.Zero(t, total)

		// From inclusive, To exclusive.
		evs, total, err = audit.List(ctx, d.Bun, "tenant-a", audit.Filter{From: t0.Add(10 * time.Minute), To: t0.Add(20 * time.Minute)})
		require.NoError(t, err)
		require.Equal(t, 10, total)
		require.EqualValues(t, 20, evs[0].Seq)
		require.EqualValues(t, 11, evs[9].Seq)
		// Times in another zone mean the same instants.
		ny, _ := time.LoadLocation("America/New_York")
		_, total, err = audit.List(ctx, d.Bun, "tenant-a", audit.Filter{From: t0.Add(10 * time.Minute).In(ny), To: t0.Add(20 * time.Minute).In(ny)})
		require.NoError(t, err)
		require.Equal(t, 10, total)

		_, total, err = audit.List(ctx, d.Bun, "tenant-b", audit.Filter{Action: "login"})
		require.NoError(t, err)
		require.Equal(t, 2, total)
	})
}

func TestAuditExportCSV(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		record(t, d, "tenant-a", t0, 1203)
		err := d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			return audit.Record(ctx, tx, t0.Add(48*time.Hour), audit.Actor{TenantID: "tenant-a", Name: "=HYPERLINK(\"http://evil\")"},
				audit.Entry{Action: "login.create", Target: "+1 555", Detail: "@SUM(A1)"})
		})
		require.NoError(t, err)

		var buf bytes.Buffer
		require.NoError(t, audit.ExportCSV(ctx, d.Bun, "tenant-a", audit.Filter{Page: 2, PerPage: 5}, &buf))
		rows, err := csv.NewReader(&buf).ReadAll()
		require.NoError(t, err)
		require.Equal(t, 1+1204, len(rows)) // header + every row, paging ignored
		require.Equal(t, "seq", rows[0][0])
		require.Equal(t, "1204", rows[1][0])
		require.Equal(t, "'=HYPERLINK(\"http://evil\")", rows[1][2])
		require.Equal(t, "'+1 555", rows[1][7])
		require.Equal(t, "'@SUM(A1)", rows[1][9])
		require.Equal(t, "1", rows[1204][0])

		buf.Reset()
		require.NoError(t, audit.ExportCSV(ctx, d.Bun, "tenant-a", audit.Filter{Target: "user1"}, &buf))
		rows, err = csv.NewReader(&buf).ReadAll()
		require.NoError(t, err)
		require.Equal(t, 1+1+10+100+203, len(rows)) // user1, user10-19, user100-199, user1000-1202

		buf.Reset()
		require.NoError(t, audit.ExportCSV(ctx, d.Bun, "tenant-b", audit.Filter{}, &buf))
		rows, err = csv.NewReader(&buf).ReadAll()
		require.NoError(t, err)
		require.Len(t, rows, 1)
	})
}

func TestAuditSafeCell(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"": "", "=1+1": "'=1+1", "+x": "'+x", "@a": "'@a", "\tx": "'\tx", "\rx": "'\rx",
		"plain": "plain", "a=b": "a=b",
		// Leading white space does not hide a formula (spreadsheets may trim it).
		" =1+1": "' =1+1", "\n=1+1": "'\n=1+1", "\u00a0@SUM(A1)": "'\u00a0@SUM(A1)", "  -1+1": "'  -1+1",
		// A sign and digits alone is a number (a mobile in E.164), not a formula.
		"+447700900123": "+447700900123", "-2": "-2", " +14155550100": " +14155550100",
		"+": "'+", "-": "'-", "+1+1": "'+1+1", "+44 7700": "'+44 7700", "-2e3": "'-2e3", "+1)": "'+1)",
		"+cmd|' /C calc'!A0": "'+cmd|' /C calc'!A0", "-1+cmd|' /C calc'!A0": "'-1+cmd|' /C calc'!A0",
	} {
		require.Equal(t, want, audit.SafeCell(in), "%q", in)
		require.Equal(t, in, audit.UnquoteCell(audit.SafeCell(in)), "%q comes back", in)
	}
	// The older rule's quotes come off too; other quotes are part of the value.
	for in, want := range map[string]string{
		"'+447700900123": "+447700900123", "'-2": "-2", "'": "'", "'tis": "'tis", "''=x": "''=x", "O'Brien": "O'Brien",
	} {
		require.Equal(t, want, audit.UnquoteCell(in), "%q", in)
	}
}
