package app

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/app/config"
)

const usage = `Latchkey: identity verification and password resets for MSPs.

Usage:
  latchkey [serve] [flags]       serve HTTP and work jobs (the default)
  latchkey serve --no-workers    serve HTTP only (jobs are worked elsewhere)
  latchkey worker [flags]        work jobs only
  latchkey migrate [flags]       apply database migrations and exit
  latchkey audit-verify [flags]  check that every tenant's audit chain is intact
  latchkey rekey [flags]         re-encrypt every stored secret (technicians' and end users' TOTP
                                 secrets, directory and Twilio credentials, web push keys, codes,
                                 emails, text and push messages) under the first key of
                                 LATCHKEY_MASTER_KEY; the keys after it may go once it succeeds
  latchkey demo-data [--customers N] [--end-users N] [--seed N] [flags]
                                 add made-up customers (default 100) and end users (default
                                 100000) to the tenant, creating "Demo MSP" when there is none;
                                 each run adds more. For demos and benchmarks, not production
  latchkey help                  show this help

Settings come from flags or LATCHKEY_* environment variables:
`

// Run is the whole program: main only passes the process's environment in.
// It returns when ctx ends (or on SIGINT/SIGTERM) after an orderly shutdown.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "help", "-h", "--help":
		printUsage(stdout)
		return nil
	case "serve", "worker", "migrate", "audit-verify", "rekey", "demo-data":
	default:
		printUsage(stderr)
		return fmt.Errorf("unknown command %q", cmd)
	}
	var demo DemoOptions
	if cmd == "demo-data" {
		var err error
		if demo, args, err = parseDemoFlags(args); err != nil {
			return err
		}
	}
	cfg, err := config.Load(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cmd == "worker" {
		cfg.HTTP, cfg.Workers = false, true
	}
	if cmd == "migrate" || cmd == "audit-verify" || cmd == "rekey" || cmd == "demo-data" {
		cfg.HTTP, cfg.Workers = false, false
	}
	log := NewLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	a, err := New(ctx, cfg, log, Options{})
	if err != nil {
		return err
	}
	switch cmd {
	case "migrate":
		fmt.Fprintf(stdout, "migrations applied (%s)\n", a.DB.Dialect)
		return a.Close(context.Background())
	case "rekey":
		err := Rekey(ctx, a.DB, a.Keys, RekeySteps(), stdout)
		if cerr := a.Close(context.Background()); err == nil {
			err = cerr
		}
		return err
	case "demo-data":
		_, err := DemoData(ctx, a, demo, stdout)
		if cerr := a.Close(context.Background()); err == nil {
			err = cerr
		}
		return err
	case "audit-verify":
		err := verifyAudit(ctx, a, stdout)
		if cerr := a.Close(context.Background()); err == nil {
			err = cerr
		}
		return err
	}
	if err := a.Start(ctx); err != nil {
		_ = a.Close(context.Background())
		return err
	}
	if cfg.HTTP {
		fmt.Fprintf(stdout, "listening on %s\n", a.URL())
		log.Info("ready", "url", a.URL(), "database", string(a.DB.Dialect), "workers", cfg.Workers, "startup", time.Since(start).Round(time.Millisecond))
	} else {
		fmt.Fprintln(stdout, "working jobs")
		log.Info("worker ready", "database", string(a.DB.Dialect))
	}
	<-ctx.Done()
	log.Info("shutting down")
	return a.Close(context.Background())
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, usage)
	for _, v := range config.Vars {
		flag := ""
		if v.Flag != "" {
			flag = "--" + v.Flag
		}
		fmt.Fprintf(w, "  %-36s %-18s %s (default %s)\n", v.Env, flag, v.Help, v.Default)
	}
}
