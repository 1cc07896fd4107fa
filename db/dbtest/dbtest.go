// Package dbtest gives tests a fresh, migrated database on SQLite and on
// PostgreSQL. PostgreSQL comes from LATCHKEY_TEST_DATABASE_URL or from a
// throwaway cluster that the helper starts once per test binary when the
// PostgreSQL server binaries are installed. Without PostgreSQL the PostgreSQL
// variants skip with a message, unless LATCHKEY_TEST_STRICT=1, where they fail.
package dbtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/db"
)

// Strict reports whether missing test backends fail the run.
func Strict() bool { return os.Getenv("LATCHKEY_TEST_STRICT") == "1" }

// Dialects are the database engines every storage test runs on.
var Dialects = []db.Dialect{db.SQLite, db.Postgres}

// Main runs the package's tests and stops a PostgreSQL cluster started for
// them. Use it as `func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }`.
func Main(m *testing.M) int {
	code := m.Run()
	stopCluster()
	return code
}

// Each runs fn as a subtest per dialect with a fresh migrated database.
func Each(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	for _, dia := range Dialects {
		t.Run(string(dia), func(t *testing.T) {
			fn(t, New(t, dia))
		})
	}
}

// New returns a fresh migrated database of the dialect, closed when t ends.
func New(tb testing.TB, dia db.Dialect) *db.DB {
	tb.Helper()
	url := NewURL(tb, dia)
	d, err := db.Open(context.Background(), db.Options{URL: url})
	if err != nil {
		tb.Fatalf("dbtest: open %s: %v", dia, err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// NewURL returns the URL of a fresh migrated database of the dialect
// (sqlite:PATH or postgres://…), removed when tb ends.
func NewURL(tb testing.TB, dia db.Dialect) string {
	tb.Helper()
	if dia == db.SQLite {
		return newSQLite(tb)
	}
	return newPostgres(tb)
}

// ---- SQLite: migrate a template file once, copy it per test.

var sqliteTpl struct {
	once sync.Once
	path string
	err  error
}

func newSQLite(tb testing.TB) string {
	sqliteTpl.once.Do(func() {
		dir, err := os.MkdirTemp("", "latchkey-sqlite-tpl-")
		if err != nil {
			sqliteTpl.err = err
			return
		}
		p := filepath.Join(dir, "template.db")
		ctx := context.Background()
		d, err := db.Open(ctx, db.Options{URL: "sqlite:" + p})
		if err != nil {
			sqliteTpl.err = err
			return
		}
		if _, err = d.Migrate(ctx); err == nil {
			_, err = d.SQL.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
		}
		d.Close()
		sqliteTpl.path, sqliteTpl.err = p, err
	})
	if sqliteTpl.err != nil {
		tb.Fatalf("dbtest: sqlite template: %v", sqliteTpl.err)
	}
	dst := filepath.Join(tb.TempDir(), "test.db")
	if err := copyFile(sqliteTpl.path, dst); err != nil {
		tb.Fatalf("dbtest: copy sqlite template: %v", err)
	}
	return "sqlite:" + dst
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ---- PostgreSQL: one server per test binary, a migrated template database,
// and a database per test created from it.

var pg struct {
	once     sync.Once
	mu       sync.Mutex // CREATE DATABASE … TEMPLATE must not run concurrently
	adminURL string     // URL of a maintenance database on the server
	baseURL  func(dbname string) string
	tpl      string
	skip     string // reason to skip when no server is available
	err      error
	cluster  *Cluster
}

func newPostgres(tb testing.TB) string {
	pg.once.Do(setupPostgres)
	if pg.skip != "" {
		if Strict() {
			tb.Fatalf("dbtest: PostgreSQL is required (LATCHKEY_TEST_STRICT=1): %s", pg.skip)
		}
		tb.Skipf("dbtest: skipping PostgreSQL variant: %s", pg.skip)
	}
	if pg.err != nil {
		tb.Fatalf("dbtest: PostgreSQL: %v", pg.err)
	}
	name := "t_" + strings.ReplaceAll(db.NewID(), "-", "")[:20]
	ctx := context.Background()
	pg.mu.Lock()
	err := pgExec(ctx, pg.adminURL, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s STRATEGY FILE_COPY", name, pg.tpl))
	pg.mu.Unlock()
	if err != nil {
		tb.Fatalf("dbtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		_ = pgExec(context.Background(), pg.adminURL, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
	})
	return pg.baseURL(name)
}

func pgExec(ctx context.Context, url, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func setupPostgres() {
	ctx := context.Background()
	if u := os.Getenv("LATCHKEY_TEST_DATABASE_URL"); u != "" {
		cfg, err := pgx.ParseConfig(u)
		if err != nil {
			pg.err = fmt.Errorf("LATCHKEY_TEST_DATABASE_URL: %w", err)
			return
		}
		host, port, user, pass := cfg.Host, cfg.Port, cfg.User, cfg.Password
		pg.baseURL = func(name string) string {
			return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", user, pass, net.JoinHostPort(host, strconv.Itoa(int(port))), name)
		}
		pg.adminURL = u
	} else if err := startCluster(); err != nil {
		pg.skip = err.Error()
		return
	}
	pg.tpl = fmt.Sprintf("latchkey_tpl_%d", os.Getpid())
	if err := pgExec(ctx, pg.adminURL, "DROP DATABASE IF EXISTS "+pg.tpl); err != nil {
		pg.err = err
		return
	}
	if err := pgExec(ctx, pg.adminURL, "CREATE DATABASE "+pg.tpl); err != nil {
		pg.err = err
		return
	}
	d, err := db.Open(ctx, db.Options{URL: pg.baseURL(pg.tpl)})
	if err != nil {
		pg.err = err
		return
	}
	_, err = d.Migrate(ctx)
	d.Close()
	pg.err = err
}

// pgBinDir finds the PostgreSQL server binaries.
func pgBinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server binaries not found (install the Debian package postgresql, or set LATCHKEY_TEST_DATABASE_URL)")
}

// runAs returns the credential to run PostgreSQL with: initdb refuses root,
// so as root it runs as the postgres user.
func runAs() (*syscall.Credential, string, error) {
	if os.Geteuid() != 0 {
		return nil, "", nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, "", fmt.Errorf("running as root but there is no postgres user to run PostgreSQL as")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, u.Username, nil
}

func startCluster() error {
	c, err := newCluster(false)
	if err != nil {
		return err
	}
	pg.cluster = c
	pg.baseURL = c.URL
	pg.adminURL = c.URL("postgres")
	return nil
}

// Cluster is a throwaway PostgreSQL server owned by a test binary.
type Cluster struct {
	durable        bool // synchronous_commit on: commits survive an immediate shutdown
	bin, dir, data string
	port           int
	cred           *syscall.Credential
	cmd            *exec.Cmd
}

// NewCluster starts a dedicated PostgreSQL server for one test that needs to
// stop and restart its database (outage tests); it is removed when tb ends.
// Without PostgreSQL binaries it skips (fails in strict mode).
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := newCluster(true)
	if err != nil {
		if Strict() {
			tb.Fatalf("dbtest: PostgreSQL is required (LATCHKEY_TEST_STRICT=1): %v", err)
		}
		tb.Skipf("dbtest: skipping PostgreSQL cluster test: %v", err)
	}
	tb.Cleanup(c.remove)
	return c
}

func newCluster(durable bool) (*Cluster, error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	cred, _, err := runAs()
	if err != nil {
		return nil, err
	}
	tplDir, err := initdbTemplate(bin, cred)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "latchkey-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{durable: durable, bin: bin, dir: dir, data: filepath.Join(dir, "data"), cred: cred}
	if out, err := exec.Command("cp", "-a", tplDir, c.data).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copy initdb template: %v: %s", err, out)
	}
	if cred != nil {
		if err := chownR(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	if c.port, err = freePort(); err != nil {
		return nil, err
	}
	return c, c.Start()
}

// URL returns the URL of database name on the cluster.
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, name)
}

// CreateDatabase creates an empty database and returns its URL.
func (c *Cluster) CreateDatabase(tb testing.TB, name string) string {
	tb.Helper()
	if err := pgExec(context.Background(), c.URL("postgres"), "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("dbtest: create database: %v", err)
	}
	return c.URL(name)
}

// Start starts the server (again, on the same port and data) and waits until it answers.
func (c *Cluster) Start() error {
	syncCommit := "synchronous_commit=off"
	if c.durable {
		syncCommit = "synchronous_commit=on"
	}
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), "-D", c.data, "-p", strconv.Itoa(c.port), "-k", c.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", syncCommit,
		"-c", "full_page_writes=off", "-c", "max_connections=300", "-c", "shared_buffers=64MB")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	logf, _ := os.OpenFile(filepath.Join(c.dir, "postgres.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	c.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := pgExec(context.Background(), c.URL("postgres"), "SELECT 1")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
			return fmt.Errorf("postgres did not become ready: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server at once (immediate shutdown, like a crash) and waits for it to exit.
func (c *Cluster) Stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGQUIT)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
	c.cmd = nil
}

func (c *Cluster) remove() {
	c.Stop()
	os.RemoveAll(c.dir)
}

// initdbTemplate returns a data directory made by initdb, shared by the test
// binaries of one run through a lock file (initdb takes seconds; a copy is fast).
func initdbTemplate(bin string, cred *syscall.Credential) (string, error) {
	ver := filepath.Base(filepath.Dir(bin))
	root := filepath.Join(os.TempDir(), "latchkey-initdb-"+ver)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(root, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	data := filepath.Join(root, "data")
	if _, err := os.Stat(filepath.Join(root, "ready")); err == nil {
		return data, nil
	}
	os.RemoveAll(data)
	if cred != nil {
		if err := os.Chown(root, int(cred.Uid), int(cred.Gid)); err != nil {
			return "", err
		}
	}
	cmd := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(root, "ready"), nil, 0o644); err != nil {
		return "", err
	}
	return data, nil
}

func chownR(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func stopCluster() {
	if pg.cluster != nil {
		pg.cluster.remove()
	}
}
