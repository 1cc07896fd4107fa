package secret_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/secret"
)

func newKeyring(t *testing.T, entries ...string) *secret.Keyring {
	t.Helper()
	kr, err := secret.ParseKeys(strings.Join(entries, ","))
	require.NoError(t, err)
	return kr
}

func genEntry(t *testing.T) string {
	t.Helper()
	entry, err := secret.GenerateKey()
	require.NoError(t, err)
	return entry
}

func entryID(entry string) string {
	id, _, _ := strings.Cut(entry, ":")
	return id
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	kr := newKeyring(t, genEntry(t))
	aad := []byte("tenant-1/record-42")

	for _, plaintext := range [][]byte{nil, []byte(""), []byte("hunter2"), bytes.Repeat([]byte{0xAB}, 10000)} {
		ct, err := kr.Encrypt(plaintext, aad)
		require.NoError(t, err)
		require.NotContains(t, string(ct), "hunter2")

		got, err := kr.Decrypt(ct, aad)
		require.NoError(t, err)
		require.Equal(t, len(plaintext), len(got))
		require.True(t, bytes.Equal(plaintext, got))
	}
}

func TestEncryptUsesFreshNonce(t *testing.T) {
	t.Parallel()
	kr := newKeyring(t, genEntry(t))
	a, err := kr.Encrypt([]byte("same"), nil)
	require.NoError(t, err)
	b, err := kr.Encrypt([]byte("same"), nil)
	require.NoError(t, err)
	require.NotEqual(t, a, b)
}

func TestCiphertextFormat(t *testing.T) {
	t.Parallel()
	kr := newKeyring(t, "mykey:"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
	ct, err := kr.Encrypt([]byte("abc"), nil)
	require.NoError(t, err)
	require.Equal(t, byte(1), ct[0])
	require.Equal(t, byte(len("mykey")), ct[1])
	require.Equal(t, "mykey", string(ct[2:7]))
	require.Len(t, ct, 2+5+12+3+16)
}

func TestWrongAADFails(t *testing.T) {
	t.Parallel()
	kr := newKeyring(t, genEntry(t))
	ct, err := kr.Encrypt([]byte("secret"), []byte("tenant-1/record-1"))
	require.NoError(t, err)

	for _, aad := range [][]byte{nil, []byte("tenant-1/record-2"), []byte("tenant-2/record-1")} {
		_, err = kr.Decrypt(ct, aad)
		require.ErrorIs(t, err, secret.ErrDecrypt)
	}
}

func TestTamperFails(t *testing.T) {
	t.Parallel()
	kr := newKeyring(t, "a:"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)))
	aad := []byte("t/r")
	ct, err := kr.Encrypt([]byte("some secret value"), aad)
	require.NoError(t, err)

	// Flip each bit after the key id (nonce, sealed data and tag).
	for i := 3; i < len(ct); i++ {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		_, err := kr.Decrypt(bad, aad)
		require.ErrorIs(t, err, secret.ErrDecrypt, "byte %d", i)
	}

	// Truncation at every length.
	for n := range len(ct) {
		_, err := kr.Decrypt(ct[:n], aad)
		require.Error(t, err, "length %d", n)
	}

	// Wrong version.
	bad := bytes.Clone(ct)
	bad[0] = 2
	_, err = kr.Decrypt(bad, aad)
	require.ErrorIs(t, err, secret.ErrDecrypt)
}

func TestUnknownKey(t *testing.T) {
	t.Parallel()
	a := newKeyring(t, genEntry(t))
	b := newKeyring(t, genEntry(t))
	ct, err := a.Encrypt([]byte("x"), nil)
	require.NoError(t, err)
	_, err = b.Decrypt(ct, nil)
	require.ErrorIs(t, err, secret.ErrUnknownKey)
	require.NotErrorIs(t, err, secret.ErrDecrypt)
}

func TestSameIDDifferentKeyFailsDecrypt(t *testing.T) {
	t.Parallel()
	a := newKeyring(t, "k1:"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)))
	b := newKeyring(t, "k1:"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32)))
	ct, err := a.Encrypt([]byte("x"), nil)
	require.NoError(t, err)
	_, err = b.Decrypt(ct, nil)
	require.ErrorIs(t, err, secret.ErrDecrypt)
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldEntry, newEntry := genEntry(t), genEntry(t)
	oldRing := newKeyring(t, oldEntry)
	aad := []byte("tenant-9/record-7")

	ct, err := oldRing.Encrypt([]byte("rotate me"), aad)
	require.NoError(t, err)
	require.False(t, oldRing.NeedsRotation(ct))

	rotated := newKeyring(t, newEntry, oldEntry)
	require.Equal(t, entryID(newEntry), rotated.CurrentID())

	// The old key still decrypts.
	got, err := rotated.Decrypt(ct, aad)
	require.NoError(t, err)
	require.Equal(t, "rotate me", string(got))
	require.True(t, rotated.NeedsRotation(ct))

	// The new key encrypts.
	fresh, err := rotated.Encrypt([]byte("new"), aad)
	require.NoError(t, err)
	require.False(t, rotated.NeedsRotation(fresh))
	_, err = oldRing.Decrypt(fresh, aad)
	require.ErrorIs(t, err, secret.ErrUnknownKey)

	// Reencrypt moves the ciphertext to the new key.
	moved, err := rotated.Reencrypt(ct, aad)
	require.NoError(t, err)
	require.False(t, rotated.NeedsRotation(moved))
	got, err = rotated.Decrypt(moved, aad)
	require.NoError(t, err)
	require.Equal(t, "rotate me", string(got))

	// Once the old key is dropped, the moved ciphertext still decrypts.
	newOnly := newKeyring(t, newEntry)
	got, err = newOnly.Decrypt(moved, aad)
	require.NoError(t, err)
	require.Equal(t, "rotate me", string(got))
	_, err = newOnly.Decrypt(ct, aad)
	require.ErrorIs(t, err, secret.ErrUnknownKey)

	// Reencrypt with the wrong aad fails.
	_, err = rotated.Reencrypt(ct, []byte("other"))
	require.ErrorIs(t, err, secret.ErrDecrypt)

	require.True(t, rotated.NeedsRotation(nil))
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	kr := newKeyring(t, genEntry(t))
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			aad := []byte{byte(i)}
			ct, err := kr.Encrypt([]byte("v"), aad)
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := kr.Decrypt(ct, aad); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, 32)
	std := base64.StdEncoding.EncodeToString(key)
	sum := sha256.Sum256(key)
	derived := hex.EncodeToString(sum[:])[:8]

	t.Run("bare std", func(t *testing.T) {
		t.Parallel()
		kr, err := secret.ParseKeys(std)
		require.NoError(t, err)
		require.Equal(t, derived, kr.CurrentID())
	})
	t.Run("bare url raw with whitespace", func(t *testing.T) {
		t.Parallel()
		urlKey := bytes.Repeat([]byte{0xfb, 0xff}, 16) // encodes with '-' and '_'
		enc := base64.RawURLEncoding.EncodeToString(urlKey)
		require.True(t, strings.ContainsAny(enc, "-_"))
		kr, err := secret.ParseKeys("  " + enc + "\n")
		require.NoError(t, err)
		require.Equal(t, secret.DeriveKeyID(urlKey), kr.CurrentID())
	})
	t.Run("bare keys decrypt each other", func(t *testing.T) {
		t.Parallel()
		a, err := secret.ParseKeys(std)
		require.NoError(t, err)
		b, err := secret.ParseKeys(base64.RawURLEncoding.EncodeToString(key))
		require.NoError(t, err)
		ct, err := a.Encrypt([]byte("x"), nil)
		require.NoError(t, err)
		got, err := b.Decrypt(ct, nil)
		require.NoError(t, err)
		require.Equal(t, "x", string(got))
	})
	t.Run("first entry is current", func(t *testing.T) {
		t.Parallel()
		other := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{8}, 32))
		kr, err := secret.ParseKeys("new:" + other + ", old:" + std)
		require.NoError(t, err)
		require.Equal(t, "new", kr.CurrentID())
	})

	errCases := []struct {
		name, input, want string
	}{
		{"empty", "  ", "no keys"},
		{"short key", "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 16)), "16 bytes, want 32"},
		{"long bare key", base64.StdEncoding.EncodeToString(make([]byte, 64)), "64 bytes, want 32"},
		{"bad base64", "k1:not*base64!", "not valid base64"},
		{"duplicate id", "k1:" + std + ",k1:" + base64.StdEncoding.EncodeToString(make([]byte, 32)), `duplicate key id "k1"`},
		{"duplicate bare", std + "," + std, "duplicate key id"},
		{"empty entry", "k1:" + std + ",,", "entry 2 is empty"},
		{"empty id", ":" + std, "key id is empty"},
		{"bad id chars", "k 1/x:" + std, "may contain only"},
		{"long id", strings.Repeat("a", 65) + ":" + std, "at most 64"},
		{"empty key", "k1:", "key is empty"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := secret.ParseKeys(tc.input)
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), std, "error must not leak key material")
		})
	}
}

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	entry := genEntry(t)
	id, b64, ok := strings.Cut(entry, ":")
	require.True(t, ok)
	require.Len(t, id, 8)
	_, err := hex.DecodeString(id)
	require.NoError(t, err)
	raw, err := base64.StdEncoding.DecodeString(b64)
	require.NoError(t, err)
	require.Len(t, raw, 32)

	kr, err := secret.ParseKeys(entry)
	require.NoError(t, err)
	require.Equal(t, id, kr.CurrentID())
	require.NotEqual(t, entry, genEntry(t))
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nested", "dir", "master.key")

	kr, created, err := secret.LoadOrCreateKeyFile(path)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, "k1", kr.CurrentID())

	info, err := os.Stat(path)
	require.NoError(t, err)
	dirInfo, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	if runtime.GOOS != "windows" {
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
		require.Equal(t, os.FileMode(0o700), dirInfo.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(data), "k1:"))

	// No temporary files are left behind.
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1)

	ct, err := kr.Encrypt([]byte("persisted"), []byte("aad"))
	require.NoError(t, err)

	again, created, err := secret.LoadOrCreateKeyFile(path)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, "k1", again.CurrentID())
	got, err := again.Decrypt(ct, []byte("aad"))
	require.NoError(t, err)
	require.Equal(t, "persisted", string(got))

	data2, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, data, data2)
}

func TestLoadOrCreateKeyFileConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "master.key")
	const n = 8
	rings := make([]*secret.Keyring, n)
	createdCount := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			kr, created, err := secret.LoadOrCreateKeyFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			rings[i], createdCount[i] = kr, created
		})
	}
	wg.Wait()
	require.False(t, t.Failed())

	// Every caller ends up with the same key.
	ct, err := rings[0].Encrypt([]byte("x"), nil)
	require.NoError(t, err)
	winners := 0
	for i := range n {
		_, err := rings[i].Decrypt(ct, nil)
		require.NoError(t, err)
		if createdCount[i] {
			winners++
		}
	}
	require.Equal(t, 1, winners)
}

func TestLoadOrCreateKeyFileExisting(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("permission bits are not meaningful on Windows")
	}
	entry := genEntry(t)

	t.Run("loose permissions rejected", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "master.key")
		require.NoError(t, os.WriteFile(path, []byte(entry+"\n"), 0o600))
		require.NoError(t, os.Chmod(path, 0o644))
		_, _, err := secret.LoadOrCreateKeyFile(path)
		require.ErrorContains(t, err, "chmod 600")
		require.ErrorContains(t, err, path)
	})
	t.Run("group readable rejected", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "master.key")
		require.NoError(t, os.WriteFile(path, []byte(entry), 0o600))
		require.NoError(t, os.Chmod(path, 0o640))
		_, _, err := secret.LoadOrCreateKeyFile(path)
		require.ErrorContains(t, err, "chmod 600")
	})
	t.Run("owner only read accepted", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "master.key")
		require.NoError(t, os.WriteFile(path, []byte(entry), 0o600))
		require.NoError(t, os.Chmod(path, 0o400))
		kr, created, err := secret.LoadOrCreateKeyFile(path)
		require.NoError(t, err)
		require.False(t, created)
		require.Equal(t, entryID(entry), kr.CurrentID())
	})
	t.Run("invalid contents", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "master.key")
		require.NoError(t, os.WriteFile(path, []byte("k1:short"), 0o600))
		_, _, err := secret.LoadOrCreateKeyFile(path)
		require.ErrorContains(t, err, path)
		require.ErrorContains(t, err, "k1")
	})
	t.Run("directory rejected", func(t *testing.T) {
		t.Parallel()
		path := t.TempDir()
		_, _, err := secret.LoadOrCreateKeyFile(path)
		require.ErrorContains(t, err, "not a regular file")
	})
}
