// Package agent is the server side of latchkey-agent: install tokens and
// enrolment, agent credentials and status, each customer's directory
// settings, the directory tasks agents carry out (at most once, passwords
// encrypted until the task ends), and directory imports into the end users.
package agent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/agent/wire"
	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/credential"
	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/db"
)

// Lifetimes and limits.
const (
	InstallTokenTTL = 24 * time.Hour
	// OnlineWithin: an agent seen this recently is online (it polls at least
	// every wire.Wait and heartbeats every minute).
	OnlineWithin = 2 * time.Minute
	// seenEvery: last_seen_at is written at most this often.
	seenEvery = 20 * time.Second
	// pollRecheck: how often a waiting poll looks at the database for what
	// other server processes changed.
	pollRecheck = 2 * time.Second
)

// Agent is an enrolled latchkey-agent.
type Agent struct {
	bun.BaseModel `bun:"table:agents"`

	ID                 string     `bun:"id,pk"`
	TenantID           string     `bun:"tenant_id"`
	CustomerID         string     `bun:"customer_id"`
	CredentialHash     string     `bun:"credential_hash"`
	Hostname           string     `bun:"hostname"`
	Version            string     `bun:"version"`
	OS                 string     `bun:"os"`
	LastSeenAt         *time.Time `bun:"last_seen_at"`
	DirectoryOK        bool       `bun:"directory_ok"`
	DirectoryError     string     `bun:"directory_error"`
	DirectoryCheckedAt *time.Time `bun:"directory_checked_at"`
	EnrolledAt         time.Time  `bun:"enrolled_at"`
	RevokedAt          *time.Time `bun:"revoked_at"`
	RevokedBy          string     `bun:"revoked_by"`
}

// Online reports whether the agent was seen recently and is not revoked.
func (a *Agent) Online(now time.Time) bool {
	return a.RevokedAt == nil && a.LastSeenAt != nil && now.Sub(*a.LastSeenAt) < OnlineWithin
}

// installToken is a single-use token that enrols one agent.
type installToken struct {
	bun.BaseModel `bun:"table:agent_install_tokens"`

	ID         string     `bun:"id,pk"`
	TenantID   string     `bun:"tenant_id"`
	CustomerID string     `bun:"customer_id"`
	TokenHash  string     `bun:"token_hash"`
	CreatedBy  string     `bun:"created_by"`
	ExpiresAt  time.Time  `bun:"expires_at"`
	UsedAt     *time.Time `bun:"used_at"`
	AgentID    string     `bun:"agent_id"`
	CreatedAt  time.Time  `bun:"created_at"`
}

// Deps are what the service needs.
type Deps struct {
	DB   *db.DB
	Keys *secret.Keyring
	Now  func() time.Time
	Log  *slog.Logger
	// BaseURL is the server's public address, for the enrolment command.
	BaseURL string
	// OnLockout, when set, is called in the transaction that recorded a new
	// lockout event (not for one already recorded): the lockout notice is
	// enqueued with it.
	OnLockout func(ctx context.Context, tx *db.Tx, ev *LockoutEvent) error
}

// Service is the server side of the agents.
type Service struct {
	db      *db.DB
	keys    *secret.Keyring
	now     func() time.Time
	log     *slog.Logger
	baseURL string

	onLockout func(ctx context.Context, tx *db.Tx, ev *LockoutEvent) error

	queued   signals // customer id → a task was queued
	finished signals // task id → the task ended

	stopOnce sync.Once
	stopped  chan struct{} // closed by Stop
}

// Stop makes waiting polls and waits return at once (server shutdown).
func (s *Service) Stop() { s.stopOnce.Do(func() { close(s.stopped) }) }

// New returns the service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	return &Service{db: d.DB, keys: d.Keys, now: d.Now, log: d.Log, baseURL: strings.TrimRight(d.BaseURL, "/"), onLockout: d.OnLockout, stopped: make(chan struct{})}
}

// signals wakes in-process waiters; waiters also re-check the database
// every second, so other server processes' changes are seen too.
type signals struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

func (s *signals) wait(key string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]chan struct{}{}
	}
	ch, ok := s.m[key]
	if !ok {
		ch = make(chan struct{})
		s.m[key] = ch
	}
	return ch
}

func (s *signals) fire(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.m[key]; ok {
		close(ch)
		delete(s.m, key)
	}
}

// Token prefixes make a leaked secret recognisable.
const (
	installPrefix    = "lki_"
	credentialPrefix = "lka_"
)

// InstallToken is a new install token, shown once.
type InstallToken struct {
	ID        string // not secret: names the token in the card that watches for its use
	Token     string
	ExpiresAt time.Time
	Command   string // the exact command to run on the customer's server
}

// CreateInstallToken creates a single-use install token for a customer
// (expires in 24 h). Audited as agent.token_create.
// Errors: NotFound (another tenant's or an archived customer).
func (s *Service) CreateInstallToken(ctx context.Context, a audit.Actor, customerID string) (*InstallToken, error) {
	tok, _, err := credential.NewToken()
	if err != nil {
		return nil, err
	}
	tok = installPrefix + tok // the prefix makes a leaked token recognisable; the hash covers it
	hash := credential.HashToken(tok)
	now := s.now().UTC()
	it := &installToken{ID: db.NewID(), TenantID: a.TenantID, CustomerID: customerID, TokenHash: hash,
		CreatedBy: a.Name, ExpiresAt: now.Add(InstallTokenTTL), CreatedAt: now}
	err = s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		name, err := activeCustomer(ctx, tx, a.TenantID, customerID)
		if err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(it).Exec(ctx); err != nil {
			return fmt.Errorf("agent: insert install token: %w", err)
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{Action: "agent.token_create", TargetType: "customer",
			TargetID: customerID, Target: name, Detail: "install token valid for 24 hours"})
	})
	if err != nil {
		return nil, err
	}
	return &InstallToken{ID: it.ID, Token: tok, ExpiresAt: it.ExpiresAt,
		Command: fmt.Sprintf("latchkey-agent enroll --server %s --token %s", s.baseURL, tok)}, nil
}

// TokenUse says what became of a customer's install token: the agent it
// enrolled (nil while unused), and whether it expired unused.
type TokenUse struct {
	Agent   *Agent
	Expired bool
}

// InstallTokenUse looks up one of the customer's install tokens by its id.
// Errors: NotFound (no such token for this tenant's customer).
func (s *Service) InstallTokenUse(ctx context.Context, tenantID, customerID, tokenID string) (*TokenUse, error) {
	it := new(installToken)
	err := s.db.Bun.NewSelect().Model(it).Where("id = ? AND tenant_id = ? AND customer_id = ?", tokenID, tenantID, customerID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "That install token does not exist.")
	}
	if err != nil {
		return nil, fmt.Errorf("agent: install token: %w", err)
	}
	if it.AgentID == "" {
		return &TokenUse{Expired: it.UsedAt == nil && !s.now().Before(it.ExpiresAt)}, nil
	}
	ag := new(Agent)
	if err := s.db.Bun.NewSelect().Model(ag).Where("id = ? AND tenant_id = ?", it.AgentID, tenantID).Scan(ctx); err != nil {
		return nil, fmt.Errorf("agent: enrolled agent: %w", err)
	}
	return &TokenUse{Agent: ag}, nil
}

func activeCustomer(ctx context.Context, idb bun.IDB, tenantID, customerID string) (string, error) {
	var name string
	err := idb.NewSelect().Table("customers").Column("name").
		Where("tenant_id = ? AND id = ? AND archived_at IS NULL", tenantID, customerID).Scan(ctx, &name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", apperr.New(apperr.NotFound, "That customer does not exist.")
	}
	if err != nil {
		return "", fmt.Errorf("agent: customer: %w", err)
	}
	return name, nil
}

// ErrUnauthorized answers an unknown, used, expired or revoked token or
// credential: the agent API says 401 without telling which.
var ErrUnauthorized = apperr.New(apperr.Forbidden, "The agent's token or credential is not valid.")

// Enroll exchanges an install token for a long-lived agent credential (stored
// hashed). The token works once. Audited as agent.enroll.
// Errors: ErrUnauthorized, Invalid.
func (s *Service) Enroll(ctx context.Context, req wire.EnrollRequest, ip string) (*wire.EnrollResponse, error) {
	if !strings.HasPrefix(req.Token, installPrefix) {
		return nil, ErrUnauthorized
	}
	cred, _, err := credential.NewToken()
	if err != nil {
		return nil, err
	}
	cred = credentialPrefix + cred
	now := s.now().UTC()
	var resp *wire.EnrollResponse
	err = s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		it := new(installToken)
		err := tx.NewUpdate().Model(it).Set("used_at = ?", now).
			Where("token_hash = ? AND used_at IS NULL AND expires_at > ?", credential.HashToken(req.Token), now).
			Returning("*").Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrUnauthorized
		}
		if err != nil {
			return fmt.Errorf("agent: use install token: %w", err)
		}
		name, err := activeCustomer(ctx, tx, it.TenantID, it.CustomerID)
		if err != nil {
			return ErrUnauthorized
		}
		ag := &Agent{ID: db.NewID(), TenantID: it.TenantID, CustomerID: it.CustomerID,
			CredentialHash: credential.HashToken(cred), Hostname: clip(req.Hostname, 255),
			Version: clip(req.Version, 64), OS: clip(req.OS, 64), LastSeenAt: &now, EnrolledAt: now}
		if _, err := tx.NewInsert().Model(ag).Exec(ctx); err != nil {
			return fmt.Errorf("agent: insert: %w", err)
		}
		if _, err := tx.NewUpdate().Model((*installToken)(nil)).Set("agent_id = ?", ag.ID).Where("id = ?", it.ID).Exec(ctx); err != nil {
			return fmt.Errorf("agent: link token: %w", err)
		}
		resp = &wire.EnrollResponse{AgentID: ag.ID, Credential: cred, Customer: name}
		return audit.Record(ctx, tx, now, audit.Actor{TenantID: it.TenantID, Name: "Agent on " + ag.Hostname, IP: ip},
			audit.Entry{Action: "agent.enroll", TargetType: "customer", TargetID: it.CustomerID, Target: name,
				Detail: fmt.Sprintf("agent %s (%s, version %s) enrolled with a token created by %s", ag.ID, ag.Hostname, ag.Version, it.CreatedBy)})
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Authenticate returns the agent a credential belongs to.
// Errors: ErrUnauthorized (unknown or revoked).
func (s *Service) Authenticate(ctx context.Context, cred string) (*Agent, error) {
	if !strings.HasPrefix(cred, credentialPrefix) {
		return nil, ErrUnauthorized
	}
	ag := new(Agent)
	err := s.db.Bun.NewSelect().Model(ag).Where("credential_hash = ? AND revoked_at IS NULL", credential.HashToken(cred)).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrUnauthorized
	}
	if err != nil {
		return nil, fmt.Errorf("agent: authenticate: %w", err)
	}
	return ag, nil
}

// Agents lists a customer's agents, newest first (revoked ones last).
// Errors: NotFound.
func (s *Service) Agents(ctx context.Context, tenantID, customerID string) ([]*Agent, error) {
	var out []*Agent
	err := s.db.Bun.NewSelect().Model(&out).Where("tenant_id = ? AND customer_id = ?", tenantID, customerID).
		OrderExpr("revoked_at IS NOT NULL, enrolled_at DESC").Limit(50).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("agent: list: %w", err)
	}
	return out, nil
}

// Revoke revokes an agent: its credential stops working at once and the
// tasks it holds fail. Audited as agent.revoke.
// Errors: NotFound.
func (s *Service) Revoke(ctx context.Context, a audit.Actor, agentID string) (*Agent, error) {
	now := s.now().UTC()
	ag := new(Agent)
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := tx.NewSelect().Model(ag).Where("tenant_id = ? AND id = ?", a.TenantID, agentID).Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return apperr.New(apperr.NotFound, "That agent does not exist.")
			}
			return fmt.Errorf("agent: revoke: %w", err)
		}
		if ag.RevokedAt != nil {
			return nil
		}
		ag.RevokedAt, ag.RevokedBy = &now, a.Name
		if _, err := tx.NewUpdate().Model(ag).Column("revoked_at", "revoked_by").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("agent: revoke: %w", err)
		}
		tx.AfterCommit(func() { s.queued.fire(ag.CustomerID) }) // its waiting poll answers 401 at once
		if err := s.failHeld(ctx, tx, ag.ID, now, "revoked", "The agent was revoked before it reported back."); err != nil {
			return err
		}
		name, _ := activeCustomer(ctx, tx, a.TenantID, ag.CustomerID)
		return audit.Record(ctx, tx, now, a, audit.Entry{Action: "agent.revoke", TargetType: "customer",
			TargetID: ag.CustomerID, Target: name, Detail: fmt.Sprintf("agent %s on %s revoked", ag.ID, ag.Hostname)})
	})
	if err != nil {
		return nil, err
	}
	return ag, nil
}

// heartbeat records what the agent said about itself and its directory.
func (s *Service) heartbeat(ctx context.Context, ag *Agent, req wire.PollRequest) error {
	now := s.now().UTC()
	q := s.db.Bun.NewUpdate().Model((*Agent)(nil)).Where("id = ?", ag.ID)
	changed := false
	set := func(expr string, v any) { q = q.Set(expr, v); changed = true }
	if ag.LastSeenAt == nil || now.Sub(*ag.LastSeenAt) >= seenEvery {
		set("last_seen_at = ?", now)
	}
	if h := clip(req.Hostname, 255); h != "" && h != ag.Hostname {
		set("hostname = ?", h)
	}
	if v := clip(req.Version, 64); v != "" && v != ag.Version {
		set("version = ?", v)
	}
	if o := clip(req.OS, 64); o != "" && o != ag.OS {
		set("os = ?", o)
	}
	if d := req.Directory; d.Checked {
		at := d.CheckedAt.UTC()
		if ag.DirectoryCheckedAt == nil || !ag.DirectoryCheckedAt.Equal(at) {
			set("directory_ok = ?", d.OK)
			set("directory_error = ?", clip(d.Error, 500))
			set("directory_checked_at = ?", at)
		}
	}
	if changed {
		if _, err := q.Exec(ctx); err != nil {
			return fmt.Errorf("agent: heartbeat: %w", err)
		}
	}
	if len(req.Lockouts) > 0 {
		return s.recordLockouts(ctx, ag, req.Lockouts)
	}
	return nil
}

// Poll is the agent's long poll and heartbeat: it answers at once with the
// configuration when the agent's is stale or a task is queued, else waits up
// to wait for a task.
// Errors: none of its own (database errors).
func (s *Service) Poll(ctx context.Context, ag *Agent, req wire.PollRequest, wait time.Duration) (*wire.PollResponse, error) {
	if err := s.heartbeat(ctx, ag, req); err != nil {
		return nil, err
	}
	resp := &wire.PollResponse{}
	st, err := s.settings(ctx, s.db.Bun, ag.TenantID, ag.CustomerID)
	if err != nil {
		return nil, err
	}
	if st != nil && st.Version != req.ConfigVersion {
		cfg, err := s.wireConfig(st)
		if err != nil {
			return nil, err
		}
		resp.Config = cfg
	}
	for _, id := range req.Resume {
		t, err := s.resume(ctx, ag, id)
		if err != nil {
			return nil, err
		}
		if t != nil {
			resp.Task = t
			return resp, nil
		}
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	// In-process changes wake the poll at once; the periodic re-check is
	// for other server processes (a task, new settings, a revocation), and
	// costs an idle agent three small queries per interval.
	recheck := time.NewTicker(pollRecheck)
	defer recheck.Stop()
	for {
		woken := s.queued.wait(ag.CustomerID)
		if st != nil || resp.Config != nil {
			t, err := s.claim(ctx, ag)
			if err != nil {
				return nil, err
			}
			if t != nil {
				resp.Task = t
				return resp, nil
			}
		}
		if resp.Config != nil {
			return resp, nil
		}
		select {
		case <-woken:
		case <-recheck.C:
		case <-deadline.C:
			return resp, nil
		case <-ctx.Done():
			return resp, nil
		case <-s.stopped:
			return resp, nil
		}
		if revoked, err := s.revoked(ctx, ag.ID); err != nil || revoked {
			if err == nil {
				err = ErrUnauthorized
			}
			return nil, err
		}
		// New settings (here or in another server process) go out at once.
		if st, err = s.settings(ctx, s.db.Bun, ag.TenantID, ag.CustomerID); err != nil {
			return nil, err
		}
		if st != nil && st.Version != req.ConfigVersion {
			if resp.Config, err = s.wireConfig(st); err != nil {
				return nil, err
			}
		}
	}
}

func (s *Service) revoked(ctx context.Context, agentID string) (bool, error) {
	n, err := s.db.Bun.NewSelect().Model((*Agent)(nil)).Where("id = ? AND revoked_at IS NULL", agentID).Count(ctx)
	if err != nil {
		return false, fmt.Errorf("agent: check revoked: %w", err)
	}
	return n == 0, nil
}
