package agentrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/app/agent/wire"
)

// Directory is the directory work the agent does (Active Directory over
// LDAP in production: see OpenAD). Errors should be *wire.Error so the
// server can show what went wrong.
type Directory interface {
	// Check binds and returns the domain's password policy.
	Check(ctx context.Context) (*wire.Policy, error)
	// Users calls fn for every user in scope, paging through the directory.
	Users(ctx context.Context, fn func(wire.User) error) error
	// Reset sets a user's password; temporary: must change at next logon;
	// selfService: the user's own change (history applies).
	Reset(ctx context.Context, guid, password string, temporary, selfService bool) error
	// Unlock clears a lockout.
	Unlock(ctx context.Context, guid string) error
	// Policy is the password policy that applies to a user.
	Policy(ctx context.Context, guid string) (*wire.Policy, error)
	// User reads one user back.
	User(ctx context.Context, guid string) (*wire.User, error)
	// PwdLastSet is the user's raw pwdLastSet, to tell after a crash whether
	// a reset was written.
	PwdLastSet(ctx context.Context, guid string) (string, error)
	// LockedOut lists the users in scope locked since the given time.
	LockedOut(ctx context.Context, since time.Time) ([]wire.Lockout, error)
	Close() error
}

// Opener connects to the directory described by the server's configuration.
type Opener func(ctx context.Context, cfg wire.Config) (Directory, error)

// Options configure Run.
type Options struct {
	StatePath string
	Open      Opener
	Log       *slog.Logger
	// HeartbeatEvery: how often the directory is checked (default a minute).
	HeartbeatEvery time.Duration
	// PollWait: how long the server may hold a poll (default wire.Wait).
	PollWait time.Duration
	Hostname string
}

// Enroll exchanges an install token for a credential and writes the state
// file (0600).
func Enroll(ctx context.Context, server, token, statePath string, o ServerOptions) (*State, error) {
	c, err := newClient(server, "", o)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	var resp wire.EnrollResponse
	if _, err := c.postJSON(ctx, wire.PathEnroll, wire.EnrollRequest{Token: strings.TrimSpace(token), Hostname: host,
		Version: Version, OS: runtime.GOOS + "/" + runtime.GOARCH}, &resp); err != nil {
		if errors.Is(err, ErrRevoked) {
			return nil, errors.New("the install token was not accepted: it is used, expired (24 h) or mistyped; create a new one on the customer's page")
		}
		return nil, fmt.Errorf("enrolling with %s: %w", c.base, err)
	}
	st := &State{Server: c.base.String(), AgentID: resp.AgentID, Credential: resp.Credential, Customer: resp.Customer,
		CAFile: o.CAFile, EnrolledAt: time.Now().UTC()}
	if err := writeFile0600(statePath, st); err != nil {
		return nil, fmt.Errorf("writing %s: %w", statePath, err)
	}
	return st, nil
}

// runner is one running agent.
type runner struct {
	o      Options
	st     *State
	c      *client
	j      *journal
	log    *slog.Logger
	mu     sync.Mutex
	cfg    *wire.Config
	dir    *dirRef // the current connection; nil until needed
	status wire.DirectoryStatus
	// lockouts seen by the heartbeat, sent with the next poll
	lockouts    []wire.Lockout
	lockoutSeen map[string]time.Time // guid → lockout already reported
	lockSince   time.Time
	resume      []string
	imports     sync.WaitGroup
	taskMu      sync.Mutex    // one task at a time on the shared connection
	busy        chan struct{} // one import at a time
}

// Run polls the server and carries out tasks until ctx ends. It returns
// ErrRevoked when the server refuses the credential.
func Run(ctx context.Context, o Options) error {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.HeartbeatEvery == 0 {
		o.HeartbeatEvery = time.Minute
	}
	if o.PollWait == 0 {
		o.PollWait = wire.Wait
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	st, err := LoadState(o.StatePath)
	if err != nil {
		return err
	}
	c, err := newClient(st.Server, st.Credential, ServerOptions{CAFile: st.CAFile})
	if err != nil {
		return err
	}
	j, err := openJournal(o.StatePath + ".journal")
	if err != nil {
		return err
	}
	r := &runner{o: o, st: st, c: c, j: j, log: o.Log, busy: make(chan struct{}, 1)}
	defer r.closeDir()
	defer r.imports.Wait()
	o.Log.Info("latchkey-agent running", "server", st.Server, "customer", st.Customer, "agent", st.AgentID)

	hbCtx, stopHB := context.WithCancel(ctx)
	defer stopHB()
	go r.heartbeat(hbCtx)

	backoff := time.Second
	for ctx.Err() == nil {
		if err := r.flush(ctx); err != nil {
			if errors.Is(err, ErrRevoked) {
				return err
			}
		}
		sent := r.pollRequest()
		resp, err := c.poll(ctx, sent, o.PollWait)
		if err != nil {
			if errors.Is(err, ErrRevoked) {
				return err
			}
			if ctx.Err() != nil {
				break
			}
			r.log.Warn("polling the server failed; retrying", "err", err, "in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = time.Second
		r.mu.Lock()
		r.resume = nil
		r.lockouts = r.lockouts[len(sent.Lockouts):]
		r.mu.Unlock()
		if resp.Config != nil {
			r.setConfig(resp.Config)
		}
		if resp.Task != nil {
			r.start(ctx, resp.Task)
		}
	}
	return nil
}

func (r *runner) pollRequest() wire.PollRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := 0
	if r.cfg != nil {
		v = r.cfg.Version
	}
	return wire.PollRequest{Hostname: r.o.Hostname, Version: Version, OS: runtime.GOOS + "/" + runtime.GOARCH,
		ConfigVersion: v, Directory: r.status, Resume: append([]string(nil), r.resume...),
		Lockouts: append([]wire.Lockout(nil), r.lockouts...)}
}

// dirRef is a directory connection shared by the tasks and the heartbeat:
// it is closed when it is retired (new configuration, or it failed) and the
// last user is done with it.
type dirRef struct {
	Directory
	users   int
	retired bool
}

func (r *runner) setConfig(cfg *wire.Config) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cfg = cfg
	r.retireLocked(r.dir)
	r.log.Info("directory configuration received", "version", cfg.Version, "url", cfg.URL)
}

func (r *runner) retireLocked(d *dirRef) {
	if d == nil {
		return
	}
	d.retired = true
	if r.dir == d {
		r.dir = nil
	}
	if d.users == 0 {
		_ = d.Close()
	}
}

func (r *runner) closeDir() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retireLocked(r.dir)
}

// directory returns the connection, opening one when needed; call release
// when done with it.
func (r *runner) directory(ctx context.Context) (d *dirRef, release func(), err error) {
	r.mu.Lock()
	cfg := r.cfg
	if cfg == nil {
		r.mu.Unlock()
		return nil, nil, &wire.Error{Kind: "not_configured", Message: "The directory connection is not set up on the Latchkey server yet."}
	}
	if r.dir == nil {
		r.mu.Unlock()
		opened, err := r.o.Open(ctx, *cfg)
		if err != nil {
			return nil, nil, err
		}
		r.mu.Lock()
		if r.dir == nil && r.cfg == cfg {
			r.dir = &dirRef{Directory: opened}
		} else {
			_ = opened.Close() // another task opened one meanwhile, or the configuration changed
		}
		if r.dir == nil {
			r.mu.Unlock()
			return r.directory(ctx)
		}
	}
	d = r.dir
	d.users++
	r.mu.Unlock()
	return d, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		d.users--
		if d.retired && d.users == 0 {
			_ = d.Close()
		}
	}, nil
}

// dropDirectory retires a connection that failed, so the next task redials.
func (r *runner) dropDirectory(d *dirRef) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retireLocked(d)
}

// heartbeat checks the directory every HeartbeatEvery; the next poll
// carries the status (polls are at most wire.Wait apart).
func (r *runner) heartbeat(ctx context.Context) {
	t := time.NewTicker(r.o.HeartbeatEvery)
	defer t.Stop()
	for {
		r.mu.Lock()
		configured := r.cfg != nil
		r.mu.Unlock()
		if configured {
			st := wire.DirectoryStatus{Checked: true, OK: true, CheckedAt: time.Now().UTC()}
			if _, err := r.check(ctx); err != nil {
				st.OK, st.Error = false, err.Error()
			}
			if ctx.Err() != nil {
				return
			}
			r.mu.Lock()
			r.status = st
			r.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check binds on a connection of its own and reads the domain policy. An
// LDAP connection carries one operation at a time here: interleaving a large
// search with other requests on one connection can stall it (the client
// library dispatches every response through one goroutine).
func (r *runner) check(ctx context.Context) (*wire.Policy, error) {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	d, closeDir, err := r.dedicated(cctx)
	if err != nil {
		return nil, err
	}
	defer closeDir()
	p, err := d.Check(cctx)
	if err != nil {
		return nil, err
	}
	r.scanLockouts(cctx, d)
	return p, nil
}

// scanLockouts notes accounts locked since the last scan (the first scan
// looks back one day), each lockout once.
func (r *runner) scanLockouts(ctx context.Context, d Directory) {
	r.mu.Lock()
	since := r.lockSince
	r.mu.Unlock()
	now := time.Now()
	if since.IsZero() {
		since = now.Add(-24 * time.Hour)
	}
	locked, err := d.LockedOut(ctx, since.Add(-time.Minute))
	if err != nil {
		r.log.Warn("reading lockouts failed", "err", err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lockoutSeen == nil {
		r.lockoutSeen = map[string]time.Time{}
	}
	for _, l := range locked {
		if seen, ok := r.lockoutSeen[l.GUID]; ok && seen.Equal(l.LockedAt) {
			continue
		}
		r.lockoutSeen[l.GUID] = l.LockedAt
		r.lockouts = append(r.lockouts, l)
	}
	r.lockSince = now
}

// dedicated opens a connection for one piece of work (the heartbeat, an import).
func (r *runner) dedicated(ctx context.Context) (Directory, func(), error) {
	r.mu.Lock()
	cfg := r.cfg
	r.mu.Unlock()
	if cfg == nil {
		return nil, nil, &wire.Error{Kind: "not_configured", Message: "The directory connection is not set up on the Latchkey server yet."}
	}
	d, err := r.o.Open(ctx, *cfg)
	if err != nil {
		return nil, nil, err
	}
	return d, func() { _ = d.Close() }, nil
}

// start runs a task: imports in the background (one at a time), the rest
// at once.
func (r *runner) start(ctx context.Context, t *wire.Task) {
	if t.Kind != wire.KindImport {
		r.execute(ctx, t)
		return
	}
	r.imports.Add(1)
	go func() {
		defer r.imports.Done()
		select {
		case r.busy <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-r.busy }()
		r.execute(ctx, t)
	}()
}

// execute journals the task, does it, journals the result and posts it. If
// ctx ends while the task runs, nothing more is written: the journal then
// says what to check after a restart.
func (r *runner) execute(ctx context.Context, t *wire.Task) {
	e := &entry{ID: t.ID, Kind: t.Kind, GUID: t.GUID, Started: time.Now().UTC(), Temporary: t.Temporary}
	tctx, cancel := context.WithDeadline(ctx, t.Deadline)
	defer cancel()
	if t.Kind == wire.KindReset {
		if d, release, err := r.directory(tctx); err == nil {
			if v, err := d.PwdLastSet(tctx, t.GUID); err == nil {
				e.PwdBefore = v
			}
			release()
		}
	}
	if err := r.j.put(e); err != nil {
		r.log.Error("writing the journal failed; refusing the task", "task", t.ID, "err", err)
		r.finish(ctx, e, &wire.Result{Error: &wire.Error{Kind: "agent", Message: "The agent could not write its journal: " + err.Error()}})
		return
	}
	res := r.do(tctx, t)
	if ctx.Err() != nil {
		return // stopped mid-task: the journal entry stays without a result
	}
	r.finish(ctx, e, res)
}

func (r *runner) finish(ctx context.Context, e *entry, res *wire.Result) {
	e.Result = res
	if err := r.j.put(e); err != nil {
		r.log.Error("writing the journal failed", "task", e.ID, "err", err)
	}
	if err := r.post(ctx, e); err != nil {
		r.log.Warn("posting a result failed; will retry", "task", e.ID, "err", err)
	}
}

func (r *runner) post(ctx context.Context, e *entry) error {
	err := r.c.result(ctx, e.ID, e.Result)
	var se *statusError
	if err == nil || (errors.As(err, &se) && se.Status == 404) {
		// Recorded (or no longer ours): forget it.
		return r.j.remove(e.ID)
	}
	return err
}

// flush posts results the server has not acknowledged and works out what
// happened to tasks that were cut short.
func (r *runner) flush(ctx context.Context) error {
	r.mu.Lock()
	configured := r.cfg != nil
	r.mu.Unlock()
	var resume []string
	for _, e := range r.j.list() {
		if e.Result != nil {
			if err := r.post(ctx, e); err != nil {
				return err
			}
			continue
		}
		if !configured {
			continue // decided once the server has sent the configuration (the next poll)
		}
		if e.Kind == wire.KindReset && e.PwdBefore != "" {
			if done, err := r.resetWritten(ctx, e); err == nil && done {
				r.log.Info("a reset cut short by a restart had been written; reporting it", "task", e.ID)
				e.Result = &wire.Result{OK: true}
				_ = r.j.put(e)
				if err := r.post(ctx, e); err != nil {
					return err
				}
				continue
			}
		}
		resume = append(resume, e.ID)
	}
	r.mu.Lock()
	r.resume = resume
	r.mu.Unlock()
	return nil
}

// resetWritten tells whether a reset reached the directory: pwdLastSet
// changes with every password write (to 0 when temporary).
func (r *runner) resetWritten(ctx context.Context, e *entry) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	d, release, err := r.directory(cctx)
	if err != nil {
		return false, err
	}
	defer release()
	now, err := d.PwdLastSet(cctx, e.GUID)
	if err != nil {
		return false, err
	}
	if e.Temporary && e.PwdBefore == "0" {
		return false, nil // cannot tell; the server resends and the write is repeated
	}
	return now != e.PwdBefore, nil
}

func asWireError(err error) *wire.Error {
	var we *wire.Error
	if errors.As(err, &we) {
		return we
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &wire.Error{Kind: "timeout", Message: "The directory did not answer in time."}
	}
	return &wire.Error{Kind: "unknown", Message: err.Error()}
}

// do carries out a task against the directory.
func (r *runner) do(ctx context.Context, t *wire.Task) *wire.Result {
	fail := func(err error) *wire.Result { return &wire.Result{Error: asWireError(err)} }
	if t.Kind == wire.KindImport {
		// Imports run beside other tasks: on a connection of their own.
		d, closeDir, err := r.dedicated(ctx)
		if err != nil {
			return fail(err)
		}
		defer closeDir()
		p, err := d.Check(ctx)
		if err != nil {
			return fail(err)
		}
		n, err := r.c.uploadUsers(ctx, t.ID, func(emit func(wire.User) error) error { return d.Users(ctx, emit) })
		if err != nil {
			return fail(err)
		}
		return &wire.Result{OK: true, Users: n, Policy: p}
	}
	// The other tasks run one at a time, on the shared connection.
	r.taskMu.Lock()
	defer r.taskMu.Unlock()
	d, release, err := r.directory(ctx)
	if err != nil {
		return fail(err)
	}
	defer release()
	var res *wire.Result
	switch t.Kind {
	case wire.KindCheck:
		p, err := d.Check(ctx)
		if err != nil {
			res = fail(err)
			break
		}
		res = &wire.Result{OK: true, Policy: p}
	case wire.KindReset:
		if err := d.Reset(ctx, t.GUID, t.Password, t.Temporary, t.SelfService); err != nil {
			res = fail(err)
			break
		}
		res = &wire.Result{OK: true}
		if u, err := d.User(ctx, t.GUID); err == nil {
			res.User = u
		}
	case wire.KindUnlock:
		if err := d.Unlock(ctx, t.GUID); err != nil {
			res = fail(err)
			break
		}
		res = &wire.Result{OK: true}
		if u, err := d.User(ctx, t.GUID); err == nil {
			res.User = u
		}
	case wire.KindPolicy:
		p, err := d.Policy(ctx, t.GUID)
		if err != nil {
			res = fail(err)
			break
		}
		res = &wire.Result{OK: true, Policy: p}
	default:
		res = &wire.Result{Error: &wire.Error{Kind: "unsupported", Message: "This agent does not know task kind " + t.Kind + ": update latchkey-agent."}}
	}
	if res.Error != nil && res.Error.Kind == "unreachable" {
		r.dropDirectory(d)
	}
	return res
}
