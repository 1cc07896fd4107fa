package ad

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGUID(t *testing.T) {
	t.Parallel()
	raw := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	s := FormatGUID(raw)
	require.Equal(t, "03020100-0504-0706-0809-0a0b0c0d0e0f", s)
	back, err := ParseGUID("{03020100-0504-0706-0809-0A0B0C0D0E0F}")
	require.NoError(t, err)
	require.Equal(t, raw, back)
	for _, bad := range []string{"", "03020100-0504-0706-0809", "0302010g-0504-0706-0809-0a0b0c0d0e0f", "03020100050407060809-0a0b0c0d0e0f"} {
		_, err := ParseGUID(bad)
		require.Error(t, err, bad)
	}
	require.Equal(t, "", FormatGUID([]byte{1, 2}))
	require.Equal(t, `\00\01\ff`, escapeBinary([]byte{0, 1, 255}))
}

func TestSID(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"S-1-5-32-544", "S-1-5-21-1879023085-422306978-2592647121-512", "S-1-5-18"} {
		b, err := parseSID(s)
		require.NoError(t, err)
		back, err := formatSID(b)
		require.NoError(t, err)
		require.Equal(t, s, back)
	}
	b, _ := parseSID("S-1-5-32-544")
	require.Equal(t, []byte{1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0}, b)
	_, err := formatSID([]byte{1, 2, 0})
	require.Error(t, err)
	_, err = parseSID("S-1-x")
	require.Error(t, err)
}

func TestPolicyHintsControl(t *testing.T) {
	t.Parallel()
	require.Equal(t, []byte{0x30, 0x03, 0x02, 0x01, 0x01}, policyHintsValue()) // SEQUENCE { INTEGER 1 }
	p := policyHints{OIDPolicyHints}.Encode()
	require.Len(t, p.Children, 3)
	require.Equal(t, OIDPolicyHints, p.Children[0].Value)
	require.Equal(t, true, p.Children[1].Value) // critical
}

func TestEncodePassword(t *testing.T) {
	t.Parallel()
	require.Equal(t, "\"\x00a\x00\xe9\x00\"\x00", encodePassword("aé"))
	require.Equal(t, []byte{'"', 0, 0x3d, 0xd8, 0x11, 0xdd, '"', 0}, []byte(encodePassword("\U0001F511"))) // surrogate pair
}

func TestFiletimeAndInterval(t *testing.T) {
	t.Parallel()
	require.Nil(t, filetime(0))
	require.Nil(t, filetime(0x7FFFFFFFFFFFFFFF))
	ft := filetime(116444736000000000 + 10_000_000) // 1970-01-01T00:00:01Z
	require.Equal(t, time.Unix(1, 0).UTC(), *ft)
	require.Equal(t, 42*24*time.Hour, interval("-36288000000000"))
	require.Equal(t, time.Duration(0), interval("-9223372036854775808")) // never
	require.Equal(t, time.Duration(0), interval("0"))
	require.Equal(t, 30*time.Minute, interval("-18000000000"))
}

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	p := Policy{MinLength: 8, Complexity: true, HistoryLength: 24}
	rules := func(v []Violation) []string {
		out := []string{}
		for _, x := range v {
			out = append(out, x.Rule)
		}
		return out
	}
	cases := []struct {
		password, user, display string
		want                    []string
	}{
		{"Good-Passw0rd", "jdoe", "John Doe", []string{}},
		{"Sh0rt!", "jdoe", "John Doe", []string{"length"}},
		{"alllowercase", "jdoe", "John Doe", []string{"complexity"}},
		{"lowerUPPER", "jdoe", "", []string{"complexity"}},     // 2 categories
		{"lowerUPPER1", "jdoe", "", []string{}},                // 3
		{"lowerUPPER!", "jdoe", "", []string{}},                // symbol
		{"lowerUPPER€€", "jdoe", "", []string{"complexity"}},   // currency symbols do not count
		{"lower漢字UPPER", "jdoe", "", []string{}},               // letters without case: a category
		{"ÉCOLEécole", "x", "", []string{"complexity"}},        // accented upper/lower are letters
		{"ÉCOLEécole¿", "x", "", []string{}},                   // non-ASCII punctuation counts
		{"My-JDoe-Passw0rd", "jdoe", "", []string{"username"}}, // account name, any case
		{"My-Jo-Passw0rd", "jo", "", []string{}},               // names under 3 characters are ignored
		{"Smith#Passw0rd1", "js", "Jane Smith-Jones", []string{"displayname"}},
		{"Jane#Passw0rd1", "js", "Jane Smith-Jones", []string{"displayname"}},
		{"Jo#Passw0rd1", "js", "Jo Li", []string{}}, // display tokens under 3 characters are ignored
		{"Ab1!", "jdoe", "", []string{"length"}},
	}
	for _, c := range cases {
		require.Equal(t, c.want, rules(p.Check(c.password, c.user, c.display)), c.password)
	}
	// Without complexity only the length counts.
	require.Empty(t, Policy{MinLength: 4}.Check("jdoe", "jdoe", ""))
	// Length in UTF-16 units, as AD counts.
	require.Empty(t, Policy{MinLength: 2}.Check("\U0001F511", "", ""))

	require.Equal(t, "Can't reuse your last 24 passwords", p.HistoryHint())
	require.Equal(t, "Can't reuse your current password", Policy{HistoryLength: 1}.HistoryHint())
	require.Equal(t, "", Policy{}.HistoryHint())
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	good := Config{URL: "ldaps://dc1.example.com", BindUser: "svc@example.com", BindPassword: "x",
		BaseDN: "DC=example,DC=com", ScopeOU: "OU=Staff,DC=Example,DC=com", ScopeGroup: "CN=SSPR,OU=Groups,DC=example,DC=com"}
	require.Nil(t, good.Validate())
	require.True(t, good.TLS())
	require.Nil(t, good.Warnings())

	with := func(f func(*Config)) Config { c := good; f(&c); return c }
	cases := []struct {
		cfg   Config
		field string
	}{
		{with(func(c *Config) { c.URL = "" }), "URL"},
		{with(func(c *Config) { c.URL = "https://dc1" }), "URL"},
		{with(func(c *Config) { c.URL = "ldaps://" }), "URL"},
		{with(func(c *Config) { c.URL = "ldaps://dc1/DC=x?y" }), "URL"},
		{with(func(c *Config) { c.StartTLS = true }), "StartTLS"},
		{with(func(c *Config) { c.BindUser = " " }), "BindUser"},
		{with(func(c *Config) { c.BindPassword = "" }), "BindPassword"},
		{with(func(c *Config) { c.BaseDN = "not a dn" }), "BaseDN"},
		{with(func(c *Config) { c.ScopeOU = "OU=Staff,DC=other,DC=com" }), "ScopeOU"},
		{with(func(c *Config) { c.ScopeGroup = "garbage" }), "ScopeGroup"},
		{with(func(c *Config) { c.CACertPEM = []byte("not pem") }), "CACertPEM"},
		{with(func(c *Config) { c.Timeout = -1 }), "Timeout"},
	}
	for _, c := range cases {
		errs := c.cfg.Validate()
		require.Contains(t, errs, c.field, c.field)
		require.Len(t, errs, 1, c.field)
	}

	plain := with(func(c *Config) { c.URL = "ldap://dc1:3389" })
	require.Nil(t, plain.Validate()) // allowed, for importing only
	require.False(t, plain.TLS())
	require.Contains(t, plain.Warnings(), "URL")
	startTLS := with(func(c *Config) { c.URL = "ldap://dc1"; c.StartTLS = true })
	require.Nil(t, startTLS.Validate())
	require.True(t, startTLS.TLS())
	require.Contains(t, with(func(c *Config) { c.InsecureSkipVerify = true }).Warnings(), "InsecureSkipVerify")

	hostport, host, err := with(func(c *Config) { c.URL = "ldaps://[::1]" }).address()
	require.NoError(t, err)
	require.Equal(t, "[::1]:636", hostport)
	require.Equal(t, "::1", host)

	require.Nil(t, with(func(c *Config) { c.CACertPEM = testCA(t) }).Validate())
}

func testCA(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return b.Bytes()
}
