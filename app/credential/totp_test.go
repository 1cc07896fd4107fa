package credential

import (
	"bytes"
	"encoding/base32"
	"image/png"
	"net/url"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"
)

// testNow is 2023-11-14T22:13:20Z, step 56666666.
var testNow = time.Unix(1_700_000_000, 0)

func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	require.NoError(t, err)
	return code
}

func newSecret(t *testing.T) string {
	t.Helper()
	secret, _, err := NewTOTPKey("Latchkey", "tech@example.com")
	require.NoError(t, err)
	return secret
}

func TestNewTOTPKey(t *testing.T) {
	t.Parallel()
	secret, rawURL, err := NewTOTPKey("Acme MSP", "tech@example.com")
	require.NoError(t, err)

	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	require.NoError(t, err)
	require.Len(t, raw, 20)

	key, err := otp.NewKeyFromURL(rawURL)
	require.NoError(t, err)
	require.Equal(t, "totp", key.Type())
	require.Equal(t, "Acme MSP", key.Issuer())
	require.Equal(t, "tech@example.com", key.AccountName())
	require.Equal(t, secret, key.Secret())
	require.Equal(t, uint64(30), key.Period())
	require.Equal(t, otp.DigitsSix, key.Digits())
	require.Equal(t, otp.AlgorithmSHA1, key.Algorithm())

	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	require.Equal(t, "otpauth", u.Scheme)

	other, _, err := NewTOTPKey("Acme MSP", "tech@example.com")
	require.NoError(t, err)
	require.NotEqual(t, secret, other)

	_, _, err = NewTOTPKey("", "tech@example.com")
	require.Error(t, err)
	_, _, err = NewTOTPKey("Acme", "")
	require.Error(t, err)
}

func TestQRPNG(t *testing.T) {
	t.Parallel()
	_, rawURL, err := NewTOTPKey("Latchkey", "tech@example.com")
	require.NoError(t, err)

	data, err := QRPNG(rawURL, 256)
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	require.Equal(t, 256, img.Bounds().Dx())
	require.Equal(t, 256, img.Bounds().Dy())

	_, err = QRPNG(rawURL, 0)
	require.Error(t, err)
	_, err = QRPNG(rawURL, 10) // smaller than the QR code itself
	require.Error(t, err)
	_, err = QRPNG("https://example.com/", 256)
	require.Error(t, err)
}

func TestValidateTOTPCurrentStep(t *testing.T) {
	t.Parallel()
	secret := newSecret(t)
	step, err := ValidateTOTP(codeAt(t, secret, testNow), secret, testNow, 0)
	require.NoError(t, err)
	require.Equal(t, TOTPStep(testNow), step)
	require.Equal(t, int64(56666666), step)
}

func TestValidateTOTPSkew(t *testing.T) {
	t.Parallel()
	secret := newSecret(t)
	current := TOTPStep(testNow)

	tests := []struct {
		name   string
		offset time.Duration
		step   int64
		err    error
	}{
		{"previous step", -30 * time.Second, current - 1, nil},
		{"next step", 30 * time.Second, current + 1, nil},
		{"two steps back", -60 * time.Second, 0, ErrTOTPInvalid},
		{"two steps ahead", 60 * time.Second, 0, ErrTOTPInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code := codeAt(t, secret, testNow.Add(tc.offset))
			// Guard against a chance collision with an accepted step's code.
			for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
				if d != tc.offset && code == codeAt(t, secret, testNow.Add(d)) {
					t.Skip("code collides with a neighbouring step")
				}
			}
			step, err := ValidateTOTP(code, secret, testNow, 0)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.step, step)
		})
	}
}

func TestValidateTOTPReplay(t *testing.T) {
	t.Parallel()
	secret := newSecret(t)
	code := codeAt(t, secret, testNow)

	step, err := ValidateTOTP(code, secret, testNow, 0)
	require.NoError(t, err)

	// The same code again, even a few seconds later, is a replay.
	_, err = ValidateTOTP(code, secret, testNow.Add(5*time.Second), step)
	require.ErrorIs(t, err, ErrTOTPReplay)
	require.NotErrorIs(t, err, ErrTOTPInvalid)

	// The next step's code is still accepted.
	next := testNow.Add(30 * time.Second)
	step2, err := ValidateTOTP(codeAt(t, secret, next), secret, next, step)
	require.NoError(t, err)
	require.Equal(t, step+1, step2)
}

func TestValidateTOTPEarlierAfterLater(t *testing.T) {
	t.Parallel()
	secret := newSecret(t)
	earlier := codeAt(t, secret, testNow)
	later := codeAt(t, secret, testNow.Add(30*time.Second))
	if earlier == later {
		t.Skip("codes collide")
	}

	// The code for the next step is accepted (clock skew)...
	step, err := ValidateTOTP(later, secret, testNow, 0)
	require.NoError(t, err)
	require.Equal(t, TOTPStep(testNow)+1, step)

	// ...after which the current step's code is rejected as a replay.
	_, err = ValidateTOTP(earlier, secret, testNow, step)
	require.ErrorIs(t, err, ErrTOTPReplay)
}

func TestValidateTOTPFormat(t *testing.T) {
	t.Parallel()
	secret := newSecret(t)
	code := codeAt(t, secret, testNow)

	step, err := ValidateTOTP(" "+code[:3]+" "+code[3:]+" ", secret, testNow, 0)
	require.NoError(t, err, "spaces are stripped")
	require.Equal(t, TOTPStep(testNow), step)

	wrong := []byte(code)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10

	for _, bad := range []string{
		"",
		"      ",
		code[:5],
		code + "0",
		"12a456",
		"12345x",
		"-12345",
		"+12345",
		"١٢٣٤٥٦", // Arabic-Indic digits
		"１２３４５６", // full-width digits
		code[:5] + "\x00",
		string(wrong),
	} {
		_, err := ValidateTOTP(bad, secret, testNow, 0)
		require.ErrorIs(t, err, ErrTOTPInvalid, "%q", bad)
	}
}

func TestValidateTOTPBadSecret(t *testing.T) {
	t.Parallel()
	_, err := ValidateTOTP("123456", "not base32 !!", testNow, 0)
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrTOTPInvalid)
}
