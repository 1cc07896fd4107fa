package ad

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// User is a user account as read from the directory.
type User struct {
	GUID                 string // objectGUID, canonical form: the stable key
	DN                   string
	Username             string // sAMAccountName
	UPN                  string // userPrincipalName
	FirstName            string
	LastName             string
	DisplayName          string
	Email                string
	Mobile               string
	PasswordLastSet      *time.Time // nil when pwdLastSet is 0 (must change) or absent
	MustChange           bool       // must change the password at next logon (pwdLastSet 0, unless PasswordNeverExpires)
	PasswordExpires      *time.Time // nil when the password never expires (or must be changed now)
	PasswordExpired      bool       // msDS-User-Account-Control-Computed UF_PASSWORD_EXPIRED
	Locked               bool
	LockoutTime          *time.Time // when the account was locked (lockoutTime), while it is locked
	Disabled             bool
	PasswordNeverExpires bool
	MemberOf             []string // direct groups (DNs)
	Privileged           bool     // member of an administrative group, or adminCount=1
	PrivilegedReason     string   // e.g. "Member of Domain Admins"
}

const (
	uacDisabled             = 0x2
	uacDontExpirePassword   = 0x10000
	uacComputedLockout      = 0x10
	uacComputedPwdExpired   = 0x800000
	matchingRuleInChain     = "1.2.840.113556.1.4.1941"
	filterUsers             = "(&(objectCategory=person)(objectClass=user))"
	attrExpiryComputed      = "msDS-UserPasswordExpiryTimeComputed"
	attrUACComputed         = "msDS-User-Account-Control-Computed"
	defaultPageSize         = 500
	maxPageSize             = 1000 // AD's default MaxPageSize
	filetimeEpochOffsetSecs = 11644473600
)

var userAttributes = []string{
	"objectGUID", "distinguishedName", "sAMAccountName", "userPrincipalName", "givenName", "sn",
	"displayName", "mail", "mobile", "pwdLastSet", attrExpiryComputed, "lockoutTime",
	"userAccountControl", attrUACComputed, "memberOf", "adminCount", "primaryGroupID",
}

// scope returns the search base and filter of the users in scope, with extra
// filter clauses ANDed in.
func (c *Conn) scope(extra ...string) (base, filter string) {
	base = c.cfg.BaseDN
	if strings.TrimSpace(c.cfg.ScopeOU) != "" {
		base = c.cfg.ScopeOU
	}
	f := filterUsers
	if strings.TrimSpace(c.cfg.ScopeGroup) != "" {
		f += "(memberOf:" + matchingRuleInChain + ":=" + ldap.EscapeFilter(c.cfg.ScopeGroup) + ")"
	}
	for _, e := range extra {
		f += e
	}
	return base, "(&" + f + ")"
}

// Users calls fn for every user in scope (ScopeOU's subtree, or BaseDN;
// members of ScopeGroup in chain when set), reading pageSize entries at a time
// (0: 500) so that memory stays flat however large the directory. An error
// from fn stops the search and is returned as it is.
func (c *Conn) Users(ctx context.Context, pageSize int, fn func(User) error) error {
	if pageSize <= 0 {
		pageSize = defaultPageSize
	}
	pageSize = min(pageSize, maxPageSize)
	priv, err := c.privilegedMembers(ctx)
	if err != nil {
		return err
	}
	base, filter := c.scope()
	return c.paged(ctx, base, filter, userAttributes, pageSize, func(e *ldap.Entry) error {
		u := parseUser(e)
		u.Privileged, u.PrivilegedReason = priv.reason(e)
		return fn(u)
	})
}

// paged runs a paged subtree search, one page in memory at a time.
func (c *Conn) paged(ctx context.Context, base, filter string, attrs []string, pageSize int, fn func(*ldap.Entry) error) error {
	paging := ldap.NewControlPaging(uint32(pageSize))
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		filter, attrs, []ldap.Control{paging})
	for {
		res, err := c.search(ctx, req)
		if err != nil {
			return err
		}
		for _, e := range res.Entries {
			if err := fn(e); err != nil {
				c.abandonPaging(ctx, req, paging, res)
				return err
			}
		}
		ctrl, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if !ok || len(ctrl.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(ctrl.Cookie)
	}
}

// abandonPaging tells the server to drop a paged search's state (RFC 2696:
// a page size of 0 with the cookie).
func (c *Conn) abandonPaging(ctx context.Context, req *ldap.SearchRequest, paging *ldap.ControlPaging, res *ldap.SearchResult) {
	ctrl, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
	if !ok || len(ctrl.Cookie) == 0 || ctx.Err() != nil {
		return
	}
	paging.SetCookie(ctrl.Cookie)
	paging.PagingSize = 0
	_, _ = c.search(ctx, req)
}

// User reads one user in scope by objectGUID. Errors: KindNotFound (no such
// user, or not in scope), KindUnreachable.
func (c *Conn) User(ctx context.Context, guid string) (User, error) {
	e, err := c.findUser(ctx, guid, userAttributes...)
	if err != nil {
		return User{}, err
	}
	u := parseUser(e)
	u.Privileged, u.PrivilegedReason, err = c.userPrivilege(ctx, e)
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// findUser finds one user in scope by GUID.
func (c *Conn) findUser(ctx context.Context, guid string, attrs ...string) (*ldap.Entry, error) {
	b, err := ParseGUID(guid)
	if err != nil {
		return nil, newError(KindNotFound, "No user has this ID in the directory.")
	}
	base, filter := c.scope("(objectGUID=" + escapeBinary(b) + ")")
	if len(attrs) == 0 {
		attrs = []string{"distinguishedName"}
	}
	res, err := c.search(ctx, ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, 0, false,
		filter, attrs, nil))
	if err != nil {
		return nil, err
	}
	if len(res.Entries) != 1 {
		return nil, newError(KindNotFound, "No user in scope has this ID in the directory.")
	}
	return res.Entries[0], nil
}

func parseUser(e *ldap.Entry) User {
	u := User{
		GUID:        FormatGUID(e.GetRawAttributeValue("objectGUID")),
		DN:          e.DN,
		Username:    e.GetAttributeValue("sAMAccountName"),
		UPN:         e.GetAttributeValue("userPrincipalName"),
		FirstName:   e.GetAttributeValue("givenName"),
		LastName:    e.GetAttributeValue("sn"),
		DisplayName: e.GetAttributeValue("displayName"),
		Email:       e.GetAttributeValue("mail"),
		Mobile:      e.GetAttributeValue("mobile"),
		MemberOf:    e.GetAttributeValues("memberOf"),
	}
	uac, _ := strconv.ParseInt(e.GetAttributeValue("userAccountControl"), 10, 64)
	u.Disabled = uac&uacDisabled != 0
	u.PasswordNeverExpires = uac&uacDontExpirePassword != 0
	if v := e.GetAttributeValue("pwdLastSet"); v != "" {
		n, _ := strconv.ParseInt(v, 10, 64)
		// pwdLastSet 0 forces a change at next logon, except when the
		// password never expires: then the DC lets the old one sign in
		// (Windows and Samba alike).
		u.MustChange = n == 0 && !u.PasswordNeverExpires
		u.PasswordLastSet = filetime(n)
	}
	if v := e.GetAttributeValue(attrExpiryComputed); v != "" {
		n, _ := strconv.ParseInt(v, 10, 64)
		if n != 0 && n != math.MaxInt64 {
			u.PasswordExpires = filetime(n)
		}
	}
	if v := e.GetAttributeValue(attrUACComputed); v != "" {
		computed, _ := strconv.ParseInt(v, 10, 64)
		u.Locked = computed&uacComputedLockout != 0
		u.PasswordExpired = computed&uacComputedPwdExpired != 0 && !u.MustChange
	} else if v := e.GetAttributeValue("lockoutTime"); v != "" {
		n, _ := strconv.ParseInt(v, 10, 64)
		u.Locked = n > 0
	}
	if v := e.GetAttributeValue("lockoutTime"); v != "" && u.Locked {
		n, _ := strconv.ParseInt(v, 10, 64)
		u.LockoutTime = filetime(n)
	}
	return u
}

// filetime converts a FILETIME (100 ns since 1601-01-01 UTC) to a time.
func filetime(n int64) *time.Time {
	if n <= 0 || n == math.MaxInt64 {
		return nil
	}
	t := time.Unix(n/10_000_000-filetimeEpochOffsetSecs, (n%10_000_000)*100).UTC()
	return &t
}

// interval converts an AD interval (negative 100 ns units) to a duration;
// "never" (the most negative value) and 0 give 0.
func interval(v string) time.Duration {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n == math.MinInt64 || n == 0 {
		return 0
	}
	if n < 0 {
		n = -n
	}
	return time.Duration(n) * 100
}

// Privileged groups, most telling first: the first match names the reason.
var privilegedRIDs = []struct {
	rid     string // relative to the domain SID, or a full builtin SID
	builtin bool
	name    string // fallback when the group's name cannot be read
}{
	{"512", false, "Domain Admins"},
	{"519", false, "Enterprise Admins"},
	{"518", false, "Schema Admins"},
	{"S-1-5-32-544", true, "Administrators"},
	{"S-1-5-32-548", true, "Account Operators"},
	{"S-1-5-32-549", true, "Server Operators"},
	{"S-1-5-32-551", true, "Backup Operators"},
	{"S-1-5-32-550", true, "Print Operators"},
	{"526", false, "Key Admins"},
	{"527", false, "Enterprise Key Admins"},
	{"520", false, "Group Policy Creator Owners"},
	{"516", false, "Domain Controllers"},
	{"525", false, "Protected Users"},
}

// privGroup is a privileged group found in this domain.
type privGroup struct {
	sid, dn, name string
	rid           string // for domain groups: matches primaryGroupID
}

// privilegedGroups resolves the privileged groups by objectSid, once per connection.
func (c *Conn) privilegedGroups(ctx context.Context) ([]privGroup, error) {
	ri, err := c.rootInfo(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	groups := c.groups
	c.mu.Unlock()
	if groups != nil {
		return groups, nil
	}
	var f strings.Builder
	f.WriteString("(|")
	for _, p := range privilegedRIDs {
		sid := p.rid
		if !p.builtin {
			sid = ri.domainSID + "-" + p.rid
		}
		b, err := parseSID(sid)
		if err != nil {
			return nil, newError(KindUnknown, err.Error())
		}
		f.WriteString("(objectSid=" + escapeBinary(b) + ")")
	}
	f.WriteString(")")
	res, err := c.search(ctx, ldap.NewSearchRequest(ri.domainDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectClass=group)"+f.String()+")", []string{"objectSid", "name"}, nil))
	if err != nil {
		return nil, err
	}
	bySID := map[string]*ldap.Entry{}
	for _, e := range res.Entries {
		if sid, err := formatSID(e.GetRawAttributeValue("objectSid")); err == nil {
			bySID[sid] = e
		}
	}
	groups = []privGroup{}
	for _, p := range privilegedRIDs {
		sid := p.rid
		g := privGroup{name: p.name}
		if !p.builtin {
			sid = ri.domainSID + "-" + p.rid
			g.rid = p.rid
		}
		g.sid = sid
		if e, ok := bySID[sid]; ok {
			g.dn = e.DN
			if n := e.GetAttributeValue("name"); n != "" {
				g.name = n
			}
		}
		groups = append(groups, g)
	}
	c.mu.Lock()
	c.groups = groups
	c.mu.Unlock()
	return groups, nil
}

// privMembers says why a user entry is privileged: through one of its
// groups (memberOf), its primary group, or adminCount.
type privMembers struct {
	byGroup map[string]string // lower-case DN of a privileged group, or of a group nested in one → reason
	byRID   map[string]string // primaryGroupID → reason
}

func (p privMembers) reason(e *ldap.Entry) (bool, string) {
	best := ""
	for _, g := range e.GetAttributeValues("memberOf") {
		if r, ok := p.byGroup[strings.ToLower(g)]; ok && (best == "" || p.rank(r) < p.rank(best)) {
			best = r
		}
	}
	if best != "" {
		return true, best
	}
	if r, ok := p.byRID[e.GetAttributeValue("primaryGroupID")]; ok {
		return true, r
	}
	if e.GetAttributeValue("adminCount") == "1" {
		return true, "Marked as protected by the directory (adminCount=1)"
	}
	return false, ""
}

// rank orders reasons as privilegedRIDs does: the most telling first.
func (p privMembers) rank(reason string) int {
	for i, r := range privilegedRIDs {
		if strings.HasSuffix(reason, r.name) {
			return i
		}
	}
	return len(privilegedRIDs)
}

// privilegedMembers finds, for every privileged group, the groups nested in
// it (one search among groups only, which is cheap however many users the
// domain has); a user is then privileged when one of its memberOf values is
// such a group. Searching for the users in chain instead makes the DC
// evaluate the chain for every object in the domain, once per group: ~1 s
// per group for 5,000 users on Samba.
func (c *Conn) privilegedMembers(ctx context.Context) (privMembers, error) {
	groups, err := c.privilegedGroups(ctx)
	if err != nil {
		return privMembers{}, err
	}
	ri, _ := c.rootInfo(ctx)
	p := privMembers{byGroup: map[string]string{}, byRID: map[string]string{}}
	set := func(m map[string]string, k, reason string) {
		if _, ok := m[k]; !ok {
			m[k] = reason
		}
	}
	for _, g := range groups {
		reason := "Member of " + g.name
		if g.rid != "" {
			set(p.byRID, g.rid, reason)
		}
		if g.dn == "" {
			continue
		}
		set(p.byGroup, strings.ToLower(g.dn), reason)
		err := c.paged(ctx, ri.domainDN, "(&(objectClass=group)(memberOf:"+matchingRuleInChain+":="+ldap.EscapeFilter(g.dn)+"))",
			[]string{"1.1"}, maxPageSize, func(e *ldap.Entry) error {
				set(p.byGroup, strings.ToLower(e.DN), reason)
				return nil
			})
		if err != nil {
			return privMembers{}, err
		}
	}
	return p, nil
}

// userPrivilege decides whether one user is privileged from its tokenGroups
// (every security group it is in, nested and primary included): one base
// search instead of one per group.
func (c *Conn) userPrivilege(ctx context.Context, e *ldap.Entry) (bool, string, error) {
	groups, err := c.privilegedGroups(ctx)
	if err != nil {
		return false, "", err
	}
	res, err := c.search(ctx, ldap.NewSearchRequest(e.DN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"tokenGroups"}, nil))
	var le *Error
	if err != nil && !(errors.As(err, &le) && le.Kind == KindAccess) {
		return false, "", err
	}
	sids := map[string]bool{}
	if res != nil && len(res.Entries) == 1 {
		for _, raw := range res.Entries[0].GetRawAttributeValues("tokenGroups") {
			if s, err := formatSID(raw); err == nil {
				sids[s] = true
			}
		}
	}
	p := privMembers{byRID: map[string]string{}}
	for _, g := range groups {
		if sids[g.sid] {
			return true, "Member of " + g.name, nil
		}
		if g.rid != "" {
			p.byRID[g.rid] = "Member of " + g.name
		}
	}
	if len(sids) == 0 {
		// tokenGroups unreadable: fall back to one in-chain test per group.
		for _, g := range groups {
			if g.dn == "" {
				continue
			}
			r, err := c.search(ctx, ldap.NewSearchRequest(e.DN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
				"(memberOf:"+matchingRuleInChain+":="+ldap.EscapeFilter(g.dn)+")", []string{"1.1"}, nil))
			if err != nil {
				return false, "", err
			}
			if len(r.Entries) > 0 {
				return true, "Member of " + g.name, nil
			}
		}
	}
	ok, reason := p.reason(e)
	return ok, reason, nil
}

// LockedOut returns the users in scope whose account was locked at or after
// since (lockoutTime ≥ since) and is still locked: a cheap indexed search the
// agent runs every minute to report lockouts between imports.
func (c *Conn) LockedOut(ctx context.Context, since time.Time) ([]User, error) {
	ft := (since.Unix() + filetimeEpochOffsetSecs) * 10_000_000
	base, filter := c.scope("(lockoutTime>=" + strconv.FormatInt(ft, 10) + ")")
	var out []User
	err := c.paged(ctx, base, filter, []string{"objectGUID", "sAMAccountName", "lockoutTime", attrUACComputed}, defaultPageSize,
		func(e *ldap.Entry) error {
			u := parseUser(e)
			if u.Locked && u.LockoutTime != nil {
				out = append(out, u)
			}
			return nil
		})
	return out, err
}
