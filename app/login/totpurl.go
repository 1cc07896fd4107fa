package login

import (
	"net/url"
	"strconv"

	"github.com/latchkey/latchkey/app/credential"
)

// totpURL rebuilds the otpauth:// URL of a secret (as NewTOTPKey makes it).
func totpURL(issuer, account, secret string) string {
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", strconv.Itoa(credential.TOTPDigits))
	v.Set("period", strconv.Itoa(int(credential.TOTPPeriod.Seconds())))
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: v.Encode()}
	return u.String()
}
