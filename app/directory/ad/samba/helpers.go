package samba

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
	"github.com/latchkey/latchkey/app/directory/ad"
)

// DefaultPassword is the password CreateUser gives when UserOpts.Password is empty.
const DefaultPassword = "Initial-Passw0rd!"

// UserOpts describes a user for CreateUser. Users are enabled unless Disabled.
type UserOpts struct {
	Password             string // "" → DefaultPassword
	First, Last          string // givenName, sn; displayName is "First Last"
	Mail, Mobile         string
	Disabled             bool
	PasswordNeverExpires bool
}

// admin returns the DC's administrator connection, dialled on first use.
func (dc *DC) admin() (*ldap.Conn, error) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if dc.conn != nil && !dc.conn.IsClosing() {
		return dc.conn, nil
	}
	conn, err := dc.dialAdmin()
	if err != nil {
		return nil, err
	}
	dc.conn = conn
	return conn, nil
}

func (dc *DC) dialAdmin() (*ldap.Conn, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(dc.CACertPEM)
	conn, err := ldap.DialURL(dc.URL(), ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: dc.Host}))
	if err != nil {
		return nil, err
	}
	conn.SetTimeout(30 * time.Second)
	if err := conn.Bind(dc.AdminUser, dc.AdminPassword); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func (dc *DC) must(t testing.TB) *ldap.Conn {
	t.Helper()
	conn, err := dc.admin()
	if err != nil {
		t.Fatalf("samba: admin connection: %v", err)
	}
	return conn
}

// EncodePassword renders a password for unicodePwd (UTF-16LE, quoted).
func EncodePassword(p string) string {
	u := utf16.Encode([]rune(`"` + p + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}

// CreateOU creates OU=name under the domain root and returns its DN.
func (dc *DC) CreateOU(t testing.TB, name string) string {
	t.Helper()
	dn := "OU=" + ldap.EscapeDN(name) + "," + dc.BaseDN
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"organizationalUnit"})
	if err := dc.must(t).Add(req); err != nil {
		t.Fatalf("samba: CreateOU %s: %v", name, err)
	}
	return dn
}

// CreateUser creates an enabled user (unless opts.Disabled) with a password
// in ouDN and returns its DN and objectGUID (canonical form).
func (dc *DC) CreateUser(t testing.TB, ouDN, sam string, opts UserOpts) (dn, guid string) {
	t.Helper()
	dn = "CN=" + ldap.EscapeDN(sam) + "," + ouDN
	if err := dc.must(t).Add(dc.userAdd(dn, sam, opts)); err != nil {
		t.Fatalf("samba: CreateUser %s: %v", sam, err)
	}
	return dn, dc.GUID(t, dn)
}

func (dc *DC) userAdd(dn, sam string, opts UserOpts) *ldap.AddRequest {
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"user"})
	req.Attribute("sAMAccountName", []string{sam})
	req.Attribute("userPrincipalName", []string{sam + "@" + lowerRealm()})
	for attr, v := range map[string]string{"givenName": opts.First, "sn": opts.Last, "mail": opts.Mail, "mobile": opts.Mobile,
		"displayName": strings.TrimSpace(opts.First + " " + opts.Last)} {
		if v != "" {
			req.Attribute(attr, []string{v})
		}
	}
	pw := opts.Password
	if pw == "" {
		pw = DefaultPassword
	}
	req.Attribute("unicodePwd", []string{EncodePassword(pw)})
	uac := 0x200 // NORMAL_ACCOUNT
	if opts.Disabled {
		uac |= 0x2
	}
	if opts.PasswordNeverExpires {
		uac |= 0x10000
	}
	req.Attribute("userAccountControl", []string{strconv.Itoa(uac)})
	return req
}

// GUID reads an object's objectGUID (canonical form).
func (dc *DC) GUID(t testing.TB, dn string) string {
	t.Helper()
	res, err := dc.must(t).Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"objectGUID"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("samba: reading objectGUID of %s: %v", dn, err)
	}
	return ad.FormatGUID(res.Entries[0].GetRawAttributeValue("objectGUID"))
}

// Attr reads one attribute's values of an object.
func (dc *DC) Attr(t testing.TB, dn, attr string) []string {
	t.Helper()
	res, err := dc.must(t).Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{attr}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("samba: reading %s of %s: %v", attr, dn, err)
	}
	return res.Entries[0].GetAttributeValues(attr)
}

// Modify replaces an attribute's values (none: deletes it).
func (dc *DC) Modify(t testing.TB, dn, attr string, values ...string) {
	t.Helper()
	req := ldap.NewModifyRequest(dn, nil)
	req.Replace(attr, values)
	if err := dc.must(t).Modify(req); err != nil {
		t.Fatalf("samba: modifying %s of %s: %v", attr, dn, err)
	}
}

// CreateGroup creates a global security group in ouDN with the given
// members and returns its DN.
func (dc *DC) CreateGroup(t testing.TB, ouDN, name string, memberDNs ...string) string {
	t.Helper()
	dn := "CN=" + ldap.EscapeDN(name) + "," + ouDN
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"group"})
	req.Attribute("sAMAccountName", []string{name})
	req.Attribute("groupType", []string{"-2147483646"}) // global, security
	if len(memberDNs) > 0 {
		req.Attribute("member", memberDNs)
	}
	if err := dc.must(t).Add(req); err != nil {
		t.Fatalf("samba: CreateGroup %s: %v", name, err)
	}
	return dn
}

// AddMember adds memberDN to a group.
func (dc *DC) AddMember(t testing.TB, groupDN, memberDN string) {
	t.Helper()
	req := ldap.NewModifyRequest(groupDN, nil)
	req.Add("member", []string{memberDN})
	if err := dc.must(t).Modify(req); err != nil {
		t.Fatalf("samba: AddMember %s to %s: %v", memberDN, groupDN, err)
	}
}

// SetPasswordSettings runs "samba-tool domain passwordsettings set" with
// args (e.g. "--account-lockout-threshold=3", "--max-pwd-age=42") on the
// running DC's database.
func (dc *DC) SetPasswordSettings(t testing.TB, args ...string) {
	t.Helper()
	cmdArgs := append([]string{"domain", "passwordsettings", "set"}, args...)
	cmdArgs = append(cmdArgs, "-H", filepath.Join(dc.Dir, "private", "sam.ldb"), "-s", filepath.Join(dc.Dir, "etc", "smb.conf"))
	if out, err := exec.Command("samba-tool", cmdArgs...).CombinedOutput(); err != nil {
		t.Fatalf("samba: samba-tool domain passwordsettings set %v: %v\n%s", args, err, out)
	}
}

// PSO is a fine-grained password policy for CreatePSO. Zero durations mean
// "never" for MaxAge, 30 minutes for the lockout ones.
type PSO struct {
	Precedence       int // lower wins; 0 → 1
	MinLength        int
	Complexity       bool
	HistoryLength    int
	MaxAge, MinAge   time.Duration
	LockoutThreshold int
	LockoutDuration  time.Duration
	LockoutWindow    time.Duration
}

// CreatePSO creates a password settings object applying to appliesTo (user
// or global group DNs) and returns its DN.
func (dc *DC) CreatePSO(t testing.TB, name string, p PSO, appliesTo ...string) string {
	t.Helper()
	neg := func(d time.Duration) string { return strconv.FormatInt(-int64(d/100), 10) }
	maxAge := "-9223372036854775808"
	if p.MaxAge > 0 {
		maxAge = neg(p.MaxAge)
	}
	if p.Precedence == 0 {
		p.Precedence = 1
	}
	if p.LockoutDuration == 0 {
		p.LockoutDuration = 30 * time.Minute
	}
	if p.LockoutWindow == 0 {
		p.LockoutWindow = 30 * time.Minute
	}
	dn := "CN=" + ldap.EscapeDN(name) + ",CN=Password Settings Container,CN=System," + dc.BaseDN
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"msDS-PasswordSettings"})
	req.Attribute("msDS-PasswordSettingsPrecedence", []string{strconv.Itoa(p.Precedence)})
	req.Attribute("msDS-PasswordReversibleEncryptionEnabled", []string{"FALSE"})
	req.Attribute("msDS-PasswordHistoryLength", []string{strconv.Itoa(p.HistoryLength)})
	req.Attribute("msDS-PasswordComplexityEnabled", []string{strings.ToUpper(strconv.FormatBool(p.Complexity))})
	req.Attribute("msDS-MinimumPasswordLength", []string{strconv.Itoa(p.MinLength)})
	req.Attribute("msDS-MinimumPasswordAge", []string{neg(p.MinAge)})
	req.Attribute("msDS-MaximumPasswordAge", []string{maxAge})
	req.Attribute("msDS-LockoutThreshold", []string{strconv.Itoa(p.LockoutThreshold)})
	req.Attribute("msDS-LockoutObservationWindow", []string{neg(p.LockoutWindow)})
	req.Attribute("msDS-LockoutDuration", []string{neg(p.LockoutDuration)})
	if len(appliesTo) > 0 {
		req.Attribute("msDS-PSOAppliesTo", appliesTo)
	}
	if err := dc.must(t).Add(req); err != nil {
		t.Fatalf("samba: CreatePSO %s: %v", name, err)
	}
	return dn
}

// LockOut makes bad binds as sam until the DC reports the account locked
// (set a lockout threshold first with SetPasswordSettings).
func (dc *DC) LockOut(t testing.TB, sam string) {
	t.Helper()
	for range 50 {
		err := dc.Bind(sam+"@"+dc.Realm, "Wrong-Passw0rd-for-lockout")
		switch {
		case errors.Is(err, ad.KindLocked):
			return
		case !errors.Is(err, ad.KindInvalidCredentials):
			t.Fatalf("samba: LockOut %s: unexpected %v", sam, err)
		}
	}
	t.Fatalf("samba: LockOut %s: still not locked after 50 bad passwords (is a lockout threshold set?)", sam)
}

// CreateUsers adds n enabled users named prefix00000… to ouDN, over a few
// concurrent connections, and returns their DNs. They have a first and last
// name, mail and mobile but no password (Samba lets such an account be
// enabled): hashing a password costs Samba ~20 ms of CPU per user, ten
// times the rest of the add. Use CreateUser for users that sign in, and
// WithUsers for a large directory that starts at once after the first run.
func (dc *DC) CreateUsers(t testing.TB, ouDN string, n int, prefix string) []string {
	t.Helper()
	dns, err := dc.createUsers(ouDN, n, prefix)
	if err != nil {
		t.Fatalf("samba: CreateUsers: %v", err)
	}
	return dns
}

func (dc *DC) createUsers(ouDN string, n int, prefix string) ([]string, error) {
	const workers = 4
	dns := make([]string, n)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := dc.dialAdmin()
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			for i := w; i < n && ctx.Err() == nil; i += workers {
				sam := fmt.Sprintf("%s%05d", prefix, i)
				dns[i] = "CN=" + ldap.EscapeDN(sam) + "," + ouDN
				req := ldap.NewAddRequest(dns[i], nil)
				req.Attribute("objectClass", []string{"user"})
				req.Attribute("sAMAccountName", []string{sam})
				req.Attribute("userPrincipalName", []string{sam + "@" + lowerRealm()})
				req.Attribute("givenName", []string{"User"})
				req.Attribute("sn", []string{sam})
				req.Attribute("displayName", []string{"User " + sam})
				req.Attribute("mail", []string{sam + "@example.test"})
				req.Attribute("mobile", []string{fmt.Sprintf("+1555%07d", i)})
				req.Attribute("userAccountControl", []string{"512"})
				if err := conn.Add(req); err != nil {
					errs <- fmt.Errorf("%s: %w", sam, err)
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return dns, nil
}
