package selfserve

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/agent"
	"github.com/latchkey/latchkey/app/agent/wire"
	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/directory/ad"
	"github.com/latchkey/latchkey/app/password"
)

// Rules are what a new password of an end user must satisfy: the
// directory's password policy as the last import or connection check read
// it (Active Directory's defaults until one did), checked locally as the
// directory would, plus the common-password blocklist the directory does
// not have. The technician's reset panel and the self-serve reset both use
// them; the directory stays the authority (it alone knows the history).
type Rules struct {
	Policy ad.Policy
	// Known: the policy was read from the directory.
	Known       bool
	Username    string
	DisplayName string
	// Blocklist: refuse common passwords (self-serve; the technician panel
	// warns).
	Blocklist bool
}

// DefaultPolicy is Active Directory's default domain policy, used until
// the directory's own is known.
var DefaultPolicy = ad.Policy{Source: ad.DomainPolicySource, MinLength: 7, Complexity: true, HistoryLength: 24}

// Rule names of Violation beyond ad.Policy.Check's.
const (
	RuleCommon  = "common"
	RuleTooLong = "too_long"
	RuleControl = "control"
)

// Violations are the rules a password breaks, with messages to show.
type Violations []ad.Violation

// Check returns the rules pw breaks (none: it should be accepted, history
// aside).
func (r *Rules) Check(pw string) Violations {
	if pw == "" {
		return nil
	}
	v := Violations(r.Policy.Check(pw, r.Username, r.DisplayName))
	if utf8.RuneCountInString(pw) > agent.MaxPasswordLength {
		v = append(v, ad.Violation{Rule: RuleTooLong, Message: fmt.Sprintf("Use at most %d characters.", agent.MaxPasswordLength)})
	}
	if strings.IndexFunc(pw, unicode.IsControl) >= 0 {
		v = append(v, ad.Violation{Rule: RuleControl, Message: "Don't use tabs or line breaks."})
	}
	if password.CommonVariant(pw) {
		v = append(v, ad.Violation{Rule: RuleCommon, Message: "This is one of the most common passwords: choose something less predictable."})
	}
	return v
}

// Blocking returns the violations that stop a reset: all of them for
// self-serve; for a technician, all but the blocklist (a warning).
func (r *Rules) Blocking(v Violations) Violations {
	var out Violations
	for _, x := range v {
		if x.Rule == RuleCommon && !r.Blocklist {
			continue
		}
		out = append(out, x)
	}
	return out
}

// Hints describe the rules for the page, before anything is typed.
func (r *Rules) Hints() []string {
	p := r.Policy
	var out []string
	if p.MinLength > 0 {
		out = append(out, fmt.Sprintf("At least %d characters", p.MinLength))
	}
	if p.Complexity {
		out = append(out, "Three of: uppercase letters, lowercase letters, digits, symbols", "Not your username or a part of your name")
	}
	if h := p.HistoryHint(); h != "" {
		out = append(out, h)
	}
	out = append(out, "Not a common password")
	return out
}

// Requirements are the generator's requirements for these rules.
func (r *Rules) Requirements() password.Requirements {
	avoid := []string{r.Username}
	avoid = append(avoid, strings.FieldsFunc(r.DisplayName, func(c rune) bool { return strings.ContainsRune(",.-_ #\t", c) })...)
	return password.Requirements{MinLength: r.Policy.MinLength, Complexity: r.Policy.Complexity, Avoid: avoid}
}

// PolicyOf decodes a stored wire.Policy ("" or junk: the default).
func PolicyOf(raw string) (ad.Policy, bool) {
	if raw == "" {
		return DefaultPolicy, false
	}
	var w wire.Policy
	if err := json.Unmarshal([]byte(raw), &w); err != nil || w.Source == "" && w.MinLength == 0 && !w.Complexity {
		return DefaultPolicy, false
	}
	return ad.Policy{Source: w.Source, MinLength: w.MinLength, Complexity: w.Complexity, HistoryLength: w.HistoryLength,
		MaxAge: w.MaxAge, MinAge: w.MinAge, LockoutThreshold: w.LockoutThreshold, LockoutDuration: w.LockoutDuration,
		LockoutWindow: w.LockoutObsWindow}, true
}

// rulesFor reads the end user's rules (one statement).
func rulesFor(ctx context.Context, idb bun.IDB, tenantID, endUserID string) (*Rules, error) {
	var rows []struct {
		Username  string  `bun:"username"`
		FirstName string  `bun:"first_name"`
		LastName  string  `bun:"last_name"`
		Policy    *string `bun:"policy_json"`
	}
	if err := idb.NewSelect().TableExpr("end_users AS eu").ColumnExpr("eu.username, eu.first_name, eu.last_name, ds.policy_json").
		Join("LEFT JOIN directory_settings AS ds ON ds.customer_id = eu.customer_id AND ds.tenant_id = eu.tenant_id").
		Where("eu.tenant_id = ? AND eu.id = ?", tenantID, endUserID).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("selfserve: rules: %w", err)
	}
	if len(rows) == 0 {
		return nil, apperr.New(apperr.NotFound, "That end user does not exist.")
	}
	r := rows[0]
	raw := ""
	if r.Policy != nil {
		raw = *r.Policy
	}
	p, known := PolicyOf(raw)
	return &Rules{Policy: p, Known: known, Username: r.Username, DisplayName: strings.TrimSpace(r.FirstName + " " + r.LastName)}, nil
}

// Rules returns the password rules of one of the tenant's end users, for
// the technician's reset panel (common passwords warn, not block).
// Errors: NotFound.
func (s *Service) Rules(ctx context.Context, tenantID, endUserID string) (*Rules, error) {
	return rulesFor(ctx, s.d.DB.Bun, tenantID, endUserID)
}

// FlowRules returns the password rules of a proven reset flow's end user
// (common passwords block).
// Errors: Conflict (flow not proven or expired).
func (s *Service) FlowRules(ctx context.Context, f *Flow) (*Rules, error) {
	if err := s.requireProven(f, PurposeReset); err != nil {
		return nil, err
	}
	r, err := rulesFor(ctx, s.d.DB.Bun, f.TenantID, f.EndUserID)
	if err != nil {
		return nil, err
	}
	r.Blocklist = true
	return r, nil
}

// Remaining is how long the flow has left at now (for the page's timer).
func (s *Service) Remaining(f *Flow) time.Duration {
	if f == nil {
		return 0
	}
	start, life := f.StartedAt, StepLifetime
	if f.ProvenAt != nil {
		start = *f.ProvenAt
		if f.Purpose == PurposeEnrol {
			life = EnrolLifetime
		}
	}
	return max(0, start.Add(life).Sub(s.now()))
}
