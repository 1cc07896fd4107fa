// Package webpush sends Web Push notifications (RFC 8030) to end users'
// browsers: VAPID (RFC 8292) with one key pair per installation, made on
// first use and kept encrypted; subscriptions per end user; payloads
// encrypted with RFC 8291 (aes128gcm) by webpush-go; a send_push job per
// subscription with at-most-once delivery; a subscription the push service
// reports gone (404/410) is revoked.
//
// One VAPID key pair per installation, not per tenant: a browser has one
// push subscription per service worker, bound to one applicationServerKey,
// and every tenant's self-serve pages share the installation's origin and
// service worker. Per-tenant keys would make a device used with two tenants
// re-subscribe back and forth. VAPID only proves to the push service that
// the sender is this server; tenant isolation lives in the subscriptions
// table (every row and every query carries the tenant).
package webpush

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	webpushgo "github.com/SherClockHolmes/webpush-go"
	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/app/secret"
	"github.com/latchkey/latchkey/db"
)

// SendTimeout bounds one request to a push service (send_push has 10 s).
const SendTimeout = 8 * time.Second

// Deps are what the push service needs.
type Deps struct {
	DB   *db.DB
	Keys *secret.Keyring
	Jobs db.Inserter
	// Link makes an absolute URL under LATCHKEY_BASE_URL (config.Link):
	// notification links, and the VAPID contact.
	Link func(path string) string
	// HTTP talks to push services (a client with SendTimeout that does not
	// follow redirects when nil).
	HTTP *http.Client
	// AllowAnyEndpoint accepts subscription endpoints on any host and over
	// http (tests with a local push service). Otherwise endpoints must be
	// https on a known push service (see KnownPushHosts).
	AllowAnyEndpoint bool
	Now              func() time.Time
	Log              *slog.Logger
}

// Service is the Web Push domain service.
type Service struct {
	d     Deps
	queue *Queue

	mu    sync.Mutex
	vapid *vapidKeys // cached after first use
}

// NewService returns a Service.
func NewService(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.HTTP == nil {
		d.HTTP = &http.Client{
			Timeout:       SendTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Service{d: d, queue: NewQueue(d.Jobs, d.Keys, d.Link, d.Now)}
}

// Queue returns the queue that writes push notifications in a caller's
// transaction.
func (s *Service) Queue() *Queue { return s.queue }

func (s *Service) now() time.Time { return s.d.Now().UTC() }

// vapidRow is the installation's VAPID key pair.
type vapidRow struct {
	bun.BaseModel `bun:"table:push_vapid"`

	ID         int       `bun:"id,pk"`
	PublicKey  string    `bun:"public_key"`  // base64url, uncompressed P-256 point
	PrivateKey []byte    `bun:"private_key"` // ciphertext of the base64url scalar
	CreatedAt  time.Time `bun:"created_at"`
}

var vapidAAD = []byte("push_vapid/1")

type vapidKeys struct{ public, private string }

// PublicKey returns the installation's VAPID public key (base64url, no
// padding, the uncompressed P-256 point): the applicationServerKey for
// PushManager.subscribe. The key pair is made on first use.
func (s *Service) PublicKey(ctx context.Context) (string, error) {
	k, err := s.keys(ctx)
	if err != nil {
		return "", err
	}
	return k.public, nil
}

// keys loads (or makes, once per installation even with several processes)
// the VAPID key pair.
func (s *Service) keys(ctx context.Context) (*vapidKeys, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vapid != nil {
		return s.vapid, nil
	}
	idb := s.d.DB.Bun
	row := new(vapidRow)
	err := idb.NewSelect().Model(row).Where("id = 1").Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		priv, pub, gerr := webpushgo.GenerateVAPIDKeys()
		if gerr != nil {
			return nil, fmt.Errorf("webpush: generate VAPID keys: %w", gerr)
		}
		ct, eerr := s.d.Keys.Encrypt([]byte(priv), vapidAAD)
		if eerr != nil {
			return nil, eerr
		}
		// Another process may make one at the same time: the first wins.
		if _, err := idb.NewInsert().Model(&vapidRow{ID: 1, PublicKey: pub, PrivateKey: ct, CreatedAt: s.now()}).
			On("CONFLICT (id) DO NOTHING").Exec(ctx); err != nil {
			return nil, fmt.Errorf("webpush: store VAPID keys: %w", err)
		}
		err = idb.NewSelect().Model(row).Where("id = 1").Scan(ctx)
		if err == nil && row.PublicKey == pub {
			s.d.Log.InfoContext(ctx, "web push: made the installation's VAPID key pair")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("webpush: load VAPID keys: %w", err)
	}
	priv, err := s.d.Keys.Decrypt(row.PrivateKey, vapidAAD)
	if err != nil {
		return nil, fmt.Errorf("webpush: VAPID private key: %w", err)
	}
	s.vapid = &vapidKeys{public: row.PublicKey, private: string(priv)}
	return s.vapid, nil
}

// subscriber is the VAPID "sub" contact: the base URL when it is https,
// else a mailto: address at its host (webpush-go adds "mailto:").
func (s *Service) subscriber() string {
	base := s.d.Link("/")
	u, err := url.Parse(base)
	if err == nil && u.Scheme == "https" {
		return strings.TrimRight(base, "/")
	}
	host := "localhost"
	if err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return "webpush@" + host
}

// KnownPushHosts are the push services of the browsers end users have
// (Chrome, Edge, Firefox, Safari), as host suffixes. The server POSTs to a
// subscription's endpoint, so accepting any URL would let anyone who can
// save a subscription make the server call an internal address.
var KnownPushHosts = []string{
	"fcm.googleapis.com", "android.googleapis.com",
	"push.services.mozilla.com",
	"push.apple.com",
	"notify.windows.com",
}

// endpointProblem says what is wrong with a subscription endpoint ("" when
// nothing).
func (s *Service) endpointProblem(endpoint string) string {
	if endpoint == "" || len(endpoint) > 2048 {
		return "The subscription has no usable endpoint."
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || u.User != nil {
		return "The subscription endpoint is not a URL."
	}
	if s.d.AllowAnyEndpoint {
		if u.Scheme != "https" && u.Scheme != "http" {
			return "The subscription endpoint is not an http(s) URL."
		}
		return ""
	}
	if u.Scheme != "https" {
		return "The subscription endpoint must use https."
	}
	host := strings.ToLower(u.Hostname())
	if net.ParseIP(host) != nil {
		return "The subscription endpoint is not a known push service."
	}
	for _, k := range KnownPushHosts {
		if host == k || strings.HasSuffix(host, "."+k) {
			return ""
		}
	}
	return "The subscription endpoint is not a known push service."
}
