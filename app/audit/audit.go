// Package audit keeps the tenant's append-only, tamper-evident trail of
// security-relevant actions. Each event is written in the same transaction as
// the action it records and carries the hash of the tenant's previous event.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/db"
)

// Actor is who performs an action, for which tenant, and from where. Web
// handlers build it from the session (never from a form or URL).
type Actor struct {
	TenantID string
	LoginID  string // "" for the system or an anonymous visitor
	Name     string // display name at the time of the action
	Role     string
	IP       string
}

// System returns an Actor for work the server does on its own.
func System(tenantID string) Actor { return Actor{TenantID: tenantID, Name: "Latchkey"} }

// Results of an action.
const (
	ResultOK     = "ok"
	ResultDenied = "denied"
	ResultFailed = "failed"
)

// Event is one row of the audit trail.
type Event struct {
	bun.BaseModel `bun:"table:audit_events"`

	ID         string    `bun:"id,pk"`
	TenantID   string    `bun:"tenant_id"`
	Seq        int64     `bun:"seq"`
	At         time.Time `bun:"at"`
	ActorID    string    `bun:"actor_id"`
	Actor      string    `bun:"actor"`
	Action     string    `bun:"action"`
	TargetType string    `bun:"target_type"`
	TargetID   string    `bun:"target_id"`
	Target     string    `bun:"target"`
	Result     string    `bun:"result"`
	Detail     string    `bun:"detail"`
	IP         string    `bun:"ip"`
	PrevHash   string    `bun:"prev_hash"`
	Hash       string    `bun:"hash"`
}

// Entry describes an action to record.
type Entry struct {
	Action     string // dotted, e.g. "login.create", "auth.signin"
	TargetType string // e.g. "login", "tenant"
	TargetID   string
	Target     string // human-readable target, e.g. an email
	Result     string // ResultOK when empty
	Detail     string // short, human-readable; never a secret
}

// head is the per-tenant chain head; updating it serialises appends.
type head struct {
	bun.BaseModel `bun:"table:audit_heads"`

	TenantID string `bun:"tenant_id,pk"`
	Seq      int64  `bun:"seq"`
	Hash     string `bun:"hash"`
}

// Record appends an event for actor inside tx. now is the event time.
func Record(ctx context.Context, tx *db.Tx, now time.Time, a Actor, e Entry) error {
	if a.TenantID == "" {
		return fmt.Errorf("audit: event %q without tenant", e.Action)
	}
	if e.Result == "" {
		e.Result = ResultOK
	}
	// Take the chain head with a row lock (an UPDATE) so that concurrent
	// appends for one tenant are serialised on both databases.
	var h head
	res, err := tx.NewUpdate().Model((*head)(nil)).Set("seq = seq").Where("tenant_id = ?", a.TenantID).Exec(ctx)
	if err != nil {
		return fmt.Errorf("audit: lock head: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// The tenant's first event. Two transactions may get here at once on
		// PostgreSQL: ON CONFLICT DO NOTHING makes the second wait for the
		// first and then find the row, which the UPDATE below locks.
		if _, err := tx.NewInsert().Model(&head{TenantID: a.TenantID}).On("CONFLICT (tenant_id) DO NOTHING").Exec(ctx); err != nil {
			return fmt.Errorf("audit: create head: %w", err)
		}
		if _, err := tx.NewUpdate().Model((*head)(nil)).Set("seq = seq").Where("tenant_id = ?", a.TenantID).Exec(ctx); err != nil {
			return fmt.Errorf("audit: lock head: %w", err)
		}
	}
	if err := tx.NewSelect().Model(&h).Where("tenant_id = ?", a.TenantID).Scan(ctx); err != nil {
		return fmt.Errorf("audit: read head: %w", err)
	}
	ev := &Event{
		ID: db.NewID(), TenantID: a.TenantID, Seq: h.Seq + 1, At: now.UTC().Truncate(time.Microsecond),
		ActorID: a.LoginID, Actor: a.Name, Action: e.Action, TargetType: e.TargetType, TargetID: e.TargetID,
		Target: e.Target, Result: e.Result, Detail: e.Detail, IP: a.IP, PrevHash: h.Hash,
	}
	ev.Hash = ev.ComputeHash()
	if _, err := tx.NewInsert().Model(ev).Exec(ctx); err != nil {
		return fmt.Errorf("audit: insert: %w", err)
	}
	if _, err := tx.NewUpdate().Model((*head)(nil)).Set("seq = ?", ev.Seq).Set("hash = ?", ev.Hash).
		Where("tenant_id = ?", a.TenantID).Exec(ctx); err != nil {
		return fmt.Errorf("audit: move head: %w", err)
	}
	return nil
}

// ComputeHash returns the hex SHA-256 over the previous hash and every field of
// the event, so that editing any field, or removing or reordering rows, breaks
// the chain.
func (e *Event) ComputeHash() string {
	b, _ := json.Marshal([]any{
		e.PrevHash, e.TenantID, e.Seq, e.At.UTC().Format(time.RFC3339Nano), e.ID, e.ActorID, e.Actor,
		e.Action, e.TargetType, e.TargetID, e.Target, e.Result, e.Detail, e.IP,
	})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
