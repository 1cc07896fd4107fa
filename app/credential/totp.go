package credential

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"
	"unicode"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// TOTP settings used for enrolment and validation (RFC 6238 defaults, which
// every common authenticator app supports).
const (
	// TOTPPeriod is the TOTP time step.
	TOTPPeriod = 30 * time.Second
	// TOTPDigits is the number of digits in a TOTP code.
	TOTPDigits = 6
	// TOTPSecretSize is the TOTP secret size in bytes (160 bits).
	TOTPSecretSize = 20
	// TOTPSkew is how many time steps before and after the current one are
	// accepted, to tolerate clock drift and typing time.
	TOTPSkew = 1
)

// ErrTOTPInvalid is returned by ValidateTOTP for a malformed or wrong code.
var ErrTOTPInvalid = errors.New("credential: invalid TOTP code")

// ErrTOTPReplay is returned by ValidateTOTP for a correct code whose time
// step is not later than the last step already accepted.
var ErrTOTPReplay = errors.New("credential: TOTP code already used")

// NewTOTPKey generates a TOTP key with a random 160-bit secret, SHA-1, six
// digits and a 30-second period. It returns the secret (unpadded base32, to
// be stored encrypted) and the otpauth:// URL to show as a QR code.
func NewTOTPKey(issuer, account string) (secret string, url string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      uint(TOTPPeriod / time.Second),
		SecretSize:  TOTPSecretSize,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", "", fmt.Errorf("credential: generate TOTP key: %w", err)
	}
	return key.Secret(), key.URL(), nil
}

// QRPNG renders an otpauth:// URL as a size×size pixel PNG QR code. The size
// must be large enough to hold the QR code's modules (a few hundred pixels is
// typical).
func QRPNG(url string, size int) ([]byte, error) {
	if size <= 0 {
		return nil, fmt.Errorf("credential: QR code size %d must be positive", size)
	}
	if !strings.HasPrefix(url, "otpauth://") {
		return nil, errors.New("credential: QR code URL must start with otpauth://")
	}
	key, err := otp.NewKeyFromURL(url)
	if err != nil {
		return nil, fmt.Errorf("credential: parse otpauth URL: %w", err)
	}
	img, err := key.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("credential: render QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("credential: encode QR code PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// TOTPStep returns the TOTP time step containing t.
func TOTPStep(t time.Time) int64 {
	return t.Unix() / int64(TOTPPeriod/time.Second)
}

// ValidateTOTP checks a six-digit code against secret (base32) at time now,
// accepting the current time step and one step either side. Spaces in code
// are ignored; anything other than exactly six ASCII digits is rejected. It
// returns the matched step, which the caller must store and pass back as
// lastStep next time: a code whose step is not after lastStep is rejected
// with ErrTOTPReplay, so a code cannot be used twice, nor can an older code
// be used after a newer one. A wrong code returns ErrTOTPInvalid. Pass 0 as
// lastStep when no code has been accepted yet.
func ValidateTOTP(code, secret string, now time.Time, lastStep int64) (step int64, err error) {
	code = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, code)
	if !isSixDigits(code) {
		return 0, ErrTOTPInvalid
	}

	opts := hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	current := TOTPStep(now)
	var matched, fresh bool
	// Check every candidate step, so timing does not depend on which matched.
	for s := current - TOTPSkew; s <= current+TOTPSkew; s++ {
		if s < 0 {
			continue
		}
		want, err := hotp.GenerateCodeCustom(secret, uint64(s), opts)
		if err != nil {
			return 0, fmt.Errorf("credential: generate TOTP code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		matched = true
		// Prefer the earliest fresh step, so that a later code in the
		// window is not needlessly locked out.
		if s > lastStep && !fresh {
			step, fresh = s, true
		}
	}
	switch {
	case fresh:
		return step, nil
	case matched:
		return 0, ErrTOTPReplay
	default:
		return 0, ErrTOTPInvalid
	}
}

func isSixDigits(s string) bool {
	if len(s) != TOTPDigits {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
