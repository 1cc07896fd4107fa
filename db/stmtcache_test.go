package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

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
