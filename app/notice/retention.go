package notice

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/db"
)

// PruneDay is the first local day whose notices Prune keeps when it
// deletes those older than `before`: before's UTC date, less one day. A
// notice's day is a date in its own time zone (UTC−12 to UTC+14), so every
// notice Prune deletes is of a day that ended everywhere before `before`.
func PruneDay(before time.Time) string {
	return before.UTC().AddDate(0, 0, -1).Format(dayLayout)
}

// Prune deletes the sent and canceled notices of every tenant whose day is
// older than PruneDay(before), batch rows per statement until none is
// left (db.DeleteInBatches), and returns how many it deleted. Pending
// notices stay (their send job cancels them, or still sends them).
//
// Deleting past days cannot let a notice go twice. The sweep and Lockout
// only ever insert a notice for today (the customer's local date now), and
// notice_runs, which Prune leaves alone, keeps each customer's last
// planned day so that an earlier day is never planned again; so the
// once-a-day key (notices_once_key) is never needed for a day this old.
// Callers keep `before` at least a day in the past (the retention period
// is at least one day), so today is never pruned in any time zone.
func (s *Service) Prune(ctx context.Context, before time.Time, batch int) (int, error) {
	n, err := db.DeleteInBatches(ctx, s.d.DB.Bun, "notices", "day",
		"day < ? AND state <> ?", []any{PruneDay(before), StatePending}, batch)
	if err != nil {
		return n, fmt.Errorf("notice: prune: %w", err)
	}
	return n, nil
}
