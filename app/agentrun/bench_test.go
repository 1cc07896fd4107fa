package agentrun_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/agent"
	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/apptest/adsite"
	"github.com/latchkey/latchkey/app/directory/ad/samba"
	"github.com/latchkey/latchkey/db"
)

const benchDirectoryUsers = 5000

// bareSearch is a plain paged LDAP search of the same users and attributes
// an import reads: the floor an import is compared with.
func bareSearch(b *testing.B, dc *samba.DC, ou string) time.Duration {
	b.Helper()
	cfg := dc.Config()
	start := time.Now()
	conn, err := ldap.DialURL(cfg.URL, ldap.DialWithTLSConfig(tlsConfig(b, cfg.CACertPEM)))
	require.NoError(b, err)
	defer conn.Close()
	require.NoError(b, conn.Bind(cfg.BindUser, cfg.BindPassword))
	req := ldap.NewSearchRequest(ou, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectCategory=person)(objectClass=user))",
		[]string{"objectGUID", "distinguishedName", "sAMAccountName", "userPrincipalName", "givenName", "sn", "displayName",
			"mail", "mobile", "pwdLastSet", "msDS-UserPasswordExpiryTimeComputed", "lockoutTime", "userAccountControl",
			"msDS-User-Account-Control-Computed", "memberOf", "adminCount", "primaryGroupID"}, nil)
	res, err := conn.SearchWithPaging(req, 1000)
	require.NoError(b, err)
	require.Len(b, res.Entries, benchDirectoryUsers)
	return time.Since(start)
}

// BenchmarkDirectoryImport measures an automatic import of 5,000 directory
// users end to end (the idle agent picks the task up, searches, streams the
// users; the server plans and writes them), against a bare paged search of
// the same users in the same run. It reports both and their ratio.
func BenchmarkDirectoryImport(b *testing.B) {
	for _, dia := range []db.Dialect{db.SQLite, db.Postgres} {
		b.Run(string(dia), func(b *testing.B) {
			env := apptest.New(b, dia)
			f := env.Setup("Acme IT")
			site := adsite.Start(b, env, f)
			_ = site // the adsite DC is empty; the benchmark DC below holds the users
			dc := samba.Start(b, samba.WithUsers("Bench", benchDirectoryUsers, "bench"))
			ou := "OU=Bench," + dc.BaseDN
			cfg := dc.Config()
			ctx := context.Background()
			_, err := env.App.Agents.SaveSettings(ctx, site.Actor, site.CustomerID, agent.SettingsInput{URL: cfg.URL,
				BindUser: cfg.BindUser, BindPassword: cfg.BindPassword, BaseDN: cfg.BaseDN, ScopeKind: agent.ScopeOU,
				ScopeDN: ou, CACertPEM: string(cfg.CACertPEM)})
			require.NoError(b, err)
			var imports, bares []time.Duration
			for i := 0; b.Loop(); i++ {
				bares = append(bares, bareSearch(b, dc, ou))
				start := time.Now()
				im, err := env.App.Agents.StartImport(ctx, site.Actor, site.CustomerID, agent.TriggerAuto)
				require.NoError(b, err)
				for {
					im, err = env.App.Agents.WaitImport(ctx, site.Actor.TenantID, im.ID, 30*time.Second)
					require.NoError(b, err)
					if im.State != agent.ImportWaiting {
						break
					}
				}
				imports = append(imports, time.Since(start))
				require.Equal(b, agent.ImportApplied, im.State, im.ErrorMessage)
				if i == 0 {
					require.Equal(b, benchDirectoryUsers, im.Created)
				} else {
					require.Equal(b, benchDirectoryUsers, im.Unchanged)
				}
			}
			first := imports[0]
			b.ReportMetric(float64(first.Milliseconds()), "first-import-ms")
			b.ReportMetric(float64(median(imports).Milliseconds()), "import-ms")
			b.ReportMetric(float64(median(bares).Milliseconds()), "bare-search-ms")
			b.ReportMetric(float64(median(imports))/float64(median(bares)), "ratio")
			b.ReportMetric(float64(first)/float64(median(bares)), "first-ratio")
			b.Logf("%s: first import (5,000 new) %v, all imports %v (median %v), bare paged searches %v (median %v)",
				dia, first.Round(time.Millisecond), roundAll(imports), median(imports).Round(time.Millisecond),
				roundAll(bares), median(bares).Round(time.Millisecond))
		})
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}

// BenchmarkResetRoundTrip measures a technician's reset from the click (the
// htmx POST) to the directory write, with an idle agent long-polling.
func BenchmarkResetRoundTrip(b *testing.B) {
	env := apptest.New(b, db.SQLite)
	f := env.Setup("Acme IT")
	site := adsite.Start(b, env, f)
	staff := site.DC.CreateOU(b, "Staff")
	site.DC.CreateUser(b, staff, "ann", samba.UserOpts{First: "Ann", Last: "Archer"})
	site.Import(false)
	id := site.EndUserID("ann")
	c := env.Client()
	c.SignIn(f.Primary.Email)
	ctx := context.Background()
	taskRe := regexp.MustCompile(`hx-get="/directory/tasks/([a-z0-9]+)"`)
	time.Sleep(time.Second) // the agent is idle in its long poll
	var rounds []time.Duration
	for i := 0; b.Loop(); i++ {
		pw := fmt.Sprintf("Round-Trip-%d-Pass!", i)
		start := time.Now()
		res := c.PostForm("/end-users/"+id+"/reset", url.Values{"password": {pw}}, "HX-Request", "true")
		m := taskRe.FindStringSubmatch(res.Body)
		require.NotNil(b, m, res.Body)
		t, err := env.App.Agents.Wait(ctx, f.Tenant.ID, m[1], 30*time.Second)
		require.NoError(b, err)
		rounds = append(rounds, time.Since(start))
		require.Equal(b, agent.StateDone, t.State, t.ErrorMessage)
	}
	b.ReportMetric(float64(median(rounds).Milliseconds()), "p50-ms")
	b.ReportMetric(float64(pct(rounds, 0.95).Milliseconds()), "p95-ms")
	b.Logf("reset round trip over %d resets: p50 %v, p95 %v, max %v", len(rounds), median(rounds).Round(time.Millisecond),
		pct(rounds, 0.95).Round(time.Millisecond), pct(rounds, 1).Round(time.Millisecond))
}

func tlsConfig(b *testing.B, caPEM []byte) *tls.Config {
	b.Helper()
	pool := x509.NewCertPool()
	require.True(b, pool.AppendCertsFromPEM(caPEM))
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
