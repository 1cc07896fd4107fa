package agent

import (
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/agent/wire"
	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/db"
)

// Import scopes.
const (
	ScopeBase  = "base"  // every user under the base DN
	ScopeOU    = "ou"    // the users of one OU (and its sub-OUs)
	ScopeGroup = "group" // the members of a security group (nested too)
)

// Import intervals, in minutes.
const (
	DefaultImportInterval = 180
	MinImportInterval     = 15
	MaxImportInterval     = 7 * 24 * 60
)

// Settings are a customer's directory connection, as the agent uses it.
type Settings struct {
	bun.BaseModel `bun:"table:directory_settings"`

	CustomerID        string     `bun:"customer_id,pk"`
	TenantID          string     `bun:"tenant_id"`
	URL               string     `bun:"url"`
	StartTLS          bool       `bun:"start_tls"`
	BindUser          string     `bun:"bind_user"`
	BindPassword      []byte     `bun:"bind_password"` // encrypted
	BaseDN            string     `bun:"base_dn"`
	ScopeKind         string     `bun:"scope_kind"`
	ScopeDN           string     `bun:"scope_dn"`
	CACertPEM         string     `bun:"ca_cert_pem"`
	SkipVerify        bool       `bun:"skip_verify"`
	AutoImport        bool       `bun:"auto_import"`
	ImportIntervalMin int        `bun:"import_interval_min"`
	EnableNewUsers    bool       `bun:"enable_new_users"`
	Version           int        `bun:"version"`
	PolicyJSON        string     `bun:"policy_json"`
	NextImportAt      *time.Time `bun:"next_import_at"`
	LastImportAt      *time.Time `bun:"last_import_at"`
	UpdatedAt         time.Time  `bun:"updated_at"`
}

// TLS reports whether the connection is encrypted (LDAPS or StartTLS).
func (st *Settings) TLS() bool {
	return strings.HasPrefix(strings.ToLower(st.URL), "ldaps://") || st.StartTLS
}

// HasPassword reports whether a bind password is stored.
func (st *Settings) HasPassword() bool { return len(st.BindPassword) > 0 }

func settingsAAD(customerID string) []byte { return []byte("directory_settings:" + customerID) }

// SettingsInput is the directory settings form.
type SettingsInput struct {
	URL          string
	StartTLS     bool
	BindUser     string
	BindPassword string // "" keeps the stored one
	BaseDN       string
	ScopeKind    string
	ScopeDN      string
	CACertPEM    string
	SkipVerify   bool
	AutoImport   bool
	IntervalMin  int
	EnableNew    bool
}

// Settings returns a customer's directory settings, or nil when none are set.
// Errors: NotFound (another tenant's customer).
func (s *Service) Settings(ctx context.Context, tenantID, customerID string) (*Settings, error) {
	if _, err := activeCustomer(ctx, s.db.Bun, tenantID, customerID); err != nil {
		return nil, err
	}
	return s.settings(ctx, s.db.Bun, tenantID, customerID)
}

func (s *Service) settings(ctx context.Context, idb bun.IDB, tenantID, customerID string) (*Settings, error) {
	st := new(Settings)
	err := idb.NewSelect().Model(st).Where("tenant_id = ? AND customer_id = ?", tenantID, customerID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: settings: %w", err)
	}
	return st, nil
}

// validDN is a light syntax check: attribute=value pairs separated by commas.
func validDN(dn string) bool {
	if dn == "" || len(dn) > 1024 {
		return false
	}
	for _, rdn := range strings.Split(dn, ",") {
		k, v, ok := strings.Cut(rdn, "=")
		if !ok || strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
			return false
		}
	}
	return true
}

func underDN(dn, base string) bool {
	norm := func(s string) string {
		parts := strings.Split(strings.ToLower(s), ",")
		for i, p := range parts {
			k, v, _ := strings.Cut(p, "=")
			parts[i] = strings.TrimSpace(k) + "=" + strings.TrimSpace(v)
		}
		return strings.Join(parts, ",")
	}
	d, b := norm(dn), norm(base)
	return d == b || strings.HasSuffix(d, ","+b)
}

// validate checks the form; fields: url, bind_user, bind_password, base_dn,
// scope_dn, ca_cert_pem, interval.
func (in *SettingsInput) validate(hasPassword bool) error {
	var f apperr.Fields
	in.URL = strings.TrimSpace(in.URL)
	u, err := url.Parse(in.URL)
	switch {
	case in.URL == "":
		f.Add("url", "Enter the domain controller's address, e.g. ldaps://dc1.example.local.")
	case err != nil || (u.Scheme != "ldaps" && u.Scheme != "ldap") || u.Host == "" || (u.Path != "" && u.Path != "/"):
		f.Add("url", "Use ldaps://host[:port] (or ldap://host[:port] with StartTLS).")
	default:
		if _, port, err := net.SplitHostPort(u.Host); err == nil && port == "" {
			f.Add("url", "The port is missing after the colon.")
		}
		in.URL = u.Scheme + "://" + u.Host
		if u.Scheme == "ldaps" {
			in.StartTLS = false
		}
	}
	in.BindUser = strings.TrimSpace(in.BindUser)
	if in.BindUser == "" {
		f.Add("bind_user", "Enter the account the agent binds with (user@domain, DOMAIN\\user or a DN).")
	}
	if in.BindPassword == "" && !hasPassword {
		f.Add("bind_password", "Enter the bind account's password.")
	}
	in.BaseDN = strings.TrimSpace(in.BaseDN)
	if !validDN(in.BaseDN) {
		f.Add("base_dn", "Enter the base DN, e.g. DC=example,DC=local.")
	}
	in.ScopeDN = strings.TrimSpace(in.ScopeDN)
	switch in.ScopeKind {
	case ScopeBase:
		in.ScopeDN = ""
	case ScopeOU, ScopeGroup:
		what := "OU"
		if in.ScopeKind == ScopeGroup {
			what = "group"
		}
		switch {
		case !validDN(in.ScopeDN):
			f.Add("scope_dn", fmt.Sprintf("Enter the %s's distinguished name.", what))
		case validDN(in.BaseDN) && !underDN(in.ScopeDN, in.BaseDN):
			f.Add("scope_dn", fmt.Sprintf("The %s must be inside the base DN.", what))
		}
	default:
		f.Add("scope_kind", "Choose what to import.")
	}
	in.CACertPEM = strings.TrimSpace(in.CACertPEM)
	if in.CACertPEM != "" {
		if msg := checkPEM(in.CACertPEM); msg != "" {
			f.Add("ca_cert_pem", msg)
		}
	}
	if in.IntervalMin == 0 {
		in.IntervalMin = DefaultImportInterval
	}
	if in.IntervalMin < MinImportInterval || in.IntervalMin > MaxImportInterval {
		f.Add("interval", "Import between every 15 minutes and once a week.")
	}
	return f.Err()
}

func checkPEM(s string) string {
	rest := []byte(s)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return "Paste certificates only (-----BEGIN CERTIFICATE-----), not a " + strings.ToLower(b.Type) + "."
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return "A certificate could not be read: " + err.Error()
		}
		n++
	}
	if n == 0 || strings.TrimSpace(string(rest)) != "" {
		return "Paste the CA certificate in PEM form (-----BEGIN CERTIFICATE----- …)."
	}
	return ""
}

// SaveSettings stores a customer's directory settings (the bind password
// encrypted; empty keeps the stored one) and bumps their version so agents
// fetch them. Audited as directory.settings_update (never the password).
// Errors: NotFound, Invalid (fields above).
func (s *Service) SaveSettings(ctx context.Context, a audit.Actor, customerID string, in SettingsInput) (*Settings, error) {
	now := s.now().UTC()
	var out *Settings
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		name, err := activeCustomer(ctx, tx, a.TenantID, customerID)
		if err != nil {
			return err
		}
		st, err := s.settings(ctx, tx, a.TenantID, customerID)
		if err != nil {
			return err
		}
		if err := in.validate(st != nil && st.HasPassword()); err != nil {
			return err
		}
		fresh := st == nil
		if fresh {
			st = &Settings{CustomerID: customerID, TenantID: a.TenantID, Version: 0}
		}
		st.URL, st.StartTLS, st.BindUser, st.BaseDN = in.URL, in.StartTLS, in.BindUser, in.BaseDN
		st.ScopeKind, st.ScopeDN, st.CACertPEM, st.SkipVerify = in.ScopeKind, in.ScopeDN, in.CACertPEM, in.SkipVerify
		st.AutoImport, st.ImportIntervalMin, st.EnableNewUsers = in.AutoImport, in.IntervalMin, in.EnableNew
		if in.BindPassword != "" {
			ct, err := s.keys.Encrypt([]byte(in.BindPassword), settingsAAD(customerID))
			if err != nil {
				return err
			}
			st.BindPassword = ct
		}
		st.Version++
		st.UpdatedAt = now
		if st.AutoImport && (st.NextImportAt == nil || st.NextImportAt.After(now.Add(time.Duration(st.ImportIntervalMin)*time.Minute))) {
			next := now // first import as soon as an agent is there
			if st.LastImportAt != nil {
				next = st.LastImportAt.Add(time.Duration(st.ImportIntervalMin) * time.Minute)
			}
			st.NextImportAt = &next
		}
		if fresh {
			_, err = tx.NewInsert().Model(st).Exec(ctx)
		} else {
			_, err = tx.NewUpdate().Model(st).WherePK().Exec(ctx)
		}
		if err != nil {
			return fmt.Errorf("agent: save settings: %w", err)
		}
		scope := "the whole base DN"
		if st.ScopeKind != ScopeBase {
			scope = st.ScopeKind + " " + st.ScopeDN
		}
		detail := fmt.Sprintf("%s, bind as %s, import %s", st.URL, st.BindUser, scope)
		if st.SkipVerify {
			detail += ", certificate NOT verified"
		}
		if in.BindPassword != "" {
			detail += ", bind password changed"
		}
		out = st
		tx.AfterCommit(func() { s.queued.fire(customerID) }) // agents fetch the new settings
		return audit.Record(ctx, tx, now, a, audit.Entry{Action: "directory.settings_update", TargetType: "customer",
			TargetID: customerID, Target: name, Detail: detail})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// wireConfig is the configuration sent to the agent (the password decrypted).
func (s *Service) wireConfig(st *Settings) (*wire.Config, error) {
	var pw []byte
	if len(st.BindPassword) > 0 {
		var err error
		if pw, err = s.keys.Decrypt(st.BindPassword, settingsAAD(st.CustomerID)); err != nil {
			return nil, fmt.Errorf("agent: decrypt bind password: %w", err)
		}
	}
	c := &wire.Config{Version: st.Version, URL: st.URL, StartTLS: st.StartTLS, BindUser: st.BindUser,
		BindPassword: string(pw), BaseDN: st.BaseDN, CACertPEM: st.CACertPEM, InsecureSkipVerify: st.SkipVerify}
	switch st.ScopeKind {
	case ScopeOU:
		c.ScopeOU = st.ScopeDN
	case ScopeGroup:
		c.ScopeGroup = st.ScopeDN
	}
	return c, nil
}
