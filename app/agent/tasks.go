package agent

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/agent/wire"
	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/db"
)

// Task states.
const (
	StateQueued  = "queued"  // waiting for an agent
	StateSent    = "sent"    // an agent has it
	StateDone    = "done"    // the agent carried it out
	StateFailed  = "failed"  // the agent or the directory refused it, or it timed out
	StateExpired = "expired" // no agent took it in time
)

// Error kinds the server sets itself (the agent's driver sets the others).
const (
	ErrKindTimeout = "timeout"
	ErrKindRevoked = "revoked"
	ErrKindExpired = "expired"
)

// How long tasks wait for an agent, and for its result.
var (
	pickupWithin = map[string]time.Duration{
		wire.KindCheck: 90 * time.Second, wire.KindReset: 90 * time.Second, wire.KindUnlock: 90 * time.Second,
		wire.KindPolicy: 90 * time.Second, wire.KindImport: 15 * time.Minute,
	}
	finishWithin = map[string]time.Duration{
		wire.KindCheck: 60 * time.Second, wire.KindReset: 60 * time.Second, wire.KindUnlock: 60 * time.Second,
		wire.KindPolicy: 60 * time.Second, wire.KindImport: 30 * time.Minute,
	}
)

// Task is one piece of directory work for a customer's agent.
type Task struct {
	bun.BaseModel `bun:"table:directory_tasks"`

	ID           string     `bun:"id,pk"`
	TenantID     string     `bun:"tenant_id"`
	CustomerID   string     `bun:"customer_id"`
	EndUserID    string     `bun:"end_user_id"`
	Kind         string     `bun:"kind"`
	State        string     `bun:"state"`
	Params       string     `bun:"params"`
	Secret       []byte     `bun:"secret"`
	AgentID      string     `bun:"agent_id"`
	Result       string     `bun:"result"`
	ErrorKind    string     `bun:"error_kind"`
	ErrorMessage string     `bun:"error_message"`
	CreatedBy    string     `bun:"created_by"`
	CreatedAt    time.Time  `bun:"created_at"`
	PickupBy     time.Time  `bun:"pickup_by"`
	SentAt       *time.Time `bun:"sent_at"`
	FinishBy     *time.Time `bun:"finish_by"`
	FinishedAt   *time.Time `bun:"finished_at"`
}

// Ended reports whether the task reached a final state.
func (t *Task) Ended() bool {
	return t.State == StateDone || t.State == StateFailed || t.State == StateExpired
}

// params are a task's non-secret parameters.
type params struct {
	GUID        string `json:"guid,omitempty"`
	Temporary   bool   `json:"temporary,omitempty"`
	SelfService bool   `json:"self_service,omitempty"`
	ByID        string `json:"by_id,omitempty"` // the login (or "" for the system / an end user)
	ByName      string `json:"by_name,omitempty"`
	ByRole      string `json:"by_role,omitempty"`
	ByIP        string `json:"by_ip,omitempty"`
	Target      string `json:"target,omitempty"` // the end user's name, for the audit trail
}

func (p params) actor(tenantID string) audit.Actor {
	return audit.Actor{TenantID: tenantID, LoginID: p.ByID, Name: p.ByName, Role: p.ByRole, IP: p.ByIP}
}

func (t *Task) params() params {
	var p params
	_ = json.Unmarshal([]byte(t.Params), &p)
	return p
}

func taskAAD(id string) []byte { return []byte("directory_task:" + id) }

// enqueue inserts a task in tx and wakes the customer's agents after commit.
func (s *Service) enqueue(ctx context.Context, tx *db.Tx, t *Task, password string) error {
	now := s.now().UTC()
	t.ID = db.NewID()
	t.State = StateQueued
	t.CreatedAt = now
	t.PickupBy = now.Add(pickupWithin[t.Kind])
	if password != "" {
		ct, err := s.keys.Encrypt([]byte(password), taskAAD(t.ID))
		if err != nil {
			return err
		}
		t.Secret = ct
	}
	if _, err := tx.NewInsert().Model(t).Exec(ctx); err != nil {
		return fmt.Errorf("agent: queue task: %w", err)
	}
	tx.AfterCommit(func() { s.queued.fire(t.CustomerID) })
	return nil
}

// requireAgentReady refuses work for a customer without directory settings.
// Errors: Conflict.
func (s *Service) requireAgentReady(ctx context.Context, idb bun.IDB, tenantID, customerID string) error {
	st, err := s.settings(ctx, idb, tenantID, customerID)
	if err != nil {
		return err
	}
	if st == nil {
		return apperr.New(apperr.Conflict, "Set up this customer's directory connection first.")
	}
	n, err := idb.NewSelect().Model((*Agent)(nil)).Where("tenant_id = ? AND customer_id = ? AND revoked_at IS NULL", tenantID, customerID).Count(ctx)
	if err != nil {
		return fmt.Errorf("agent: count agents: %w", err)
	}
	if n == 0 {
		return apperr.New(apperr.Conflict, "No agent is installed for this customer: add one on the customer's page.")
	}
	return nil
}

// directoryUser is the part of an end user the directory tasks need.
type directoryUser struct {
	bun.BaseModel `bun:"table:end_users"`

	ID         string     `bun:"id,pk"`
	TenantID   string     `bun:"tenant_id"`
	CustomerID string     `bun:"customer_id"`
	Username   string     `bun:"username"`
	FirstName  string     `bun:"first_name"`
	LastName   string     `bun:"last_name"`
	Source     string     `bun:"source"`
	ExternalID string     `bun:"external_id"`
	Privileged bool       `bun:"privileged"`
	Locked     bool       `bun:"locked"`
	UnlinkedAt *time.Time `bun:"unlinked_at"`
}

func (u *directoryUser) name() string {
	if n := strings.TrimSpace(u.FirstName + " " + u.LastName); n != "" {
		return n + " (" + u.Username + ")"
	}
	return u.Username
}

// directoryEndUser loads an end user that lives in Active Directory.
// Errors: NotFound, Conflict (not a directory account, or gone from it).
func directoryEndUser(ctx context.Context, idb bun.IDB, tenantID, id string) (*directoryUser, error) {
	u := new(directoryUser)
	err := idb.NewSelect().Model(u).
		Where("tenant_id = ? AND id = ?", tenantID, id).
		Where("customer_id IN (SELECT id FROM customers WHERE tenant_id = ? AND archived_at IS NULL)", tenantID).
		Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "That end user does not exist.")
	}
	if err != nil {
		return nil, fmt.Errorf("agent: end user: %w", err)
	}
	if u.Source != "ad" || u.ExternalID == "" {
		return nil, apperr.New(apperr.Conflict, "This account is not in Active Directory: there is no directory to change.")
	}
	if u.UnlinkedAt != nil {
		return nil, apperr.New(apperr.Conflict, "This account is no longer in the directory (it was not found by the last import).")
	}
	return u, nil
}

// MaxPasswordLength bounds a password sent to the directory.
const MaxPasswordLength = 256

// checkPassword rejects what no directory accepts; the directory's own
// policy is checked by the directory.
func checkPassword(pw string) error {
	switch {
	case pw == "":
		return apperr.Field("password", "Enter a password.")
	case len(pw) > MaxPasswordLength:
		return apperr.Field("password", "Use at most 256 characters.")
	}
	for _, r := range pw {
		if unicode.IsControl(r) {
			return apperr.Field("password", "The password contains a control character (a tab or a line break?).")
		}
	}
	return nil
}

// ResetInput is a password reset.
type ResetInput struct {
	EndUserID string
	Password  string
	Temporary bool // must change at next logon
	// SelfService: the end user's own change (the directory applies history).
	SelfService bool
}

// Reset queues a password reset for an Active Directory end user and returns
// the task (see Wait). The password is encrypted until the task ends.
// Audited when the task ends (enduser.password_reset).
// Errors: NotFound, Invalid (password), Conflict (not a directory account,
// no agent or settings).
func (s *Service) Reset(ctx context.Context, a audit.Actor, in ResetInput) (*Task, error) {
	if err := checkPassword(in.Password); err != nil {
		return nil, err
	}
	return s.userTask(ctx, a, in.EndUserID, wire.KindReset, in.Password, func(p *params) {
		p.Temporary, p.SelfService = in.Temporary, in.SelfService
	})
}

// Unlock queues an unlock for an Active Directory end user (see Wait).
// Audited when the task ends (enduser.unlock).
// Errors: as Reset.
func (s *Service) Unlock(ctx context.Context, a audit.Actor, endUserID string) (*Task, error) {
	return s.userTask(ctx, a, endUserID, wire.KindUnlock, "", nil)
}

// UserPolicy queues a read of the password policy that applies to an end
// user (see Wait; the result carries a wire.Policy).
// Errors: as Reset.
func (s *Service) UserPolicy(ctx context.Context, a audit.Actor, endUserID string) (*Task, error) {
	return s.userTask(ctx, a, endUserID, wire.KindPolicy, "", nil)
}

func (s *Service) userTask(ctx context.Context, a audit.Actor, endUserID, kind, password string, edit func(*params)) (*Task, error) {
	var t *Task
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		u, err := directoryEndUser(ctx, tx, a.TenantID, endUserID)
		if err != nil {
			return err
		}
		if err := s.requireAgentReady(ctx, tx, a.TenantID, u.CustomerID); err != nil {
			return err
		}
		p := params{GUID: u.ExternalID, ByID: a.LoginID, ByName: a.Name, ByRole: a.Role, ByIP: a.IP, Target: u.name()}
		if edit != nil {
			edit(&p)
		}
		raw, _ := json.Marshal(p)
		t = &Task{TenantID: a.TenantID, CustomerID: u.CustomerID, EndUserID: u.ID, Kind: kind, Params: string(raw), CreatedBy: a.Name}
		return s.enqueue(ctx, tx, t, password)
	})
	if err != nil {
		return nil, err
	}
	t.Secret = nil
	return t, nil
}

// Check queues a connection check (bind, read the domain policy).
// Errors: NotFound, Conflict.
func (s *Service) Check(ctx context.Context, a audit.Actor, customerID string) (*Task, error) {
	var t *Task
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if _, err := activeCustomer(ctx, tx, a.TenantID, customerID); err != nil {
			return err
		}
		if err := s.requireAgentReady(ctx, tx, a.TenantID, customerID); err != nil {
			return err
		}
		raw, _ := json.Marshal(params{ByID: a.LoginID, ByName: a.Name})
		t = &Task{TenantID: a.TenantID, CustomerID: customerID, Kind: wire.KindCheck, Params: string(raw), CreatedBy: a.Name}
		return s.enqueue(ctx, tx, t, "")
	})
	return t, err
}

// Task returns a task of the tenant.
// Errors: NotFound.
func (s *Service) Task(ctx context.Context, tenantID, id string) (*Task, error) {
	t := new(Task)
	err := s.db.Bun.NewSelect().Model(t).ExcludeColumn("secret").Where("tenant_id = ? AND id = ?", tenantID, id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "That directory task does not exist.")
	}
	if err != nil {
		return nil, fmt.Errorf("agent: task: %w", err)
	}
	if !t.Ended() {
		if ended, err := s.expireOne(ctx, t); err != nil {
			return nil, err
		} else if ended != nil {
			t = ended
		}
	}
	return t, nil
}

// Wait waits up to max for a task to end and returns it as it then is.
// Errors: NotFound.
func (s *Service) Wait(ctx context.Context, tenantID, id string, max time.Duration) (*Task, error) {
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	recheck := time.NewTicker(time.Second)
	defer recheck.Stop()
	for {
		woken := s.finished.wait(id)
		t, err := s.Task(ctx, tenantID, id)
		if err != nil || t.Ended() {
			return t, err
		}
		select {
		case <-woken:
		case <-recheck.C:
		case <-deadline.C:
			return t, nil
		case <-ctx.Done():
			return t, nil
		case <-s.stopped:
			return t, nil
		}
	}
}

// claim hands the oldest queued task of the agent's customer to the agent:
// one conditional update, so two agents (or two server processes) never
// both get it.
func (s *Service) claim(ctx context.Context, ag *Agent) (*wire.Task, error) {
	now := s.now().UTC()
	t := new(Task)
	var picked *Task
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var cand struct {
			ID   string `bun:"id"`
			Kind string `bun:"kind"`
		}
		err := tx.NewSelect().Model((*Task)(nil)).Column("id", "kind").
			Where("tenant_id = ? AND customer_id = ? AND state = ? AND pickup_by > ?", ag.TenantID, ag.CustomerID, StateQueued, now).
			OrderExpr("created_at, id").Limit(1).Scan(ctx, &cand)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("agent: claim: %w", err)
		}
		// The update is conditional on the state: another agent or server
		// process that got there first leaves nothing to update.
		err = tx.NewUpdate().Model(t).
			Set("state = ?", StateSent).Set("agent_id = ?", ag.ID).Set("sent_at = ?", now).
			Set("finish_by = ?", now.Add(finishWithin[cand.Kind])).
			Where("id = ? AND state = ?", cand.ID, StateQueued).
			Returning("*").Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("agent: claim: %w", err)
		}
		picked = t
		return nil
	})
	if err != nil || picked == nil {
		return nil, err
	}
	return s.wireTask(picked)
}

// resume hands back a task the agent had started when it stopped, while the
// task is still the agent's and its time is not up; else nil.
func (s *Service) resume(ctx context.Context, ag *Agent, id string) (*wire.Task, error) {
	t := new(Task)
	err := s.db.Bun.NewSelect().Model(t).
		Where("tenant_id = ? AND customer_id = ? AND agent_id = ? AND id = ? AND state = ? AND finish_by > ?",
			ag.TenantID, ag.CustomerID, ag.ID, id, StateSent, s.now().UTC()).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: resume: %w", err)
	}
	return s.wireTask(t)
}

func (s *Service) wireTask(picked *Task) (*wire.Task, error) {
	p := picked.params()
	wt := &wire.Task{ID: picked.ID, Kind: picked.Kind, GUID: p.GUID, Temporary: p.Temporary,
		SelfService: p.SelfService, Deadline: *picked.FinishBy}
	if len(picked.Secret) > 0 {
		pw, err := s.keys.Decrypt(picked.Secret, taskAAD(picked.ID))
		if err != nil {
			return nil, fmt.Errorf("agent: decrypt task secret: %w", err)
		}
		wt.Password = string(pw)
	}
	return wt, nil
}

// heldTask loads a task the agent holds (or held: a repeated result is
// answered as already recorded).
// Errors: NotFound (not this agent's task).
func (s *Service) heldTask(ctx context.Context, idb bun.IDB, ag *Agent, id string) (*Task, error) {
	t := new(Task)
	err := idb.NewSelect().Model(t).ExcludeColumn("secret").
		Where("tenant_id = ? AND customer_id = ? AND agent_id = ? AND id = ?", ag.TenantID, ag.CustomerID, ag.ID, id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "That task is not this agent's.")
	}
	if err != nil {
		return nil, fmt.Errorf("agent: task: %w", err)
	}
	return t, nil
}

// Finish records a task's result, once: a repeated result (an agent retrying
// after a lost answer) changes nothing. A result that arrives after the task
// timed out is still recorded, so the outcome shown is what the directory did.
// The task's password is erased.
// Errors: NotFound (not this agent's task).
func (s *Service) Finish(ctx context.Context, ag *Agent, id string, res wire.Result) error {
	now := s.now().UTC()
	ended := false
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		t, err := s.heldTask(ctx, tx, ag, id)
		if err != nil {
			return err
		}
		late := t.State == StateFailed && t.ErrorKind == ErrKindTimeout
		if t.State != StateSent && !late {
			return nil // already recorded
		}
		state, kind, msg := StateDone, "", ""
		if !res.OK {
			state = StateFailed
			kind, msg = "unknown", "The agent reported a failure without a reason."
			if res.Error != nil {
				kind, msg = clip(res.Error.Kind, 40), clip(res.Error.Message, 1000)
			}
		}
		raw, _ := json.Marshal(res)
		t.State, t.ErrorKind, t.ErrorMessage, t.Result, t.FinishedAt = state, kind, msg, string(raw), &now
		if _, err := tx.NewUpdate().Model(t).Column("state", "error_kind", "error_message", "result", "finished_at").
			Set("secret = NULL").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("agent: finish: %w", err)
		}
		ended = true
		return s.afterTask(ctx, tx, ag, t, res, now)
	})
	if err == nil && ended {
		s.finished.fire(id)
	}
	return err
}

// afterTask applies a task's outcome to Latchkey's records and audits it.
func (s *Service) afterTask(ctx context.Context, tx *db.Tx, ag *Agent, t *Task, res wire.Result, now time.Time) error {
	p := t.params()
	a := p.actor(t.TenantID)
	result, detail := audit.ResultOK, ""
	if t.State != StateDone {
		result, detail = audit.ResultFailed, t.ErrorMessage
	}
	switch t.Kind {
	case wire.KindCheck:
		q := tx.NewUpdate().Model((*Agent)(nil)).Where("id = ?", ag.ID).
			Set("directory_ok = ?", res.OK).Set("directory_checked_at = ?", now).Set("directory_error = ?", t.ErrorMessage)
		if _, err := q.Exec(ctx); err != nil {
			return fmt.Errorf("agent: check result: %w", err)
		}
		if res.OK && res.Policy != nil {
			raw, _ := json.Marshal(res.Policy)
			if _, err := tx.NewUpdate().Model((*Settings)(nil)).Set("policy_json = ?", string(raw)).
				Where("customer_id = ?", t.CustomerID).Exec(ctx); err != nil {
				return fmt.Errorf("agent: store policy: %w", err)
			}
		}
		return nil
	case wire.KindPolicy:
		return nil
	case wire.KindImport:
		return s.importFinished(ctx, tx, t, res, now)
	case wire.KindReset:
		if t.State == StateDone {
			q := tx.NewUpdate().Table("end_users").Where("id = ? AND tenant_id = ?", t.EndUserID, t.TenantID).
				Set("must_change = ?", p.Temporary).Set("password_last_set_at = ?", now).Set("updated_at = ?", now)
			if res.User != nil {
				q = q.Set("password_expires_at = ?", res.User.PasswordExpires)
			}
			if _, err := q.Exec(ctx); err != nil {
				return fmt.Errorf("agent: reset result: %w", err)
			}
			detail = "password reset"
			if p.Temporary {
				detail += "; must change at next logon"
			}
			if p.SelfService {
				detail = "password changed by the end user (self-serve)"
			}
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{Action: "enduser.password_reset", TargetType: "end_user",
			TargetID: t.EndUserID, Target: p.Target, Result: result, Detail: detail})
	case wire.KindUnlock:
		if t.State == StateDone {
			if _, err := tx.NewUpdate().Table("end_users").Where("id = ? AND tenant_id = ?", t.EndUserID, t.TenantID).
				Set("locked = FALSE").Set("locked_at = NULL").Set("updated_at = ?", now).Exec(ctx); err != nil {
				return fmt.Errorf("agent: unlock result: %w", err)
			}
			detail = "account unlocked"
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{Action: "enduser.unlock", TargetType: "end_user",
			TargetID: t.EndUserID, Target: p.Target, Result: result, Detail: detail})
	}
	return nil
}

// failHeld fails the tasks an agent holds (when it is revoked).
func (s *Service) failHeld(ctx context.Context, tx *db.Tx, agentID string, now time.Time, kind, msg string) error {
	var ids []string
	if err := tx.NewSelect().Model((*Task)(nil)).Column("id").Where("agent_id = ? AND state = ?", agentID, StateSent).Scan(ctx, &ids); err != nil {
		return fmt.Errorf("agent: held tasks: %w", err)
	}
	for _, id := range ids {
		if err := s.endUnfinished(ctx, tx, id, StateFailed, kind, msg, now); err != nil {
			return err
		}
	}
	return nil
}

// endUnfinished ends a queued or sent task without a result from the agent.
func (s *Service) endUnfinished(ctx context.Context, tx *db.Tx, id, state, kind, msg string, now time.Time) error {
	t := new(Task)
	err := tx.NewUpdate().Model(t).Set("state = ?", state).Set("error_kind = ?", kind).Set("error_message = ?", msg).
		Set("finished_at = ?", now).Set("secret = NULL").
		Where("id = ? AND state IN (?)", id, bun.In([]string{StateQueued, StateSent})).Returning("*").Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agent: end task: %w", err)
	}
	tx.AfterCommit(func() { s.finished.fire(id) })
	p := t.params()
	switch t.Kind {
	case wire.KindReset:
		return audit.Record(ctx, tx, now, p.actor(t.TenantID), audit.Entry{Action: "enduser.password_reset", TargetType: "end_user",
			TargetID: t.EndUserID, Target: p.Target, Result: audit.ResultFailed, Detail: msg})
	case wire.KindUnlock:
		return audit.Record(ctx, tx, now, p.actor(t.TenantID), audit.Entry{Action: "enduser.unlock", TargetType: "end_user",
			TargetID: t.EndUserID, Target: p.Target, Result: audit.ResultFailed, Detail: msg})
	case wire.KindImport:
		_, err := tx.NewUpdate().Model((*Import)(nil)).Set("state = ?", ImportFailed).Set("error_message = ?", msg).
			Set("payload = NULL").Where("task_id = ? AND state IN (?)", id, bun.In([]string{ImportWaiting})).Exec(ctx)
		return err
	}
	return nil
}

// Messages for tasks that time out.
const (
	msgNotPicked = "No agent picked up the task in time. Check that latchkey-agent is running on the customer's server and can reach Latchkey."
	msgNoResult  = "The agent took the task but did not report back in time. The directory may or may not have been changed: check the account before trying again."
)

// expireOne ends one task if its time is up; it returns the ended task, or nil.
func (s *Service) expireOne(ctx context.Context, t *Task) (*Task, error) {
	now := s.now().UTC()
	var state, kind, msg string
	switch {
	case t.State == StateQueued && !now.Before(t.PickupBy):
		state, kind, msg = StateExpired, ErrKindExpired, msgNotPicked
	case t.State == StateSent && t.FinishBy != nil && !now.Before(*t.FinishBy):
		state, kind, msg = StateFailed, ErrKindTimeout, msgNoResult
	default:
		return nil, nil
	}
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		return s.endUnfinished(ctx, tx, t.ID, state, kind, msg, now)
	})
	if err != nil {
		return nil, err
	}
	out := new(Task)
	if err := s.db.Bun.NewSelect().Model(out).ExcludeColumn("secret").Where("id = ?", t.ID).Scan(ctx); err != nil {
		return nil, fmt.Errorf("agent: reload task: %w", err)
	}
	return out, nil
}

// ExpireTasks ends every task whose time is up (a periodic job; pages
// showing a task also expire it when they look). It returns how many ended.
func (s *Service) ExpireTasks(ctx context.Context) (int, error) {
	now := s.now().UTC()
	var due []*Task
	err := s.db.Bun.NewSelect().Model(&due).ExcludeColumn("secret").
		Where("(state = ? AND pickup_by <= ?) OR (state = ? AND finish_by <= ?)", StateQueued, now, StateSent, now).
		Limit(1000).Scan(ctx)
	if err != nil {
		return 0, fmt.Errorf("agent: due tasks: %w", err)
	}
	n := 0
	for _, t := range due {
		ended, err := s.expireOne(ctx, t)
		if err != nil {
			return n, err
		}
		if ended != nil {
			n++
		}
	}
	return n, nil
}

// recordLockouts stores lockouts the agent reported: one event per lockout.
func (s *Service) recordLockouts(ctx context.Context, ag *Agent, ls []wire.Lockout) error {
	return s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		for _, l := range ls {
			if l.GUID == "" || l.LockedAt.IsZero() {
				continue
			}
			var id string
			err := tx.NewSelect().Table("end_users").Column("id").
				Where("tenant_id = ? AND customer_id = ? AND source = 'ad' AND external_id = ?", ag.TenantID, ag.CustomerID, l.GUID).
				Limit(1).Scan(ctx, &id)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("agent: lockout user: %w", err)
			}
			at := l.LockedAt.UTC()
			if _, err := tx.NewUpdate().Table("end_users").Where("id = ?", id).
				Set("locked = TRUE").Set("locked_at = ?", at).Exec(ctx); err != nil {
				return fmt.Errorf("agent: lockout: %w", err)
			}
			if err := s.insertLockout(ctx, tx, ag.TenantID, ag.CustomerID, id, at, "agent", s.now().UTC()); err != nil {
				return err
			}
		}
		return nil
	})
}

// LockoutEvent is a lockout seen in the directory (one per lockout).
type LockoutEvent struct {
	bun.BaseModel `bun:"table:lockout_events"`

	ID         string     `bun:"id,pk"`
	TenantID   string     `bun:"tenant_id"`
	CustomerID string     `bun:"customer_id"`
	EndUserID  string     `bun:"end_user_id"`
	LockedAt   time.Time  `bun:"locked_at"`
	Source     string     `bun:"source"`
	CreatedAt  time.Time  `bun:"created_at"`
	NotifiedAt *time.Time `bun:"notified_at"`
}

// insertLockout records a lockout once and, for a new one, calls the
// OnLockout hook in the same transaction.
func (s *Service) insertLockout(ctx context.Context, tx *db.Tx, tenantID, customerID, endUserID string, at time.Time, source string, now time.Time) error {
	ev := &LockoutEvent{ID: db.NewID(), TenantID: tenantID, CustomerID: customerID, EndUserID: endUserID,
		LockedAt: at.Truncate(time.Second), Source: source, CreatedAt: now}
	res, err := tx.NewInsert().Model(ev).On("CONFLICT (end_user_id, locked_at) DO NOTHING").Exec(ctx)
	if err != nil {
		return fmt.Errorf("agent: lockout event: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 && s.onLockout != nil {
		return s.onLockout(ctx, tx, ev)
	}
	return nil
}

// Lockouts lists an end user's lockout events, newest first.
func (s *Service) Lockouts(ctx context.Context, tenantID, endUserID string) ([]*LockoutEvent, error) {
	var out []*LockoutEvent
	err := s.db.Bun.NewSelect().Model(&out).Where("tenant_id = ? AND end_user_id = ?", tenantID, endUserID).
		OrderExpr("locked_at DESC").Limit(20).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("agent: lockouts: %w", err)
	}
	return out, nil
}
