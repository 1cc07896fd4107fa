// Package ad is the Active Directory driver: it imports users over LDAP,
// reads password policies, and resets passwords and unlocks accounts. The
// agent program runs it at a customer site, next to the domain controller.
//
// It is tested against a real Samba AD DC (package ad/samba); where Samba and
// Windows differ, the code follows Windows and says so.
package ad

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// DefaultTimeout bounds connecting, binding and each request when
// Config.Timeout is zero.
const DefaultTimeout = 15 * time.Second

// Config says how to reach and bind to a directory, and which users are in
// scope.
type Config struct {
	URL                string        // ldaps://host[:port] or ldap://host[:port]
	StartTLS           bool          // with ldap://: upgrade the connection with StartTLS
	BindUser           string        // UPN, DN or DOMAIN\user
	BindPassword       string        //
	BaseDN             string        // where users are searched when no scope narrows it
	ScopeOU            string        // optional: only users in this OU (subtree)
	ScopeGroup         string        // optional: only members of this group, nested membership included
	CACertPEM          []byte        // optional: the CA(s) to trust instead of the system roots
	InsecureSkipVerify bool          // do not verify the server certificate (not recommended)
	Timeout            time.Duration // 0: DefaultTimeout
}

// TLS reports whether the connection is encrypted (LDAPS or StartTLS).
func (c Config) TLS() bool {
	u, err := url.Parse(c.URL)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Scheme, "ldaps") || (strings.EqualFold(u.Scheme, "ldap") && c.StartTLS)
}

func (c Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// Validate returns a readable message per field name for every problem that
// makes the configuration unusable, or nil. See Warnings for a configuration
// that works but is unsafe.
func (c Config) Validate() map[string]string {
	errs := map[string]string{}
	if _, _, err := c.address(); err != nil {
		errs["URL"] = err.Error()
	} else if c.StartTLS && !strings.EqualFold(mustScheme(c.URL), "ldap") {
		errs["StartTLS"] = "StartTLS applies to ldap:// only; ldaps:// is already encrypted."
	}
	if strings.TrimSpace(c.BindUser) == "" {
		errs["BindUser"] = "Enter the bind account (user@domain, DOMAIN\\user or its DN)."
	}
	if c.BindPassword == "" {
		// An empty password makes an LDAP simple bind anonymous: never send one.
		errs["BindPassword"] = "Enter the bind account's password."
	}
	base, err := parseDN(c.BaseDN)
	if err != nil {
		errs["BaseDN"] = "Enter the base DN, e.g. DC=example,DC=com."
	}
	for _, f := range []struct{ name, value, what string }{
		{"ScopeOU", c.ScopeOU, "OU"},
		{"ScopeGroup", c.ScopeGroup, "group"},
	} {
		if strings.TrimSpace(f.value) == "" {
			continue
		}
		dn, err := parseDN(f.value)
		switch {
		case err != nil:
			errs[f.name] = "Enter the " + f.what + "'s distinguished name, e.g. OU=Staff,DC=example,DC=com."
		case base != nil && !base.EqualFold(dn) && !base.AncestorOfFold(dn):
			errs[f.name] = "The " + f.what + " must be under the base DN " + c.BaseDN + "."
		}
	}
	if len(c.CACertPEM) > 0 {
		if _, err := certPool(c.CACertPEM); err != nil {
			errs["CACertPEM"] = err.Error()
		}
	}
	if c.Timeout < 0 {
		errs["Timeout"] = "The timeout cannot be negative."
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// Warnings returns, per field name, what is allowed but unsafe: plain LDAP
// without StartTLS (usable for importing only: password operations are
// refused) and skipping certificate verification.
func (c Config) Warnings() map[string]string {
	w := map[string]string{}
	if _, _, err := c.address(); err == nil && !c.TLS() {
		w["URL"] = "Plain LDAP is not encrypted: it can import users, but password resets and unlocks are refused. Use ldaps:// or StartTLS."
	}
	if c.TLS() && c.InsecureSkipVerify {
		w["InsecureSkipVerify"] = "The server certificate is not verified: anyone on the network path can impersonate the directory."
	}
	if len(w) == 0 {
		return nil
	}
	return w
}

func mustScheme(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Scheme
}

type configError string

func (e configError) Error() string { return string(e) }

// address returns host:port and the bare host of the URL.
func (c Config) address() (hostport, host string, err error) {
	bad := configError("Enter the directory URL as ldaps://host[:port] or ldap://host[:port].")
	raw := strings.TrimSpace(c.URL)
	if raw == "" {
		return "", "", bad
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", "", bad
	}
	port := u.Port()
	switch strings.ToLower(u.Scheme) {
	case "ldaps":
		if port == "" {
			port = "636"
		}
	case "ldap":
		if port == "" {
			port = "389"
		}
	default:
		return "", "", configError("The URL must start with ldaps:// (recommended) or ldap://.")
	}
	host = u.Hostname()
	if host == "" {
		return "", "", bad
	}
	return net.JoinHostPort(host, port), host, nil
}

func parseDN(s string) (*ldap.DN, error) {
	if strings.TrimSpace(s) == "" {
		return nil, configError("empty DN")
	}
	dn, err := ldap.ParseDN(s)
	if err != nil || len(dn.RDNs) == 0 {
		return nil, configError("invalid DN")
	}
	return dn, nil
}

func certPool(pemData []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	rest := pemData
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, configError("The CA certificate could not be read: " + err.Error())
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, configError("Paste the CA certificate in PEM form (-----BEGIN CERTIFICATE-----).")
	}
	return pool, nil
}

// tlsConfig verifies the server itself (rather than through crypto/tls) so
// that a verification failure can be told apart from a network failure even
// when go-ldap flattens the handshake error (StartTLS does). The failure is
// stored in *verifyErr.
func (c Config) tlsConfig(host string, verifyErr *error) (*tls.Config, error) {
	var roots *x509.CertPool // nil: the system roots
	if len(c.CACertPEM) > 0 {
		pool, err := certPool(c.CACertPEM)
		if err != nil {
			return nil, err
		}
		roots = pool
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // verified in VerifyConnection below unless c.InsecureSkipVerify
		VerifyConnection: func(cs tls.ConnectionState) error {
			if c.InsecureSkipVerify {
				return nil
			}
			if len(cs.PeerCertificates) == 0 {
				*verifyErr = x509.CertificateInvalidError{Reason: x509.NotAuthorizedToSign, Detail: "no certificate"}
				return *verifyErr
			}
			opts := x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: x509.NewCertPool()}
			for _, ic := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(ic)
			}
			if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
				*verifyErr = err
				return err
			}
			return nil
		},
	}
	if net.ParseIP(host) == nil {
		cfg.ServerName = host
	}
	return cfg, nil
}
