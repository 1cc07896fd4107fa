package web

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// storeLogin inserts a tenant and an active login of it.
func storeLogin(t *testing.T, d *db.DB) *login.Login {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	tn := tenant.New(now)
	tn.Name = "Acme IT"
	require.NoError(t, tenant.Insert(ctx, d.Bun, tn))
	l := &login.Login{
		ID: db.NewID(), TenantID: tn.ID, Email: "tess@acmeit.example", FirstName: "Tess", LastName: "Tester",
		Role: login.RoleTechnician, Status: login.StatusActive, PasswordHash: "x",
		SessionsValidAfter: now.Add(-time.Minute), CreatedAt: now, UpdatedAt: now,
	}
	_, err := d.Bun.NewInsert().Model(l).Exec(ctx)
	require.NoError(t, err)
	return l
}

func encodeSession(t *testing.T, values map[string]any) []byte {
	t.Helper()
	b, err := scs.GobCodec{}.Encode(time.Now().Add(time.Hour).UTC(), values)
	require.NoError(t, err)
	return b
}

// sessionLoginID reads the login_id column of a session row.
func sessionLoginID(t *testing.T, d *db.DB, token string) sql.NullString {
	t.Helper()
	var id sql.NullString
	require.NoError(t, d.Bun.NewSelect().Table("sessions").Column("login_id").Where("token = ?", token).Scan(context.Background(), &id))
	return id
}

// findWithSlot finds token through the store with a prefetch slot, as a
// request does.
func findWithSlot(t *testing.T, s scs.Store, token string) ([]byte, bool, *sessionPrefetch) {
	t.Helper()
	p := &sessionPrefetch{}
	ctx := context.WithValue(context.Background(), sessionPrefetchKey{}, p)
	b, found, err := s.(scs.CtxStore).FindCtx(ctx, token)
	require.NoError(t, err)
	return b, found, p
}

func TestSessionStoreRoundTrip(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := storeLogin(t, d)
		st := NewSessionStore(d, scs.GobCodec{})
		s := CountingStore(st, d)
		cs := s.(scs.CtxStore)
		// One SQL text for every session (the token is an argument), so
		// that the statement caches keep one prepared statement for it.
		require.Contains(t, st.(*sessionStore).findQuery(new(sessionRow)).String(), "(s.token = $1)")
		expiry := time.Now().Add(time.Hour)

		// A signed-in session: login_id comes from the data.
		signed := encodeSession(t, map[string]any{sessLoginID: l.ID, sessAuthAt: time.Now().UnixNano(), sessCSRF: "c"})
		require.NoError(t, cs.CommitCtx(ctx, "tok-signed", signed, expiry))
		require.Equal(t, sql.NullString{String: l.ID, Valid: true}, sessionLoginID(t, d, "tok-signed"))

		// An anonymous one: NULL.
		anon := encodeSession(t, map[string]any{sessCSRF: "c"})
		require.NoError(t, s.Commit("tok-anon", anon, expiry))
		require.False(t, sessionLoginID(t, d, "tok-anon").Valid)

		// Find of the signed-in session: its data, and in the same single
		// statement the login with its tenant, as ForSession loads them.
		before := d.Statements()
		b, found, p := findWithSlot(t, s, "tok-signed")
		require.Equal(t, int64(1), d.Statements()-before, "one statement, counted once")
		require.True(t, found)
		require.Equal(t, signed, b)
		require.NotNil(t, p.login)
		want, err := login.NewService(login.Deps{DB: d}).ForSession(ctx, l.ID, time.Now())
		require.NoError(t, err)
		require.NotNil(t, want.Tenant)
		require.Equal(t, want, p.login)
		require.Equal(t, p.login, prefetchedLogin(context.WithValue(ctx, sessionPrefetchKey{}, p), l.ID))
		require.Nil(t, prefetchedLogin(context.WithValue(ctx, sessionPrefetchKey{}, p), "another-login"),
			"used only for the login the session data names")
		require.Nil(t, prefetchedLogin(ctx, l.ID), "no slot, no login")

		b, found, p = findWithSlot(t, s, "tok-anon")
		require.True(t, found)
		require.Equal(t, anon, b)
		require.Nil(t, p.login)

		// Without a slot (scs.Store's Find) the data alone.
		b, found, err = s.Find("tok-signed")
		require.NoError(t, err)
		require.True(t, found)
		require.Equal(t, signed, b)

		// Commit replaces data, expiry and login_id: a session whose data
		// loses its login id loses the column too.
		require.NoError(t, cs.CommitCtx(ctx, "tok-signed", anon, expiry))
		require.False(t, sessionLoginID(t, d, "tok-signed").Valid)
		b, found, p = findWithSlot(t, s, "tok-signed")
		require.True(t, found)
		require.Equal(t, anon, b)
		require.Nil(t, p.login)
		require.NoError(t, cs.CommitCtx(ctx, "tok-signed", signed, expiry))

		// Expiry is honoured (by the database's clock).
		require.NoError(t, cs.CommitCtx(ctx, "tok-expired", signed, time.Now().Add(-time.Second)))
		_, found, p = findWithSlot(t, s, "tok-expired")
		require.False(t, found)
		require.Nil(t, p.login)
		_, found, _ = findWithSlot(t, s, "tok-unknown")
		require.False(t, found)

		// The expiry keeps the format of scs's stores (and of the
		// clean_sessions job): a Julian day number on SQLite.
		if d.Dialect == db.SQLite {
			var typ string
			var exp float64
			require.NoError(t, d.SQL.QueryRowContext(ctx, "SELECT typeof(expiry), expiry FROM sessions WHERE token = 'tok-signed'").Scan(&typ, &exp))
			require.Equal(t, "real", typ)
			jd := float64(expiry.UTC().UnixMilli())/86_400_000 + 2440587.5
			require.InDelta(t, jd, exp, 1.0/86_400)
		}

		// A row written before login_id existed (NULL) still loads.
		_, err = d.Bun.NewUpdate().Table("sessions").Set("login_id = NULL").Where("token = ?", "tok-signed").Exec(ctx)
		require.NoError(t, err)
		b, found, p = findWithSlot(t, s, "tok-signed")
		require.True(t, found)
		require.Equal(t, signed, b)
		require.Nil(t, p.login)
		require.NoError(t, cs.CommitCtx(ctx, "tok-signed", signed, expiry))

		// The session of a deleted login: the data without a login.
		_, err = d.Bun.NewDelete().Model((*login.Login)(nil)).Where("id = ?", l.ID).Exec(ctx)
		require.NoError(t, err)
		b, found, p = findWithSlot(t, s, "tok-signed")
		require.True(t, found)
		require.Equal(t, signed, b)
		require.Nil(t, p.login)

		// Delete.
		require.NoError(t, cs.DeleteCtx(ctx, "tok-signed"))
		_, found, _ = findWithSlot(t, s, "tok-signed")
		require.False(t, found)
		require.NoError(t, s.Delete("tok-anon"))
		_, found, _ = findWithSlot(t, s, "tok-anon")
		require.False(t, found)

		// Data the codec cannot read is refused rather than stored without
		// its login id.
		require.Error(t, cs.CommitCtx(ctx, "tok-bad", []byte("not gob"), expiry))
	})
}
