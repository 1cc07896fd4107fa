package credential

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// TokenBytes is the number of random bytes in a token from NewToken.
const TokenBytes = 32

// NewToken returns a new random token (32 bytes from crypto/rand, unpadded
// URL-safe base64) to hand to the user, and its hash (see HashToken) to store
// in place of the token.
func NewToken() (token string, hash string, err error) {
	b := make([]byte, TokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("credential: generate token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken returns the lowercase hex SHA-256 of token, the form in which
// tokens are stored and looked up. Tokens carry 256 bits of entropy, so a
// fast unsalted hash is sufficient.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// code6Limit is the largest multiple of 1,000,000 that fits in a uint32;
// random values at or above it are rejected so every code is equally likely.
const code6Limit = (1 << 32) / 1_000_000 * 1_000_000

// NewCode6 returns a uniformly random six-digit code from crypto/rand,
// "000000" to "999999" (leading zeros kept).
func NewCode6() (string, error) {
	var b [4]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("credential: generate code: %w", err)
		}
		if v := binary.BigEndian.Uint32(b[:]); v < code6Limit {
			return fmt.Sprintf("%06d", v%1_000_000), nil
		}
	}
}
