package ad

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Conn is a bound connection to a directory. It is safe for concurrent use,
// but cancelling the context of any call closes the connection: after that,
// every call fails with KindUnreachable.
type Conn struct {
	cfg     Config
	l       *ldap.Conn
	raw     net.Conn // the TCP connection: closing it aborts whatever is in flight
	tls     bool
	timeout time.Duration

	mu     sync.Mutex
	root   *rootInfo
	groups []privGroup // resolved privileged groups (nil: not yet)
}

// rootInfo is what a connection learns once from the rootDSE and the domain root.
type rootInfo struct {
	domainDN  string          // defaultNamingContext
	domainSID string          // S-1-5-21-…
	controls  map[string]bool // supportedControl
}

// dial opens the connection (TCP, then TLS or StartTLS) without binding.
func dial(ctx context.Context, cfg Config) (*Conn, error) {
	hostport, host, err := cfg.address()
	if err != nil {
		return nil, newError(KindUnknown, err.Error())
	}
	timeout := cfg.timeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var verifyErr error
	tlsCfg, err := cfg.tlsConfig(host, &verifyErr)
	if err != nil {
		return nil, newError(KindTLS, err.Error())
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return nil, classify(err, opRead)
	}
	handshakeFailed := func(err error) error {
		_ = raw.Close()
		if verifyErr != nil {
			e := classify(verifyErr, opRead)
			e.Kind, e.Message, e.Err = KindTLS, kindMessages[KindTLS], verifyErr
			return e
		}
		e := classify(err, opRead)
		if e.Kind == KindUnknown {
			e.Kind = KindUnreachable
		}
		if e.Kind == KindUnreachable && ctx.Err() == nil {
			e.Message = "The TLS handshake with the directory failed."
		}
		return e
	}

	c := &Conn{cfg: cfg, raw: raw, timeout: timeout}
	if strings.EqualFold(mustScheme(cfg.URL), "ldaps") {
		tc := tls.Client(raw, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, handshakeFailed(err)
		}
		c.l = ldap.NewConn(tc, true)
		c.tls = true
	} else {
		c.l = ldap.NewConn(raw, false)
	}
	c.l.SetTimeout(timeout)
	c.l.Start()
	if cfg.StartTLS && !c.tls {
		err := c.do(ctx, opRead, func() error { return c.l.StartTLS(tlsCfg) })
		if err != nil {
			c.Close()
			var e *Error
			if errors.As(err, &e) && e.Result != 0 {
				return nil, e // the server refused StartTLS itself
			}
			return nil, handshakeFailed(err)
		}
		c.tls = true
	}
	return c, nil
}

// Dial connects to the directory and binds with the configured bind account.
// Errors: KindUnreachable, KindTLS, KindBindFailed, KindInsecure (the server
// requires TLS for binds).
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.BindPassword == "" {
		return nil, newError(KindBindFailed, "The bind account's password is empty.")
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.do(ctx, opServiceBind, func() error { return c.l.Bind(cfg.BindUser, cfg.BindPassword) }); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Bind checks a user's own credentials with a fresh connection (the bind
// account is not used). It refuses to send a password over an unencrypted
// connection (KindInsecure) and never sends an empty one (an empty simple
// bind is anonymous and would "succeed"). Errors: KindInvalidCredentials,
// KindMustChange, KindPasswordExpired, KindDisabled, KindLocked,
// KindAccountExpired, KindAccess, KindUnreachable, KindTLS, KindInsecure.
func Bind(ctx context.Context, cfg Config, user, password string) error {
	if !cfg.TLS() {
		return newError(KindInsecure, "")
	}
	if password == "" || strings.TrimSpace(user) == "" {
		return newError(KindInvalidCredentials, "")
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.do(ctx, opUserBind, func() error { return c.l.Bind(user, password) })
}

// Close closes the connection.
func (c *Conn) Close() {
	if c == nil || c.l == nil {
		return
	}
	_ = c.l.Close()
	_ = c.raw.Close()
}

// TLS reports whether the connection is encrypted.
func (c *Conn) TLS() bool { return c.tls }

// do runs one LDAP exchange under ctx: when ctx ends first, the TCP
// connection is closed, which makes the exchange return at once.
func (c *Conn) do(ctx context.Context, op opKind, f func() error) error {
	if err := ctx.Err(); err != nil {
		return classify(err, op)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.raw.Close() })
	err := f()
	if !stop() {
		// The context ended during the exchange: report that, not the
		// "connection closed" it caused.
		return classify(ctx.Err(), op)
	}
	if err == nil {
		return nil // not a nil *Error in an error interface
	}
	return classify(err, op)
}

// search runs a search with no paging under ctx.
func (c *Conn) search(ctx context.Context, req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	var res *ldap.SearchResult
	err := c.do(ctx, opRead, func() error {
		var err error
		res, err = c.l.Search(req)
		return err
	})
	return res, err
}

// rootInfo reads the rootDSE and the domain root once per connection.
func (c *Conn) rootInfo(ctx context.Context) (*rootInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.root != nil {
		return c.root, nil
	}
	res, err := c.search(ctx, ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"defaultNamingContext", "supportedControl"}, nil))
	if err != nil {
		return nil, err
	}
	if len(res.Entries) != 1 {
		return nil, newError(KindUnknown, "The directory's root entry (rootDSE) could not be read.")
	}
	ri := &rootInfo{domainDN: res.Entries[0].GetAttributeValue("defaultNamingContext"), controls: map[string]bool{}}
	for _, oid := range res.Entries[0].GetAttributeValues("supportedControl") {
		ri.controls[oid] = true
	}
	if ri.domainDN == "" {
		return nil, newError(KindUnknown, "The directory does not say which domain it serves (no defaultNamingContext).")
	}
	res, err = c.search(ctx, ldap.NewSearchRequest(ri.domainDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"objectSid"}, nil))
	if err != nil {
		return nil, err
	}
	if len(res.Entries) == 1 {
		ri.domainSID, _ = formatSID(res.Entries[0].GetRawAttributeValue("objectSid"))
	}
	if ri.domainSID == "" {
		return nil, newError(KindUnknown, "The domain's SID could not be read.")
	}
	c.root = ri
	return ri, nil
}
