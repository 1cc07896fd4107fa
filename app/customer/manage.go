package customer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/db"
)

// Service manages a tenant's customers: create, edit, archive, delete and
// the list with its end-user counts. The tenant is always the actor's.
//
// Any signed-in login may view customers; Primary, Super and Technician
// logins may change them (Help desk logins only view).
type Service struct {
	db  *db.DB
	now func() time.Time
}

// NewService returns the customer service.
func NewService(d *db.DB, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: d, now: now}
}

// CanManage reports whether a login of the role may create, edit, archive
// and delete customers.
func CanManage(role string) bool {
	switch login.Role(role) {
	case login.RolePrimary, login.RoleSuper, login.RoleTechnician:
		return true
	}
	return false
}

// requireViewer refuses actors without a tenant.
func requireViewer(a audit.Actor) error {
	if a.TenantID == "" {
		return apperr.New(apperr.Forbidden, "Sign in to see customers.")
	}
	return nil
}

// requireManager refuses actors that may not change customers.
func requireManager(a audit.Actor) error {
	if err := requireViewer(a); err != nil {
		return err
	}
	if a.LoginID == "" || !CanManage(a.Role) {
		return apperr.New(apperr.Forbidden, "Your role can view customers but not change them. Ask a Technician, Super or Primary login.")
	}
	return nil
}

// nameTaken reports whether another active (not archived) customer of the
// tenant has the name, ignoring case; except is a customer id to leave out.
func nameTaken(ctx context.Context, idb bun.IDB, tenantID, name, except string) (bool, error) {
	q := idb.NewSelect().Model((*Customer)(nil)).
		Where("tenant_id = ? AND lower(name) = lower(?) AND archived_at IS NULL", tenantID, name)
	if except != "" {
		q = q.Where("id <> ?", except)
	}
	ok, err := q.Exists(ctx)
	if err != nil {
		return false, fmt.Errorf("customer: name taken: %w", err)
	}
	return ok, nil
}

// domainOwner returns another active (not archived) customer of the tenant
// that lists one of domains, and the first such domain (in domains' order);
// nil when there is none. except is a customer id to leave out.
//
// Only active customers count, as for names: a domain recognises a
// customer's end users, and an archived customer's end users are out of the
// lists, so a customer archived when its company moved on does not block
// the domain for its successor; Unarchive checks again and refuses while an
// active customer has one of its domains.
func domainOwner(ctx context.Context, idb bun.IDB, tenantID string, domains []string, except string) (*Customer, string, error) {
	if len(domains) == 0 {
		return nil, "", nil
	}
	q := idb.NewSelect().Model((*Customer)(nil)).Column("id", "name", "domains").
		Where("tenant_id = ? AND archived_at IS NULL AND domains <> ''", tenantID).
		WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			// domains is a comma-separated list of lowercased names made of
			// a-z, 0-9, "-" and "." only, so it holds no LIKE wildcard.
			for _, d := range domains {
				q = q.WhereOr("(',' || domains || ',') LIKE ?", "%,"+d+",%")
			}
			return q
		}).OrderExpr("lower(name)")
	if except != "" {
		q = q.Where("id <> ?", except)
	}
	var found []Customer
	if err := q.Scan(ctx, &found); err != nil {
		return nil, "", fmt.Errorf("customer: domain owner: %w", err)
	}
	for _, d := range domains {
		for i := range found {
			for _, od := range found[i].DomainList() {
				if od == d {
					return &found[i], d, nil
				}
			}
		}
	}
	return nil, "", nil
}

// domainTakenMessage is the form's message for a domain another customer has.
func domainTakenMessage(owner *Customer, domain string) string {
	return fmt.Sprintf("%s is already a domain of %s. A domain recognises one customer's end users: remove it from %s first, or leave it out here.",
		domain, owner.Name, owner.Name)
}

// lockDomains serialises the tenant's customer writes that check domains, so
// that two customers saved at the same moment cannot both take a domain. On
// SQLite every write transaction already runs alone (one connection, BEGIN
// IMMEDIATE); on PostgreSQL a transaction-scoped advisory lock per tenant
// does it (released at commit or rollback; other writers are not blocked).
func lockDomains(ctx context.Context, tx *db.Tx, dia db.Dialect, tenantID string) error {
	if dia != db.Postgres {
		return nil
	}
	h := fnv.New64a()
	h.Write([]byte("latchkey customer domains " + tenantID))
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", int64(h.Sum64())); err != nil {
		return fmt.Errorf("customer: lock domains: %w", err)
	}
	return nil
}

// isForeignKeyViolation reports whether err is a foreign-key failure (an end
// user added while the customer was being deleted).
func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503"
	}
	return err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}

// Create adds a manual customer to the actor's tenant.
// Errors: Forbidden (Help desk), Invalid (Fields name, domains, time_zone,
// notes; a name an active customer already has, ignoring case, is invalid,
// and so is a domain another active customer lists, see domainOwner).
func (s *Service) Create(ctx context.Context, a audit.Actor, in Input) (*Customer, error) {
	if err := requireManager(a); err != nil {
		return nil, err
	}
	v, f := validate(in)
	if err := f.Err(); err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	c := &Customer{
		ID: db.NewID(), TenantID: a.TenantID, Name: v.name, Domains: v.domains, TimeZone: v.timeZone, Notes: v.notes,
		Source: SourceManual, CreatedAt: now, UpdatedAt: now,
	}
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		tx.AfterCommit(func() { ForgetOptions(a.TenantID) })
		taken, err := nameTaken(ctx, tx, a.TenantID, c.Name, "")
		if err != nil {
			return err
		}
		if taken {
			return apperr.Field("name", msgNameTaken)
		}
		if err := lockDomains(ctx, tx, s.db.Dialect, a.TenantID); err != nil {
			return err
		}
		owner, d, err := domainOwner(ctx, tx, a.TenantID, c.DomainList(), "")
		if err != nil {
			return err
		}
		if owner != nil {
			return apperr.Field("domains", domainTakenMessage(owner, d))
		}
		if _, err := tx.NewInsert().Model(c).Exec(ctx); err != nil {
			if db.IsUniqueViolation(err) {
				return apperr.Field("name", msgNameTaken)
			}
			return fmt.Errorf("customer: insert: %w", err)
		}
		detail := "manual"
		if c.Domains != "" {
			detail += "; domains " + strings.ReplaceAll(c.Domains, ",", ", ")
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{Action: "customer.create", TargetType: "customer", TargetID: c.ID,
			Target: c.Name, Detail: detail})
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Update changes a customer's name, domains, time zone and notes (archived
// customers too). Nothing is written or audited when nothing changes.
// Errors: Forbidden, NotFound (also another tenant's customer), Invalid
// (Fields as for Create).
func (s *Service) Update(ctx context.Context, a audit.Actor, id string, in Input) (*Customer, error) {
	if err := requireManager(a); err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	var out *Customer
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		tx.AfterCommit(func() { ForgetOptions(a.TenantID) })
		c, err := Get(ctx, tx, a.TenantID, id)
		if err != nil {
			return err
		}
		v, f := validate(in)
		if err := f.Err(); err != nil {
			return err
		}
		out = c
		var changes []string
		if v.name != c.Name {
			changes = append(changes, fmt.Sprintf("name %q → %q", c.Name, v.name))
		}
		if v.domains != c.Domains {
			changes = append(changes, fmt.Sprintf("domains %q → %q", c.Domains, v.domains))
		}
		if v.timeZone != c.TimeZone {
			changes = append(changes, fmt.Sprintf("time zone %q → %q", c.TimeZone, v.timeZone))
		}
		if v.notes != c.Notes {
			changes = append(changes, "notes")
		}
		if len(changes) == 0 {
			return nil
		}
		if !c.Archived() && !strings.EqualFold(v.name, c.Name) {
			taken, err := nameTaken(ctx, tx, a.TenantID, v.name, c.ID)
			if err != nil {
				return err
			}
			if taken {
				return apperr.Field("name", msgNameTaken)
			}
		}
		if !c.Archived() && v.domains != c.Domains {
			if err := lockDomains(ctx, tx, s.db.Dialect, a.TenantID); err != nil {
				return err
			}
			var added []string // a domain the customer keeps is not checked again
			for _, d := range (&Customer{Domains: v.domains}).DomainList() {
				if !slices.Contains(c.DomainList(), d) {
					added = append(added, d)
				}
			}
			owner, d, err := domainOwner(ctx, tx, a.TenantID, added, c.ID)
			if err != nil {
				return err
			}
			if owner != nil {
				return apperr.Field("domains", domainTakenMessage(owner, d))
			}
		}
		if _, err := tx.NewUpdate().Model((*Customer)(nil)).Set("name = ?", v.name).Set("domains = ?", v.domains).
			Set("time_zone = ?", v.timeZone).Set("notes = ?", v.notes).Set("updated_at = ?", now).
			Where("tenant_id = ? AND id = ?", a.TenantID, c.ID).Exec(ctx); err != nil {
			if db.IsUniqueViolation(err) {
				return apperr.Field("name", msgNameTaken)
			}
			return fmt.Errorf("customer: update: %w", err)
		}
		c.Name, c.Domains, c.TimeZone, c.Notes, c.UpdatedAt = v.name, v.domains, v.timeZone, v.notes, now
		return audit.Record(ctx, tx, now, a, audit.Entry{Action: "customer.update", TargetType: "customer", TargetID: c.ID,
			Target: c.Name, Detail: strings.Join(changes, "; ")})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Archive hides a customer from the lists and the tenant-wide end-user grid
// (which joins customers with archived_at IS NULL); its end users and its
// history stay, and Unarchive brings it back.
// Errors: Forbidden, NotFound, Conflict (already archived).
func (s *Service) Archive(ctx context.Context, a audit.Actor, id string) error {
	if err := requireManager(a); err != nil {
		return err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	return s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		tx.AfterCommit(func() { ForgetOptions(a.TenantID) })
		c, err := Get(ctx, tx, a.TenantID, id)
		if err != nil {
			return err
		}
		if c.Archived() {
			return apperr.New(apperr.Conflict, "%s is already archived.", c.Name)
		}
		if _, err := tx.NewUpdate().Model((*Customer)(nil)).Set("archived_at = ?", now).Set("updated_at = ?", now).
			Where("tenant_id = ? AND id = ?", a.TenantID, c.ID).Exec(ctx); err != nil {
			return fmt.Errorf("customer: archive: %w", err)
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{Action: "customer.archive", TargetType: "customer", TargetID: c.ID, Target: c.Name})
	})
}

// Unarchive brings an archived customer back into the lists.
// Errors: Forbidden, NotFound, Conflict (not archived, or an active customer
// now has the same name or one of its domains).
func (s *Service) Unarchive(ctx context.Context, a audit.Actor, id string) error {
	if err := requireManager(a); err != nil {
		return err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	return s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		tx.AfterCommit(func() { ForgetOptions(a.TenantID) })
		c, err := Get(ctx, tx, a.TenantID, id)
		if err != nil {
			return err
		}
		if !c.Archived() {
			return apperr.New(apperr.Conflict, "%s is not archived.", c.Name)
		}
		taken := apperr.New(apperr.Conflict, "Another customer is already named %q. Rename one of them before restoring this one.", c.Name)
		ok, err := nameTaken(ctx, tx, a.TenantID, c.Name, c.ID)
		if err != nil {
			return err
		}
		if ok {
			return taken
		}
		if err := lockDomains(ctx, tx, s.db.Dialect, a.TenantID); err != nil {
			return err
		}
		owner, d, err := domainOwner(ctx, tx, a.TenantID, c.DomainList(), c.ID)
		if err != nil {
			return err
		}
		if owner != nil {
			return apperr.New(apperr.Conflict, "%s is now a domain of %s. Remove it from one of them before restoring %s.", d, owner.Name, c.Name)
		}
		if _, err := tx.NewUpdate().Model((*Customer)(nil)).Set("archived_at = NULL").Set("updated_at = ?", now).
			Where("tenant_id = ? AND id = ?", a.TenantID, c.ID).Exec(ctx); err != nil {
			if db.IsUniqueViolation(err) {
				return taken
			}
			return fmt.Errorf("customer: unarchive: %w", err)
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{Action: "customer.unarchive", TargetType: "customer", TargetID: c.ID, Target: c.Name})
	})
}

// Delete removes a customer that has no end users, for good; the audit trail
// keeps its name. A customer with end users is archived instead.
// Errors: Forbidden, NotFound, Conflict (it has end users).
func (s *Service) Delete(ctx context.Context, a audit.Actor, id string) error {
	if err := requireManager(a); err != nil {
		return err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	return s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		tx.AfterCommit(func() { ForgetOptions(a.TenantID) })
		c, err := Get(ctx, tx, a.TenantID, id)
		if err != nil {
			return err
		}
		n, err := tx.NewSelect().Table("end_users").Where("tenant_id = ? AND customer_id = ?", a.TenantID, c.ID).Count(ctx)
		if err != nil {
			return fmt.Errorf("customer: count end users: %w", err)
		}
		if n > 0 {
			return hasEndUsers(c, int(n))
		}
		if _, err := tx.NewDelete().Model((*Customer)(nil)).Where("tenant_id = ? AND id = ?", a.TenantID, c.ID).Exec(ctx); err != nil {
			if isForeignKeyViolation(err) {
				return hasEndUsers(c, 1)
			}
			return fmt.Errorf("customer: delete: %w", err)
		}
		return audit.Record(ctx, tx, now, a, audit.Entry{Action: "customer.delete", TargetType: "customer", TargetID: c.ID, Target: c.Name})
	})
}

// hasEndUsers is the Conflict of deleting customer c with n end users.
// Latchkey has no way to delete or move an end user (the product's end users
// come and go with their directory or an import), so the message offers what
// can be done: archiving, unless the customer is archived already.
func hasEndUsers(c *Customer, n int) error {
	users := "1 end user"
	if n != 1 {
		users = fmt.Sprintf("%d end users", n)
	}
	if c.Archived() {
		return apperr.New(apperr.Conflict, "%s has %s, so it cannot be deleted: only a customer without end users can be. It stays archived, out of the lists.", c.Name, users)
	}
	return apperr.New(apperr.Conflict, "%s has %s, so it cannot be deleted: only a customer without end users can be. Archive it instead: it and its end users leave the lists, and you can restore it later.", c.Name, users)
}

// Exists reports whether the tenant has at least one customer, archived or
// not (the dashboard's on-boarding step 3).
func Exists(ctx context.Context, idb bun.IDB, tenantID string) (bool, error) {
	ok, err := idb.NewSelect().Model((*Customer)(nil)).Where("tenant_id = ?", tenantID).Exists(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("customer: exists: %w", err)
	}
	return ok, nil
}
