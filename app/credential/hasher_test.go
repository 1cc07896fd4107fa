package credential

import (
	"context"
	"encoding/base64"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var phcPattern = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashVerify(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	h := NewHasher(2)

	encoded, err := h.Hash(ctx, "correct horse battery staple")
	require.NoError(t, err)
	require.Regexp(t, phcPattern, encoded)

	ok, rehash, err := h.Verify(ctx, "correct horse battery staple", encoded)
	require.NoError(t, err)
	require.True(t, ok)
	require.False(t, rehash)

	ok, rehash, err = h.Verify(ctx, "correct horse battery stapl", encoded)
	require.NoError(t, err)
	require.False(t, ok)
	require.False(t, rehash)

	ok, _, err = h.Verify(ctx, "", encoded)
	require.NoError(t, err)
	require.False(t, ok)

	again, err := h.Hash(ctx, "correct horse battery staple")
	require.NoError(t, err)
	require.NotEqual(t, encoded, again, "salt must be random")
}

func TestVerifyOtherParams(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	h := NewHasher(1)
	salt := []byte("0123456789abcdef")

	tests := []struct {
		name string
		p    params
	}{
		{"lower memory", params{memory: 8192, time: 2, threads: 1, saltLen: 16, keyLen: 32}},
		{"more passes", params{memory: 19456, time: 3, threads: 1, saltLen: 16, keyLen: 32}},
		{"more lanes", params{memory: 19456, time: 2, threads: 2, saltLen: 16, keyLen: 32}},
		{"shorter key", params{memory: 19456, time: 2, threads: 1, saltLen: 16, keyLen: 16}},
		{"shorter salt", params{memory: 19456, time: 2, threads: 1, saltLen: 8, keyLen: 32}},
	}
	for _, tc := range tests {
		encoded := encodeHash(tc.p, salt[:tc.p.saltLen], derive("s3cret pass", salt[:tc.p.saltLen], tc.p))

		ok, rehash, err := h.Verify(ctx, "s3cret pass", encoded)
		require.NoError(t, err, tc.name)
		require.True(t, ok, tc.name)
		require.True(t, rehash, tc.name)

		ok, rehash, err = h.Verify(ctx, "wrong pass", encoded)
		require.NoError(t, err, tc.name)
		require.False(t, ok, tc.name)
		require.False(t, rehash, tc.name)
	}

	// The current parameters encoded by hand need no rehash.
	encoded := encodeHash(defaultParams, salt, derive("s3cret pass", salt, defaultParams))
	require.Regexp(t, phcPattern, encoded)
	ok, rehash, err := h.Verify(ctx, "s3cret pass", encoded)
	require.NoError(t, err)
	require.True(t, ok)
	require.False(t, rehash)
}

func TestVerifyInvalidHash(t *testing.T) {
	t.Parallel()
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	sum := base64.RawStdEncoding.EncodeToString(make([]byte, 32))
	valid := "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + sum
	h := NewHasher(1)
	// Sanity check: the template is well-formed.
	_, _, err := h.Verify(t.Context(), "x", valid)
	require.NoError(t, err)

	for _, encoded := range []string{
		"",
		"plaintext",
		"$2a$10$abcdefghijklmnopqrstuv",
		"$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + sum,
		"$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + sum,
		"$argon2id$v=19$m=19456,t=2$" + salt + "$" + sum,
		"$argon2id$v=19$m=19456,t=2,p=1,x=1$" + salt + "$" + sum,
		"$argon2id$v=19$m=abc,t=2,p=1$" + salt + "$" + sum,
		"$argon2id$v=19$m=19456,t=0,p=1$" + salt + "$" + sum,
		"$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + sum,
		"$argon2id$v=19$m=19456,t=2,p=256$" + salt + "$" + sum,
		"$argon2id$v=19$m=4294967295,t=2,p=1$" + salt + "$" + sum,
		"$argon2id$v=19$m=19456,t=1000000,p=1$" + salt + "$" + sum,
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "=$" + sum,
		"$argon2id$v=19$m=19456,t=2,p=1$!!!$" + sum,
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$",
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt,
		valid + "$",
		"x" + valid,
	} {
		ok, rehash, err := h.Verify(t.Context(), "x", encoded)
		require.ErrorIs(t, err, ErrInvalidHash, "%q", encoded)
		require.True(t, strings.HasPrefix(err.Error(), "credential: "))
		require.False(t, ok)
		require.False(t, rehash)
	}
}

func TestHasherSemaphore(t *testing.T) {
	t.Parallel()
	h := NewHasher(1)
	encoded, err := h.Hash(t.Context(), "pw")
	require.NoError(t, err)

	// Occupy the only slot, as a concurrent sign-in would.
	require.NoError(t, h.acquire(t.Context()))

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = h.Hash(cancelled, "pw")
	require.ErrorIs(t, err, context.Canceled)
	ok, _, err := h.Verify(cancelled, "pw", encoded)
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, ok)
	require.ErrorIs(t, h.DummyVerify(cancelled), context.Canceled)

	short, cancelShort := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancelShort()
	_, err = h.Hash(short, "pw")
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// A waiter proceeds once the slot is released.
	done := make(chan error, 1)
	go func() {
		ok, _, err := h.Verify(context.Background(), "pw", encoded)
		if err == nil && !ok {
			err = ErrInvalidHash
		}
		done <- err
	}()
	h.release()
	require.NoError(t, <-done)
	require.Empty(t, h.sem)
}

func TestHasherConcurrent(t *testing.T) {
	t.Parallel()
	h := NewHasher(2)
	require.Equal(t, 2, cap(h.sem))
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			encoded, err := h.Hash(context.Background(), "pw")
			if err != nil {
				t.Error(err)
				return
			}
			if ok, _, err := h.Verify(context.Background(), "pw", encoded); err != nil || !ok {
				t.Error("verify failed", err)
			}
		})
	}
	wg.Wait()
	require.Empty(t, h.sem)
}

func TestNewHasherMinimum(t *testing.T) {
	t.Parallel()
	require.Equal(t, 1, cap(NewHasher(0).sem))
	require.Equal(t, 1, cap(NewHasher(-5).sem))
}

func TestDummyVerify(t *testing.T) {
	t.Parallel()
	h := NewHasher(1)
	require.Regexp(t, phcPattern, h.dummy)
	require.NoError(t, h.DummyVerify(t.Context()))
	require.Empty(t, h.sem)
	require.NotEqual(t, h.dummy, NewHasher(1).dummy)
}
