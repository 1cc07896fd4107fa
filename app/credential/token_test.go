package credential

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewToken(t *testing.T) {
	t.Parallel()
	token, hash, err := NewToken()
	require.NoError(t, err)

	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	require.NoError(t, err)
	require.Len(t, raw, 32)
	require.Len(t, token, 43)

	sum := sha256.Sum256([]byte(token))
	require.Equal(t, hex.EncodeToString(sum[:]), hash)
	require.Equal(t, hash, HashToken(token))
	require.Len(t, hash, 64)

	seen := map[string]bool{token: true}
	for range 100 {
		tok, h, err := NewToken()
		require.NoError(t, err)
		require.False(t, seen[tok])
		seen[tok] = true
		require.Equal(t, HashToken(tok), h)
	}
}

func TestHashToken(t *testing.T) {
	t.Parallel()
	// sha256("abc")
	require.Equal(t, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", HashToken("abc"))
	require.NotEqual(t, HashToken("abc"), HashToken("abd"))
}

func TestNewCode6(t *testing.T) {
	t.Parallel()
	const n = 10000
	var firstDigit [10]int
	for range n {
		code, err := NewCode6()
		require.NoError(t, err)
		require.Len(t, code, 6)
		for i := range len(code) {
			require.True(t, code[i] >= '0' && code[i] <= '9', "%q", code)
		}
		firstDigit[code[0]-'0']++
	}
	require.Positive(t, firstDigit[0], "codes with a leading zero must occur")
	// Each leading digit should appear about n/10 times (standard deviation
	// 30); allow a wide margin so the test never flakes.
	for d, count := range firstDigit {
		require.InDelta(t, n/10, count, 300, "leading digit %d", d)
	}
}

func TestCode6Limit(t *testing.T) {
	t.Parallel()
	require.Equal(t, uint64(4_294_000_000), uint64(code6Limit))
	require.Zero(t, code6Limit%1_000_000)
	require.Less(t, uint64(code6Limit), uint64(1)<<32)
	require.Greater(t, uint64(code6Limit)+1_000_000, uint64(1)<<32-1)
}
