// Command latchkey-agent runs at a customer site, next to Active Directory.
// It makes only outbound HTTPS requests to the Latchkey server:
//
//	latchkey-agent enroll --server https://latchkey.example.com --token lki_…
//	latchkey-agent run
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/latchkey/latchkey/app/agentrun"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `latchkey-agent: carries out Latchkey's directory tasks at a customer site.

Commands:
  enroll --server URL --token TOKEN [--state FILE] [--ca-file PEM]
        exchange the single-use install token (from the customer's page in
        Latchkey) for this agent's credential, stored in FILE (mode 0600)
  run [--state FILE]
        poll the server for tasks and carry them out until stopped
  version
        print the version

The state file defaults to ./latchkey-agent.json (LATCHKEY_AGENT_STATE).
`

func defaultState() string {
	if p := os.Getenv("LATCHKEY_AGENT_STATE"); p != "" {
		return p
	}
	return "latchkey-agent.json"
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "enroll":
		fs := flag.NewFlagSet("enroll", flag.ContinueOnError)
		fs.SetOutput(stderr)
		server := fs.String("server", "", "the Latchkey server's address (https://…)")
		token := fs.String("token", "", "the install token shown on the customer's page")
		state := fs.String("state", defaultState(), "where to store the agent's credential (0600)")
		caFile := fs.String("ca-file", "", "PEM file of a CA to trust for the server's certificate")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if *server == "" || *token == "" {
			fmt.Fprintln(stderr, "enroll needs --server and --token")
			return 2
		}
		st, err := agentrun.Enroll(ctx, *server, *token, *state, agentrun.ServerOptions{CAFile: *caFile})
		if err != nil {
			fmt.Fprintln(stderr, "latchkey-agent:", err)
			return 1
		}
		fmt.Fprintf(stdout, "Enrolled for %s (agent %s). Credential saved in %s.\nNow run: latchkey-agent run --state %s\n",
			st.Customer, st.AgentID, *state, *state)
		return 0
	case "run":
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		fs.SetOutput(stderr)
		state := fs.String("state", defaultState(), "the state file written by enroll")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		err := agentrun.Run(ctx, agentrun.Options{StatePath: *state, Open: agentrun.OpenAD, Log: log})
		if err != nil {
			fmt.Fprintln(stderr, "latchkey-agent:", err)
			if errors.Is(err, agentrun.ErrRevoked) {
				return 3
			}
			return 1
		}
		return 0
	case "version":
		fmt.Fprintln(stdout, "latchkey-agent", agentrun.Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
	return 2
}
