package db

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"
	"reflect"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// SQLite: a prepared-statement cache per connection.
//
// modernc's sqlite compiles every statement it is given through
// database/sql's QueryContext/ExecContext and throws the compiled program
// away afterwards; for the end-user grid's statement, compiling cost more
// than running it (a third of the request's database time at 100,000 end
// users, BenchmarkGrid in app/grid_bench_test.go). A statement prepared once
// and kept runs again after a reset. bun writes its values into the SQL text,
// so a text repeats when the same query runs for the same tenant and filter
// (the grid, the session lookup, the signed-in login), which is what the
// cache catches; texts seen once (most inserts) pass through and drop out.
const (
	// stmtCacheSize is how many compiled statements a connection keeps.
	stmtCacheSize = 128
	// stmtCacheMaxText leaves long texts (multi-row inserts of imports and
	// demo data, whose compiled programs are large and never repeat) uncached
	// (and unremembered on PostgreSQL).
	stmtCacheMaxText = 8 << 10
)

// sqliteConnector opens connections of the registered sqlite driver, each
// wrapped with a statement cache.
type sqliteConnector struct {
	drv driver.Driver
	dsn string
}

func (c *sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	inner, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	sc, ok := inner.(sqliteDriverConn)
	if !ok {
		_ = inner.Close()
		return nil, errors.New("db: the sqlite driver's connection lacks the context interfaces")
	}
	return &cachingConn{sqliteDriverConn: sc, stmts: map[string]*list.Element{}}, nil
}

func (c *sqliteConnector) Driver() driver.Driver { return c.drv }

// sqliteDriverConn is what database/sql uses of modernc's connection.
type sqliteDriverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// cachingConn is a modernc connection whose QueryContext and ExecContext run
// statements prepared once per SQL text (least recently used dropped first).
// database/sql uses a connection from one goroutine at a time; a statement
// whose rows are still open (a second query of the same text before the
// first's rows are closed, as inside a transaction) is not shared: the second
// runs uncached.
type cachingConn struct {
	sqliteDriverConn
	stmts map[string]*list.Element // of *cachedStmt, in lru
	lru   list.List                // front: most recently used
}

type cachedStmt struct {
	text string
	stmt driver.Stmt
	busy bool // its rows are open
}

// cached returns the prepared statement for query, preparing it on first
// use, or nil when query is not to be cached or its statement is busy.
func (c *cachingConn) cached(ctx context.Context, query string) (*cachedStmt, error) {
	if len(query) > stmtCacheMaxText {
		return nil, nil
	}
	if e, ok := c.stmts[query]; ok {
		cs := e.Value.(*cachedStmt)
		if cs.busy {
			return nil, nil
		}
		c.lru.MoveToFront(e)
		return cs, nil
	}
	st, err := c.sqliteDriverConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	cs := &cachedStmt{text: query, stmt: st}
	c.stmts[query] = c.lru.PushFront(cs)
	for e := c.lru.Back(); c.lru.Len() > stmtCacheSize && e != nil; {
		prev := e.Prev()
		if old := e.Value.(*cachedStmt); !old.busy {
			c.lru.Remove(e)
			delete(c.stmts, old.text)
			_ = old.stmt.Close()
		}
		e = prev
	}
	return cs, nil
}

// QueryContext runs query through its cached statement when it can.
func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := c.cached(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.sqliteDriverConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.busy = true
	return &cachedRows{Rows: rows, cs: cs}, nil
}

// ExecContext runs query through its cached statement when it can.
func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := c.cached(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.sqliteDriverConn.ExecContext(ctx, query, args)
	}
	return cs.stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

// Close finalizes the cached statements, then closes the connection.
func (c *cachingConn) Close() error {
	for e := c.lru.Front(); e != nil; e = e.Next() {
		_ = e.Value.(*cachedStmt).stmt.Close()
	}
	c.lru.Init()
	clear(c.stmts)
	return c.sqliteDriverConn.Close()
}

// cachedRows frees its statement for the next query when closed (closing
// modernc's rows of a prepared statement resets it instead of finalizing).
type cachedRows struct {
	driver.Rows
	cs *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.cs.busy = false
	return err
}

// The column-type methods of modernc's rows, for database/sql's ColumnTypes.

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	return r.Rows.(driver.RowsColumnTypeDatabaseTypeName).ColumnTypeDatabaseTypeName(i)
}

func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	return r.Rows.(driver.RowsColumnTypeLength).ColumnTypeLength(i)
}

func (r *cachedRows) ColumnTypeNullable(i int) (bool, bool) {
	return r.Rows.(driver.RowsColumnTypeNullable).ColumnTypeNullable(i)
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	return r.Rows.(driver.RowsColumnTypePrecisionScale).ColumnTypePrecisionScale(i)
}

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	return r.Rows.(driver.RowsColumnTypeScanType).ColumnTypeScanType(i)
}

// PostgreSQL: bun's statements prepared from their second run.
//
// pgx prepares each new SQL text as a named statement (a round trip of its
// own before the execution's) and keeps 512 of them per connection, which
// pays off for texts that repeat: PostgreSQL then neither parses nor plans
// them again (the grid's statement, the signed-in login's). bun writes its
// values into the SQL text and passes no arguments, so many texts run once
// (an insert with its ids, a lookup by a fresh token): preparing those costs
// a round trip and churns the cache. An argument-less text goes as one
// simple-protocol query the first time the database sees it, and through
// pgx's statement cache from the second time on. Statements with arguments
// (the session store, River, database/sql callers) always use the cache.
//
// The texts seen are remembered for the whole database, not per
// connection: database/sql opens and closes its connections (each a pool
// connection taken and given back) as load comes and goes, and a memory per
// connection began empty each time, so under load the grid's statement was
// parsed and planned again on most requests (a third of PostgreSQL's CPU in
// the grid's throughput run).
type pgConnector struct {
	driver.Connector
	seen *pgSeen
}

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(*stdlib.Conn)
	if !ok {
		_ = conn.Close()
		return nil, errors.New("db: the pgx stdlib connector returned an unexpected connection")
	}
	return &pgConn{Conn: sc, seen: c.seen}, nil
}

// pgSeenMax bounds the texts remembered; past it, they are all forgotten
// and counting starts again (a text then runs once more unprepared).
const pgSeenMax = 4096

// pgSeen is the set of argument-less texts the database has run.
type pgSeen struct {
	mu    sync.Mutex
	texts map[string]struct{}
}

// again records query and reports whether it was seen before.
func (s *pgSeen) again(query string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.texts[query]; ok {
		return true
	}
	if len(query) <= stmtCacheMaxText { // long texts never repeat
		if len(s.texts) >= pgSeenMax {
			clear(s.texts)
		}
		s.texts[query] = struct{}{}
	}
	return false
}

// pgConn is a pgx stdlib connection whose argument-less queries use the
// simple protocol until their text repeats.
type pgConn struct {
	*stdlib.Conn
	seen *pgSeen
}

// simpleProtocol is the option argument pgx reads before a query's
// arguments.
var simpleProtocol = []driver.NamedValue{{Ordinal: 1, Value: pgx.QueryExecModeSimpleProtocol}}

func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 && !c.seen.again(query) {
		args = simpleProtocol
	}
	return c.Conn.QueryContext(ctx, query, args)
}
