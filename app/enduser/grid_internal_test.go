package enduser

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// CountEndUsers counts the end users matching f one by one, never from
// end_user_counts: the reference the kept counts are checked against.
func CountEndUsers(ctx context.Context, idb bun.IDB, tenantID string, f Filter, now time.Time) (int, error) {
	var n int
	err := countEndUsersQuery(idb, tenantID, f, now).Scan(ctx, &n)
	return n, err
}

// StatusCASE is the generated column's definition, for tests.
var StatusCASE = statusCASE
