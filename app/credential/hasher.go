// Package credential provides the building blocks for technician sign-in:
// Argon2id password hashing with bounded concurrency, TOTP enrolment and
// validation with replay protection, random tokens for links and sessions,
// and six-digit one-time codes.
package credential

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// The Argon2id parameters used for new hashes (OWASP recommendation: 19 MiB
// memory, two passes, one lane).
const (
	// ArgonMemoryKiB is the Argon2id memory cost in KiB.
	ArgonMemoryKiB = 19456
	// ArgonTime is the Argon2id number of passes.
	ArgonTime = 2
	// ArgonThreads is the Argon2id degree of parallelism.
	ArgonThreads = 1
	// ArgonSaltLen is the salt length in bytes.
	ArgonSaltLen = 16
	// ArgonKeyLen is the derived key length in bytes.
	ArgonKeyLen = 32
)

// Limits on parameters accepted from an encoded hash, so that a corrupted or
// hostile stored value cannot make Verify allocate unbounded memory or run
// for an unbounded time.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 64
	minSaltLen   = 8
	maxSaltLen   = 64
	minKeyLen    = 16
	maxKeyLen    = 64
)

// ErrInvalidHash is returned (wrapped) by Verify when the encoded hash is not
// a supported Argon2id PHC string.
var ErrInvalidHash = errors.New("credential: invalid password hash")

// params are the Argon2id parameters of one hash.
type params struct {
	memory  uint32
	time    uint32
	threads uint8
	saltLen int
	keyLen  int
}

var defaultParams = params{
	memory:  ArgonMemoryKiB,
	time:    ArgonTime,
	threads: ArgonThreads,
	saltLen: ArgonSaltLen,
	keyLen:  ArgonKeyLen,
}

// Hasher hashes and verifies passwords with Argon2id. At most maxConcurrent
// hash computations run at once, bounding memory use to about
// maxConcurrent × 19 MiB no matter how many sign-ins arrive together; other
// callers wait for a slot or until their context ends. A Hasher is safe for
// concurrent use. Create one with NewHasher.
type Hasher struct {
	sem   chan struct{}
	dummy string
}

// NewHasher returns a Hasher that runs at most maxConcurrent Argon2id
// computations at a time. Values below 1 are treated as 1.
func NewHasher(maxConcurrent int) *Hasher {
	if maxConcurrent < 1 {
		maxConcurrent = 1
	}
	// The dummy hash has a random salt and a random digest, so no password
	// matches it, but verifying against it costs the same as a real hash.
	salt := make([]byte, ArgonSaltLen)
	digest := make([]byte, ArgonKeyLen)
	_, _ = rand.Read(salt)   // crypto/rand.Read never returns an error.
	_, _ = rand.Read(digest) // crypto/rand.Read never returns an error.
	return &Hasher{
		sem:   make(chan struct{}, maxConcurrent),
		dummy: encodeHash(defaultParams, salt, digest),
	}
}

// Hash returns the Argon2id hash of pw as a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, with salt and hash in
// unpadded standard base64. It waits for a free slot and returns the
// context's error if ctx ends first.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	salt := make([]byte, ArgonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("credential: generate salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	digest := derive(pw, salt, defaultParams)
	return encodeHash(defaultParams, salt, digest), nil
}

// Verify reports whether pw matches encoded, a PHC string produced by Hash,
// comparing in constant time. The parameters are read from encoded, so hashes
// made with older parameters still verify; needsRehash is true when they
// differ from the current ones and the caller should store a fresh Hash of pw
// after a successful sign-in. A wrong password is not an error. It waits for
// a free slot and returns the context's error if ctx ends first.
func (h *Hasher) Verify(ctx context.Context, pw, encoded string) (ok bool, needsRehash bool, err error) {
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	got := derive(pw, salt, p)
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p != defaultParams, nil
}

// DummyVerify spends the same time and memory as verifying a password
// against a real hash, for use when the account does not exist so that
// response times do not reveal which accounts exist. It returns only the
// context's error if ctx ends while waiting for a slot.
func (h *Hasher) DummyVerify(ctx context.Context) error {
	_, _, err := h.Verify(ctx, "latchkey-dummy-password", h.dummy)
	return err
}

func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("credential: waiting to hash: %w", err)
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("credential: waiting to hash: %w", ctx.Err())
	}
}

func (h *Hasher) release() {
	<-h.sem
}

func derive(pw string, salt []byte, p params) []byte {
	return argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, uint32(p.keyLen))
}

func encodeHash(p params, salt, digest []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(salt),
		base64.RawStdEncoding.EncodeToString(digest))
}

func decodeHash(encoded string) (p params, salt, digest []byte, err error) {
	invalid := func(reason string) (params, []byte, []byte, error) {
		return params{}, nil, nil, fmt.Errorf("%w: %s", ErrInvalidHash, reason)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return invalid("not a PHC string")
	}
	if parts[1] != "argon2id" {
		return invalid("unsupported algorithm")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return invalid("unsupported version")
	}

	var seen [3]bool
	for _, kv := range strings.Split(parts[3], ",") {
		key, value, ok := strings.Cut(kv, "=")
		if !ok {
			return invalid("malformed parameters")
		}
		n, convErr := strconv.ParseUint(value, 10, 32)
		if convErr != nil {
			return invalid("malformed parameter " + key)
		}
		switch key {
		case "m":
			p.memory, seen[0] = uint32(n), true
		case "t":
			p.time, seen[1] = uint32(n), true
		case "p":
			if n > 255 {
				return invalid("parallelism out of range")
			}
			p.threads, seen[2] = uint8(n), true
		default:
			return invalid("unknown parameter " + key)
		}
	}
	if seen != [3]bool{true, true, true} {
		return invalid("missing parameters")
	}
	if p.time < 1 || p.time > maxTime {
		return invalid("time out of range")
	}
	if p.threads < 1 {
		return invalid("parallelism out of range")
	}
	if p.memory < 8*uint32(p.threads) || p.memory > maxMemoryKiB {
		return invalid("memory out of range")
	}

	salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return invalid("bad salt")
	}
	digest, err = base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(digest) < minKeyLen || len(digest) > maxKeyLen {
		return invalid("bad hash")
	}
	p.saltLen, p.keyLen = len(salt), len(digest)
	return p, salt, digest, nil
}
