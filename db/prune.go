package db

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

// DeleteInBatches deletes the rows of table that match where (a condition
// with ? placeholders for args), at most batch rows per DELETE, the oldest
// by order first, until none is left, and returns how many it deleted.
//
// Each batch is two statements outside any transaction: the ids of the
// next batch (through an index on the condition's column, in order), then
// a DELETE of those ids that repeats the condition, so that a row changed
// in between is kept. A DELETE of a list of ids uses the primary key on
// both databases (a DELETE … WHERE id IN (SELECT … LIMIT) can make
// PostgreSQL scan the whole table for every batch), and each one commits
// on its own, so a large backlog never holds SQLite's write lock for long.
// A cancelled ctx stops it between batches.
func DeleteInBatches(ctx context.Context, idb bun.IDB, table, order, where string, args []any, batch int) (int, error) {
	if batch <= 0 {
		return 0, fmt.Errorf("db: delete from %s: batch size %d", table, batch)
	}
	total := 0
	ids := make([]string, 0, batch)
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		ids = ids[:0]
		if err := idb.NewSelect().Table(table).Column("id").Where(where, args...).
			OrderExpr(order).Limit(int64(batch)).Scan(ctx, &ids); err != nil {
			return total, fmt.Errorf("db: select from %s: %w", table, err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		res, err := idb.NewDelete().Table(table).Where("id IN (?)", bun.In(ids)).Where(where, args...).Exec(ctx)
		if err != nil {
			return total, fmt.Errorf("db: delete from %s: %w", table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("db: delete from %s: %w", table, err)
		}
		total += int(n)
		if len(ids) < batch {
			return total, nil
		}
	}
}
