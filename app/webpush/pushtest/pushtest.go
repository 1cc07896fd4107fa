// Package pushtest is a local Web Push service for tests. Subscribe makes
// a subscription the way a browser does (a P-256 key pair and a 16-byte
// auth secret, bound to the application server's VAPID key); the server
// then checks each notification's VAPID Authorization header (RFC 8292:
// "vapid t=JWT, k=key", ES256 signature by k, aud = the endpoint's origin,
// exp within 24 hours, sub present, k = the subscription's key), decrypts
// its aes128gcm payload (RFC 8291 / RFC 8188) with the subscription's
// private key, and records it. It can answer 404, 410 or any status on
// demand.
//
// It is independent of the code under test: it verifies and decrypts with
// the standard library only.
package pushtest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Subscription is what PushManager.subscribe gives the page: the endpoint
// and the keys, base64url without padding.
type Subscription struct {
	Endpoint string
	P256dh   string
	Auth     string
}

type subscription struct {
	Subscription
	id        string
	priv      *ecdh.PrivateKey
	auth      []byte
	serverKey []byte // applicationServerKey, uncompressed point
	status    int    // answer every request with this status (404, 410) when set
}

// Message is one notification the service accepted, decrypted.
type Message struct {
	Endpoint string
	Payload  []byte // the decrypted plaintext
	TTL      int
	Urgency  string
	Topic    string
	VAPIDKey string // k, base64url
	Audience string // aud claim
	Subject  string // sub claim
	Expires  time.Time
}

// Rejection is a request the service refused, and why.
type Rejection struct {
	Endpoint string
	Status   int
	Reason   string
}

// Server is a running push service.
type Server struct {
	URL string

	srv *httptest.Server

	mu       sync.Mutex
	subs     map[string]*subscription // by id
	messages []Message
	rejected []Rejection
	fails    []int
}

// New starts a push service, closed when tb ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{subs: map[string]*subscription{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /push/{id}", s.push)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	tb.Cleanup(s.srv.Close)
	return s
}

// Subscribe makes a subscription bound to the application server key
// (base64url of the VAPID public key), like a browser.
func (s *Server) Subscribe(tb testing.TB, applicationServerKey string) Subscription {
	tb.Helper()
	key, err := b64(applicationServerKey)
	if err != nil || len(key) != 65 {
		tb.Fatalf("pushtest: applicationServerKey is not a P-256 public key")
	}
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	idb := make([]byte, 12)
	_, _ = rand.Read(idb)
	id := hex.EncodeToString(idb)
	sub := &subscription{
		Subscription: Subscription{
			Endpoint: s.URL + "/push/" + id,
			P256dh:   base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
			Auth:     base64.RawURLEncoding.EncodeToString(auth),
		},
		id: id, priv: priv, auth: auth, serverKey: key,
	}
	s.mu.Lock()
	s.subs[id] = sub
	s.mu.Unlock()
	return sub.Subscription
}

// Gone makes the subscription's endpoint answer status (404 or 410, as
// when the user revoked the permission) from now on.
func (s *Server) Gone(endpoint string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		if sub.Endpoint == endpoint {
			sub.status = status
		}
	}
}

// FailNext makes the next n requests that pass the checks answer status.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fails = append(s.fails, status)
	}
}

// Messages returns the accepted notifications, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// Rejected returns the refused requests, oldest first.
func (s *Server) Rejected() []Rejection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rejected)
}

func (s *Server) push(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	sub := s.subs[r.PathValue("id")]
	s.mu.Unlock()
	endpoint := s.URL + r.URL.Path
	reject := func(status int, reason string) {
		s.mu.Lock()
		s.rejected = append(s.rejected, Rejection{Endpoint: endpoint, Status: status, Reason: reason})
		s.mu.Unlock()
		http.Error(w, reason, status)
	}
	if sub == nil {
		reject(http.StatusNotFound, "no such subscription")
		return
	}
	if sub.status != 0 {
		reject(sub.status, "subscription expired or unsubscribed")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8192))
	if err != nil {
		reject(http.StatusBadRequest, "unreadable body")
		return
	}
	if len(body) > 4096 {
		reject(http.StatusRequestEntityTooLarge, "payload larger than 4096 bytes")
		return
	}
	msg := Message{Endpoint: endpoint, Urgency: r.Header.Get("Urgency"), Topic: r.Header.Get("Topic")}
	ttl, err := strconv.Atoi(r.Header.Get("TTL"))
	if err != nil || ttl < 0 {
		reject(http.StatusBadRequest, "missing or bad TTL header")
		return
	}
	msg.TTL = ttl
	if u := msg.Urgency; u != "" && u != "very-low" && u != "low" && u != "normal" && u != "high" {
		reject(http.StatusBadRequest, "bad Urgency header")
		return
	}
	if err := s.checkVAPID(r.Header.Get("Authorization"), sub, &msg); err != nil {
		reject(http.StatusForbidden, "VAPID: "+err.Error())
		return
	}
	if r.Header.Get("Content-Encoding") != "aes128gcm" {
		reject(http.StatusUnsupportedMediaType, "Content-Encoding must be aes128gcm")
		return
	}
	plain, err := decrypt(body, sub.priv, sub.auth)
	if err != nil {
		reject(http.StatusBadRequest, "decrypt: "+err.Error())
		return
	}
	msg.Payload = plain
	s.mu.Lock()
	if len(s.fails) > 0 {
		status := s.fails[0]
		s.fails = s.fails[1:]
		s.mu.Unlock()
		reject(status, "failing on request")
		return
	}
	s.messages = append(s.messages, msg)
	n := len(s.messages)
	s.mu.Unlock()
	w.Header().Set("Location", fmt.Sprintf("%s/message/%d", s.URL, n))
	w.WriteHeader(http.StatusCreated)
}

func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// checkVAPID verifies an RFC 8292 Authorization header for sub.
func (s *Server) checkVAPID(header string, sub *subscription, msg *Message) error {
	scheme, params, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "vapid") {
		return errors.New(`want "vapid t=…, k=…"`)
	}
	var t, k string
	for _, p := range strings.Split(params, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch name {
		case "t":
			t = val
		case "k":
			k = val
		}
	}
	key, err := b64(k)
	if err != nil || len(key) != 65 {
		return errors.New("k is not a P-256 public key")
	}
	if !bytes.Equal(key, sub.serverKey) {
		return errors.New("k is not the key the subscription was made with")
	}
	msg.VAPIDKey = k
	x, y := elliptic.Unmarshal(elliptic.P256(), key) //nolint:staticcheck // only to build an ecdsa.PublicKey
	if x == nil {
		return errors.New("k is not on the curve")
	}
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}

	parts := strings.Split(t, ".")
	if len(parts) != 3 {
		return errors.New("t is not a JWT")
	}
	var hdr struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	hb, err := b64(parts[0])
	if err != nil || json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "ES256" {
		return errors.New("JWT header must say alg ES256")
	}
	sig, err := b64(parts[2])
	if err != nil || len(sig) != 64 {
		return errors.New("JWT signature is not 64 bytes (r||s)")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return errors.New("JWT signature does not verify with k")
	}
	var claims struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}
	cb, err := b64(parts[1])
	if err != nil || json.Unmarshal(cb, &claims) != nil {
		return errors.New("JWT claims are not readable")
	}
	now := time.Now()
	exp := time.Unix(claims.Exp, 0)
	switch {
	case claims.Aud != s.URL:
		return fmt.Errorf("aud %q is not the endpoint's origin %q", claims.Aud, s.URL)
	case !exp.After(now):
		return errors.New("the JWT has expired")
	case exp.After(now.Add(24 * time.Hour)):
		return errors.New("exp is more than 24 hours ahead")
	case !strings.HasPrefix(claims.Sub, "mailto:") && !strings.HasPrefix(claims.Sub, "https:"):
		return errors.New("sub must be a mailto: or https: contact")
	}
	msg.Audience, msg.Subject, msg.Expires = claims.Aud, claims.Sub, exp
	return nil
}

// decrypt opens an aes128gcm body (RFC 8188) encrypted for the user agent
// key pair priv and auth secret (RFC 8291).
func decrypt(body []byte, priv *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("body shorter than the aes128gcm header")
	}
	salt := body[:16]
	rs := binary.BigEndian.Uint32(body[16:20])
	idLen := int(body[20])
	if rs < 18 || len(body) < 21+idLen {
		return nil, errors.New("bad aes128gcm header")
	}
	asPub, err := ecdh.P256().NewPublicKey(body[21 : 21+idLen])
	if err != nil {
		return nil, errors.New("keyid is not the sender's P-256 public key")
	}
	content := body[21+idLen:]
	shared, err := priv.ECDH(asPub)
	if err != nil {
		return nil, err
	}
	// RFC 8291 section 3.4.
	prkKey, err := hkdf.Extract(sha256.New, shared, auth)
	if err != nil {
		return nil, err
	}
	keyInfo := "WebPush: info\x00" + string(priv.PublicKey().Bytes()) + string(asPub.Bytes())
	ikm, err := hkdf.Expand(sha256.New, prkKey, keyInfo, 32)
	if err != nil {
		return nil, err
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	baseNonce, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	var out []byte
	for seq := uint64(0); len(content) > 0; seq++ {
		n := min(int(rs), len(content))
		rec := content[:n]
		content = content[n:]
		nonce := slices.Clone(baseNonce)
		for i := range 8 {
			nonce[11-i] ^= byte(seq >> (8 * i))
		}
		plain, err := gcm.Open(nil, nonce, rec, nil)
		if err != nil {
			return nil, errors.New("record does not decrypt (wrong keys or tampered)")
		}
		// Padding: the data, one delimiter (2 in the last record, 1
		// before), then zeros.
		i := len(plain) - 1
		for i >= 0 && plain[i] == 0 {
			i--
		}
		last := len(content) == 0
		switch {
		case i < 0:
			return nil, errors.New("record without a padding delimiter")
		case last && plain[i] != 2, !last && plain[i] != 1:
			return nil, errors.New("wrong padding delimiter")
		}
		out = append(out, plain[:i]...)
	}
	return out, nil
}
