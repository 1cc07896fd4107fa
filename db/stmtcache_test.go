package db_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// The SQLite connection keeps prepared statements per SQL text, and the
// PostgreSQL connection sends argument-less statements over the simple
// protocol (stmtcache.go): both must give the same results as before, on
// repeated, nested, evicted and failing statements, across schema changes and
// transactions.
func TestStatementsRepeatNestAndSurviveSchemaChanges(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		_, err := d.SQL.ExecContext(ctx, "CREATE TABLE stmt_probe (id INTEGER PRIMARY KEY, name TEXT NOT NULL, at TIMESTAMP, flag BOOLEAN, raw "+
			map[db.Dialect]string{db.SQLite: "BLOB", db.Postgres: "BYTEA"}[d.Dialect]+")")
		require.NoError(t, err)
		at := time.Date(2026, 11, 21, 9, 30, 15, 0, time.UTC)
		for i := 1; i <= 3; i++ {
			_, err := d.Bun.ExecContext(ctx, "INSERT INTO stmt_probe (id, name, at, flag, raw) VALUES (?, ?, ?, ?, ?)",
				i, fmt.Sprint("n", i), at, i%2 == 1, []byte{0, byte(i), 0xff})
			require.NoError(t, err)
		}
		type probe struct {
			ID   int       `bun:"id"`
			Name string    `bun:"name"`
			At   time.Time `bun:"at"`
			Flag bool      `bun:"flag"`
			Raw  []byte    `bun:"raw"`
		}
		all := func() []probe {
			var out []probe
			require.NoError(t, d.Bun.NewSelect().TableExpr("stmt_probe").Column("id", "name", "at", "flag", "raw").Order("id").Scan(ctx, &out))
			return out
		}
		// The same text many times (bun writes the values into it, so this is
		// the cached path on SQLite and the simple protocol on PostgreSQL):
		// every run sees the rows and their types.
		for range 5 {
			got := all()
			require.Len(t, got, 3)
			require.Equal(t, "n2", got[1].Name)
			require.True(t, got[1].At.Equal(at), got[1].At)
			require.False(t, got[1].Flag)
			require.True(t, got[0].Flag)
			require.Equal(t, []byte{0, 2, 0xff}, got[1].Raw)
		}
		// With arguments through database/sql too.
		var name string
		for i := 1; i <= 3; i++ {
			require.NoError(t, d.SQL.QueryRowContext(ctx, map[db.Dialect]string{db.SQLite: "SELECT name FROM stmt_probe WHERE id = ?", db.Postgres: "SELECT name FROM stmt_probe WHERE id = $1"}[d.Dialect], i).Scan(&name))
			require.Equal(t, fmt.Sprint("n", i), name)
		}

		// Nested: the same text again while the first one's rows are open (in a
		// transaction, where both run on one connection). SQLite only: a pgx
		// connection runs one query at a time, so nobody nests there.
		if d.Dialect == db.SQLite {
			require.NoError(t, d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
				const q = "SELECT id FROM stmt_probe ORDER BY id"
				outer, err := tx.QueryContext(ctx, q)
				require.NoError(t, err)
				defer outer.Close()
				var ids, inner []int
				for outer.Next() {
					var id int
					require.NoError(t, outer.Scan(&id))
					ids = append(ids, id)
					if id == 2 {
						rows, err := tx.QueryContext(ctx, q)
						require.NoError(t, err)
						for rows.Next() {
							var j int
							require.NoError(t, rows.Scan(&j))
							inner = append(inner, j)
						}
						require.NoError(t, rows.Close())
					}
				}
				require.NoError(t, outer.Err())
				require.Equal(t, []int{1, 2, 3}, ids)
				require.Equal(t, []int{1, 2, 3}, inner)
				return nil
			}))
		}

		// More distinct texts than the cache holds, then the first again.
		for i := range 300 {
			var n int
			require.NoError(t, d.Bun.NewSelect().TableExpr("stmt_probe").ColumnExpr("count(*)").Where("id < ?", i).Scan(ctx, &n))
			require.Equal(t, min(max(i-1, 0), 3), n, "id < %d", i)
		}
		require.Len(t, all(), 3)

		// A failing statement reports its error and leaves nothing behind.
		for range 2 {
			_, err = d.SQL.ExecContext(ctx, "INSERT INTO stmt_probe (id, name) VALUES (1, 'dup')")
			require.Error(t, err)
			_, err = d.SQL.QueryContext(ctx, "SELECT no_such_column FROM stmt_probe")
			require.Error(t, err)
		}

		// A schema change under a prepared statement: the next run sees it.
		_, err = d.SQL.ExecContext(ctx, "ALTER TABLE stmt_probe ADD COLUMN extra TEXT NOT NULL DEFAULT 'x'")
		require.NoError(t, err)
		cols := func() []string {
			rows, err := d.SQL.QueryContext(ctx, "SELECT * FROM stmt_probe ORDER BY id")
			require.NoError(t, err)
			defer rows.Close()
			c, err := rows.Columns()
			require.NoError(t, err)
			return c
		}
		require.Contains(t, cols(), "extra")
		_, err = d.SQL.ExecContext(ctx, "ALTER TABLE stmt_probe DROP COLUMN extra")
		require.NoError(t, err)
		require.NotContains(t, cols(), "extra")

		// A write in a transaction rolled back is gone; a cached statement
		// does not hold the table (DROP succeeds).
		err = d.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			_, err := tx.NewDelete().TableExpr("stmt_probe").Where("id = ?", 3).Exec(ctx)
			require.NoError(t, err)
			return fmt.Errorf("roll back")
		})
		require.Error(t, err)
		require.Len(t, all(), 3)
		_, err = d.SQL.ExecContext(ctx, "DROP TABLE stmt_probe")
		require.NoError(t, err)
	})
}

// On PostgreSQL a text seen once anywhere is prepared the next time on any
// connection, and database/sql keeps its connections between bursts of
// concurrent statements: with a memory per connection and database/sql's 2
// idle connections, most statements under load ran on a fresh connection and
// were parsed and planned again (BenchmarkGrid: a third of PostgreSQL's CPU).
func TestPostgresRepeatedTextsPreparedOnEveryConnection(t *testing.T) {
	d := dbtest.New(t, db.Postgres)
	ctx := context.Background()
	// Two connections held at once are two server sessions.
	c1, err := d.SQL.Conn(ctx)
	require.NoError(t, err)
	defer c1.Close()
	c2, err := d.SQL.Conn(ctx)
	require.NoError(t, err)
	defer c2.Close()
	var pid1, pid2 int
	require.NoError(t, c1.QueryRowContext(ctx, "SELECT pg_backend_pid() + $1", 0).Scan(&pid1)) // an argument: no simple protocol
	require.NoError(t, c2.QueryRowContext(ctx, "SELECT pg_backend_pid() + $1", 0).Scan(&pid2))
	require.NotEqual(t, pid1, pid2)

	const text = "SELECT 'prepared on every connection' AS probe"
	prepared := func(c interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) bool {
		var n int
		require.NoError(t, c.QueryRowContext(ctx, "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", text).Scan(&n))
		return n > 0
	}
	run := func(c *sql.Conn) {
		var s string
		require.NoError(t, c.QueryRowContext(ctx, text).Scan(&s))
		require.Equal(t, "prepared on every connection", s)
	}
	run(c1) // first sight: the simple protocol, nothing prepared
	require.False(t, prepared(c1))
	run(c2) // seen before, on another connection: prepared here
	require.True(t, prepared(c2), "a text seen on one connection is prepared on the next")
	run(c1)
	require.True(t, prepared(c1))
	require.NoError(t, c1.Close())
	require.NoError(t, c2.Close())

	// A burst of concurrent statements leaves its connections open and idle
	// (each holds a pool connection), and never takes the pool's last
	// connections, which River uses directly.
	st := d.SQL.Stats()
	require.Less(t, st.MaxOpenConnections, int(d.Pool.Config().MaxConns))
	var wg sync.WaitGroup
	for range st.MaxOpenConnections * 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n int
			assert.NoError(t, d.SQL.QueryRowContext(ctx, "SELECT count(*) FROM pg_sleep($1)", 0.05).Scan(&n))
		}()
	}
	wg.Wait()
	st = d.SQL.Stats()
	require.Equal(t, st.MaxOpenConnections, st.Idle, "every connection of the burst kept: %+v", st)
	require.Zero(t, st.MaxIdleClosed, "none closed for want of idle room: %+v", st)
	conn, err := d.Pool.Acquire(ctx) // River's share is free
	require.NoError(t, err)
	conn.Release()
}
