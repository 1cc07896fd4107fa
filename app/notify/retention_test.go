package notify_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// insertAt inserts a message of the channel with the status, created at.
func insertAt(t *testing.T, d *db.DB, tenantID, channel, status string, at time.Time) string {
	t.Helper()
	m := &notify.Message{ID: db.NewID(), TenantID: tenantID, Channel: channel, Kind: "selfserve_code",
		To: "dana@customer.example", Status: status, CreatedAt: at.UTC()}
	_, err := d.Bun.NewInsert().Model(m).Exec(context.Background())
	require.NoError(t, err)
	return m.ID
}

func messageIDs(t *testing.T, d *db.DB) []string {
	t.Helper()
	var ids []string
	require.NoError(t, d.Bun.NewSelect().Table("messages").Column("id").Scan(context.Background(), &ids))
	sort.Strings(ids)
	return ids
}

// TestPrune: finished messages (sent, failed, outbox) of every tenant and
// channel created before the cut-off go, in batches; queued and sending
// ones stay however old, and newer ones stay whatever their status.
func TestPrune(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		now := time.Now()
		before := now.Add(-30 * 24 * time.Hour)
		a, b := newTenant(t, d), newTenant(t, d)
		var keep []string
		gone := 0
		for i, tn := range []string{a, b} {
			for j, ch := range []string{"email", "sms", "push"} {
				old := before.Add(-time.Duration(1+i*3+j) * time.Hour)
				for _, st := range notify.Finished {
					insertAt(t, d, tn, ch, st, old)
					insertAt(t, d, tn, ch, st, before.Add(-400*24*time.Hour))
					gone += 2
					keep = append(keep, insertAt(t, d, tn, ch, st, before.Add(time.Minute)))
				}
				for _, st := range []string{notify.StatusQueued, notify.StatusSending} {
					keep = append(keep, insertAt(t, d, tn, ch, st, old), insertAt(t, d, tn, ch, st, now))
				}
			}
		}
		require.Equal(t, 36, gone)
		sort.Strings(keep)

		n, err := notify.Prune(ctx, d.Bun, before, 5) // 36 rows: 8 batches, the last one short
		require.NoError(t, err)
		require.Equal(t, gone, n)
		require.Equal(t, keep, messageIDs(t, d))

		n, err = notify.Prune(ctx, d.Bun, before, 5)
		require.NoError(t, err)
		require.Zero(t, n, "nothing more")

		// A batch size that divides the backlog exactly ends with an empty batch.
		for i := range 6 {
			insertAt(t, d, a, "email", notify.StatusSent, before.Add(-time.Duration(i+1)*time.Minute))
		}
		n, err = notify.Prune(ctx, d.Bun, before, 3)
		require.NoError(t, err)
		require.Equal(t, 6, n)
		require.Equal(t, keep, messageIDs(t, d))

		_, err = notify.Prune(ctx, d.Bun, before, 0)
		require.Error(t, err)
	})
}

// TestPruneStopsWhenCancelled: a cancelled context stops before the next
// batch, and what is left goes on the next run.
func TestPruneStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		tn := newTenant(t, d)
		before := time.Now().Add(-24 * time.Hour)
		for i := range 4 {
			insertAt(t, d, tn, "email", notify.StatusSent, before.Add(-time.Duration(i+1)*time.Hour))
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n, err := notify.Prune(ctx, d.Bun, before, 2)
		require.ErrorIs(t, err, context.Canceled)
		require.Zero(t, n)
		n, err = notify.Prune(context.Background(), d.Bun, before, 2)
		require.NoError(t, err)
		require.Equal(t, 4, n, fmt.Sprint(messageIDs(t, d)))
	})
}
