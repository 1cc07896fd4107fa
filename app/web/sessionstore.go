package web

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/labstack/echo/v4"
	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
)

// sessionStore is scs's session store on Latchkey's database (table
// sessions, both dialects). It keeps the semantics of scs's sqlite3store and
// pgxstore, whose rows it reads and writes unchanged (SQLite: expiry as a
// Julian day number; PostgreSQL: TIMESTAMPTZ; expiry judged by the database's
// clock), and adds one thing: each write copies the session's login id into
// the column login_id, so that reading a session reads the login and its
// tenant in the same statement (LEFT JOINs). loadLogin then needs no query of
// its own for a signed-in request (see sessionPrefetch).
type sessionStore struct {
	d     *db.DB
	codec scs.Codec
	// q builds and scans the session's SELECT (which runs on d.Read with the
	// token as its argument, see findQuery). It is a bun.DB of its own:
	// d.Bun's statement counter would count the round trip a second time,
	// as CountingStore (which wraps this store) already counts it.
	q *bun.DB
}

// NewSessionStore returns the session store for d. codec must be the
// SessionManager's (scs's default is scs.GobCodec): each commit decodes the
// session data with it to find the login id.
func NewSessionStore(d *db.DB, codec scs.Codec) scs.Store {
	return &sessionStore{d: d, codec: codec, q: bun.NewDB(d.SQL, d.Bun.Dialect(), bun.WithDiscardUnknownColumns())}
}

// sessionRow is a session row with the login it names, if that login exists.
type sessionRow struct {
	bun.BaseModel `bun:"table:sessions,alias:s"`

	Token   string         `bun:"token,pk"`
	Data    []byte         `bun:"data"`
	LoginID sql.NullString `bun:"login_id"` // the join's key, not selected
	// Login is nil when login_id is NULL or names no login. It is loaded with
	// its Tenant, exactly as login.Service.ForSession loads it.
	Login *login.Login `bun:"rel:belongs-to,join:login_id=id"`
}

// Find implements scs.Store.
func (s *sessionStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit implements scs.Store.
func (s *sessionStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// Delete implements scs.Store.
func (s *sessionStore) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}

// FindCtx returns the data of an unexpired session, and puts the session's
// login (or nil) into the request's prefetch slot when ctx carries one.
func (s *sessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	row := new(sessionRow)
	// A read: on SQLite through the read-only connections (db.DB.Read), which
	// see every committed session write.
	err := s.findQuery(row).Conn(argConn{s.d.Read.DB, []any{token}}).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if p, ok := ctx.Value(sessionPrefetchKey{}).(*sessionPrefetch); ok {
		p.login = row.Login
	}
	return row.Data, true, nil
}

// findQuery selects the unexpired session whose token is the statement's
// argument $1, with its login and the login's tenant. The token is not
// written into the text (as bun does with values) so that the text is the
// same for every session: the statement caches (db/stmtcache.go) then keep
// one prepared statement for it rather than one per session.
func (s *sessionStore) findQuery(row *sessionRow) *bun.SelectQuery {
	q := s.q.NewSelect().Model(row).Column("data").
		Relation("Login").Relation("Login.Tenant", tenant.WithoutLogo).
		Where("s.token = $1")
	if s.d.Dialect == db.SQLite {
		return q.Where("julianday('now') < s.expiry")
	}
	return q.Where("current_timestamp < s.expiry")
}

// argConn runs the SQL text bun built with the given arguments (bun passes
// none: it writes values into the text).
type argConn struct {
	db   *sql.DB
	args []any
}

func (c argConn) QueryContext(ctx context.Context, query string, _ ...any) (*sql.Rows, error) {
	return c.db.QueryContext(ctx, query, c.args...)
}

func (c argConn) ExecContext(ctx context.Context, query string, _ ...any) (sql.Result, error) {
	return c.db.ExecContext(ctx, query, c.args...)
}

func (c argConn) QueryRowContext(ctx context.Context, query string, _ ...any) *sql.Row {
	return c.db.QueryRowContext(ctx, query, c.args...)
}

// CommitCtx inserts or replaces the session with its data, expiry and the
// login id found in the data (NULL when the session has none).
func (s *sessionStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	_, values, err := s.codec.Decode(b)
	if err != nil {
		return fmt.Errorf("session store: decode session data: %w", err)
	}
	var loginID sql.NullString
	if id, _ := values[sessLoginID].(string); id != "" {
		loginID = sql.NullString{String: id, Valid: true}
	}
	if s.d.Dialect == db.SQLite {
		// As sqlite3store: the expiry goes through julianday() from UTC text.
		_, err = s.d.SQL.ExecContext(ctx, `INSERT INTO sessions (token, data, expiry, login_id) VALUES ($1, $2, julianday($3), $4)
			ON CONFLICT (token) DO UPDATE SET data = excluded.data, expiry = excluded.expiry, login_id = excluded.login_id`,
			token, b, expiry.UTC().Format("2006-01-02T15:04:05.999"), loginID)
	} else {
		_, err = s.d.SQL.ExecContext(ctx, `INSERT INTO sessions (token, data, expiry, login_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT (token) DO UPDATE SET data = EXCLUDED.data, expiry = EXCLUDED.expiry, login_id = EXCLUDED.login_id`,
			token, b, expiry, loginID)
	}
	return err
}

// DeleteCtx deletes the session.
func (s *sessionStore) DeleteCtx(ctx context.Context, token string) error {
	_, err := s.d.SQL.ExecContext(ctx, "DELETE FROM sessions WHERE token = $1", token)
	return err
}

// sessionPrefetch is a request's slot for the login that the session store
// read together with the session row. It reflects the row as read when the
// request began: loadLogin uses it only for the login id in the session data,
// and only after the same checks as ForSession (login.CheckSession).
type sessionPrefetch struct {
	login *login.Login
}

type sessionPrefetchKey struct{}

// prefetchSessionLogin gives the request a prefetch slot for the session
// store to fill. It must run before scs's LoadAndSave, which reads the
// session with the request's context.
func prefetchSessionLogin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), sessionPrefetchKey{}, &sessionPrefetch{})))
		return next(c)
	}
}

// prefetchedLogin returns the login the session store read with the session
// row when its id is id, or nil (no slot, no login_id in the row, a deleted
// login, or another login than the session data names).
func prefetchedLogin(ctx context.Context, id string) *login.Login {
	p, ok := ctx.Value(sessionPrefetchKey{}).(*sessionPrefetch)
	if !ok || p.login == nil || p.login.ID != id {
		return nil
	}
	return p.login
}
