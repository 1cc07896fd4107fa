// Package app is Latchkey's composition root: it loads configuration, opens
// the database, wires the services, the web server and River, and runs them
// with an ordered, deadline-bound shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/latchkey/latchkey/app/agent"
	"github.com/latchkey/latchkey/app/config"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/device"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/notice"
	"github.com/latchkey/latchkey/app/notify"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/app/selfserve"
	"github.com/latchkey/latchkey/app/sms"
	"github.com/latchkey/latchkey/app/verify"
	"github.com/latchkey/latchkey/app/web"
	"github.com/latchkey/latchkey/app/webpush"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/jobs"
)

// App is a wired Latchkey process.
type App struct {
	Config config.Config
	Log    *slog.Logger
	DB     *db.DB
	Queue  *db.Queue
	Web    *web.Server
	Logins *login.Service
	Keys   *secret.Keyring
	Agents *agent.Service
	// Notices: password-expiry and lockout notices (the sweep, sends, preview).
	Notices *notice.Service

	listener net.Listener
	http     *http.Server
}

// Options tune New for tests.
type Options struct {
	Now func() time.Time
}

// New opens the database, applies migrations and wires every part. It does
// not start serving or working jobs.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, opts Options) (*App, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	keys, err := loadKeys(cfg, log)
	if err != nil {
		return nil, err
	}
	d, err := db.Open(ctx, db.Options{URL: cfg.DatabaseURL, DataDir: cfg.DataDir, Logger: log})
	if err != nil {
		return nil, err
	}
	if n, err := d.Migrate(ctx); err != nil {
		d.Close()
		return nil, err
	} else if n > 0 {
		log.Info("migrations applied", "count", n, "database", string(d.Dialect))
	}

	rcfg := &river.Config{Logger: log.With("component", "river"), JobTimeout: time.Minute}
	if d.Dialect == db.SQLite {
		rcfg.FetchPollInterval = 100 * time.Millisecond
		rcfg.FetchCooldown = 50 * time.Millisecond
	}
	// The welcome worker needs the end-user onboarding service, which enqueues
	// jobs through the queue created below from these workers: jobRef
	// forwards to the queue once it exists.
	jobRef := &queueRef{}
	onboarding := enduser.NewOnboarding(enduser.OnboardingDeps{DB: d, Jobs: jobRef, Mail: notify.NewQueue(jobRef, keys, now), Link: cfg.Link, Now: now, Log: log})
	// Delivery by SMS (Twilio, per tenant) and web push (app/sms, app/webpush).
	smsSvc := sms.NewService(sms.Deps{DB: d, Keys: keys, Jobs: jobRef, Link: cfg.Link, APIURL: cfg.TwilioAPIURL, Now: now, Log: log})
	pushSvc := webpush.NewService(webpush.Deps{DB: d, Keys: keys, Jobs: jobRef, Link: cfg.Link, AllowAnyEndpoint: cfg.PushAnyEndpoint, Now: now, Log: log})
	// Password-expiry and lockout notices; a new lockout event enqueues its
	// notice in the event's transaction.
	notices := notice.New(notice.Deps{DB: d, Jobs: jobRef, Mail: notify.NewQueue(jobRef, keys, now), SMS: smsSvc.Queue(), Push: pushSvc.Queue(),
		Link: cfg.Link, Now: now, Log: log})
	agents := agent.New(agent.Deps{DB: d, Keys: keys, Now: now, Log: log, BaseURL: cfg.Link(""),
		OnLockout: func(ctx context.Context, tx *db.Tx, ev *agent.LockoutEvent) error {
			return notices.Lockout(ctx, tx, notice.LockoutInput{EventID: ev.ID, TenantID: ev.TenantID, CustomerID: ev.CustomerID,
				EndUserID: ev.EndUserID, LockedAt: ev.LockedAt})
		}})
	jobDeps := jobs.Deps{Config: cfg, DB: d, Log: log, Now: now, Keys: keys, Onboarding: onboarding, Agents: agents}
	if cfg.SMTP.Enabled() {
		jobDeps.Mailer = notify.NewSMTPMailer(cfg.SMTP)
	}
	jobDeps.SMS, jobDeps.Push, jobDeps.Notices = smsSvc, pushSvc, notices
	// Identity verification and end users' devices (app/verify, app/device).
	devices := device.NewService(device.Deps{DB: d, Push: pushSvc, Now: now})
	verifySvc := verify.NewService(verify.Deps{DB: d, Keys: keys, Jobs: jobRef, SMS: smsSvc.Queue(), Push: pushSvc.Queue(),
		Mail: notify.NewQueue(jobRef, keys, now), Now: now, Log: log, PushTimeout: cfg.VerifyPushTimeout, Link: cfg.Link})
	jobDeps.Verify = verifySvc
	if cfg.Workers {
		rcfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 10}}
		rcfg.Workers = jobs.Workers(jobDeps)
		rcfg.PeriodicJobs = jobs.Periodic()
	}
	q, err := db.NewQueue(d, rcfg)
	if err != nil {
		d.Close()
		return nil, err
	}
	jobRef.q = q

	sm := scs.New()
	// A compact codec (gob's type descriptions with every session cost a
	// tenth of a grid page); sessions in gob form still decode.
	sm.Codec = web.SessionCodec{}
	// Our store on both databases: it reads a session's login with the
	// session (one statement per signed-in request instead of two) and has
	// no cleanup goroutine (expired sessions: the clean_sessions job).
	sm.Store = web.CountingStore(web.NewSessionStore(d, sm.Codec), d)
	// The idle timeout is the web layer's (web.SessionIdleTimeout): scs's own
	// would rewrite the session row on every request.
	sm.Lifetime = web.SessionLifetime
	sm.Cookie.Name = "latchkey_session"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = cfg.SecureCookies()
	sm.Cookie.Persist = false
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		log.ErrorContext(r.Context(), "session store", "err", err)
		http.Error(w, "The database is not reachable right now. Try again in a moment.", http.StatusServiceUnavailable)
	}

	hasher := credential.NewHasher(max(2, runtime.NumCPU()))
	mail := notify.NewQueue(q, keys, now)
	logins := login.NewService(login.Deps{DB: d, Hasher: hasher, Keys: keys, Mail: mail, Link: cfg.Link, Now: now, Log: log})
	srv := web.New(web.Deps{Config: cfg, Log: log, DB: d, Sessions: sm, Keys: keys, Hasher: hasher, Mail: mail, Logins: logins, Onboarding: onboarding, Agents: agents, Now: now})
	srv.SMS, srv.Push = smsSvc, pushSvc
	srv.Notices = notices
	srv.Verify, srv.Devices = verifySvc, devices
	// End users' self-serve, and the password rules of the reset panel (app/selfserve).
	srv.SelfServe = selfserve.New(selfserve.Deps{DB: d, Keys: keys, SMS: smsSvc.Queue(), Mail: mail, Agents: agents, Logins: logins,
		Onboarding: onboarding, Verify: verifySvc, Devices: devices, Now: now, Log: log})
	return &App{Config: cfg, Log: log, DB: d, Queue: q, Web: srv, Logins: logins, Keys: keys, Agents: agents, Notices: notices}, nil
}

// queueRef forwards job inserts to a queue set after construction (see New).
type queueRef struct{ q *db.Queue }

func (r *queueRef) InsertTx(ctx context.Context, tx *db.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return r.q.InsertTx(ctx, tx, args, opts)
}

func (r *queueRef) InsertManyTx(ctx context.Context, tx *db.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	return r.q.InsertManyTx(ctx, tx, params)
}

// loadKeys returns the key-encryption keys: LATCHKEY_MASTER_KEY, or a 0600
// key file in the data directory created on first run (with a warning).
func loadKeys(cfg config.Config, log *slog.Logger) (*secret.Keyring, error) {
	if cfg.MasterKey != "" {
		kr, err := secret.ParseKeys(cfg.MasterKey)
		if err != nil {
			return nil, fmt.Errorf("LATCHKEY_MASTER_KEY: %w", err)
		}
		return kr, nil
	}
	path := filepath.Join(cfg.DataDir, "master.key")
	kr, created, err := secret.LoadOrCreateKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if created {
		log.Warn("created a new key-encryption key file; back it up, and prefer LATCHKEY_MASTER_KEY in production", "path", path)
	}
	return kr, nil
}

// Start listens on the configured address (HTTP) and starts River (workers).
func (a *App) Start(ctx context.Context) error {
	if a.Config.HTTP {
		ln, err := net.Listen("tcp", a.Config.Addr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", a.Config.Addr, err)
		}
		a.listener = ln
		a.http = a.Web.HTTPServer(a.Config.Addr)
		go func() {
			if err := a.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.Log.Error("http server", "err", err)
			}
		}()
	}
	if a.Config.Workers {
		if err := a.Queue.Start(ctx); err != nil {
			return fmt.Errorf("start river: %w", err)
		}
	}
	return nil
}

// Addr returns the address the HTTP server listens on (with the real port when :0 was asked).
func (a *App) Addr() string {
	if a.listener == nil {
		return ""
	}
	return a.listener.Addr().String()
}

// URL returns http://host:port of the listener, for messages and tests.
func (a *App) URL() string {
	host, port, _ := net.SplitHostPort(a.Addr())
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Close shuts down in order, each step with a deadline: stop accepting HTTP
// and finish requests, soft-stop River (then cancel), close the database.
func (a *App) Close(ctx context.Context) error {
	var errs []error
	timeout := a.Config.ShutdownTimeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	if a.http != nil {
		a.Agents.Stop() // agents' long polls answer at once
		hctx, cancel := context.WithTimeout(ctx, timeout)
		if err := a.http.Shutdown(hctx); err != nil {
			// Requests still running (agents' long polls): cut them off.
			_ = a.http.Close()
			if !errors.Is(err, context.DeadlineExceeded) {
				errs = append(errs, fmt.Errorf("http shutdown: %w", err))
			}
		}
		cancel()
	}
	if a.Config.Workers {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		if err := a.Queue.Stop(rctx); err != nil {
			cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
			_ = a.Queue.StopAndCancel(cctx)
			ccancel()
		}
		cancel()
	}
	if err := a.DB.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close database: %w", err))
	}
	return errors.Join(errs...)
}

// NewLogger returns the process logger in the configured format and level.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	lvl := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[cfg.LogLevel]
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
