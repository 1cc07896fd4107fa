package ad_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"sort"
	"testing"
	"time"

	"github.com/latchkey/latchkey/app/directory/ad"
	"github.com/latchkey/latchkey/app/directory/ad/samba"
	"github.com/stretchr/testify/require"
)

// The shared DC's domain policy, set once before the subtests run.
const (
	maxPwdAgeDays    = 42
	lockoutThreshold = 3
)

// TestAgainstSamba runs the driver against one real Samba AD DC shared by
// parallel subtests: each works in its own OU with its own users, and none
// changes the domain policy.
func TestAgainstSamba(t *testing.T) {
	t.Parallel()
	dc := samba.Start(t)
	dc.SetPasswordSettings(t, "--max-pwd-age=42", "--min-pwd-age=1", "--account-lockout-threshold=3",
		"--history-length=24", "--min-pwd-length=7", "--complexity=on")

	t.Run("ImportFromOU", func(t *testing.T) {
		t.Parallel()
		sales := dc.CreateOU(t, "Sales")
		other := dc.CreateOU(t, "Other")
		_, aliceGUID := dc.CreateUser(t, sales, "alice", samba.UserOpts{First: "Alice", Last: "Archer",
			Mail: "alice@example.test", Mobile: "+15550100"})
		dc.CreateUser(t, sales, "bob", samba.UserOpts{First: "Bob", Last: "Baker", Disabled: true})
		dc.CreateUser(t, other, "carol", samba.UserOpts{First: "Carol"})

		cfg := dc.Config()
		cfg.ScopeOU = sales
		users := importAll(t, cfg, 1) // a page per user: paging must carry on
		require.Equal(t, []string{"alice", "bob"}, usernames(users))

		alice := users[0]
		require.Equal(t, aliceGUID, alice.GUID)
		require.Equal(t, "CN=alice,"+sales, alice.DN)
		require.Equal(t, "alice@latchkey.test", alice.UPN)
		require.Equal(t, "Alice", alice.FirstName)
		require.Equal(t, "Archer", alice.LastName)
		require.Equal(t, "Alice Archer", alice.DisplayName)
		require.Equal(t, "alice@example.test", alice.Email)
		require.Equal(t, "+15550100", alice.Mobile)
		require.NotNil(t, alice.PasswordLastSet)
		require.WithinDuration(t, time.Now(), *alice.PasswordLastSet, time.Minute)
		require.False(t, alice.MustChange)
		require.False(t, alice.Locked)
		require.False(t, alice.Disabled)
		require.False(t, alice.Privileged)
		require.True(t, users[1].Disabled)
	})

	t.Run("ImportFromGroupWithNesting", func(t *testing.T) {
		t.Parallel()
		ou := dc.CreateOU(t, "Groups")
		dave, _ := dc.CreateUser(t, ou, "dave", samba.UserOpts{})
		erin, _ := dc.CreateUser(t, ou, "erin", samba.UserOpts{})
		_, frankGUID := dc.CreateUser(t, ou, "frank", samba.UserOpts{}) // not a member
		inner := dc.CreateGroup(t, ou, "Inner", erin)
		outer := dc.CreateGroup(t, ou, "Self-serve", dave, inner)

		cfg := dc.Config()
		cfg.ScopeGroup = outer
		users := importAll(t, cfg, 0)
		require.Equal(t, []string{"dave", "erin"}, usernames(users))
		require.Equal(t, []string{outer}, users[0].MemberOf)
		require.Equal(t, []string{inner}, users[1].MemberOf)

		// A user outside the scope cannot be read or reset through it.
		conn := dial(t, cfg)
		_, err := conn.User(context.Background(), frankGUID)
		require.ErrorIs(t, err, ad.KindNotFound)
		require.ErrorIs(t, conn.ResetPassword(context.Background(), frankGUID, "Another-Passw0rd!", false), ad.KindNotFound)
	})

	t.Run("Privileged", func(t *testing.T) {
		t.Parallel()
		ou := dc.CreateOU(t, "Admins")
		nested, nestedGUID := dc.CreateUser(t, ou, "nestedadmin", samba.UserOpts{})
		ops, _ := dc.CreateUser(t, ou, "operator", samba.UserOpts{})
		flagged, _ := dc.CreateUser(t, ou, "flagged", samba.UserOpts{})
		dc.CreateUser(t, ou, "plain", samba.UserOpts{})
		helpdesk := dc.CreateGroup(t, ou, "Tier0", nested)
		dc.AddMember(t, "CN=Domain Admins,CN=Users,"+dc.BaseDN, helpdesk)
		dc.AddMember(t, "CN=Account Operators,CN=Builtin,"+dc.BaseDN, ops)
		dc.Modify(t, flagged, "adminCount", "1")

		users := importAll(t, dc.Config(), 0)
		byName := map[string]ad.User{}
		for _, u := range users {
			byName[u.Username] = u
		}
		require.True(t, byName["Administrator"].Privileged)
		require.Equal(t, "Member of Domain Admins", byName["Administrator"].PrivilegedReason)
		require.True(t, byName["nestedadmin"].Privileged)
		require.Equal(t, "Member of Domain Admins", byName["nestedadmin"].PrivilegedReason)
		require.Equal(t, "Member of Account Operators", byName["operator"].PrivilegedReason)
		require.True(t, byName["flagged"].Privileged)
		require.Contains(t, byName["flagged"].PrivilegedReason, "adminCount")
		require.False(t, byName["plain"].Privileged)
		require.Empty(t, byName["plain"].PrivilegedReason)

		// One user read by GUID agrees (tokenGroups rather than group scans).
		conn := dial(t, dc.Config())
		u, err := conn.User(context.Background(), nestedGUID)
		require.NoError(t, err)
		require.Equal(t, "Member of Domain Admins", u.PrivilegedReason)
		admin, err := conn.User(context.Background(), byName["Administrator"].GUID)
		require.NoError(t, err)
		require.True(t, admin.Privileged)
		plain, err := conn.User(context.Background(), byName["plain"].GUID)
		require.NoError(t, err)
		require.False(t, plain.Privileged)
	})

	t.Run("ResetThenSignIn", func(t *testing.T) {
		t.Parallel()
		ou := dc.CreateOU(t, "Resets")
		_, guid := dc.CreateUser(t, ou, "gina", samba.UserOpts{})
		conn := dial(t, dc.Config())
		ctx := context.Background()

		require.NoError(t, conn.ResetPassword(ctx, guid, "Fresh-Passw0rd-1", false))
		require.NoError(t, dc.Bind("gina@"+dc.Realm, "Fresh-Passw0rd-1"))
		// (The old password is not tested: like Windows with NTLM, Samba keeps
		// accepting it for "old password allowed period", 60 minutes.)

		// Temporary: the password works only to change it.
		require.NoError(t, conn.ResetPassword(ctx, guid, "Temp-Passw0rd-2", true))
		err := dc.Bind("gina@"+dc.Realm, "Temp-Passw0rd-2")
		require.ErrorIs(t, err, ad.KindMustChange)
		var ae *ad.Error
		require.ErrorAs(t, err, &ae)
		require.Equal(t, "773", ae.Data)
		require.EqualValues(t, 49, ae.Result)
		u, err := conn.User(ctx, guid)
		require.NoError(t, err)
		require.True(t, u.MustChange)
		require.Nil(t, u.PasswordLastSet)
		require.Nil(t, u.PasswordExpires)

		// A reset that is not temporary clears "must change".
		require.NoError(t, conn.ResetPassword(ctx, guid, "Final-Passw0rd-3", false))
		require.NoError(t, dc.Bind(`LATCHKEY\gina`, "Final-Passw0rd-3"))
		u, err = conn.User(ctx, guid)
		require.NoError(t, err)
		require.False(t, u.MustChange)
		require.NotNil(t, u.PasswordLastSet)
	})

	t.Run("PolicyViolations", func(t *testing.T) {
		t.Parallel()
		ou := dc.CreateOU(t, "Policy")
		_, guid := dc.CreateUser(t, ou, "hank", samba.UserOpts{First: "Hank", Last: "Hill"})
		conn := dial(t, dc.Config())
		ctx := context.Background()

		err := conn.ResetPassword(ctx, guid, "Ab1!", false)
		require.ErrorIs(t, err, ad.KindPolicy)
		var ae *ad.Error
		require.ErrorAs(t, err, &ae)
		require.EqualValues(t, 19, ae.Result)
		require.Equal(t, "0000052D", ae.Hex)
		require.Equal(t, "length", ae.Violations[0].Rule)
		require.Contains(t, ae.Message, "at least 7 characters")
		require.NotEmpty(t, ae.Detail)

		err = conn.SetPasswordWithPolicy(ctx, guid, "alllowercase")
		require.ErrorIs(t, err, ad.KindPolicy)
		require.ErrorAs(t, err, &ae)
		require.Equal(t, "complexity", ae.Violations[0].Rule)

		// Samba 4.17 neither advertises nor applies the policy hints control:
		// reusing the current password through SetPasswordWithPolicy is
		// accepted there (a Windows DC answers 0000052D, see the unit tests).
		enforced, err := conn.EnforcesHistoryOnReset(ctx)
		require.NoError(t, err)
		require.False(t, enforced)
		require.NoError(t, conn.SetPasswordWithPolicy(ctx, guid, samba.DefaultPassword))
		require.NoError(t, dc.Bind("hank@"+dc.Realm, samba.DefaultPassword))
	})

	t.Run("LockoutAndUnlock", func(t *testing.T) {
		t.Parallel()
		ou := dc.CreateOU(t, "Lockout")
		_, guid := dc.CreateUser(t, ou, "ivan", samba.UserOpts{})
		dc.LockOut(t, "ivan")
		err := dc.Bind("ivan@"+dc.Realm, samba.DefaultPassword) // even the right password
		require.ErrorIs(t, err, ad.KindLocked)

		conn := dial(t, dc.Config())
		ctx := context.Background()
		u, err := conn.User(ctx, guid)
		require.NoError(t, err)
		require.True(t, u.Locked)
		require.NoError(t, conn.Unlock(ctx, guid))
		u, err = conn.User(ctx, guid)
		require.NoError(t, err)
		require.False(t, u.Locked)
		require.NoError(t, dc.Bind("ivan@"+dc.Realm, samba.DefaultPassword))
	})

	t.Run("Expiry", func(t *testing.T) {
		t.Parallel()
		ou := dc.CreateOU(t, "Expiry")
		_, expiring := dc.CreateUser(t, ou, "judy", samba.UserOpts{})
		_, never := dc.CreateUser(t, ou, "ken", samba.UserOpts{PasswordNeverExpires: true})
		conn := dial(t, dc.Config())
		u, err := conn.User(context.Background(), expiring)
		require.NoError(t, err)
		require.NotNil(t, u.PasswordExpires)
		require.Equal(t, u.PasswordLastSet.Add(maxPwdAgeDays*24*time.Hour), *u.PasswordExpires)
		require.False(t, u.PasswordExpired)
		u, err = conn.User(context.Background(), never)
		require.NoError(t, err)
		require.True(t, u.PasswordNeverExpires)
		require.Nil(t, u.PasswordExpires)

		// "Must change" does not hold when the password never expires: the
		// DC lets the temporary password sign in, and User says so.
		require.NoError(t, conn.ResetPassword(context.Background(), never, "Temp-Passw0rd-9", true))
		require.NoError(t, dc.Bind("ken@"+dc.Realm, "Temp-Passw0rd-9"))
		u, err = conn.User(context.Background(), never)
		require.NoError(t, err)
		require.False(t, u.MustChange)
		require.Nil(t, u.PasswordLastSet)
	})

	t.Run("DomainPolicyAndPSO", func(t *testing.T) {
		t.Parallel()
		ou := dc.CreateOU(t, "FineGrained")
		strictDN, strictGUID := dc.CreateUser(t, ou, "laura", samba.UserOpts{First: "Laura", Last: "Lang"})
		_, normalGUID := dc.CreateUser(t, ou, "mike", samba.UserOpts{})
		group := dc.CreateGroup(t, ou, "Strict passwords", strictDN)
		dc.CreatePSO(t, "Strict PSO", samba.PSO{MinLength: 12, Complexity: true, HistoryLength: 5,
			MaxAge: 90 * 24 * time.Hour, MinAge: 2 * time.Hour, LockoutThreshold: 10,
			LockoutDuration: time.Hour, LockoutWindow: 20 * time.Minute}, group)

		conn := dial(t, dc.Config())
		ctx := context.Background()
		domain, err := conn.DomainPolicy(ctx)
		require.NoError(t, err)
		require.Equal(t, ad.Policy{Source: ad.DomainPolicySource, MinLength: 7, Complexity: true, HistoryLength: 24,
			MaxAge: maxPwdAgeDays * 24 * time.Hour, MinAge: 24 * time.Hour, LockoutThreshold: lockoutThreshold,
			LockoutDuration: 30 * time.Minute, LockoutWindow: 30 * time.Minute}, domain)
		require.Equal(t, "Can't reuse your last 24 passwords", domain.HistoryHint())

		p, err := conn.UserPolicy(ctx, normalGUID)
		require.NoError(t, err)
		require.Equal(t, domain, p)

		p, err = conn.UserPolicy(ctx, strictGUID)
		require.NoError(t, err)
		require.Equal(t, ad.Policy{Source: "Strict PSO", MinLength: 12, Complexity: true, HistoryLength: 5,
			MaxAge: 90 * 24 * time.Hour, MinAge: 2 * time.Hour, LockoutThreshold: 10,
			LockoutDuration: time.Hour, LockoutWindow: 20 * time.Minute}, p)

		// The directory enforces the PSO, and the error says which rule.
		err = conn.ResetPassword(ctx, strictGUID, "Short-Pw1!", false)
		require.ErrorIs(t, err, ad.KindPolicy)
		var ae *ad.Error
		require.ErrorAs(t, err, &ae)
		require.Contains(t, ae.Message, "at least 12 characters")
		require.NoError(t, conn.ResetPassword(ctx, normalGUID, "Short-Pw1!", false))
	})

	t.Run("StartTLS", func(t *testing.T) {
		t.Parallel()
		ou := dc.CreateOU(t, "StartTLS")
		_, guid := dc.CreateUser(t, ou, "nina", samba.UserOpts{})
		cfg := dc.StartTLSConfig()
		cfg.ScopeOU = ou
		conn := dial(t, cfg)
		require.True(t, conn.TLS())
		require.Equal(t, []string{"nina"}, usernames(importAll(t, cfg, 0)))
		require.NoError(t, conn.ResetPassword(context.Background(), guid, "Start-Tls-Passw0rd", false))
		require.NoError(t, ad.Bind(context.Background(), cfg, "nina@"+dc.Realm, "Start-Tls-Passw0rd"))
	})

	t.Run("PlainLDAPRefusedByServer", func(t *testing.T) {
		t.Parallel()
		// Samba's default: no simple bind without TLS.
		_, err := ad.Dial(context.Background(), dc.PlainConfig())
		require.ErrorIs(t, err, ad.KindInsecure)
		require.ErrorIs(t, ad.Bind(context.Background(), dc.PlainConfig(), dc.AdminUser, dc.AdminPassword), ad.KindInsecure)
	})

	t.Run("Certificates", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		for name, cfg := range map[string]ad.Config{"ldaps": dc.Config(), "starttls": dc.StartTLSConfig()} {
			wrong := cfg
			wrong.CACertPEM = otherCA(t)
			_, err := ad.Dial(ctx, wrong)
			require.ErrorIs(t, err, ad.KindTLS, name)
			require.Contains(t, err.(*ad.Error).Message, "CA certificate", name)

			system := cfg
			system.CACertPEM = nil // the system roots do not know the test CA
			_, err = ad.Dial(ctx, system)
			require.ErrorIs(t, err, ad.KindTLS, name)

			skip := wrong
			skip.InsecureSkipVerify = true
			conn, err := ad.Dial(ctx, skip)
			require.NoError(t, err, name)
			conn.Close()
		}
	})

	t.Run("BindAccountErrors", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		cfg := dc.Config()
		cfg.BindPassword = "Not-The-Passw0rd"
		_, err := ad.Dial(ctx, cfg)
		require.ErrorIs(t, err, ad.KindBindFailed)
		require.Equal(t, "52e", err.(*ad.Error).Data)

		ou := dc.CreateOU(t, "Binds")
		dc.CreateUser(t, ou, "olga", samba.UserOpts{Disabled: true})
		require.ErrorIs(t, dc.Bind("olga@"+dc.Realm, samba.DefaultPassword), ad.KindDisabled)
		require.ErrorIs(t, dc.Bind("nobody@"+dc.Realm, samba.DefaultPassword), ad.KindInvalidCredentials)
		require.ErrorIs(t, dc.Bind("olga@"+dc.Realm, ""), ad.KindInvalidCredentials) // never an anonymous bind
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		conn := dial(t, dc.Config())
		ctx := context.Background()
		_, err := conn.User(ctx, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
		require.ErrorIs(t, err, ad.KindNotFound)
		_, err = conn.User(ctx, "not-a-guid")
		require.ErrorIs(t, err, ad.KindNotFound)
		require.ErrorIs(t, conn.ResetPassword(ctx, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "Whatever-Passw0rd", true), ad.KindNotFound)
		require.ErrorIs(t, conn.Unlock(ctx, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"), ad.KindNotFound)
	})

	t.Run("CallbackErrorStopsImport", func(t *testing.T) {
		t.Parallel()
		conn := dial(t, dc.Config())
		stop := errors.New("stop")
		n := 0
		err := conn.Users(context.Background(), 1, func(ad.User) error {
			n++
			return stop
		})
		require.ErrorIs(t, err, stop)
		require.Equal(t, 1, n)
		// The connection is still usable.
		_, err = conn.DomainPolicy(context.Background())
		require.NoError(t, err)
	})
}

// TestPlainLDAPPasswordOperationsRefused uses a DC that, like many Windows
// DCs, accepts simple binds without TLS: importing works, but the driver
// refuses to send a password or unlock over it, and nothing is written.
func TestPlainLDAPPasswordOperationsRefused(t *testing.T) {
	t.Parallel()
	dc := samba.Start(t, samba.AllowPlainBind())
	ou := dc.CreateOU(t, "Plain")
	dn, guid := dc.CreateUser(t, ou, "paul", samba.UserOpts{})
	pwdLastSet := dc.Attr(t, dn, "pwdLastSet")

	cfg := dc.PlainConfig()
	cfg.ScopeOU = ou
	require.False(t, cfg.TLS())
	require.NotEmpty(t, cfg.Warnings()["URL"])
	conn := dial(t, cfg)
	require.False(t, conn.TLS())
	require.Equal(t, []string{"paul"}, usernames(importAll(t, cfg, 0)))

	ctx := context.Background()
	require.ErrorIs(t, conn.ResetPassword(ctx, guid, "Plain-Passw0rd-1", false), ad.KindInsecure)
	require.ErrorIs(t, conn.SetPasswordWithPolicy(ctx, guid, "Plain-Passw0rd-1"), ad.KindInsecure)
	require.ErrorIs(t, conn.Unlock(ctx, guid), ad.KindInsecure)
	require.ErrorIs(t, ad.Bind(ctx, cfg, "paul@"+dc.Realm, samba.DefaultPassword), ad.KindInsecure)

	require.Equal(t, pwdLastSet, dc.Attr(t, dn, "pwdLastSet"))
	require.NoError(t, dc.Bind("paul@"+dc.Realm, samba.DefaultPassword))
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Nothing listens: refused at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	l.Close()
	start := time.Now()
	_, err = ad.Dial(ctx, ad.Config{URL: "ldaps://" + closed, BindUser: "u", BindPassword: "p", BaseDN: "DC=x"})
	require.ErrorIs(t, err, ad.KindUnreachable)
	require.Less(t, time.Since(start), 2*time.Second)

	// Something listens but never answers: the timeout ends it.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for _, url := range []string{"ldaps://", "ldap://"} {
		start = time.Now()
		_, err = ad.Dial(ctx, ad.Config{URL: url + silent.Addr().String(), StartTLS: url == "ldap://",
			BindUser: "u", BindPassword: "p", BaseDN: "DC=x", Timeout: 300 * time.Millisecond})
		require.ErrorIs(t, err, ad.KindUnreachable, url)
		require.Less(t, time.Since(start), 2*time.Second, url)
	}

	// A cancelled context ends it too.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = ad.Dial(cctx, ad.Config{URL: "ldaps://" + silent.Addr().String(), BindUser: "u", BindPassword: "p", BaseDN: "DC=x"})
	require.ErrorIs(t, err, ad.KindUnreachable)
}

func dial(t *testing.T, cfg ad.Config) *ad.Conn {
	t.Helper()
	conn, err := ad.Dial(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(conn.Close)
	return conn
}

func importAll(t *testing.T, cfg ad.Config, pageSize int) []ad.User {
	t.Helper()
	conn := dial(t, cfg)
	var users []ad.User
	require.NoError(t, conn.Users(context.Background(), pageSize, func(u ad.User) error {
		users = append(users, u)
		return nil
	}))
	sort.Slice(users, func(i, j int) bool { return users[i].Username < users[j].Username })
	return users
}

func usernames(users []ad.User) []string {
	out := []string{}
	for _, u := range users {
		out = append(out, u.Username)
	}
	return out
}

// otherCA is a CA that did not issue the DC's certificate.
func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Someone else's CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
