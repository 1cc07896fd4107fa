package selfserve

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/db"
)

// MaxTyped bounds what an end user may type to identify.
const MaxTyped = 254

// account is an end user as self-serve needs it.
type account struct {
	enduser.EndUser
	UPN        string `bun:"upn"`
	Disabled   bool   `bun:"disabled"`
	TenantOn   bool   `bun:"tenant_on"`
	CustomerOK bool   `bun:"customer_ok"`
}

// accountColumns are the columns of account over end_users eu joined with
// tenants t and customers cu.
const accountColumns = "eu.id, eu.tenant_id, eu.customer_id, eu.username, eu.first_name, eu.last_name, eu.email, eu.email_source, " +
	"eu.mobile, eu.mobile_source, eu.mobile_confirmed_at, eu.source, eu.external_id, eu.self_serve_enabled, eu.privileged, " +
	"eu.locked, eu.password_expires_at, eu.first_access_at, eu.last_access_at, eu.welcome_sent_at, eu.unlinked_at, " +
	"eu.created_at, eu.updated_at, eu.upn, eu.disabled, t.self_serve_enabled AS tenant_on, (cu.archived_at IS NULL) AS customer_ok"

func accountQuery(idb bun.IDB) *bun.SelectQuery {
	return idb.NewSelect().TableExpr("end_users AS eu").ColumnExpr(accountColumns).
		Join("JOIN tenants AS t ON t.id = eu.tenant_id").
		Join("JOIN customers AS cu ON cu.id = eu.customer_id")
}

// loadAccount reads one end user of the tenant. Errors: NotFound.
func loadAccount(ctx context.Context, idb bun.IDB, tenantID, id string) (*account, error) {
	var out []account
	if err := accountQuery(idb).Where("eu.tenant_id = ? AND eu.id = ?", tenantID, id).Scan(ctx, &out); err != nil {
		return nil, fmt.Errorf("selfserve: account: %w", err)
	}
	if len(out) == 0 || !out[0].CustomerOK {
		return nil, apperr.New(apperr.NotFound, "That account does not exist.")
	}
	return &out[0], nil
}

// Ineligibility says why an account may not use self-serve ("" when it may).
func (a *account) Ineligibility(purpose string) string {
	switch {
	case !a.TenantOn:
		return "self-serve is off for the whole MSP"
	case !a.CustomerOK:
		return "the customer is archived"
	case !a.SelfServeEnabled:
		return "self-serve is off for this end user"
	case a.Status() < enduser.StatusRegistered:
		return "registration is not complete (email and mobile)"
	case a.Privileged:
		return "privileged account: not offered self-serve"
	case a.UnlinkedAt != nil:
		return "gone from the directory"
	}
	if purpose == PurposeReset || purpose == PurposeUnlock {
		switch {
		case a.Source != enduser.SourceAD || a.ExternalID == "":
			return "not an Active Directory account"
		case a.Disabled:
			return "disabled in the directory"
		}
	}
	return ""
}

// normalizeTyped trims what was typed; "DOMAIN\user" becomes "user".
func normalizeTyped(typed string) string {
	t := strings.TrimSpace(typed)
	if i := strings.LastIndexByte(t, '\\'); i >= 0 && !strings.Contains(t, "@") {
		t = t[i+1:]
	}
	return t
}

// match finds the one end user of the tenant that typed names: by email or
// UPN when it has an @, else by username. Several matches are no match (an
// end user with accounts at two customers types the email of one of them).
// It always runs the same single statement.
func match(ctx context.Context, idb bun.IDB, tenantID, typed string) (*account, error) {
	t := strings.ToLower(typed)
	var out []account
	q := accountQuery(idb).Where("eu.tenant_id = ?", tenantID)
	if strings.Contains(t, "@") {
		q = q.Where("(lower(eu.email) = ? OR lower(eu.upn) = ?)", t, t)
	} else {
		q = q.Where("lower(eu.username) = ?", t)
	}
	if err := q.Limit(2).Scan(ctx, &out); err != nil {
		return nil, fmt.Errorf("selfserve: find account: %w", err)
	}
	if len(out) != 1 {
		return nil, nil
	}
	return &out[0], nil
}

// endUserActor is an end user as the audit trail names them.
func endUserActor(tenantID, name, ip string) audit.Actor {
	if name == "" {
		name = "Someone"
	}
	return audit.Actor{TenantID: tenantID, Name: name + " (end user, self-serve)", IP: ip}
}

// Start begins a reset or unlock flow for what the end user typed (a
// username, "DOMAIN\username", an email address or a UPN) in the tenant.
// The answer is the same whether or not an account matches and may use
// self-serve: a flow either way, with the same statements run; only the
// flow's EndUserID (never shown) differs. Audited as selfserve.start (ok
// when an account that may use self-serve matched, denied otherwise, with
// the reason for the MSP).
// Errors: Invalid (field "identity": nothing typed, or too long), Conflict
// (self-serve is off for the whole MSP: nothing to hide then), RateLimited
// (FlowsPerHour flows for the subject in the last hour, or a block).
func (s *Service) Start(ctx context.Context, tenantID, purpose, typed, ip string) (*Flow, error) {
	if purpose != PurposeReset && purpose != PurposeUnlock {
		return nil, apperr.New(apperr.Invalid, "Choose what you want to do.")
	}
	typed = normalizeTyped(typed)
	switch {
	case typed == "":
		return nil, apperr.Field("identity", "Enter your username or your work email address.")
	case utf8.RuneCountInString(typed) > MaxTyped:
		return nil, apperr.Field("identity", "That is too long for a username or an email address.")
	}
	now := s.now()
	var (
		flow     *Flow
		limitErr error
	)
	err := s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		on, err := tenantSwitch(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		if !on {
			return errTenantOff()
		}
		if err := prune(ctx, tx, tenantID, now); err != nil {
			return err
		}
		acc, err := match(ctx, tx, tenantID, typed)
		if err != nil {
			return err
		}
		matchedID, why, name, target := "", "no account matches", "", typed
		if acc != nil {
			matchedID, why, name, target = acc.ID, acc.Ineligibility(purpose), acc.Name(), acc.Username
		}
		f := &Flow{ID: db.NewID(), Purpose: purpose, TenantID: tenantID, Subject: subjectOf(tenantID, matchedID, typed), Typed: typed, StartedAt: now}
		if acc != nil && why == "" {
			f.EndUserID, f.Name = acc.ID, name
		}
		a := endUserActor(tenantID, name, ip)
		if limitErr, err = s.checkLimit(ctx, tx, a, f.Subject, kindStart, FlowsPerHour, time.Hour, now, target, matchedID); err != nil || limitErr != nil {
			return err
		}
		if err := addEvent(ctx, tx, tenantID, f.Subject, kindStart, now); err != nil {
			return err
		}
		e := audit.Entry{Action: "selfserve.start", TargetType: "end_user", TargetID: matchedID, Target: target,
			Detail: purpose + " started"}
		if why != "" {
			e.Result, e.Detail = audit.ResultDenied, purpose+" started for "+fmt.Sprintf("%q", clip(typed, 80))+": "+why+"; nothing will be sent"
		}
		if err := audit.Record(ctx, tx, now, a, e); err != nil {
			return err
		}
		flow = f
		return nil
	})
	if err != nil {
		return nil, err
	}
	return flow, limitErr
}

func errTenantOff() error {
	return apperr.New(apperr.Conflict, "Self-serve is not available right now. Contact your IT provider for help with your password.")
}

// tenantSwitch reads the tenant-wide self-serve switch. Errors: NotFound.
func tenantSwitch(ctx context.Context, idb bun.IDB, tenantID string) (bool, error) {
	var on []bool
	if err := idb.NewSelect().Table("tenants").Column("self_serve_enabled").Where("id = ?", tenantID).Scan(ctx, &on); err != nil {
		return false, fmt.Errorf("selfserve: tenant: %w", err)
	}
	if len(on) == 0 {
		return false, apperr.New(apperr.NotFound, "Self-serve is not set up here.")
	}
	return on[0], nil
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
