// Package db opens Latchkey's database (embedded SQLite by default, PostgreSQL
// when configured), applies migrations, and offers one transaction helper
// through which domain code writes with bun and enqueues River jobs
// atomically on either database. It imports nothing else of Latchkey's.
package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// Dialect names the database engine.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open Latchkey database.
type DB struct {
	// Bun is the query builder over the pool. Writes that belong together go
	// through RunInTx instead.
	Bun *bun.DB
	// SQL is the database/sql pool under Bun (shared with the session store).
	SQL *sql.DB
	// Read is for reads outside transactions on the busiest pages (the
	// end-user grid, the session and the signed-in login): on SQLite a pool
	// of read-only connections beside the one that writes (WAL lets them
	// read while it writes; each statement sees every committed write), on
	// PostgreSQL the same as Bun. Its statements are counted with Bun's.
	Read *bun.DB
	// Pool is the pgx pool on PostgreSQL, nil on SQLite.
	Pool *pgxpool.Pool
	// Dialect says which engine this is.
	Dialect Dialect
	// Path is the SQLite file path ("" on PostgreSQL).
	Path string

	counter *statementCounter
}

// Options configure Open.
type Options struct {
	// URL is "" (SQLite file latchkey.db in DataDir), "sqlite:PATH", or a
	// postgres:// URL.
	URL     string
	DataDir string
	Logger  *slog.Logger
}

// Open connects to the database described by opts. It does not migrate.
func Open(ctx context.Context, opts Options) (*DB, error) {
	u := opts.URL
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		return openPostgres(ctx, u)
	}
	path := strings.TrimPrefix(u, "sqlite:")
	if path == "" {
		if opts.DataDir == "" {
			return nil, errors.New("db: no data directory for the SQLite database")
		}
		if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("db: create data directory: %w", err)
		}
		path = filepath.Join(opts.DataDir, "latchkey.db")
	}
	return openSQLite(ctx, path)
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("db: create %s: %w", dir, err)
		}
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)" +
		"&_pragma=synchronous(NORMAL)&_txlock=immediate&_time_format=sqlite"
	// The registered driver, through a connector that keeps prepared
	// statements (stmtcache.go).
	reg, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("db: open sqlite: %w", err)
	}
	drv := reg.Driver()
	_ = reg.Close()
	sqlDB := sql.OpenDB(&sqliteConnector{drv: drv, dsn: dsn})
	// SQLite allows one writer; River recommends a single connection, which
	// also makes every transaction serial and free of SQLITE_BUSY.
	sqlDB.SetMaxOpenConns(1)
	sqlDB.SetMaxIdleConns(1)
	sqlDB.SetConnMaxLifetime(0)
	sqlDB.SetConnMaxIdleTime(0)
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("db: open sqlite %s: %w", path, err)
	}
	d := newDB(bun.NewDB(sqlDB, sqlitedialect.New(), bun.WithDiscardUnknownColumns()), sqlDB, nil, SQLite, path)
	// With one connection, concurrent requests took turns in SQLite while
	// the other core idled (the grid at 32 clients used 1.6 of 2 cores).
	readDSN := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=query_only(1)&_time_format=sqlite"
	readDB := sql.OpenDB(&sqliteConnector{drv: drv, dsn: readDSN})
	readDB.SetMaxOpenConns(readConns)
	readDB.SetMaxIdleConns(readConns)
	readDB.SetConnMaxLifetime(0)
	readDB.SetConnMaxIdleTime(0)
	d.Read = bun.NewDB(readDB, sqlitedialect.New(), bun.WithDiscardUnknownColumns())
	d.Read.AddQueryHook(d.counter)
	return d, nil
}

func openPostgres(ctx context.Context, url string) (*DB, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("db: parse postgres url: %w", err)
	}
	if pcfg.MaxConns < pgMinConns {
		pcfg.MaxConns = pgMinConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("db: open postgres: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: connect to postgres: %w", err)
	}
	// bun's statements without arguments in one round trip (stmtcache.go).
	sqlDB := sql.OpenDB(pgConnector{stdlib.GetPoolConnector(pool), &pgSeen{texts: map[string]struct{}{}}})
	// Each open database/sql connection holds a pool connection. database/sql
	// kept 2 idle by default and closed the rest after each statement, so
	// under concurrent requests most statements took a pool connection, and
	// handed it back, of their own. It now opens and keeps all but riverConns
	// (River takes its connections from the pool directly, and would wait for
	// ones held here), and gives idle ones back a few minutes after a burst.
	sqlDB.SetMaxOpenConns(int(pcfg.MaxConns) - riverConns)
	sqlDB.SetMaxIdleConns(int(pcfg.MaxConns) - riverConns)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	return newDB(bun.NewDB(sqlDB, pgdialect.New(), bun.WithDiscardUnknownColumns()), sqlDB, pool, Postgres, ""), nil
}

// pgMinConns is the least size of the PostgreSQL pool, and riverConns the
// part of it that database/sql leaves to River when idle (its listener holds
// one for good).
const (
	pgMinConns = 12
	riverConns = 4
)

func newDB(b *bun.DB, sqlDB *sql.DB, pool *pgxpool.Pool, dia Dialect, path string) *DB {
	c := &statementCounter{}
	b.AddQueryHook(c)
	return &DB{Bun: b, SQL: sqlDB, Read: b, Pool: pool, Dialect: dia, Path: path, counter: c}
}

// readConns is how many read-only connections SQLite's Read pool keeps.
var readConns = max(2, min(8, runtime.NumCPU()))

// Close closes the pools.
func (d *DB) Close() error {
	err := d.Bun.Close()
	if d.Read != nil && d.Read != d.Bun {
		err = errors.Join(err, d.Read.Close())
	}
	if d.Pool != nil {
		d.Pool.Close()
	}
	return err
}

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if d.Pool != nil {
		return d.Pool.Ping(ctx)
	}
	return d.SQL.PingContext(ctx)
}

// Tx is one database transaction. It is a bun.IDB, so helpers that take a
// bun.IDB accept it, and River jobs inserted through a Queue with it commit
// or roll back together with the writes.
type Tx struct {
	bun.IDB
	sqlTx *sql.Tx // SQLite
	pgxTx pgx.Tx  // PostgreSQL: the transaction on the pinned connection bun uses
	after []func()
}

// AfterCommit registers fn to run once the transaction has committed (not
// on rollback): waking in-process waiters for what it wrote, for example.
func (t *Tx) AfterCommit(fn func()) { t.after = append(t.after, fn) }

func (t *Tx) committed() {
	for _, fn := range t.after {
		fn()
	}
}

// RunInTx runs fn in a transaction and commits when fn returns nil. It rolls
// back on error or panic. fn must use tx, not d.Bun, for every statement.
func (d *DB) RunInTx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) (err error) {
	if d.Dialect == SQLite {
		btx, err := d.Bun.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("db: begin: %w", err)
		}
		tx := &Tx{IDB: btx, sqlTx: btx.Tx}
		defer func() {
			if p := recover(); p != nil {
				_ = btx.Rollback()
				panic(p)
			}
		}()
		if err := fn(ctx, tx); err != nil {
			_ = btx.Rollback()
			return err
		}
		if err := btx.Commit(); err != nil {
			return fmt.Errorf("db: commit: %w", err)
		}
		tx.committed()
		return nil
	}

	// PostgreSQL: pin one connection, begin the transaction with pgx on it so
	// that River gets a real pgx.Tx, and let bun run on the same connection.
	conn, err := d.Bun.Conn(ctx)
	if err != nil {
		return fmt.Errorf("db: acquire connection: %w", err)
	}
	defer conn.Close()
	var pc *pgx.Conn
	if err := conn.Raw(func(dc any) error {
		sc, ok := dc.(*pgConn)
		if !ok {
			return fmt.Errorf("db: unexpected driver connection %T", dc)
		}
		pc = sc.Conn.Conn()
		return nil
	}); err != nil {
		return err
	}
	ptx, err := pc.Begin(ctx)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	tx := &Tx{IDB: conn, pgxTx: ptx}
	rollback := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = ptx.Rollback(rctx)
	}
	defer func() {
		if p := recover(); p != nil {
			rollback()
			panic(p)
		}
	}()
	if err := fn(ctx, tx); err != nil {
		rollback()
		return err
	}
	if err := ptx.Commit(ctx); err != nil {
		return fmt.Errorf("db: commit: %w", err)
	}
	tx.committed()
	return nil
}

// NewID returns a random, unguessable identifier (128 bits, 26 lowercase
// base32 characters) for a new row.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("db: crypto/rand failed: " + err.Error())
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// IsUnavailable reports whether err means the database cannot be reached
// (as opposed to a bad query), so that callers answer 503 and retry later.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	switch {
	case errors.As(err, &ce), errors.As(err, &ne):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case errors.Is(err, pgx.ErrTxClosed):
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P01-57P03: admin shutdown, crash, cannot connect now.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	return errors.Is(err, sql.ErrConnDone) || strings.Contains(err.Error(), "closed pool")
}

// IsUniqueViolation reports whether err is a unique-constraint failure.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// statementCounter counts the statements bun sends (a bun query hook).
type statementCounter struct{ n atomic.Int64 }

func (s *statementCounter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	s.n.Add(1)
	return ctx
}

func (s *statementCounter) AfterQuery(context.Context, *bun.QueryEvent) {}

// Statements returns how many SQL statements this process has sent through
// bun, plus those reported with CountStatement (the session store): a figure
// for benchmarks and N+1 checks, not for billing (BEGIN/COMMIT are not counted).
func (d *DB) Statements() int64 { return d.counter.n.Load() }

// CountStatement records a statement sent outside bun.
func (d *DB) CountStatement() { d.counter.n.Add(1) }
