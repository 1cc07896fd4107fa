package web

import (
	"context"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/db"
)

// Session timing (security bar): a technician's session ends after 15
// minutes without a request and 8 hours after sign-in at the latest.
const (
	SessionIdleTimeout = 15 * time.Minute
	SessionLifetime    = 8 * time.Hour
	// seenResolution is how stale the recorded last request may be before it
	// is written again: scs's own IdleTimeout rewrites the session on every
	// request; recording activity once a minute keeps reads read-only.
	seenResolution = time.Minute
	sessSeenAt     = "seen_at" // unix seconds of the last recorded request
)

// idleTimeout ends signed-in (or half signed-in) sessions that saw no request
// for SessionIdleTimeout, and records activity at most once a minute.
func (s *Server) idleTimeout(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		if !s.Sessions.Exists(ctx, sessLoginID) && !s.Sessions.Exists(ctx, sessPendingID) {
			return next(c)
		}
		now := s.Now()
		seen := time.Unix(s.Sessions.GetInt64(ctx, sessSeenAt), 0)
		if s.Sessions.Exists(ctx, sessSeenAt) && now.Sub(seen) > SessionIdleTimeout {
			if err := s.Sessions.Destroy(ctx); err != nil {
				return err
			}
			return next(c)
		}
		if !s.Sessions.Exists(ctx, sessSeenAt) || now.Sub(seen) >= seenResolution {
			s.Sessions.Put(ctx, sessSeenAt, now.Unix())
		}
		return next(c)
	}
}

// CountingStore wraps a session store so that each of its database round
// trips is counted in d.Statements (the N+1 and statements-per-request checks).
func CountingStore(inner scs.Store, d *db.DB) scs.Store {
	if cs, ok := inner.(scs.CtxStore); ok {
		return &countingCtxStore{countingStore{inner, d}, cs}
	}
	return &countingStore{inner, d}
}

type countingStore struct {
	inner scs.Store
	db    *db.DB
}

func (s *countingStore) Delete(token string) error {
	s.db.CountStatement()
	return s.inner.Delete(token)
}

func (s *countingStore) Find(token string) ([]byte, bool, error) {
	s.db.CountStatement()
	return s.inner.Find(token)
}

func (s *countingStore) Commit(token string, b []byte, expiry time.Time) error {
	s.db.CountStatement()
	return s.inner.Commit(token, b, expiry)
}

type countingCtxStore struct {
	countingStore
	ctx scs.CtxStore
}

func (s *countingCtxStore) DeleteCtx(ctx context.Context, token string) error {
	s.db.CountStatement()
	return s.ctx.DeleteCtx(ctx, token)
}

func (s *countingCtxStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	s.db.CountStatement()
	return s.ctx.FindCtx(ctx, token)
}

func (s *countingCtxStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	s.db.CountStatement()
	return s.ctx.CommitCtx(ctx, token, b, expiry)
}
