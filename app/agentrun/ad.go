package agentrun

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/latchkey/latchkey/app/agent/wire"
	"github.com/latchkey/latchkey/app/directory/ad"
)

// importPageSize is the LDAP page size of imports.
const importPageSize = 1000

// OpenAD is the production Opener: Active Directory over LDAPS or StartTLS.
func OpenAD(ctx context.Context, cfg wire.Config) (Directory, error) {
	c, err := ad.Dial(ctx, adConfig(cfg))
	if err != nil {
		return nil, wireErr(err)
	}
	return &adDirectory{c: c}, nil
}

func adConfig(cfg wire.Config) ad.Config {
	return ad.Config{URL: cfg.URL, StartTLS: cfg.StartTLS, BindUser: cfg.BindUser, BindPassword: cfg.BindPassword,
		BaseDN: cfg.BaseDN, ScopeOU: cfg.ScopeOU, ScopeGroup: cfg.ScopeGroup, CACertPEM: []byte(cfg.CACertPEM),
		InsecureSkipVerify: cfg.InsecureSkipVerify}
}

type adDirectory struct{ c *ad.Conn }

// wireErr turns the driver's classified errors into the protocol's.
func wireErr(err error) error {
	if err == nil {
		return nil
	}
	var e *ad.Error
	if errors.As(err, &e) {
		return &wire.Error{Kind: string(e.Kind), Message: e.Message, Detail: e.Detail}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &wire.Error{Kind: "timeout", Message: "The directory did not answer in time."}
	}
	return &wire.Error{Kind: "unknown", Message: err.Error()}
}

func wirePolicy(p ad.Policy) *wire.Policy {
	return &wire.Policy{Source: p.Source, MinLength: p.MinLength, Complexity: p.Complexity, HistoryLength: p.HistoryLength,
		MaxAge: p.MaxAge, MinAge: p.MinAge, LockoutThreshold: p.LockoutThreshold, LockoutDuration: p.LockoutDuration,
		LockoutObsWindow: p.LockoutWindow}
}

func wireUser(u ad.User) wire.User {
	return wire.User{GUID: u.GUID, DN: u.DN, Username: u.Username, UPN: u.UPN, FirstName: u.FirstName, LastName: u.LastName,
		DisplayName: u.DisplayName, Email: u.Email, Mobile: u.Mobile, PasswordLastSet: u.PasswordLastSet,
		MustChange: u.MustChange, PasswordExpires: u.PasswordExpires, PasswordNeverExpires: u.PasswordNeverExpires,
		Locked: u.Locked, LockedAt: u.LockoutTime, Disabled: u.Disabled, Privileged: u.Privileged,
		PrivilegedReason: u.PrivilegedReason}
}

func (d *adDirectory) Check(ctx context.Context) (*wire.Policy, error) {
	p, err := d.c.DomainPolicy(ctx)
	if err != nil {
		return nil, wireErr(err)
	}
	return wirePolicy(p), nil
}

func (d *adDirectory) Users(ctx context.Context, fn func(wire.User) error) error {
	return wireErr(d.c.Users(ctx, importPageSize, func(u ad.User) error { return fn(wireUser(u)) }))
}

func (d *adDirectory) Reset(ctx context.Context, guid, password string, temporary, selfService bool) error {
	if selfService {
		return wireErr(d.c.SetPasswordWithPolicy(ctx, guid, password))
	}
	return wireErr(d.c.ResetPassword(ctx, guid, password, temporary))
}

func (d *adDirectory) Unlock(ctx context.Context, guid string) error {
	return wireErr(d.c.Unlock(ctx, guid))
}

func (d *adDirectory) Policy(ctx context.Context, guid string) (*wire.Policy, error) {
	p, err := d.c.UserPolicy(ctx, guid)
	if err != nil {
		return nil, wireErr(err)
	}
	return wirePolicy(p), nil
}

func (d *adDirectory) User(ctx context.Context, guid string) (*wire.User, error) {
	u, err := d.c.User(ctx, guid)
	if err != nil {
		return nil, wireErr(err)
	}
	w := wireUser(u)
	return &w, nil
}

func (d *adDirectory) PwdLastSet(ctx context.Context, guid string) (string, error) {
	u, err := d.c.User(ctx, guid)
	if err != nil {
		return "", wireErr(err)
	}
	if u.MustChange || u.PasswordLastSet == nil {
		return "0", nil
	}
	return strconv.FormatInt(u.PasswordLastSet.UnixNano(), 10), nil
}

func (d *adDirectory) Close() error {
	d.c.Close()
	return nil
}

func (d *adDirectory) LockedOut(ctx context.Context, since time.Time) ([]wire.Lockout, error) {
	us, err := d.c.LockedOut(ctx, since)
	if err != nil {
		return nil, wireErr(err)
	}
	out := make([]wire.Lockout, 0, len(us))
	for _, u := range us {
		out = append(out, wire.Lockout{GUID: u.GUID, LockedAt: *u.LockoutTime})
	}
	return out, nil
}
