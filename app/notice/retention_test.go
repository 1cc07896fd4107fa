package notice_test

import (
	"context"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/notice"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// insertNotice inserts a notice of the kind, day and state for its own end
// user (notices have no foreign keys) and returns its id.
func (f *fixture) insertNotice(t *testing.T, kind, day, state string) string {
	t.Helper()
	n := &notice.Notice{ID: db.NewID(), TenantID: f.tenant.ID, CustomerID: f.cu.ID, EndUserID: db.NewID(), Kind: kind,
		Day: day, TimeZone: "UTC", State: state, PlannedAt: f.clk.now().UTC()}
	_, err := f.d.Bun.NewInsert().Model(n).Exec(context.Background())
	require.NoError(t, err)
	return n.ID
}

func (f *fixture) noticeIDs(t *testing.T) []string {
	t.Helper()
	var ids []string
	require.NoError(t, f.d.Bun.NewSelect().Table("notices").Column("id").Scan(context.Background(), &ids))
	sort.Strings(ids)
	return ids
}

// TestPruneDay: the first day kept is the cut-off's UTC date less one, so
// a notice goes only once its day has ended in every time zone.
func TestPruneDay(t *testing.T) {
	t.Parallel()
	require.Equal(t, "2026-06-14", notice.PruneDay(at("UTC", "2026-06-15 00:00")))
	require.Equal(t, "2026-06-14", notice.PruneDay(at("UTC", "2026-06-15 23:59")))
	require.Equal(t, "2026-06-15", notice.PruneDay(at("Pacific/Auckland", "2026-06-16 13:00")), "UTC: 16 June 01:00")
}

// TestPrune: sent and canceled notices (expiry and lockout) of days before
// PruneDay go, in batches; pending ones stay however old, and later days
// stay whatever their state.
func TestPrune(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d, "UTC", at("UTC", "2026-07-15 12:00"))
		before := f.clk.now().AddDate(0, 0, -30) // 15 June 12:00 UTC: days before 14 June go
		var keep []string
		gone := 0
		for _, kind := range []string{notice.KindExpiry, notice.KindLockout} {
			for _, state := range []string{notice.StateSent, notice.StateCanceled} {
				for _, day := range []string{"2025-01-01", "2026-05-31", "2026-06-13"} {
					f.insertNotice(t, kind, day, state)
					gone++
				}
				keep = append(keep, f.insertNotice(t, kind, "2026-06-14", state), f.insertNotice(t, kind, "2026-07-15", state))
			}
			keep = append(keep, f.insertNotice(t, kind, "2025-01-01", notice.StatePending), f.insertNotice(t, kind, "2026-07-15", notice.StatePending))
		}
		sort.Strings(keep)
		require.Equal(t, 12, gone)

		n, err := f.svc.Prune(ctx, before, 5) // 12 rows: batches of 5, 5 and 2
		require.NoError(t, err)
		require.Equal(t, gone, n)
		require.Equal(t, keep, f.noticeIDs(t))

		n, err = f.svc.Prune(ctx, before, 5)
		require.NoError(t, err)
		require.Zero(t, n)

		_, err = f.svc.Prune(ctx, before, 0)
		require.Error(t, err)
	})
}

// TestPruneDoesNotResend: a customer's notices sent on two days, pruned
// long after; sweeps at those days again (a clock set back) plan nothing
// and send nothing: the sweep plans only today, and never a day before
// the customer's last planned one (notice_runs, which pruning keeps), so
// the once-a-day key is not needed for pruned days. A later day is
// planned as usual.
func TestPruneDoesNotResend(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d, "Europe/London", at("Europe/London", "2026-06-01 09:30"))
		ann := f.user(t, user{username: "ann", expires: ptr(at("Europe/London", "2026-06-10 17:00"))})
		emails := func() int {
			n, err := d.Bun.NewSelect().Table("messages").Where("kind = ?", notice.MessageKindExpiry).Count(ctx)
			require.NoError(t, err)
			return int(n)
		}
		for _, day := range []string{"2026-06-01", "2026-06-02"} {
			f.clk.set(at("Europe/London", day+" 09:30"))
			res, err := f.svc.Sweep(ctx)
			require.NoError(t, err)
			require.Equal(t, 1, res.Planned, day)
			ns := f.notices(t, ann)
			sent, err := f.svc.Send(ctx, ns[len(ns)-1].ID)
			require.NoError(t, err)
			require.Equal(t, notice.StateSent, sent.State, day)
		}
		require.Equal(t, 2, emails())
		require.Equal(t, 2, f.sendJobs(t))

		f.clk.set(at("Europe/London", "2026-07-20 10:00"))
		n, err := f.svc.Prune(ctx, f.clk.now().AddDate(0, 0, -30), 1)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		require.Empty(t, f.notices(t, ann))

		for _, day := range []string{"2026-06-01", "2026-06-02"} {
			for _, hm := range []string{"09:00", "09:30", "23:59"} {
				f.clk.set(at("Europe/London", day+" "+hm))
				res, err := f.svc.Sweep(ctx)
				require.NoError(t, err)
				require.Zero(t, res.Planned, "%s %s", day, hm)
			}
		}
		require.Empty(t, f.notices(t, ann), "no notice planned again")
		require.Equal(t, 2, f.sendJobs(t), "no send job")
		require.Equal(t, 2, emails(), "no email")

		f.clk.set(at("Europe/London", "2026-06-03 09:30"))
		res, err := f.svc.Sweep(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, res.Planned, "the next day is planned as usual")
	})
}
