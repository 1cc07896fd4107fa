package e2e

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/db/dbtest"
)

// notifyd is a desktop notification server (org.freedesktop.Notifications,
// the interface that GNOME, KDE, dunst and others implement) on a private
// D-Bus session bus. Chromium on Linux, headless included, shows a web
// notification through it when the name has an owner; notifyd records what
// it is asked to show and can click a notification as a user would: it
// signals ActionInvoked "default", on which Chromium dispatches a real
// notificationclick to the service worker, one that may open a window.
type notifyd struct {
	t    *testing.T
	addr string // the bus address, for DBUS_SESSION_BUS_ADDRESS
	conn *dbus.Conn

	mu     sync.Mutex
	next   uint32
	open   map[uint32]desktopNote
	closed []desktopNote // closed by Chromium (CloseNotification), in order
}

// desktopNote is one notification as Chromium handed it to the desktop.
type desktopNote struct {
	ID       uint32
	Replaces uint32
	Summary  string
	Body     string
	Actions  []string // key, label, key, label…
}

const (
	notifydName = "org.freedesktop.Notifications"
	notifydPath = dbus.ObjectPath("/org/freedesktop/Notifications")
)

// startNotifyd starts a private bus (dbus-daemon, Debian package dbus-daemon)
// and a notifyd on it, both stopped when the test ends. Without dbus-daemon
// the test is skipped, or fails under LATCHKEY_TEST_STRICT=1.
func startNotifyd(t *testing.T) *notifyd {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		if dbtest.Strict() {
			t.Fatalf("e2e: dbus-daemon is required (LATCHKEY_TEST_STRICT=1): %v", err)
		}
		t.Skipf("e2e: skipping: dbus-daemon not found (install the Debian package dbus-daemon): %v", err)
	}
	sock := filepath.Join(t.TempDir(), "bus")
	cmd := exec.Command(bin, "--session", "--nofork", "--nosyslog", "--print-address=1", "--address=unix:path="+sock)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "dbus-daemon did not print its address")

	d := &notifyd{t: t, addr: strings.TrimSpace(addr), open: map[uint32]desktopNote{}}
	d.conn, err = dbus.Connect(d.addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.conn.Close() })
	require.NoError(t, d.conn.Export(notifydMethods{d}, notifydPath, notifydName))
	reply, err := d.conn.RequestName(notifydName, dbus.NameFlagDoNotQueue)
	require.NoError(t, err)
	require.Equal(t, dbus.RequestNameReplyPrimaryOwner, reply)
	return d
}

// notifydMethods holds the exported D-Bus methods only (godbus exports
// every method of the value).
type notifydMethods struct{ d *notifyd }

func (m notifydMethods) GetCapabilities() ([]string, *dbus.Error) {
	return []string{"actions", "body", "persistence"}, nil
}

func (m notifydMethods) GetServerInformation() (name, vendor, version, spec string, _ *dbus.Error) {
	return "latchkey-e2e", "Latchkey", "1", "1.2", nil
}

func (m notifydMethods) Notify(app string, replaces uint32, icon, summary, body string, actions []string,
	hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	d := m.d
	d.mu.Lock()
	defer d.mu.Unlock()
	id := replaces
	if _, ok := d.open[id]; !ok {
		d.next++
		id = d.next
	}
	d.open[id] = desktopNote{ID: id, Replaces: replaces, Summary: summary, Body: body, Actions: actions}
	return id, nil
}

func (m notifydMethods) CloseNotification(id uint32) *dbus.Error {
	d := m.d
	d.mu.Lock()
	n, ok := d.open[id]
	delete(d.open, id)
	if ok {
		d.closed = append(d.closed, n)
	}
	d.mu.Unlock()
	if ok {
		// 3: closed by a call to CloseNotification.
		_ = d.conn.Emit(notifydPath, notifydName+".NotificationClosed", id, uint32(3))
	}
	return nil
}

// shown returns the notifications on screen.
func (d *notifyd) shown() []desktopNote {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ns []desktopNote
	for _, n := range d.open {
		ns = append(ns, n)
	}
	return ns
}

// wasClosed reports whether Chromium closed the notification with the id.
func (d *notifyd) wasClosed(id uint32) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range d.closed {
		if n.ID == id {
			return true
		}
	}
	return false
}

// click clicks the body of the notification on screen (the "default"
// action), as a user would.
func (d *notifyd) click(n desktopNote) {
	d.t.Helper()
	require.Contains(d.t, n.Actions, "default", "Chromium offers no default action for %q", n.Summary)
	require.NoError(d.t, d.conn.Emit(notifydPath, notifydName+".ActionInvoked", n.ID, "default"))
}
