package db_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

type noopArgs struct {
	N int `json:"n"`
}

func (noopArgs) Kind() string { return "dbtest_noop" }

func countJobs(t *testing.T, d *db.DB) int {
	t.Helper()
	n, err := d.Bun.NewSelect().Table("river_job").Where("kind = ?", "dbtest_noop").Count(context.Background())
	require.NoError(t, err)
	return int(n)
}

func countTenants(t *testing.T, d *db.DB) int {
	t.Helper()
	n, err := d.Bun.NewSelect().Table("tenants").Count(context.Background())
	require.NoError(t, err)
	return int(n)
}

func insertTenant(ctx context.Context, tx *db.Tx) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO tenants (id, created_at, updated_at) VALUES (?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)", db.NewID())
	return err
}

func TestTxCommitsWritesAndJobsTogether(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		q, err := db.NewQueue(d, &river.Config{})
		require.NoError(t, err)

		err = d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			require.NoError(t, insertTenant(ctx, tx))
			_, err := q.InsertTx(ctx, tx, noopArgs{N: 1}, nil)
			return err
		})
		require.NoError(t, err)
		require.Equal(t, 1, countTenants(t, d))
		require.Equal(t, 1, countJobs(t, d))

		boom := errors.New("boom")
		err = d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			require.NoError(t, insertTenant(ctx, tx))
			_, err := q.InsertTx(ctx, tx, noopArgs{N: 2}, nil)
			require.NoError(t, err)
			return boom
		})
		require.ErrorIs(t, err, boom)
		require.Equal(t, 1, countTenants(t, d), "rolled-back write must not persist")
		require.Equal(t, 1, countJobs(t, d), "job of a rolled-back transaction must not exist")

		// Unique jobs are deduplicated inside transactions too.
		opts := &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
		for i := 0; i < 2; i++ {
			err = d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
				res, err := q.InsertTx(ctx, tx, noopArgs{N: 3}, opts)
				if err == nil && i == 1 {
					require.True(t, res.UniqueSkippedAsDuplicate)
				}
				return err
			})
			require.NoError(t, err)
		}
		require.Equal(t, 2, countJobs(t, d))

		// InsertMany in a transaction.
		err = d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			_, err := q.InsertManyTx(ctx, tx, []river.InsertManyParams{{Args: noopArgs{N: 10}}, {Args: noopArgs{N: 11}}})
			return err
		})
		require.NoError(t, err)
		require.Equal(t, 4, countJobs(t, d))
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		n, err := d.Migrate(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "a migrated database has nothing left to apply")
	})
}

func TestAuditEventsAreAppendOnly(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		_, err := d.Bun.ExecContext(ctx, `INSERT INTO audit_events (id, tenant_id, seq, at, action, result, prev_hash, hash)
			VALUES ('a', 't', 1, CURRENT_TIMESTAMP, 'x', 'ok', '', 'h')`)
		require.NoError(t, err)
		_, err = d.Bun.ExecContext(ctx, `UPDATE audit_events SET action = 'y'`)
		require.ErrorContains(t, err, "append-only")
		_, err = d.Bun.ExecContext(ctx, `DELETE FROM audit_events`)
		require.ErrorContains(t, err, "append-only")
	})
}

func TestNewIDIsRandom(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := db.NewID()
		require.Len(t, id, 26)
		require.False(t, seen[id])
		seen[id] = true
	}
}

// Read: on SQLite read-only connections beside the writer; they see each
// committed write at once, read while a write transaction is open (its
// uncommitted rows unseen), and refuse to write. On PostgreSQL it is Bun.
func TestReadConnections(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if d.Dialect == db.Postgres {
			require.Same(t, d.Bun, d.Read)
			return
		}
		require.NotSame(t, d.Bun, d.Read)
		count := func() int {
			n, err := d.Read.NewSelect().Table("tenants").Count(ctx)
			require.NoError(t, err)
			return int(n)
		}
		before := count()
		require.NoError(t, d.RunInTx(ctx, insertTenant))
		require.Equal(t, before+1, count(), "a committed write is seen at once")

		inTx := make(chan struct{})
		release := make(chan struct{})
		done := make(chan error)
		go func() {
			done <- d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
				if err := insertTenant(ctx, tx); err != nil {
					return err
				}
				close(inTx)
				<-release
				return nil
			})
		}()
		<-inTx
		require.Equal(t, before+1, count(), "reads go on during a write transaction, without its rows")
		close(release)
		require.NoError(t, <-done)
		require.Equal(t, before+2, count())

		_, err := d.Read.ExecContext(ctx, "DELETE FROM tenants")
		require.Error(t, err, "read connections do not write")
		require.Equal(t, before+2, count())
	})
}
