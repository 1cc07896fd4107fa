// Package config loads Latchkey's configuration from command-line flags and
// LATCHKEY_* environment variables (flags win) and validates it at start.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the validated configuration of one Latchkey process.
type Config struct {
	Addr        string // LATCHKEY_ADDR, listen address
	DataDir     string // LATCHKEY_DATA_DIR, SQLite file and key file live here
	DatabaseURL string // LATCHKEY_DATABASE_URL, empty or sqlite:PATH for SQLite, postgres://… for PostgreSQL
	BaseURL     *url.URL
	MasterKey   string // LATCHKEY_MASTER_KEY, id:base64 entries; empty → key file in DataDir
	LogLevel    string // debug, info, warn, error
	LogFormat   string // text or json

	SMTP SMTP

	// TwilioAPIURL is Twilio's REST API (LATCHKEY_TWILIO_API_URL): a
	// regional edge such as https://api.dublin.ie1.twilio.com, or a local
	// test server (http only on loopback).
	TwilioAPIURL string
	// PushAnyEndpoint lets push subscriptions point anywhere, over http too
	// (tests with a local push service only; no environment variable).
	PushAnyEndpoint bool
	// VerifyPushTimeout shortens a push verification's 60-second countdown
	// (tests only; no environment variable; 0 is 60 s).
	VerifyPushTimeout time.Duration

	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix

	// RetentionDays is how long finished messages (the outbox and delivery
	// log) and past password-expiry and lockout notices are kept
	// (LATCHKEY_RETENTION_DAYS, MinRetentionDays–MaxRetentionDays; the
	// retention job deletes older ones). 0 is DefaultRetentionDays.
	RetentionDays int

	// Workers is false for `serve --no-workers`: this process only serves HTTP.
	Workers bool
	// HTTP is false for `worker`: this process only works jobs.
	HTTP bool

	ShutdownTimeout time.Duration
}

// Retention limits (LATCHKEY_RETENTION_DAYS).
const (
	DefaultRetentionDays = 30
	MinRetentionDays     = 1
	MaxRetentionDays     = 3650
)

// Retention is how long finished messages and past notices are kept.
func (c Config) Retention() time.Duration {
	days := c.RetentionDays
	if days <= 0 {
		days = DefaultRetentionDays
	}
	return time.Duration(days) * 24 * time.Hour
}

// SMTP holds outgoing mail settings. Host empty means email goes to the outbox only.
type SMTP struct {
	Host     string // LATCHKEY_SMTP_HOST
	Port     int    // LATCHKEY_SMTP_PORT (587)
	Username string // LATCHKEY_SMTP_USERNAME
	Password string // LATCHKEY_SMTP_PASSWORD
	From     string // LATCHKEY_SMTP_FROM
	// TLS is "starttls" (default, required), "tls" (implicit TLS, port 465) or
	// "none" (only for a relay on localhost).
	TLS string // LATCHKEY_SMTP_TLS
	// InsecureSkipVerify skips certificate checks (test relays only).
	InsecureSkipVerify bool // LATCHKEY_SMTP_INSECURE_SKIP_VERIFY
}

// Enabled reports whether an SMTP server is configured.
func (s SMTP) Enabled() bool { return s.Host != "" }

// Var describes one setting for the README and --help.
type Var struct {
	Env, Flag, Default, Help string
}

// Vars lists every setting in the order the README documents them.
var Vars = []Var{
	{"LATCHKEY_ADDR", "addr", ":8080", "HTTP listen address"},
	{"LATCHKEY_DATA_DIR", "data-dir", "./data", "directory for the SQLite database and the generated key file"},
	{"LATCHKEY_DATABASE_URL", "database-url", "(SQLite in data dir)", "postgres://user:pass@host/db for PostgreSQL; sqlite:/path/file.db for another SQLite file"},
	{"LATCHKEY_BASE_URL", "base-url", "http://localhost:8080", "public URL; the only source of absolute links in emails and pushes"},
	{"LATCHKEY_MASTER_KEY", "", "(key file)", "key-encryption keys as id:base64 (comma-separated, first encrypts); without it a 0600 key file is created in the data dir"},
	{"LATCHKEY_SMTP_HOST", "smtp-host", "", "SMTP server; empty keeps email in the outbox (Settings → Outbox)"},
	{"LATCHKEY_SMTP_PORT", "smtp-port", "587", "SMTP port"},
	{"LATCHKEY_SMTP_USERNAME", "smtp-username", "", "SMTP user"},
	{"LATCHKEY_SMTP_PASSWORD", "", "", "SMTP password (environment only)"},
	{"LATCHKEY_SMTP_FROM", "smtp-from", "", "From address, e.g. Latchkey <noreply@msp.example>"},
	{"LATCHKEY_SMTP_TLS", "smtp-tls", "starttls", "starttls (required), tls (implicit, port 465) or none (localhost relay only)"},
	{"LATCHKEY_TWILIO_API_URL", "twilio-api-url", "https://api.twilio.com", "Twilio REST API base URL (a regional edge, or a local test server); each MSP enters its Twilio account under Settings → SMS"},
	{"LATCHKEY_TRUSTED_PROXIES", "trusted-proxies", "", "comma-separated CIDRs whose X-Forwarded-For is trusted"},
	{"LATCHKEY_RETENTION_DAYS", "retention-days", "30", "days to keep sent, failed and outbox messages and past notices (1-3650); older ones are deleted"},
	{"LATCHKEY_LOG_LEVEL", "log-level", "info", "debug, info, warn or error"},
	{"LATCHKEY_LOG_FORMAT", "log-format", "text", "text or json"},
}

// Load parses flags in args (after the subcommand) with LATCHKEY_* values from
// getenv as defaults, and validates the result. Errors name the setting.
func Load(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("latchkey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	var (
		cfg      Config
		baseURL  string
		port     string
		proxies  string
		keepDays string
		noWork   bool
		insecure string
	)
	fs.StringVar(&cfg.Addr, "addr", env("LATCHKEY_ADDR", ":8080"), "HTTP listen address")
	fs.StringVar(&cfg.DataDir, "data-dir", env("LATCHKEY_DATA_DIR", "./data"), "data directory")
	fs.StringVar(&cfg.DatabaseURL, "database-url", env("LATCHKEY_DATABASE_URL", ""), "database URL")
	fs.StringVar(&baseURL, "base-url", env("LATCHKEY_BASE_URL", ""), "public base URL")
	fs.StringVar(&cfg.SMTP.Host, "smtp-host", env("LATCHKEY_SMTP_HOST", ""), "SMTP host")
	fs.StringVar(&port, "smtp-port", env("LATCHKEY_SMTP_PORT", "587"), "SMTP port")
	fs.StringVar(&cfg.SMTP.Username, "smtp-username", env("LATCHKEY_SMTP_USERNAME", ""), "SMTP user")
	fs.StringVar(&cfg.SMTP.From, "smtp-from", env("LATCHKEY_SMTP_FROM", ""), "SMTP From address")
	fs.StringVar(&cfg.SMTP.TLS, "smtp-tls", env("LATCHKEY_SMTP_TLS", "starttls"), "starttls, tls or none")
	fs.StringVar(&cfg.TwilioAPIURL, "twilio-api-url", env("LATCHKEY_TWILIO_API_URL", "https://api.twilio.com"), "Twilio REST API base URL")
	fs.StringVar(&proxies, "trusted-proxies", env("LATCHKEY_TRUSTED_PROXIES", ""), "trusted proxy CIDRs")
	fs.StringVar(&keepDays, "retention-days", env("LATCHKEY_RETENTION_DAYS", strconv.Itoa(DefaultRetentionDays)), "days to keep messages and notices")
	fs.StringVar(&cfg.LogLevel, "log-level", env("LATCHKEY_LOG_LEVEL", "info"), "log level")
	fs.StringVar(&cfg.LogFormat, "log-format", env("LATCHKEY_LOG_FORMAT", "text"), "log format")
	fs.BoolVar(&noWork, "no-workers", false, "serve HTTP only; jobs are worked by `latchkey worker`")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("config: unexpected argument %q", fs.Arg(0))
	}
	cfg.MasterKey = getenv("LATCHKEY_MASTER_KEY")
	cfg.SMTP.Password = getenv("LATCHKEY_SMTP_PASSWORD")
	insecure = getenv("LATCHKEY_SMTP_INSECURE_SKIP_VERIFY")
	cfg.SMTP.InsecureSkipVerify = insecure == "1" || strings.EqualFold(insecure, "true")
	cfg.Workers = !noWork
	cfg.HTTP = true
	cfg.ShutdownTimeout = 15 * time.Second

	var errs []error
	if _, p, err := net.SplitHostPort(cfg.Addr); err != nil {
		errs = append(errs, fmt.Errorf("LATCHKEY_ADDR %q: want host:port or :port", cfg.Addr))
	} else if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
		errs = append(errs, fmt.Errorf("LATCHKEY_ADDR %q: port must be 0-65535", cfg.Addr))
	}
	if baseURL == "" {
		host, p, _ := net.SplitHostPort(cfg.Addr)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		baseURL = "http://" + net.JoinHostPort(host, p)
	}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("LATCHKEY_BASE_URL %q: want an absolute http(s) URL such as https://latchkey.msp.example", baseURL))
	} else {
		cfg.BaseURL = u
	}
	if d := cfg.DatabaseURL; d != "" && !strings.HasPrefix(d, "postgres://") && !strings.HasPrefix(d, "postgresql://") && !strings.HasPrefix(d, "sqlite:") {
		errs = append(errs, fmt.Errorf("LATCHKEY_DATABASE_URL: want postgres://… or sqlite:PATH"))
	}
	if cfg.DataDir == "" {
		errs = append(errs, errors.New("LATCHKEY_DATA_DIR must not be empty"))
	}
	if cfg.SMTP.Host != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			errs = append(errs, fmt.Errorf("LATCHKEY_SMTP_PORT %q: want 1-65535", port))
		}
		cfg.SMTP.Port = n
		if cfg.SMTP.From == "" {
			errs = append(errs, errors.New("LATCHKEY_SMTP_FROM is required when LATCHKEY_SMTP_HOST is set"))
		} else if _, err := mail.ParseAddress(cfg.SMTP.From); err != nil {
			errs = append(errs, fmt.Errorf("LATCHKEY_SMTP_FROM %q: not an email address", cfg.SMTP.From))
		}
		switch cfg.SMTP.TLS {
		case "starttls", "tls":
		case "none":
			if h := cfg.SMTP.Host; h != "localhost" && h != "127.0.0.1" && h != "::1" {
				errs = append(errs, errors.New("LATCHKEY_SMTP_TLS=none is allowed only for a relay on localhost"))
			}
		default:
			errs = append(errs, fmt.Errorf("LATCHKEY_SMTP_TLS %q: want starttls, tls or none", cfg.SMTP.TLS))
		}
	}
	if tu, err := url.Parse(strings.TrimRight(cfg.TwilioAPIURL, "/")); err != nil || tu.Host == "" || tu.RawQuery != "" ||
		(tu.Scheme != "https" && !(tu.Scheme == "http" && loopback(tu.Hostname()))) {
		errs = append(errs, fmt.Errorf("LATCHKEY_TWILIO_API_URL %q: want an https URL (http only on localhost)", cfg.TwilioAPIURL))
	} else {
		cfg.TwilioAPIURL = tu.String()
	}
	for _, p := range strings.Split(proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pref, err := netip.ParsePrefix(p)
		if err != nil {
			if a, err2 := netip.ParseAddr(p); err2 == nil {
				pref = netip.PrefixFrom(a, a.BitLen())
			} else {
				errs = append(errs, fmt.Errorf("LATCHKEY_TRUSTED_PROXIES: %q is not a CIDR or address", p))
				continue
			}
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, pref)
	}
	if n, err := strconv.Atoi(strings.TrimSpace(keepDays)); err != nil || n < MinRetentionDays || n > MaxRetentionDays {
		errs = append(errs, fmt.Errorf("LATCHKEY_RETENTION_DAYS %q: want a whole number of days from %d to %d", keepDays, MinRetentionDays, MaxRetentionDays))
	} else {
		cfg.RetentionDays = n
	}
	switch cfg.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("LATCHKEY_LOG_LEVEL %q: want debug, info, warn or error", cfg.LogLevel))
	}
	switch cfg.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("LATCHKEY_LOG_FORMAT %q: want text or json", cfg.LogFormat))
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return cfg, nil
}

// loopback reports whether host is this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// SecureCookies reports whether cookies get the Secure flag (https base URL).
func (c Config) SecureCookies() bool { return c.BaseURL != nil && c.BaseURL.Scheme == "https" }

// Link returns an absolute URL for path under the base URL.
func (c Config) Link(path string) string {
	return strings.TrimRight(c.BaseURL.String(), "/") + "/" + strings.TrimLeft(path, "/")
}
