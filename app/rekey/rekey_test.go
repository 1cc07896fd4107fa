package rekey_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/rekey"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// keyrings returns a keyring with key A only, one with [B, A] (B current)
// and one with B only.
func keyrings(t *testing.T) (onlyA, rotated, onlyB *secret.Keyring) {
	t.Helper()
	a, err := secret.GenerateKey()
	require.NoError(t, err)
	b, err := secret.GenerateKey()
	require.NoError(t, err)
	onlyA, err = secret.ParseKeys(a)
	require.NoError(t, err)
	rotated, err = secret.ParseKeys(b + "," + a)
	require.NoError(t, err)
	onlyB, err = secret.ParseKeys(b)
	require.NoError(t, err)
	return onlyA, rotated, onlyB
}

func aad(key string) []byte { return []byte("rekey-test/" + key) }

func TestValue(t *testing.T) {
	onlyA, rotated, _ := keyrings(t)
	ct, err := onlyA.Encrypt([]byte("s3cret"), aad("k1"))
	require.NoError(t, err)

	require.Empty(t, rekey.Value(nil, rotated, "k0", nil, aad("k0")), "an empty value has nothing to re-encrypt")

	items := rekey.Value(nil, rotated, "k1", ct, aad("k1"))
	require.Len(t, items, 1)
	require.NoError(t, items[0].Err)
	require.Equal(t, "k1", items[0].Key)
	require.Equal(t, ct, items[0].Old)
	nv := items[0].New.([]byte)
	require.False(t, rotated.NeedsRotation(nv), "the new value is under the current key")
	pt, err := rotated.Decrypt(nv, aad("k1"))
	require.NoError(t, err)
	require.Equal(t, "s3cret", string(pt))
	_, err = onlyA.Decrypt(nv, aad("k1"))
	require.Error(t, err, "key A alone cannot open the re-encrypted value")

	require.Empty(t, rekey.Value(nil, rotated, "k1", nv, aad("k1")), "a value under the current key is left as is")

	items = rekey.Value(items[:0], rotated, "k2", ct, aad("k2"))
	require.Len(t, items, 1, "a value sealed with other additional data is reported, not skipped")
	require.Error(t, items[0].Err)
	require.Nil(t, items[0].New)
}

func TestLastKey(t *testing.T) {
	id := func(s string) string { return s }
	require.Equal(t, "", rekey.LastKey([]string{}, id))
	require.Equal(t, "c", rekey.LastKey([]string{"a", "b", "c"}, id))
}

// fakeResult is a sql.Result for TestAffected.
type fakeResult struct {
	n   int64
	err error
}

func (r fakeResult) LastInsertId() (int64, error) { return 0, nil }
func (r fakeResult) RowsAffected() (int64, error) { return r.n, r.err }

func TestAffected(t *testing.T) {
	n, err := rekey.Affected(fakeResult{n: 3}, nil)
	require.NoError(t, err)
	require.Equal(t, int64(3), n)
	boom := errors.New("boom")
	_, err = rekey.Affected(nil, boom)
	require.ErrorIs(t, err, boom)
	_, err = rekey.Affected(fakeResult{err: boom}, nil)
	require.ErrorIs(t, err, boom)
}

// store is a scratch table of ciphertexts keyed by k.
type store struct{ d *db.DB }

func newStore(t *testing.T, d *db.DB) *store {
	t.Helper()
	typ := "BLOB"
	if d.Dialect == db.Postgres {
		typ = "BYTEA"
	}
	_, err := d.Bun.ExecContext(context.Background(), "CREATE TABLE rekey_t (k TEXT PRIMARY KEY, v "+typ+")")
	require.NoError(t, err)
	return &store{d: d}
}

func (s *store) put(t *testing.T, k string, v []byte) {
	t.Helper()
	_, err := s.d.Bun.NewRaw("INSERT INTO rekey_t (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v", k, v).Exec(context.Background())
	require.NoError(t, err)
}

func (s *store) get(t *testing.T, k string) []byte {
	t.Helper()
	var v []byte
	require.NoError(t, s.d.Bun.NewRaw("SELECT v FROM rekey_t WHERE k = ?", k).Scan(context.Background(), &v))
	return v
}

type row struct {
	K string `bun:"k"`
	V []byte `bun:"v"`
}

// run is what a package's Reencrypt function looks like, over rekey_t;
// failSet makes the write of that key fail.
func (s *store) run(ctx context.Context, keys *secret.Keyring, pages *int, failSet string) (int, error) {
	return rekey.Rows(ctx, s.d, "test values", func(ctx context.Context, after string) ([]rekey.Item, string, error) {
		*pages++
		var rows []row
		if err := s.d.Bun.NewRaw("SELECT k, v FROM rekey_t WHERE k > ? ORDER BY k LIMIT ?", after, rekey.Batch).Scan(ctx, &rows); err != nil {
			return nil, "", err
		}
		var items []rekey.Item
		for _, r := range rows {
			items = rekey.Value(items, keys, r.K, r.V, aad(r.K))
		}
		return items, rekey.LastKey(rows, func(r row) string { return r.K }), nil
	}, func(ctx context.Context, tx *db.Tx, it rekey.Item) (int64, error) {
		if it.Key == failSet {
			return 0, errors.New("write refused")
		}
		return rekey.Affected(tx.NewRaw("UPDATE rekey_t SET v = ? WHERE k = ? AND v = ?", it.New, it.Key, it.Old).Exec(ctx))
	})
}

func TestRows(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		onlyA, rotated, onlyB := keyrings(t)
		s := newStore(t, d)
		const total = 2*rekey.Batch + 50 // three pages
		key := func(i int) string { return fmt.Sprintf("k%04d", i) }
		for i := range total {
			ct, err := onlyA.Encrypt([]byte("value "+key(i)), aad(key(i)))
			require.NoError(t, err)
			s.put(t, key(i), ct)
		}
		// An empty value, and one sealed for another row (cannot be opened
		// with its own additional data).
		s.put(t, key(total), nil)
		broken, err := onlyA.Encrypt([]byte("misplaced"), aad("elsewhere"))
		require.NoError(t, err)
		s.put(t, key(total+1), broken)

		// A write that fails rolls back its whole page and stops the run.
		pages := 0
		n, err := s.run(ctx, rotated, &pages, key(rekey.Batch+10))
		require.ErrorContains(t, err, "test values: write: write refused")
		require.Equal(t, rekey.Batch, n, "the first page was written before the second failed")
		require.False(t, rotated.NeedsRotation(s.get(t, key(0))))
		require.True(t, rotated.NeedsRotation(s.get(t, key(rekey.Batch))), "the failed page's earlier rows are rolled back")

		// A value changed between the read and the write keeps its newer value.
		newer, err := rotated.Encrypt([]byte("changed meanwhile"), aad(key(rekey.Batch+1)))
		require.NoError(t, err)
		hooked := false
		hctx := rekey.WithBeforeWrite(ctx, func() {
			if !hooked {
				hooked = true
				s.put(t, key(rekey.Batch+1), newer)
			}
		})
		pages = 0
		n, err = s.run(hctx, rotated, &pages, "")
		require.Error(t, err)
		require.Contains(t, err.Error(), "1 could not be re-encrypted")
		require.Contains(t, err.Error(), key(total+1), "the error names the row that could not be re-encrypted")
		require.Equal(t, total-rekey.Batch-1, n, "the rest of the rows, less the one changed meanwhile")
		require.Equal(t, 4, pages, "three pages of rows and one that finds none")
		require.Equal(t, newer, s.get(t, key(rekey.Batch+1)))
		require.Equal(t, broken, s.get(t, key(total+1)), "the broken value is left as it was")
		require.Nil(t, s.get(t, key(total)))

		// Every value now opens with B alone; a second run has nothing to do.
		for i := range total {
			pt, err := onlyB.Decrypt(s.get(t, key(i)), aad(key(i)))
			require.NoError(t, err, key(i))
			if i != rekey.Batch+1 {
				require.Equal(t, "value "+key(i), string(pt))
			} else {
				require.Equal(t, "changed meanwhile", string(pt))
			}
		}
		n, err = s.run(ctx, rotated, &pages, "")
		require.Equal(t, 0, n)
		require.ErrorContains(t, err, "1 could not be re-encrypted")

		// A failed read is reported as such.
		_, err = d.Bun.ExecContext(ctx, "DROP TABLE rekey_t")
		require.NoError(t, err)
		_, err = s.run(ctx, rotated, &pages, "")
		require.ErrorContains(t, err, "test values: read:")
	})
}
