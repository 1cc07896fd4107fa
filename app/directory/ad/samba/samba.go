// Package samba starts real Samba Active Directory domain controllers for
// tests. A domain is provisioned once per machine and Samba version (cached
// under the temp directory, shared by parallel test binaries through a file
// lock); each DC is a copy of it, listening on its own loopback address, with
// a TLS certificate made for it.
//
// Needs the Debian packages samba, samba-ad-dc, samba-ad-provision,
// samba-dsdb-modules, samba-vfs-modules, winbind and ldb-tools, and root (the
// LDAP ports are below 1024). Without them tests skip, or fail when
// LATCHKEY_TEST_STRICT=1. Set LATCHKEY_SAMBA_KEEP=1 to keep a failed test's
// DC directory (its samba.out has samba's log).
package samba

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/latchkey/latchkey/app/directory/ad"
)

// The domain every DC serves.
const (
	Realm         = "LATCHKEY.TEST"
	Domain        = "LATCHKEY"
	BaseDN        = "DC=latchkey,DC=test"
	AdminUser     = "Administrator@" + Realm
	AdminPassword = "Latchkey-Adm1n-Test!"
	hostName      = "dc1"

	// templateFormat changes whenever provisioning changes, so that an old
	// cached template is not reused.
	templateFormat = "2"
)

// DC is a running Samba AD domain controller.
type DC struct {
	Realm, Domain, BaseDN    string
	AdminUser, AdminPassword string
	Host                     string // the loopback IP it listens on
	CACertPEM                []byte // the CA that issued its certificate
	Dir                      string // its private copy of the domain

	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}

	mu   sync.Mutex
	conn *ldap.Conn // admin connection for the helpers, opened on first use
}

// Option changes how a DC is started.
type Option func(*options)

type options struct {
	allowPlainBind bool
	users          *bulkUsers
}

type bulkUsers struct {
	ou     string
	n      int
	prefix string
}

// AllowPlainBind lets clients bind over plain LDAP without TLS ("ldap server
// require strong auth = no"), as many Windows DCs still do; by default Samba
// refuses such binds with "Strong Auth Required".
func AllowPlainBind() Option { return func(o *options) { o.allowPlainBind = true } }

// WithUsers starts the DC with OU=ou (under BaseDN) holding n users made by
// CreateUsers(…, n, prefix). The populated domain is built once per machine
// and cached like the empty one, so that large directories (benchmarks)
// start as fast as small ones after the first run.
func WithUsers(ou string, n int, prefix string) Option {
	return func(o *options) { o.users = &bulkUsers{ou: ou, n: n, prefix: prefix} }
}

// Start starts a DC for the test and stops it (and removes its files) when
// the test ends. It skips the test when Samba is not installed or the test
// does not run as root, unless LATCHKEY_TEST_STRICT=1.
func Start(t testing.TB, opts ...Option) *DC {
	t.Helper()
	var o options
	for _, f := range opts {
		f(&o)
	}
	if msg := unavailable(); msg != "" {
		if os.Getenv("LATCHKEY_TEST_STRICT") == "1" {
			t.Fatalf("samba: %s (LATCHKEY_TEST_STRICT=1)", msg)
		}
		t.Skipf("samba: %s", msg)
	}
	sweepOnce.Do(sweep)
	base, err := template()
	if err != nil {
		t.Fatalf("samba: provisioning the template domain: %v", err)
	}
	data := base
	if o.users != nil {
		if data, err = usersTemplate(base, *o.users); err != nil {
			t.Fatalf("samba: building the domain with %d users: %v", o.users.n, err)
		}
	}
	dc, err := launch(base, data, o)
	if dc != nil {
		t.Cleanup(func() {
			dc.stop()
			if !t.Failed() || os.Getenv("LATCHKEY_SAMBA_KEEP") == "" {
				_ = os.RemoveAll(dc.Dir)
			}
		})
	}
	if err != nil {
		tailOut := ""
		if dc != nil {
			tailOut = "\n--- samba output (tail) ---\n" + dc.outputTail(4000)
		}
		t.Fatalf("samba: %v%s", err, tailOut)
	}
	return dc
}

// launch copies the domain database of data (a template directory) into a
// new directory, configures it from base, and starts samba there. The DC is
// returned with an error too once it has a directory, for cleaning up.
func launch(base, data string, o options) (*DC, error) {
	dir, err := os.MkdirTemp("", "latchkey-samba-dc-")
	if err != nil {
		return nil, err
	}
	dc := &DC{Realm: Realm, Domain: Domain, BaseDN: BaseDN, AdminUser: AdminUser, AdminPassword: AdminPassword, Dir: dir}
	if err := copyTree(data, dir); err != nil {
		return dc, fmt.Errorf("copying the template: %w", err)
	}
	if dc.Host, err = pickAddress(); err != nil {
		return dc, err
	}
	if err := dc.writeConfig(base, o); err != nil {
		return dc, err
	}
	if dc.CACertPEM, err = writeCertificates(filepath.Join(dir, "tls"), dc.Host); err != nil {
		return dc, fmt.Errorf("certificates: %w", err)
	}
	return dc, dc.start()
}

var sweepOnce sync.Once

// sweep removes the directories of DCs whose test binary was killed before
// its cleanup ran (samba itself exits with it): older than an hour, and no
// live process behind their pid file.
func sweep() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "latchkey-samba-dc-*"))
	for _, d := range dirs {
		info, err := os.Stat(d)
		if err != nil || time.Since(info.ModTime()) < time.Hour {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(d, "run", "samba.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && syscall.Kill(pid, 0) == nil {
				continue
			}
		}
		_ = os.RemoveAll(d)
	}
}

func unavailable() string {
	for _, bin := range []string{"samba", "samba-tool"} {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " is not installed (apt-get install samba samba-ad-dc samba-ad-provision samba-dsdb-modules samba-vfs-modules winbind ldb-tools)"
		}
	}
	if os.Geteuid() != 0 {
		return "needs root to listen on the LDAP ports"
	}
	return ""
}

var (
	versionOnce sync.Once
	version     string
	versionErr  error
)

func sambaVersion() (string, error) {
	versionOnce.Do(func() {
		out, err := exec.Command("samba", "--version").Output()
		if err != nil {
			versionErr = fmt.Errorf("samba --version: %w", err)
			return
		}
		version = regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(strings.TrimSpace(string(out)), "_")
	})
	return version, versionErr
}

var templateMu sync.Mutex

// template returns the directory of the provisioned (empty) domain,
// provisioning it first if no test binary on this machine has done so yet.
func template() (string, error) {
	v, err := sambaVersion()
	if err != nil {
		return "", err
	}
	return cached(filepath.Join(os.TempDir(), "latchkey-samba-"+v+"-f"+templateFormat), provision)
}

// usersTemplate returns the directory of the domain with u's users, building
// it first (from a DC started on base) if needed.
func usersTemplate(base string, u bulkUsers) (string, error) {
	name := fmt.Sprintf("%s-users-%s-%d-%s", base, regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(u.ou, "_"), u.n, u.prefix)
	return cached(name, func(work string) error {
		dc, err := launch(base, base, options{})
		if dc != nil {
			defer func() {
				dc.stop()
				_ = os.RemoveAll(dc.Dir)
			}()
		}
		if err != nil {
			return err
		}
		conn, err := dc.admin()
		if err != nil {
			return err
		}
		ou := "OU=" + ldap.EscapeDN(u.ou) + "," + BaseDN
		req := ldap.NewAddRequest(ou, nil)
		req.Attribute("objectClass", []string{"organizationalUnit"})
		if err := conn.Add(req); err != nil {
			return err
		}
		if _, err := dc.createUsers(ou, u.n, u.prefix); err != nil {
			return err
		}
		dc.stop()
		return copyTree(dc.Dir, work)
	})
}

// cached returns dir once it holds a finished template, making it with
// build(workDir) first if needed. An flock next to it makes parallel test
// binaries wait for one another instead of building it twice.
func cached(dir string, build func(work string) error) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
		return dir, nil
	}
	templateMu.Lock()
	defer templateMu.Unlock()
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
		return dir, nil // another process built it while we waited
	}
	_ = os.RemoveAll(dir)
	work := fmt.Sprintf("%s.tmp-%d", dir, os.Getpid())
	_ = os.RemoveAll(work)
	if err := build(work); err != nil {
		_ = os.RemoveAll(work)
		return "", err
	}
	if err := os.WriteFile(filepath.Join(work, "ready"), nil, 0o600); err != nil {
		return "", err
	}
	return dir, os.Rename(work, dir)
}

// provision creates the domain in dir. Every path samba uses is inside dir,
// and written in dir/etc/smb.conf only; "origin" records dir so that copies
// can rewrite them.
func provision(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	empty := filepath.Join(dir, "empty.conf") // keeps /etc/samba/smb.conf out
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		return err
	}
	args := []string{"domain", "provision", "-s", empty, "--targetdir=" + dir,
		"--realm=" + Realm, "--domain=" + Domain, "--adminpass=" + AdminPassword,
		"--server-role=dc", "--dns-backend=NONE", "--host-name=" + hostName,
		// LMDB: bulk adds are ~2 ms each and do not slow down as the
		// directory grows, where tdb remaps its whole file as it grows.
		"--backend-store=mdb",
	}
	for _, o := range []string{
		"interfaces=127.0.0.2/8", "bind interfaces only=yes", "server services=ldap",
		"pid directory=" + dir + "/run", "ncalrpc dir=" + dir + "/run/ncalrpc",
		"winbindd socket directory=" + dir + "/run/winbindd", "ntp signd socket directory=" + dir + "/run/ntp_signd",
		"log file=" + dir + "/log.%m",
		"tls keyfile=" + dir + "/tls/key.pem", "tls certfile=" + dir + "/tls/cert.pem", "tls cafile=" + dir + "/tls/ca.pem",
		// No fsync per transaction: a test DC's data need not survive a
		// crash, and writes get several times faster.
		"ldb:nosync=true",
	} {
		args = append(args, "--option="+o)
	}
	cmd := exec.Command("samba-tool", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("samba-tool domain provision: %w\n%s", err, tail(out, 4000))
	}
	_ = os.Remove(empty)
	return os.WriteFile(filepath.Join(dir, "origin"), []byte(dir), 0o600)
}

// copyTree copies a domain's files (modes kept) into dst, leaving out what
// belongs to one running DC: its configuration (written by writeConfig),
// certificates, pid files, sockets, logs and LMDB lock files.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		switch {
		case rel == "run" || rel == "tls":
			return filepath.SkipDir
		case rel == "ready" || rel == "origin" || rel == "samba.out" || rel == filepath.Join("etc", "smb.conf") ||
			strings.HasSuffix(rel, ".ldb-lock") || strings.HasPrefix(rel, "log."):
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case !info.Mode().IsRegular():
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// writeConfig writes the DC's smb.conf: the base template's, pointed at the
// DC's directory and address.
func (dc *DC) writeConfig(base string, o options) error {
	origin, err := os.ReadFile(filepath.Join(base, "origin"))
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(base, "etc", "smb.conf"))
	if err != nil {
		return err
	}
	s := strings.ReplaceAll(string(b), string(origin), dc.Dir)
	s = regexp.MustCompile(`(?m)^\s*interfaces\s*=.*$`).ReplaceAllString(s, "\tinterfaces = "+dc.Host+"/8")
	if o.allowPlainBind {
		s = strings.Replace(s, "[global]\n", "[global]\n\tldap server require strong auth = no\n", 1)
	}
	for _, d := range []string{"etc", "run", "tls"} {
		if err := os.MkdirAll(filepath.Join(dc.Dir, d), 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dc.Dir, "etc", "smb.conf"), []byte(s), 0o644)
}

var addrCounter atomic.Uint32

// pickAddress returns a loopback address (127.X.Y.Z, from the process id and
// a counter) on which nothing listens on the LDAP ports.
func pickAddress() (string, error) {
	pid := uint32(os.Getpid())
	for range 200 {
		h := fnv.New32a()
		fmt.Fprintf(h, "%d/%d", pid, addrCounter.Add(1))
		v := h.Sum32()
		ip := fmt.Sprintf("127.%d.%d.%d", 16+v%224, (v>>8)&0xff, 1+(v>>16)%254)
		if free(ip) {
			return ip, nil
		}
	}
	return "", errors.New("no free loopback address for the LDAP ports")
}

func free(ip string) bool {
	for _, port := range []string{"389", "636", "3268", "3269"} {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, port))
		if err != nil {
			return false
		}
		_ = l.Close()
	}
	return true
}

// start runs samba in the foreground, its stdin a pipe we hold: samba exits
// on EOF, so it dies with the test binary however that ends.
func (dc *DC) start() error {
	out, err := os.Create(filepath.Join(dc.Dir, "samba.out"))
	if err != nil {
		return err
	}
	cmd := exec.Command("samba", "-s", filepath.Join(dc.Dir, "etc", "smb.conf"), "-i", "-M", "single", "--debug-stdout", "-d1")
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		out.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("starting samba: %w", err)
	}
	dc.cmd, dc.stdin, dc.done = cmd, stdin, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(dc.done)
	}()

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(dc.CACertPEM)
	deadline := time.Now().Add(60 * time.Second)
	for {
		d := net.Dialer{Timeout: time.Second}
		conn, err := tls.DialWithDialer(&d, "tcp", net.JoinHostPort(dc.Host, "636"), &tls.Config{RootCAs: pool, ServerName: dc.Host})
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-dc.done:
			return fmt.Errorf("samba exited before it was ready: %v", cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("samba did not accept TLS on %s:636 within 60 s: %v", dc.Host, err)
		}
	}
}

func (dc *DC) stop() {
	dc.mu.Lock()
	if dc.conn != nil {
		_ = dc.conn.Close()
		dc.conn = nil
	}
	dc.mu.Unlock()
	if dc.cmd == nil || dc.cmd.Process == nil {
		return
	}
	_ = dc.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-dc.done:
	case <-time.After(10 * time.Second):
		_ = dc.cmd.Process.Kill()
		<-dc.done
	}
	_ = dc.stdin.Close()
}

func (dc *DC) outputTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(dc.Dir, "samba.out"))
	return tail(b, n)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// URL is the DC's LDAPS URL.
func (dc *DC) URL() string { return "ldaps://" + dc.Host }

// Config is an LDAPS configuration that trusts the DC's CA and binds as the
// domain administrator, with BaseDN the domain root.
func (dc *DC) Config() ad.Config {
	return ad.Config{
		URL:          "ldaps://" + dc.Host,
		BindUser:     dc.AdminUser,
		BindPassword: dc.AdminPassword,
		BaseDN:       dc.BaseDN,
		CACertPEM:    dc.CACertPEM,
		Timeout:      10 * time.Second,
	}
}

// StartTLSConfig is Config over ldap:// with StartTLS.
func (dc *DC) StartTLSConfig() ad.Config {
	c := dc.Config()
	c.URL = "ldap://" + dc.Host
	c.StartTLS = true
	return c
}

// PlainConfig is Config over plain ldap:// (no TLS at all).
func (dc *DC) PlainConfig() ad.Config {
	c := dc.Config()
	c.URL = "ldap://" + dc.Host
	c.CACertPEM = nil
	return c
}

// Bind checks a user's credentials against the DC over LDAPS (ad.Bind).
func (dc *DC) Bind(user, password string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return ad.Bind(ctx, dc.Config(), user, password)
}
