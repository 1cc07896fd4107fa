// Package secret encrypts secrets at rest with AES-256-GCM under a keyring of
// key-encryption keys that supports rotation.
//
// A keyring is configured with a string of comma-separated "id:base64key"
// entries (for example from LATCHKEY_MASTER_KEY or a key file). The first
// entry is the current key and is used to encrypt; every entry can decrypt, so
// an old key stays in the list until all ciphertexts encrypted under it have
// been re-encrypted with Reencrypt.
//
// The ciphertext layout is:
//
//	version (1 byte) | key id length (1 byte) | key id | nonce (12 bytes) | sealed data
//
// The header (version, key id length and key id) is authenticated together
// with the additional authenticated data supplied by the caller, so neither
// can be altered without Decrypt failing.
package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length in bytes of a key-encryption key (AES-256).
const KeySize = 32

// MaxKeyIDLen is the maximum length in bytes of a key id.
const MaxKeyIDLen = 64

const (
	formatVersion byte = 1
	nonceSize          = 12
)

// ErrUnknownKey is returned (wrapped) by Decrypt when the ciphertext names a
// key id that is not in the keyring.
var ErrUnknownKey = errors.New("secret: unknown key id")

// ErrDecrypt is returned (wrapped) by Decrypt when the ciphertext is
// malformed, has been tampered with, or was sealed with different additional
// authenticated data.
var ErrDecrypt = errors.New("secret: decryption failed")

// Keyring holds one or more key-encryption keys identified by id. The current
// key encrypts; all keys decrypt. A Keyring is immutable after construction
// and safe for concurrent use. Create one with ParseKeys or
// LoadOrCreateKeyFile; the zero value holds no keys and cannot encrypt.
type Keyring struct {
	current string
	keys    map[string]cipher.AEAD
}

// ParseKeys parses a keyring from s, a comma-separated list of "id:base64key"
// entries whose first entry is the current key. Each key must decode (standard
// or URL-safe base64, padded or not) to exactly 32 bytes. An entry without an
// id (a bare base64 key) gets a deterministic id: the first 8 hex characters
// of the SHA-256 of the key. Surrounding whitespace is ignored. Ids may
// contain only ASCII letters, digits, '.', '_' and '-', and must be unique.
func ParseKeys(s string) (*Keyring, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("secret: no keys given")
	}
	kr := &Keyring{keys: make(map[string]cipher.AEAD)}
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fmt.Errorf("secret: key entry %d is empty", i+1)
		}
		id, encoded, hasID := strings.Cut(entry, ":")
		if !hasID {
			encoded = entry
		}
		key, err := decodeKey(strings.TrimSpace(encoded))
		if err != nil {
			if hasID {
				return nil, fmt.Errorf("secret: key %q: %w", id, err)
			}
			return nil, fmt.Errorf("secret: key entry %d: %w", i+1, err)
		}
		if hasID {
			id = strings.TrimSpace(id)
			if err := validateID(id); err != nil {
				return nil, fmt.Errorf("secret: key entry %d: %w", i+1, err)
			}
		} else {
			id = DeriveKeyID(key)
		}
		if _, dup := kr.keys[id]; dup {
			return nil, fmt.Errorf("secret: duplicate key id %q", id)
		}
		aead, err := newAEAD(key)
		if err != nil {
			return nil, err
		}
		kr.keys[id] = aead
		if i == 0 {
			kr.current = id
		}
	}
	return kr, nil
}

// DeriveKeyID returns the deterministic id used for a key given without one:
// the first 8 hex characters of the SHA-256 of the raw key bytes.
func DeriveKeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// GenerateKey returns a new random key as an "id:base64key" entry suitable
// for ParseKeys, with a random 8-hex-character id.
func GenerateKey() (string, error) {
	id := make([]byte, 4)
	if _, err := rand.Read(id); err != nil {
		return "", fmt.Errorf("secret: generate key id: %w", err)
	}
	return generateEntry(hex.EncodeToString(id))
}

func generateEntry(id string) (string, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("secret: generate key: %w", err)
	}
	return id + ":" + base64.StdEncoding.EncodeToString(key), nil
}

// CurrentID returns the id of the key used to encrypt.
func (k *Keyring) CurrentID() string {
	return k.current
}

// Encrypt seals plaintext under the current key with a random 96-bit nonce.
// The aad (additional authenticated data, for example tenant id and record
// id) is not stored; the same aad must be passed to Decrypt.
func (k *Keyring) Encrypt(plaintext, aad []byte) ([]byte, error) {
	aead, ok := k.keys[k.current]
	if !ok {
		return nil, errors.New("secret: keyring has no current key")
	}
	header := make([]byte, 0, 2+len(k.current))
	header = append(header, formatVersion, byte(len(k.current)))
	header = append(header, k.current...)

	out := make([]byte, len(header), len(header)+nonceSize+len(plaintext)+aead.Overhead())
	copy(out, header)
	nonce := out[len(header) : len(header)+nonceSize]
	out = out[:len(header)+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("secret: generate nonce: %w", err)
	}
	return aead.Seal(out, nonce, plaintext, authData(header, aad)), nil
}

// Decrypt opens a ciphertext produced by Encrypt with any key in the keyring.
// It returns an error wrapping ErrUnknownKey if the key id is not in the
// keyring, and one wrapping ErrDecrypt if the ciphertext is malformed or
// tampered with, or aad differs from the value used to encrypt.
func (k *Keyring) Decrypt(ciphertext, aad []byte) ([]byte, error) {
	id, header, body, err := parseHeader(ciphertext)
	if err != nil {
		return nil, err
	}
	aead, ok := k.keys[id]
	if !ok {
		return nil, fmt.Errorf("secret: key id %q: %w", id, ErrUnknownKey)
	}
	if len(body) < nonceSize+aead.Overhead() {
		return nil, fmt.Errorf("secret: ciphertext too short: %w", ErrDecrypt)
	}
	nonce, sealed := body[:nonceSize], body[nonceSize:]
	plaintext, err := aead.Open(nil, nonce, sealed, authData(header, aad))
	if err != nil {
		return nil, fmt.Errorf("secret: key id %q: %w", id, ErrDecrypt)
	}
	return plaintext, nil
}

// NeedsRotation reports whether ciphertext is not encrypted under the current
// key. It also reports true for ciphertext it cannot parse, so that a
// following Reencrypt surfaces the error.
func (k *Keyring) NeedsRotation(ciphertext []byte) bool {
	id, _, _, err := parseHeader(ciphertext)
	return err != nil || id != k.current
}

// Reencrypt decrypts ciphertext with whichever key sealed it and encrypts the
// plaintext again under the current key with a fresh nonce. The aad must be
// the value used for the original encryption and is reused for the new one.
func (k *Keyring) Reencrypt(ciphertext, aad []byte) ([]byte, error) {
	plaintext, err := k.Decrypt(ciphertext, aad)
	if err != nil {
		return nil, err
	}
	out, err := k.Encrypt(plaintext, aad)
	clear(plaintext)
	return out, err
}

// parseHeader splits ciphertext into its key id, its header bytes and the
// remaining nonce and sealed data.
func parseHeader(ciphertext []byte) (id string, header, body []byte, err error) {
	if len(ciphertext) < 2 {
		return "", nil, nil, fmt.Errorf("secret: ciphertext too short: %w", ErrDecrypt)
	}
	if ciphertext[0] != formatVersion {
		return "", nil, nil, fmt.Errorf("secret: unsupported ciphertext version %d: %w", ciphertext[0], ErrDecrypt)
	}
	idLen := int(ciphertext[1])
	if idLen == 0 || len(ciphertext) < 2+idLen {
		return "", nil, nil, fmt.Errorf("secret: malformed ciphertext header: %w", ErrDecrypt)
	}
	header = ciphertext[:2+idLen]
	return string(header[2:]), header, ciphertext[2+idLen:], nil
}

// authData binds the ciphertext header to the caller's additional data. The
// header is self-delimiting, so the concatenation is unambiguous.
func authData(header, aad []byte) []byte {
	return bytes.Join([][]byte{header, aad}, nil)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret: create cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret: create gcm: %w", err)
	}
	return aead, nil
}

// decodeKey decodes a base64 key in any of the standard or URL-safe
// alphabets, padded or not, and checks its length. Errors never include key
// material.
func decodeKey(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("key is empty")
	}
	var key []byte
	var err error
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding,
		base64.URLEncoding, base64.RawURLEncoding,
	} {
		key, err = enc.Strict().DecodeString(s)
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, errors.New("key is not valid base64")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("key decodes to %d bytes, want %d (generate one with: openssl rand -base64 32)", len(key), KeySize)
	}
	return key, nil
}

func validateID(id string) error {
	if id == "" {
		return errors.New("key id is empty")
	}
	if len(id) > MaxKeyIDLen {
		return fmt.Errorf("key id is %d bytes, at most %d allowed", len(id), MaxKeyIDLen)
	}
	for _, c := range []byte(id) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return fmt.Errorf("key id %q may contain only letters, digits, '.', '_' and '-'", id)
		}
	}
	return nil
}
