// Package smtptest is a small SMTP server for tests. It speaks enough of
// RFC 5321 for real clients (go-mail): EHLO/HELO, STARTTLS (RFC 3207) with a
// self-signed certificate made in memory, or implicit TLS, AUTH PLAIN and
// LOGIN (RFC 4954), MAIL, RCPT, DATA, RSET, NOOP and QUIT. It records every
// accepted message and can be told to refuse the next messages with a 451.
package smtptest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a Server.
type Options struct {
	// NoSTARTTLS stops the server from offering STARTTLS.
	NoSTARTTLS bool
	// ImplicitTLS makes the server speak TLS from the first byte (port 465 style).
	ImplicitTLS bool
	// Username and Password, when set, are required (AUTH PLAIN or LOGIN)
	// before MAIL. AUTH is offered only over TLS, as real servers do.
	Username, Password string
	// AuthMechanisms are the AUTH mechanisms offered (default PLAIN and LOGIN).
	AuthMechanisms []string
}

// Message is one accepted message.
type Message struct {
	From string
	To   []string
	Data []byte // as received, CRLF line endings, dot-stuffing removed
	Auth string // the user that authenticated ("" for none)
	TLS  bool   // whether the session was encrypted
}

// Server is a running test SMTP server.
type Server struct {
	opts Options
	ln   net.Listener
	tls  *tls.Config
	// Addr is host:port, Host and Port its parts.
	Addr string
	Host string
	Port int

	mu       sync.Mutex
	msgs     []Message
	failNext int
	wg       sync.WaitGroup
	conns    map[net.Conn]bool
	closed   bool
}

// New starts a server on 127.0.0.1:0 and stops it when tb ends.
func New(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := Start(opts)
	if err != nil {
		tb.Fatalf("smtptest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Start starts a server on 127.0.0.1:0.
func Start(opts Options) (*Server, error) {
	cert, err := selfSigned()
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if opts.ImplicitTLS {
		ln = tls.NewListener(ln, cfg)
	}
	addr := ln.Addr().(*net.TCPAddr)
	s := &Server{opts: opts, ln: ln, tls: cfg, Addr: addr.String(), Host: addr.IP.String(), Port: addr.Port, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Close stops the server and waits for its sessions to end.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	_ = s.ln.Close()
	s.wg.Wait()
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// FailNext makes the server answer the next n messages' data with
// "451 4.3.0" (a temporary failure) instead of accepting them.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	s.failNext = n
	s.mu.Unlock()
}

// CertPool returns a pool that trusts the server's certificate.
func (s *Server) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	leaf, err := x509.ParseCertificate(s.tls.Certificates[0].Certificate[0])
	if err == nil {
		pool.AddCert(leaf)
	}
	return pool
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			sess := &session{s: s, conn: c, tls: s.opts.ImplicitTLS}
			sess.run()
			s.mu.Lock()
			delete(s.conns, sess.conn)
			delete(s.conns, c)
			s.mu.Unlock()
			_ = sess.conn.Close()
		}()
	}
}

// session is one SMTP connection.
type session struct {
	s    *Server
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	tls  bool
	ehlo bool
	user string
	from string
	to   []string
	mail bool
}

const maxLine = 4096

func (ss *session) reply(format string, args ...any) error {
	fmt.Fprintf(ss.w, format+"\r\n", args...)
	return ss.w.Flush()
}

func (ss *session) readLine() (string, error) {
	_ = ss.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var b []byte
	for {
		part, more, err := ss.r.ReadLine()
		if err != nil {
			return "", err
		}
		b = append(b, part...)
		if len(b) > maxLine {
			return "", errors.New("line too long")
		}
		if !more {
			return string(b), nil
		}
	}
}

func (ss *session) resetTx() { ss.from, ss.to, ss.mail = "", nil, false }

func (ss *session) authRequired() bool { return ss.s.opts.Username != "" }

func (ss *session) offerSTARTTLS() bool { return !ss.tls && !ss.s.opts.NoSTARTTLS }

func (ss *session) run() {
	ss.r = bufio.NewReader(ss.conn)
	ss.w = bufio.NewWriter(ss.conn)
	if ss.reply("220 localhost ESMTP smtptest ready") != nil {
		return
	}
	for {
		line, err := ss.readLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			ss.ehlo = true
			ss.resetTx()
			ext := []string{"localhost greets " + arg, "8BITMIME", "SIZE 10485760", "ENHANCEDSTATUSCODES"}
			if ss.offerSTARTTLS() {
				ext = append(ext, "STARTTLS")
			}
			if ss.authRequired() && ss.tls {
				mechs := ss.s.opts.AuthMechanisms
				if len(mechs) == 0 {
					mechs = []string{"PLAIN", "LOGIN"}
				}
				ext = append(ext, "AUTH "+strings.Join(mechs, " "))
			}
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				fmt.Fprintf(ss.w, "250%s%s\r\n", sep, e)
			}
			err = ss.w.Flush()
		case "HELO":
			ss.ehlo = true
			ss.resetTx()
			err = ss.reply("250 localhost")
		case "STARTTLS":
			if !ss.offerSTARTTLS() {
				err = ss.reply("502 5.5.1 STARTTLS not available")
				break
			}
			if err = ss.reply("220 2.0.0 Ready to start TLS"); err != nil {
				return
			}
			tc := tls.Server(ss.conn, ss.s.tls)
			_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
			if err := tc.Handshake(); err != nil {
				return
			}
			_ = tc.SetDeadline(time.Time{})
			ss.s.mu.Lock()
			ss.s.conns[tc] = true
			ss.s.mu.Unlock()
			ss.conn, ss.tls = tc, true
			ss.r, ss.w = bufio.NewReader(tc), bufio.NewWriter(tc)
			// RFC 3207: forget everything learnt before TLS.
			ss.ehlo, ss.user = false, ""
			ss.resetTx()
		case "AUTH":
			err = ss.auth(arg)
		case "MAIL":
			switch {
			case !ss.ehlo:
				err = ss.reply("503 5.5.1 EHLO first")
			case ss.authRequired() && ss.user == "":
				err = ss.reply("530 5.7.0 Authentication required")
			case !strings.HasPrefix(strings.ToUpper(arg), "FROM:"):
				err = ss.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
			default:
				ss.resetTx()
				ss.from, ss.mail = path(arg[5:]), true
				err = ss.reply("250 2.1.0 OK")
			}
		case "RCPT":
			switch {
			case !ss.mail:
				err = ss.reply("503 5.5.1 MAIL first")
			case !strings.HasPrefix(strings.ToUpper(arg), "TO:"):
				err = ss.reply("501 5.5.4 Syntax: RCPT TO:<address>")
			default:
				ss.to = append(ss.to, path(arg[3:]))
				err = ss.reply("250 2.1.5 OK")
			}
		case "DATA":
			if !ss.mail || len(ss.to) == 0 {
				err = ss.reply("503 5.5.1 MAIL and RCPT first")
				break
			}
			err = ss.data()
		case "RSET":
			ss.resetTx()
			err = ss.reply("250 2.0.0 OK")
		case "NOOP":
			err = ss.reply("250 2.0.0 OK")
		case "QUIT":
			_ = ss.reply("221 2.0.0 Bye")
			return
		default:
			err = ss.reply("502 5.5.2 Command not recognised")
		}
		if err != nil {
			return
		}
	}
}

// path returns the address inside <…> of a MAIL FROM or RCPT TO argument,
// ignoring any parameters after it (BODY=8BITMIME, SIZE=…).
func path(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "<"); i >= 0 {
		if j := strings.Index(s[i:], ">"); j >= 0 {
			return s[i+1 : i+j]
		}
	}
	addr, _, _ := strings.Cut(s, " ")
	return addr
}

func (ss *session) auth(arg string) error {
	switch {
	case !ss.authRequired() || !ss.tls:
		return ss.reply("502 5.5.1 AUTH not available")
	case ss.user != "":
		return ss.reply("503 5.5.1 Already authenticated")
	}
	mech, initial, _ := strings.Cut(arg, " ")
	if m := ss.s.opts.AuthMechanisms; len(m) > 0 && !slices.Contains(m, strings.ToUpper(mech)) {
		return ss.reply("504 5.5.4 Unrecognised authentication type")
	}
	var user, pass string
	switch strings.ToUpper(mech) {
	case "PLAIN":
		if initial == "" {
			if err := ss.reply("334 "); err != nil {
				return err
			}
			line, err := ss.readLine()
			if err != nil {
				return err
			}
			initial = line
		}
		raw, err := base64.StdEncoding.DecodeString(initial)
		if err != nil {
			return ss.reply("501 5.5.2 Cannot decode response")
		}
		parts := strings.Split(string(raw), "\x00")
		if len(parts) != 3 {
			return ss.reply("501 5.5.2 Bad PLAIN response")
		}
		user, pass = parts[1], parts[2]
	case "LOGIN":
		var vals []string
		for _, prompt := range []string{"Username:", "Password:"} {
			if len(vals) == 0 && initial != "" {
				b, err := base64.StdEncoding.DecodeString(initial)
				if err != nil {
					return ss.reply("501 5.5.2 Cannot decode response")
				}
				vals = append(vals, string(b))
				continue
			}
			if err := ss.reply("334 %s", base64.StdEncoding.EncodeToString([]byte(prompt))); err != nil {
				return err
			}
			line, err := ss.readLine()
			if err != nil {
				return err
			}
			b, err := base64.StdEncoding.DecodeString(line)
			if err != nil {
				return ss.reply("501 5.5.2 Cannot decode response")
			}
			vals = append(vals, string(b))
		}
		user, pass = vals[0], vals[1]
	default:
		return ss.reply("504 5.5.4 Unrecognised authentication type")
	}
	if user != ss.s.opts.Username || pass != ss.s.opts.Password {
		return ss.reply("535 5.7.8 Authentication credentials invalid")
	}
	ss.user = user
	return ss.reply("235 2.7.0 Authentication successful")
}

func (ss *session) data() error {
	if err := ss.reply("354 End data with <CR><LF>.<CR><LF>"); err != nil {
		return err
	}
	var buf bytes.Buffer
	for {
		_ = ss.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := ss.r.ReadString('\n')
		if err != nil {
			return err
		}
		if line == ".\r\n" || line == ".\n" {
			break
		}
		if strings.HasPrefix(line, ".") {
			line = line[1:]
		}
		buf.WriteString(line)
		if buf.Len() > 10<<20 {
			return ss.reply("552 5.3.4 Message too big")
		}
	}
	s := ss.s
	s.mu.Lock()
	fail := s.failNext > 0
	if fail {
		s.failNext--
	} else {
		s.msgs = append(s.msgs, Message{From: ss.from, To: append([]string(nil), ss.to...), Data: buf.Bytes(), Auth: ss.user, TLS: ss.tls})
	}
	s.mu.Unlock()
	ss.resetTx()
	if fail {
		return ss.reply("451 4.3.0 Temporary failure, try again later")
	}
	return ss.reply("250 2.0.0 OK queued")
}

// selfSigned makes an ECDSA certificate for 127.0.0.1 and localhost, valid
// for a day, with a random positive serial number.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	serial.Add(serial, big.NewInt(1)) // positive, never zero
	tpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// Parsed is a message's headers and decoded text and HTML parts.
type Parsed struct {
	Header mail.Header
	// Subject is the decoded Subject header.
	Subject string
	Text    string
	HTML    string
}

// Parse decodes the message: headers, and the text/plain and text/html
// parts (of a multipart/alternative or a single-part body), with their
// transfer encodings undone and line endings as "\n".
func (m Message) Parse() (*Parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return nil, err
	}
	p := &Parsed{Header: msg.Header}
	dec := new(mime.WordDecoder)
	if p.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return nil, err
	}
	ct := msg.Header.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	if err := p.walk(ct, msg.Header.Get("Content-Transfer-Encoding"), msg.Body); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Parsed) walk(contentType, cte string, body io.Reader) error {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return err
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			pct := part.Header.Get("Content-Type")
			if pct == "" {
				pct = "text/plain"
			}
			if err := p.walk(pct, part.Header.Get("Content-Transfer-Encoding"), part); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(cte) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, &lineJoiner{r: body})
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	switch mt {
	case "text/plain":
		p.Text += text
	case "text/html":
		p.HTML += text
	}
	return nil
}

// lineJoiner drops CR and LF so that base64 bodies decode.
type lineJoiner struct{ r io.Reader }

func (l *lineJoiner) Read(b []byte) (int, error) {
	n, err := l.r.Read(b)
	j := 0
	for _, c := range b[:n] {
		if c != '\r' && c != '\n' {
			b[j] = c
			j++
		}
	}
	return j, err
}
