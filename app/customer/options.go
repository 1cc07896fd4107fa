package customer

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// Option is a customer in a picker (the end-user grid's customer filter).
type Option struct {
	ID   string
	Name string
}

// OptionsTTL is how long Options keeps a tenant's list. A change made through
// this process's Service is seen at once (it forgets the tenant's list); one
// made by another process (several web processes on one PostgreSQL
// database, or the demo-data command) shows in the pickers within this time.
const OptionsTTL = 5 * time.Second

// optionsCache holds each tenant's picker list: every full page of the
// tenant-wide end-user grid shows it, and reading it was one of the page's
// four statements (BenchmarkGrid in app/grid_bench_test.go).
var optionsCache = struct {
	sync.Mutex
	m map[string]optionsEntry
}{m: map[string]optionsEntry{}}

type optionsEntry struct {
	opts []Option
	at   time.Time
}

// Options returns the tenant's customers that are not archived, by name
// (case-insensitive, then id), from a cache of at most OptionsTTL. The
// returned slice is shared: callers must not change it.
func Options(ctx context.Context, idb bun.IDB, tenantID string) ([]Option, error) {
	optionsCache.Lock()
	e, ok := optionsCache.m[tenantID]
	optionsCache.Unlock()
	if ok && time.Since(e.at) < OptionsTTL {
		return e.opts, nil
	}
	at := time.Now()
	opts, err := LoadOptions(ctx, idb, tenantID)
	if err != nil {
		return nil, err
	}
	optionsCache.Lock()
	defer optionsCache.Unlock()
	if cur, ok := optionsCache.m[tenantID]; !ok || cur.at.Before(at) {
		optionsCache.m[tenantID] = optionsEntry{opts: opts, at: at}
	}
	// A tenant's entry is small; drop the stale ones now and then so that an
	// installation with many tenants does not keep them all.
	if len(optionsCache.m) > 1000 {
		for id, old := range optionsCache.m {
			if time.Since(old.at) >= OptionsTTL {
				delete(optionsCache.m, id)
			}
		}
	}
	return opts, nil
}

// ForgetOptions drops the tenant's cached picker list (after a change to its
// customers: created, renamed, archived, restored, deleted).
func ForgetOptions(tenantID string) {
	optionsCache.Lock()
	delete(optionsCache.m, tenantID)
	optionsCache.Unlock()
}

// LoadOptions reads the tenant's picker list from the database (Options
// without the cache). The customers come as one row, "id<US>name" joined by
// <RS> (ASCII unit and record separators, which ids and names never
// contain): one aggregated string costs a tenth of scanning a row per
// customer.
func LoadOptions(ctx context.Context, idb bun.IDB, tenantID string) ([]Option, error) {
	agg := "group_concat(id || char(31) || name, char(30) ORDER BY lower(name), id)"
	if idb.Dialect().Name() == dialect.PG {
		agg = "string_agg(id || chr(31) || name, chr(30) ORDER BY lower(name), id)"
	}
	var all sql.NullString
	err := idb.NewSelect().TableExpr("customers").ColumnExpr(agg).
		Where("tenant_id = ? AND archived_at IS NULL", tenantID).Scan(ctx, &all)
	if err != nil {
		return nil, fmt.Errorf("customer: options: %w", err)
	}
	if all.String == "" {
		return nil, nil
	}
	out := make([]Option, 0, strings.Count(all.String, "\x1e")+1)
	for item := range strings.SplitSeq(all.String, "\x1e") {
		id, name, _ := strings.Cut(item, "\x1f")
		out = append(out, Option{ID: id, Name: name})
	}
	return out, nil
}
