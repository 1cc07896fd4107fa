package agent

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/agent/wire"
	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
)

// Import states.
const (
	ImportWaiting   = "waiting"   // the agent is searching and uploading
	ImportPreview   = "preview"   // received; a technician decides (manual imports)
	ImportApplied   = "applied"   // applied to the end users
	ImportDiscarded = "discarded" // a technician discarded the preview
	ImportFailed    = "failed"    // the agent or directory failed, or nothing was changed for safety
)

// Import triggers.
const (
	TriggerAuto   = "auto"
	TriggerManual = "manual"
)

// MaxImportUsers bounds one import.
const MaxImportUsers = 500_000

// Import is one directory import of a customer.
type Import struct {
	bun.BaseModel `bun:"table:directory_imports"`

	ID              string     `bun:"id,pk"`
	TenantID        string     `bun:"tenant_id"`
	CustomerID      string     `bun:"customer_id"`
	TaskID          string     `bun:"task_id"`
	Trigger         string     `bun:"trigger"`
	State           string     `bun:"state"`
	Payload         []byte     `bun:"payload"`
	EnableSelfServe bool       `bun:"enable_self_serve"`
	Total           int        `bun:"total"`
	Created         int        `bun:"created"`
	Updated         int        `bun:"updated"`
	Unchanged       int        `bun:"unchanged"`
	Gone            int        `bun:"gone"`
	ErrorMessage    string     `bun:"error_message"`
	CreatedBy       string     `bun:"created_by"`
	CreatedAt       time.Time  `bun:"created_at"`
	ReceivedAt      *time.Time `bun:"received_at"`
	AppliedAt       *time.Time `bun:"applied_at"`
}

type payload struct {
	Users  []wire.User  `json:"users"`
	Policy *wire.Policy `json:"policy,omitempty"`
}

func encodePayload(p *payload) ([]byte, error) {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	if err := json.NewEncoder(zw).Encode(p); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func decodePayload(raw []byte) (*payload, error) {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("agent: import payload: %w", err)
	}
	p := new(payload)
	if err := json.NewDecoder(zr).Decode(p); err != nil {
		return nil, fmt.Errorf("agent: import payload: %w", err)
	}
	return p, nil
}

// StartImport queues an import task for a customer. A manual import ends in
// a preview; an automatic one is applied when it arrives.
// Errors: NotFound, Conflict (no settings or agent, or an import already running).
func (s *Service) StartImport(ctx context.Context, a audit.Actor, customerID, trigger string) (*Import, error) {
	now := s.now().UTC()
	var im *Import
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if _, err := activeCustomer(ctx, tx, a.TenantID, customerID); err != nil {
			return err
		}
		if err := s.requireAgentReady(ctx, tx, a.TenantID, customerID); err != nil {
			return err
		}
		running, err := tx.NewSelect().Model((*Import)(nil)).
			Where("customer_id = ? AND state = ? AND created_at > ?", customerID, ImportWaiting, now.Add(-finishWithin[wire.KindImport]-pickupWithin[wire.KindImport])).
			Exists(ctx)
		if err != nil {
			return fmt.Errorf("agent: running imports: %w", err)
		}
		if running {
			return apperr.New(apperr.Conflict, "An import is already running for this customer.")
		}
		raw, _ := json.Marshal(params{ByID: a.LoginID, ByName: a.Name, ByRole: a.Role, ByIP: a.IP})
		t := &Task{TenantID: a.TenantID, CustomerID: customerID, Kind: wire.KindImport, Params: string(raw), CreatedBy: a.Name}
		if err := s.enqueue(ctx, tx, t, ""); err != nil {
			return err
		}
		im = &Import{ID: db.NewID(), TenantID: a.TenantID, CustomerID: customerID, TaskID: t.ID, Trigger: trigger,
			State: ImportWaiting, CreatedBy: a.Name, CreatedAt: now}
		if trigger == TriggerAuto {
			st, err := s.settings(ctx, tx, a.TenantID, customerID)
			if err != nil {
				return err
			}
			im.EnableSelfServe = st.EnableNewUsers
			next := now.Add(time.Duration(st.ImportIntervalMin) * time.Minute)
			if _, err := tx.NewUpdate().Model((*Settings)(nil)).Set("next_import_at = ?", next).
				Where("customer_id = ?", customerID).Exec(ctx); err != nil {
				return fmt.Errorf("agent: schedule import: %w", err)
			}
		}
		if _, err := tx.NewInsert().Model(im).Exec(ctx); err != nil {
			return fmt.Errorf("agent: insert import: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return im, nil
}

// ImportByID returns an import of the tenant (without its payload).
// Errors: NotFound.
func (s *Service) ImportByID(ctx context.Context, tenantID, id string) (*Import, error) {
	im := new(Import)
	err := s.db.Bun.NewSelect().Model(im).ExcludeColumn("payload").Where("tenant_id = ? AND id = ?", tenantID, id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "That import does not exist.")
	}
	if err != nil {
		return nil, fmt.Errorf("agent: import: %w", err)
	}
	if im.State == ImportWaiting {
		// Let the task's timeout show.
		if _, err := s.Task(ctx, tenantID, im.TaskID); err != nil {
			return nil, err
		}
		if err := s.db.Bun.NewSelect().Model(im).ExcludeColumn("payload").Where("id = ?", id).Scan(ctx); err != nil {
			return nil, fmt.Errorf("agent: import: %w", err)
		}
	}
	return im, nil
}

// WaitImport waits up to max for an import to leave the waiting state.
func (s *Service) WaitImport(ctx context.Context, tenantID, id string, max time.Duration) (*Import, error) {
	im, err := s.ImportByID(ctx, tenantID, id)
	if err != nil || im.State != ImportWaiting {
		return im, err
	}
	if _, err := s.Wait(ctx, tenantID, im.TaskID, max); err != nil {
		return nil, err
	}
	return s.ImportByID(ctx, tenantID, id)
}

// Imports lists a customer's recent imports, newest first.
func (s *Service) Imports(ctx context.Context, tenantID, customerID string, limit int) ([]*Import, error) {
	var out []*Import
	err := s.db.Bun.NewSelect().Model(&out).ExcludeColumn("payload").
		Where("tenant_id = ? AND customer_id = ?", tenantID, customerID).OrderExpr("created_at DESC").Limit(int64(limit)).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("agent: imports: %w", err)
	}
	return out, nil
}

// ReceiveUsers reads the users an import task streams (NDJSON of wire.User)
// and keeps them with the import until the task's result arrives.
// Errors: NotFound (not this agent's task), Invalid (a bad line), Conflict
// (the task is not an import in progress).
func (s *Service) ReceiveUsers(ctx context.Context, ag *Agent, taskID string, r io.Reader) (int, error) {
	t, err := s.heldTask(ctx, s.db.Bun, ag, taskID)
	if err != nil {
		return 0, err
	}
	if t.Kind != wire.KindImport || t.State != StateSent {
		return 0, apperr.New(apperr.Conflict, "That task is not an import in progress.")
	}
	p := &payload{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var u wire.User
		if err := json.Unmarshal(b, &u); err != nil {
			return 0, apperr.New(apperr.Invalid, "line %d: not a user: %v", line, err)
		}
		if u.GUID == "" || strings.TrimSpace(u.Username) == "" {
			return 0, apperr.New(apperr.Invalid, "line %d: a user needs a GUID and a username", line)
		}
		if len(p.Users) >= MaxImportUsers {
			return 0, apperr.New(apperr.Invalid, "more than %d users in one import", MaxImportUsers)
		}
		p.Users = append(p.Users, u)
	}
	if err := sc.Err(); err != nil {
		return 0, apperr.Wrap(apperr.Invalid, err, "reading the users: %v", err)
	}
	raw, err := encodePayload(p)
	if err != nil {
		return 0, err
	}
	now := s.now().UTC()
	res, err := s.db.Bun.NewUpdate().Model((*Import)(nil)).Set("payload = ?", raw).Set("received_at = ?", now).
		Set("total = ?", len(p.Users)).Where("task_id = ? AND state = ?", taskID, ImportWaiting).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("agent: store import: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, apperr.New(apperr.Conflict, "That import is no longer waiting for users.")
	}
	return len(p.Users), nil
}

// importFinished handles an import task's result: preview or apply.
func (s *Service) importFinished(ctx context.Context, tx *db.Tx, t *Task, res wire.Result, now time.Time) error {
	im := new(Import)
	if err := tx.NewSelect().Model(im).Where("task_id = ?", t.ID).Scan(ctx); err != nil {
		return fmt.Errorf("agent: import of task: %w", err)
	}
	if im.State != ImportWaiting && im.State != ImportFailed {
		return nil
	}
	fail := func(msg string) error {
		_, err := tx.NewUpdate().Model(im).Set("state = ?", ImportFailed).Set("error_message = ?", msg).
			Set("payload = NULL").WherePK().Exec(ctx)
		return err
	}
	if t.State != StateDone {
		return fail(t.ErrorMessage)
	}
	if im.Payload == nil || im.Total != res.Users {
		return fail(fmt.Sprintf("The agent reported %d users but %d arrived: nothing was changed.", res.Users, im.Total))
	}
	p, err := decodePayload(im.Payload)
	if err != nil {
		return err
	}
	if res.Policy != nil {
		p.Policy = res.Policy
		raw, _ := json.Marshal(res.Policy)
		if _, err := tx.NewUpdate().Model((*Settings)(nil)).Set("policy_json = ?", string(raw)).
			Where("customer_id = ?", t.CustomerID).Exec(ctx); err != nil {
			return fmt.Errorf("agent: store policy: %w", err)
		}
	}
	if im.Trigger == TriggerManual {
		pl, err := s.plan(ctx, tx, im.TenantID, im.CustomerID, p.Users)
		if err != nil {
			return err
		}
		im.State, im.ReceivedAt = ImportPreview, &now
		im.Created, im.Updated, im.Unchanged, im.Gone = len(pl.New), len(pl.Updated), pl.Unchanged, len(pl.Gone)
		_, err = tx.NewUpdate().Model(im).Column("state", "received_at", "created", "updated", "unchanged", "gone").WherePK().Exec(ctx)
		return err
	}
	pl, err := s.plan(ctx, tx, im.TenantID, im.CustomerID, p.Users)
	if err != nil {
		return err
	}
	if len(p.Users) == 0 && len(pl.Gone) > 0 {
		return fail("The directory returned no users, so nothing was changed: check the import scope (OU or group) in the directory settings.")
	}
	a := audit.System(im.TenantID)
	a.Name = "Automatic import"
	return s.apply(ctx, tx, a, im, pl, im.EnableSelfServe, now)
}

// Change is one end user an import changes.
type Change struct {
	Name     string
	Username string
	Fields   []string // for updates: what changes
	Note     string   // e.g. "privileged: not offered self-serve"
}

// Plan is what an import changes.
type Plan struct {
	New       []Change
	Updated   []Change
	Gone      []Change
	Unchanged int

	inserts  []*dirRow
	updates  []*dirRow
	goneIDs  []string
	lockouts []*dirRow
}

// dirRow is the part of end_users an import writes.
type dirRow struct {
	bun.BaseModel `bun:"table:end_users"`

	ID                string     `bun:"id,pk"`
	TenantID          string     `bun:"tenant_id"`
	CustomerID        string     `bun:"customer_id"`
	Username          string     `bun:"username"`
	FirstName         string     `bun:"first_name"`
	LastName          string     `bun:"last_name"`
	Email             string     `bun:"email"`
	EmailSource       string     `bun:"email_source"`
	Mobile            string     `bun:"mobile"`
	MobileSource      string     `bun:"mobile_source"`
	Source            string     `bun:"source"`
	ExternalID        string     `bun:"external_id"`
	SelfServeEnabled  bool       `bun:"self_serve_enabled"`
	Privileged        bool       `bun:"privileged"`
	PrivilegedReason  string     `bun:"privileged_reason"`
	Locked            bool       `bun:"locked"`
	LockedAt          *time.Time `bun:"locked_at"`
	Disabled          bool       `bun:"disabled"`
	MustChange        bool       `bun:"must_change"`
	PasswordLastSetAt *time.Time `bun:"password_last_set_at"`
	PasswordExpiresAt *time.Time `bun:"password_expires_at"`
	DN                string     `bun:"dn"`
	UPN               string     `bun:"upn"`
	DirEmail          string     `bun:"dir_email"`
	DirMobile         string     `bun:"dir_mobile"`
	UnlinkedAt        *time.Time `bun:"unlinked_at"`
	CreatedAt         time.Time  `bun:"created_at"`
	UpdatedAt         time.Time  `bun:"updated_at"`
}

func (r *dirRow) name() string {
	if n := strings.TrimSpace(r.FirstName + " " + r.LastName); n != "" {
		return n
	}
	return r.Username
}

var dirColumns = []string{"username", "first_name", "last_name", "email", "email_source", "mobile", "mobile_source",
	"source", "external_id", "self_serve_enabled", "privileged", "privileged_reason", "locked", "locked_at", "disabled",
	"must_change", "password_last_set_at", "password_expires_at", "dn", "upn", "dir_email", "dir_mobile", "unlinked_at", "updated_at"}

func timeEq(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Truncate(time.Second).Equal(b.Truncate(time.Second))
}

func utcSec(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

// plan compares the directory's users with the customer's end users.
func (s *Service) plan(ctx context.Context, idb bun.IDB, tenantID, customerID string, users []wire.User) (*Plan, error) {
	var existing []*dirRow
	if err := idb.NewSelect().Model(&existing).Where("tenant_id = ? AND customer_id = ?", tenantID, customerID).Scan(ctx); err != nil {
		return nil, fmt.Errorf("agent: existing end users: %w", err)
	}
	var phone string
	if err := idb.NewSelect().Table("tenants").Column("phone").Where("id = ?", tenantID).Scan(ctx, &phone); err != nil {
		return nil, fmt.Errorf("agent: tenant phone: %w", err)
	}
	country, _ := tenant.SplitPhone(phone)
	byGUID := make(map[string]*dirRow, len(existing))
	byName := make(map[string]*dirRow, len(existing))
	for _, e := range existing {
		if e.Source == "ad" && e.ExternalID != "" {
			byGUID[strings.ToLower(e.ExternalID)] = e
		} else if e.ExternalID == "" {
			byName[strings.ToLower(e.Username)] = e
		}
	}
	now := s.now().UTC()
	pl := &Plan{}
	seen := make(map[string]bool, len(users))
	for i := range users {
		u := &users[i]
		guid := strings.ToLower(u.GUID)
		if seen[guid] {
			continue
		}
		seen[guid] = true
		mobile := ""
		if raw := strings.TrimSpace(u.Mobile); raw != "" {
			mobile, _ = tenant.NormalizePhone(country, raw)
		}
		e := byGUID[guid]
		if e == nil {
			e = byName[strings.ToLower(u.Username)]
			if e != nil {
				delete(byName, strings.ToLower(u.Username))
			}
		}
		if e == nil {
			r := &dirRow{ID: db.NewID(), TenantID: tenantID, CustomerID: customerID, Source: "ad", ExternalID: guid,
				CreatedAt: now, UpdatedAt: now}
			fillFromDirectory(r, u, mobile, true)
			pl.inserts = append(pl.inserts, r)
			ch := Change{Name: r.name(), Username: r.Username}
			if r.Privileged {
				ch.Note = "Privileged (" + r.PrivilegedReason + "): not offered self-serve"
			}
			pl.New = append(pl.New, ch)
			if r.Locked && r.LockedAt != nil {
				pl.lockouts = append(pl.lockouts, r)
			}
			continue
		}
		before := *e
		r := e
		fillFromDirectory(r, u, mobile, false)
		r.Source, r.ExternalID, r.UnlinkedAt = "ad", guid, nil
		fields := diff(&before, r)
		if len(fields) == 0 {
			pl.Unchanged++
			delete(byGUID, guid)
			continue
		}
		r.UpdatedAt = now
		pl.updates = append(pl.updates, r)
		pl.Updated = append(pl.Updated, Change{Name: r.name(), Username: r.Username, Fields: fields})
		if r.Locked && r.LockedAt != nil && !timeEq(before.LockedAt, r.LockedAt) {
			pl.lockouts = append(pl.lockouts, r)
		}
		delete(byGUID, guid)
	}
	for _, e := range byGUID {
		if seen[strings.ToLower(e.ExternalID)] || e.UnlinkedAt != nil {
			continue
		}
		pl.goneIDs = append(pl.goneIDs, e.ID)
		pl.Gone = append(pl.Gone, Change{Name: e.name(), Username: e.Username})
	}
	sortChanges := func(cs []Change) {
		slices.SortFunc(cs, func(a, b Change) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	}
	sortChanges(pl.New)
	sortChanges(pl.Updated)
	sortChanges(pl.Gone)
	return pl, nil
}

// fillFromDirectory copies the directory's view of a user into r. Email and
// mobile typed in Latchkey are kept unless the directory's value changed
// since the last import.
func fillFromDirectory(r *dirRow, u *wire.User, mobile string, fresh bool) {
	r.Username = strings.TrimSpace(u.Username)
	r.FirstName, r.LastName = strings.TrimSpace(u.FirstName), strings.TrimSpace(u.LastName)
	if r.FirstName == "" && r.LastName == "" && u.DisplayName != "" {
		r.FirstName = strings.TrimSpace(u.DisplayName)
	}
	r.DN, r.UPN = u.DN, u.UPN
	r.Disabled, r.MustChange = u.Disabled, u.MustChange
	r.PasswordLastSetAt = utcSec(u.PasswordLastSet)
	r.PasswordExpiresAt = utcSec(u.PasswordExpires)
	if u.PasswordNeverExpires {
		r.PasswordExpiresAt = nil
	}
	r.Locked = u.Locked
	r.LockedAt = nil
	if u.Locked {
		r.LockedAt = utcSec(u.LockedAt)
	}
	wasPrivileged := r.Privileged
	r.Privileged, r.PrivilegedReason = u.Privileged, u.PrivilegedReason
	if r.Privileged && (!wasPrivileged || fresh) {
		r.SelfServeEnabled = false // excluded from self-serve by default
	}
	email := strings.ToLower(strings.TrimSpace(u.Email))
	if fresh || email != r.DirEmail {
		if email != "" || r.EmailSource == "directory" || fresh {
			r.Email, r.EmailSource = email, sourceOf(email)
		}
	}
	r.DirEmail = email
	if fresh || mobile != r.DirMobile {
		if mobile != "" || r.MobileSource == "directory" || fresh {
			r.Mobile, r.MobileSource = mobile, sourceOf(mobile)
		}
	}
	r.DirMobile = mobile
}

func sourceOf(v string) string {
	if v == "" {
		return ""
	}
	return "directory"
}

// diff names the fields that differ, for the preview.
func diff(a, b *dirRow) []string {
	var out []string
	add := func(cond bool, name string) {
		if cond {
			out = append(out, name)
		}
	}
	add(a.Username != b.Username, "username")
	add(a.FirstName != b.FirstName || a.LastName != b.LastName, "name")
	add(a.Email != b.Email || a.EmailSource != b.EmailSource, "email")
	add(a.Mobile != b.Mobile || a.MobileSource != b.MobileSource, "mobile")
	add(a.Source != b.Source || a.ExternalID != b.ExternalID, "linked to the directory")
	add(a.Privileged != b.Privileged || a.PrivilegedReason != b.PrivilegedReason, "privileged")
	add(a.SelfServeEnabled != b.SelfServeEnabled, "self-serve")
	add(a.Locked != b.Locked || !timeEq(a.LockedAt, b.LockedAt), "locked")
	add(a.Disabled != b.Disabled, "disabled")
	add(a.MustChange != b.MustChange || !timeEq(a.PasswordLastSetAt, b.PasswordLastSetAt), "password set")
	add(!timeEq(a.PasswordExpiresAt, b.PasswordExpiresAt), "password expiry")
	add(a.DN != b.DN || a.UPN != b.UPN, "directory name")
	add(a.DirEmail != b.DirEmail || a.DirMobile != b.DirMobile, "directory contact")
	add(a.UnlinkedAt != nil, "back in the directory")
	return out
}

// apply writes a plan in tx, records lockouts, and audits one event.
func (s *Service) apply(ctx context.Context, tx *db.Tx, a audit.Actor, im *Import, pl *Plan, enable bool, now time.Time) error {
	for _, r := range pl.inserts {
		r.SelfServeEnabled = enable && !r.Privileged && !r.Disabled
	}
	for chunk := range slices.Chunk(pl.inserts, 500) {
		if _, err := tx.NewInsert().Model(&chunk).Exec(ctx); err != nil {
			return fmt.Errorf("agent: insert end users: %w", err)
		}
	}
	for _, r := range pl.updates {
		if _, err := tx.NewUpdate().Model(r).Column(dirColumns...).WherePK().Exec(ctx); err != nil {
			if db.IsUniqueViolation(err) {
				return apperr.New(apperr.Conflict, "Two accounts would have the username %q: rename one in the directory, or delete the Latchkey one, then import again.", r.Username)
			}
			return fmt.Errorf("agent: update end user: %w", err)
		}
	}
	for chunk := range slices.Chunk(pl.goneIDs, 500) {
		if _, err := tx.NewUpdate().Table("end_users").Set("unlinked_at = ?", now).Set("updated_at = ?", now).
			Where("id IN (?)", bun.In(chunk)).Exec(ctx); err != nil {
			return fmt.Errorf("agent: unlink end users: %w", err)
		}
	}
	for _, r := range pl.lockouts {
		if err := s.insertLockout(ctx, tx, r.TenantID, r.CustomerID, r.ID, *r.LockedAt, "import", now); err != nil {
			return err
		}
	}
	im.State, im.AppliedAt, im.EnableSelfServe = ImportApplied, &now, enable
	if im.ReceivedAt == nil {
		im.ReceivedAt = &now
	}
	im.Created, im.Updated, im.Unchanged, im.Gone = len(pl.New), len(pl.Updated), pl.Unchanged, len(pl.Gone)
	if _, err := tx.NewUpdate().Model(im).Column("state", "applied_at", "enable_self_serve", "received_at", "created", "updated", "unchanged", "gone").
		Set("payload = NULL").WherePK().Exec(ctx); err != nil {
		return fmt.Errorf("agent: mark import applied: %w", err)
	}
	if _, err := tx.NewUpdate().Model((*Settings)(nil)).Set("last_import_at = ?", now).Where("customer_id = ?", im.CustomerID).Exec(ctx); err != nil {
		return fmt.Errorf("agent: last import: %w", err)
	}
	name, _ := activeCustomer(ctx, tx, im.TenantID, im.CustomerID)
	detail := fmt.Sprintf("%s import from Active Directory: %d new, %d updated, %d unchanged, %d gone from the directory, %d lockouts",
		im.Trigger, len(pl.New), len(pl.Updated), pl.Unchanged, len(pl.Gone), len(pl.lockouts))
	if enable {
		detail += "; self-serve on for new users"
	}
	return audit.Record(ctx, tx, now, a, audit.Entry{Action: "directory.import", TargetType: "customer",
		TargetID: im.CustomerID, Target: name, Detail: detail})
}

// Preview returns what a received manual import would change now.
// Errors: NotFound, Conflict (not in preview).
func (s *Service) Preview(ctx context.Context, tenantID, importID string) (*Import, *Plan, error) {
	im := new(Import)
	err := s.db.Bun.NewSelect().Model(im).Where("tenant_id = ? AND id = ?", tenantID, importID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, apperr.New(apperr.NotFound, "That import does not exist.")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("agent: import: %w", err)
	}
	if im.State != ImportPreview {
		return im, nil, nil
	}
	p, err := decodePayload(im.Payload)
	if err != nil {
		return nil, nil, err
	}
	pl, err := s.plan(ctx, s.db.Bun, tenantID, im.CustomerID, p.Users)
	if err != nil {
		return nil, nil, err
	}
	im.Payload = nil
	return im, pl, nil
}

// ApplyImport applies a previewed import, with self-serve on or off for the
// end users it creates. Audited as directory.import.
// Errors: NotFound, Conflict (already applied or discarded).
func (s *Service) ApplyImport(ctx context.Context, a audit.Actor, importID string, enableSelfServe bool) (*Import, error) {
	now := s.now().UTC()
	im := new(Import)
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		err := tx.NewSelect().Model(im).Where("tenant_id = ? AND id = ?", a.TenantID, importID).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.New(apperr.NotFound, "That import does not exist.")
		}
		if err != nil {
			return fmt.Errorf("agent: import: %w", err)
		}
		if im.State != ImportPreview {
			return apperr.New(apperr.Conflict, "This import was already %s.", im.State)
		}
		if _, err := activeCustomer(ctx, tx, a.TenantID, im.CustomerID); err != nil {
			return err
		}
		p, err := decodePayload(im.Payload)
		if err != nil {
			return err
		}
		pl, err := s.plan(ctx, tx, a.TenantID, im.CustomerID, p.Users)
		if err != nil {
			return err
		}
		return s.apply(ctx, tx, a, im, pl, enableSelfServe, now)
	})
	if err != nil {
		return nil, err
	}
	im.Payload = nil
	return im, nil
}

// DiscardImport drops a previewed import without changing anything.
// Errors: NotFound, Conflict.
func (s *Service) DiscardImport(ctx context.Context, a audit.Actor, importID string) error {
	res, err := s.db.Bun.NewUpdate().Model((*Import)(nil)).Set("state = ?", ImportDiscarded).Set("payload = NULL").
		Where("tenant_id = ? AND id = ? AND state = ?", a.TenantID, importID, ImportPreview).Exec(ctx)
	if err != nil {
		return fmt.Errorf("agent: discard import: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.ImportByID(ctx, a.TenantID, importID); err != nil {
			return err
		}
		return apperr.New(apperr.Conflict, "This import is no longer waiting for a decision.")
	}
	return nil
}

// QueueDueImports starts the automatic imports that are due (a periodic job)
// and returns how many it started. Customers without an enrolled agent are
// skipped until one is there.
func (s *Service) QueueDueImports(ctx context.Context) (int, error) {
	now := s.now().UTC()
	var due []*Settings
	err := s.db.Bun.NewSelect().Model(&due).Column("customer_id", "tenant_id").
		Where("auto_import AND next_import_at <= ?", now).
		Where("customer_id IN (SELECT customer_id FROM agents WHERE revoked_at IS NULL)").
		Where("customer_id IN (SELECT id FROM customers WHERE archived_at IS NULL)").
		OrderExpr("next_import_at").Limit(200).Scan(ctx)
	if err != nil {
		return 0, fmt.Errorf("agent: due imports: %w", err)
	}
	n := 0
	for _, st := range due {
		a := audit.System(st.TenantID)
		a.Name = "Automatic import"
		if _, err := s.StartImport(ctx, a, st.CustomerID, TriggerAuto); err != nil {
			if apperr.CodeOf(err) == apperr.Conflict {
				continue
			}
			return n, err
		}
		n++
	}
	return n, nil
}
