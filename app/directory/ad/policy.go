package ad

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
)

// DomainPolicySource is Policy.Source for the domain's default policy.
const DomainPolicySource = "Domain policy"

// Policy is a password and lockout policy: the domain's, or a fine-grained
// password settings object (PSO) that applies to a user.
type Policy struct {
	Source           string // DomainPolicySource, or the PSO's name
	MinLength        int
	Complexity       bool
	HistoryLength    int
	MaxAge           time.Duration // 0: passwords never expire
	MinAge           time.Duration
	LockoutThreshold int           // 0: accounts never lock
	LockoutDuration  time.Duration // 0: locked until an administrator unlocks
	LockoutWindow    time.Duration // bad attempts are counted over this window
}

// Violation is one rule a password breaks.
type Violation struct {
	Rule    string // "length", "complexity", "username", "displayname"
	Message string // readable
}

// DomainPolicy reads the domain's default policy from the domain root.
func (c *Conn) DomainPolicy(ctx context.Context) (Policy, error) {
	ri, err := c.rootInfo(ctx)
	if err != nil {
		return Policy{}, err
	}
	res, err := c.search(ctx, ldap.NewSearchRequest(ri.domainDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"minPwdLength", "pwdProperties", "pwdHistoryLength", "maxPwdAge", "minPwdAge",
			"lockoutThreshold", "lockoutDuration", "lockOutObservationWindow"}, nil))
	if err != nil {
		return Policy{}, err
	}
	if len(res.Entries) != 1 {
		return Policy{}, newError(KindNotFound, "The domain root could not be read.")
	}
	e := res.Entries[0]
	props, _ := strconv.Atoi(e.GetAttributeValue("pwdProperties"))
	return Policy{
		Source:           DomainPolicySource,
		MinLength:        atoi(e.GetAttributeValue("minPwdLength")),
		Complexity:       props&1 != 0,
		HistoryLength:    atoi(e.GetAttributeValue("pwdHistoryLength")),
		MaxAge:           interval(e.GetAttributeValue("maxPwdAge")),
		MinAge:           interval(e.GetAttributeValue("minPwdAge")),
		LockoutThreshold: atoi(e.GetAttributeValue("lockoutThreshold")),
		LockoutDuration:  interval(e.GetAttributeValue("lockoutDuration")),
		LockoutWindow:    interval(e.GetAttributeValue("lockOutObservationWindow")),
	}, nil
}

// UserPolicy returns the policy that applies to a user: the fine-grained
// policy named by msDS-ResultantPSO when there is one, else the domain's.
// Errors: KindNotFound, KindAccess (the bind account cannot read the PSO:
// by default only Domain Admins can; grant it read on the Password Settings
// Container), KindUnreachable.
func (c *Conn) UserPolicy(ctx context.Context, guid string) (Policy, error) {
	e, err := c.findUser(ctx, guid, "msDS-ResultantPSO")
	if err != nil {
		return Policy{}, err
	}
	pso := e.GetAttributeValue("msDS-ResultantPSO")
	if pso == "" {
		return c.DomainPolicy(ctx)
	}
	res, err := c.search(ctx, ldap.NewSearchRequest(pso, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=msDS-PasswordSettings)", []string{"name", "msDS-MinimumPasswordLength",
			"msDS-PasswordComplexityEnabled", "msDS-PasswordHistoryLength", "msDS-MaximumPasswordAge",
			"msDS-MinimumPasswordAge", "msDS-LockoutThreshold", "msDS-LockoutDuration",
			"msDS-LockoutObservationWindow"}, nil))
	if err != nil && KindOf(err) != KindNotFound {
		return Policy{}, err
	}
	if err != nil || len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("msDS-MinimumPasswordLength") == "" {
		return Policy{}, newError(KindAccess, fmt.Sprintf(
			"A fine-grained password policy (%s) applies, but the bind account cannot read it: grant it read access to the Password Settings Container.", pso))
	}
	p := res.Entries[0]
	name := p.GetAttributeValue("name")
	if name == "" {
		name = pso
	}
	return Policy{
		Source:           name,
		MinLength:        atoi(p.GetAttributeValue("msDS-MinimumPasswordLength")),
		Complexity:       strings.EqualFold(p.GetAttributeValue("msDS-PasswordComplexityEnabled"), "TRUE"),
		HistoryLength:    atoi(p.GetAttributeValue("msDS-PasswordHistoryLength")),
		MaxAge:           interval(p.GetAttributeValue("msDS-MaximumPasswordAge")),
		MinAge:           interval(p.GetAttributeValue("msDS-MinimumPasswordAge")),
		LockoutThreshold: atoi(p.GetAttributeValue("msDS-LockoutThreshold")),
		LockoutDuration:  interval(p.GetAttributeValue("msDS-LockoutDuration")),
		LockoutWindow:    interval(p.GetAttributeValue("msDS-LockoutObservationWindow")),
	}, nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}

// HistoryHint says what the local check cannot: how many previous passwords
// the directory remembers. "" when it remembers none.
func (p Policy) HistoryHint() string {
	switch {
	case p.HistoryLength <= 0:
		return ""
	case p.HistoryLength == 1:
		return "Can't reuse your current password"
	}
	return fmt.Sprintf("Can't reuse your last %d passwords", p.HistoryLength)
}

// Check is a local pre-check of a password against the policy, mirroring
// Active Directory's rules, for live feedback as a password is typed. The
// directory stays the authority (and alone knows the history).
//
// Complexity follows Microsoft's "Password must meet complexity
// requirements": the password must not contain the account name (when it has
// 3 or more characters) nor any token of the display name of 3 or more
// characters (tokens split on , . - _ space # and tab), case-insensitively;
// and it must use characters from 3 of 5 categories: uppercase, lowercase,
// digits, non-alphanumeric characters, and letters that are neither upper
// nor lower case (e.g. Asian scripts).
func (p Policy) Check(password, username, displayName string) []Violation {
	var v []Violation
	if n := len(utf16.Encode([]rune(password))); n < p.MinLength {
		v = append(v, Violation{Rule: "length", Message: fmt.Sprintf("Use at least %d characters.", p.MinLength)})
	}
	if !p.Complexity {
		return v
	}
	lower := strings.ToLower(password)
	if u := strings.ToLower(username); len([]rune(u)) >= 3 && strings.Contains(lower, u) {
		v = append(v, Violation{Rule: "username", Message: "Don't include the account name."})
	}
	for _, tok := range strings.FieldsFunc(displayName, func(r rune) bool {
		return strings.ContainsRune(",.-_ #\t", r)
	}) {
		if t := strings.ToLower(tok); len([]rune(t)) >= 3 && strings.Contains(lower, t) {
			v = append(v, Violation{Rule: "displayname", Message: fmt.Sprintf("Don't include a part of the user's name (%s).", tok)})
			break
		}
	}
	if categories(password) < 3 {
		v = append(v, Violation{Rule: "complexity",
			Message: "Use at least three of: uppercase letters, lowercase letters, digits and symbols."})
	}
	return v
}

// The non-alphanumeric characters Microsoft lists. Currency symbols (other
// than $ here) do not count.
const asciiSpecials = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/"

func categories(password string) int {
	var upper, lower, digit, special, other bool
	for _, r := range password {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case r >= '0' && r <= '9':
			digit = true
		case unicode.IsLetter(r):
			other = true
		case r < 0x80 && strings.ContainsRune(asciiSpecials, r):
			special = true
		case r >= 0x80 && (unicode.IsPunct(r) || (unicode.IsSymbol(r) && !unicode.Is(unicode.Sc, r))):
			special = true
		}
	}
	n := 0
	for _, b := range []bool{upper, lower, digit, special, other} {
		if b {
			n++
		}
	}
	return n
}
