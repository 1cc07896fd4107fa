// Package agentrun is latchkey-agent, the program that runs at a customer
// site: it enrols once with an install token, then long-polls the Latchkey
// server for directory tasks, carries them out against the local Active
// Directory and posts the results. It only makes outbound HTTPS requests.
package agentrun

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/app/agent/wire"
)

// Version is the agent's version, reported to the server.
var Version = "1.0.0"

// ErrRevoked means the server refused the credential: the agent was revoked
// (or its state file belongs to another server).
var ErrRevoked = errors.New("the Latchkey server refused this agent's credential: it was revoked or removed; enrol again with a new install token")

// ServerOptions say how to reach the server.
type ServerOptions struct {
	// CAFile: a PEM file of CA certificates to trust besides the system's.
	CAFile string
}

// checkServerURL allows https, and http only to this machine (for tests and
// a server on the same host).
func checkServerURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(raw), "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--server: not a URL: %q", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		host := u.Hostname()
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("--server: use https:// (plain http is only allowed to this machine)")
		}
	default:
		return nil, fmt.Errorf("--server: use https://")
	}
	u.Path, u.RawQuery, u.Fragment = "", "", ""
	return u, nil
}

// client talks to the server.
type client struct {
	base *url.URL
	http *http.Client
	cred string
}

func newClient(server, cred string, o ServerOptions) (*client, error) {
	u, err := checkServerURL(server)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file: no PEM certificates in %s", o.CAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	// The long poll holds a request open for wire.Wait; leave headroom.
	return &client{base: u, http: &http.Client{Transport: tr, Timeout: wire.Wait + 20*time.Second}, cred: cred}, nil
}

// statusError is an HTTP error from the server.
type statusError struct {
	Status int
	Msg    string
}

func (e *statusError) Error() string { return fmt.Sprintf("server answered %d: %s", e.Status, e.Msg) }

func (c *client) do(ctx context.Context, path string, body io.Reader, header http.Header, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.String()+path, body)
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set(wire.ProtocolHeader, wire.Version)
	req.Header.Set("User-Agent", "latchkey-agent/"+Version)
	if c.cred != "" {
		req.Header.Set("Authorization", "Bearer "+c.cred)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return resp.StatusCode, ErrRevoked
	case resp.StatusCode == http.StatusNoContent:
		return resp.StatusCode, nil
	case resp.StatusCode >= 300:
		var e wire.ErrorResponse
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		return resp.StatusCode, &statusError{Status: resp.StatusCode, Msg: e.Error}
	}
	if out != nil {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("reading the server's answer: %w", err)
		}
	}
	return resp.StatusCode, nil
}

func (c *client) postJSON(ctx context.Context, path string, in, out any) (int, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	return c.do(ctx, path, bytes.NewReader(b), http.Header{"Content-Type": {"application/json"}}, out)
}

func (c *client) poll(ctx context.Context, req wire.PollRequest, wait time.Duration) (*wire.PollResponse, error) {
	path := wire.PathPoll
	if wait < wire.Wait {
		path += "?wait_ms=" + strconv.Itoa(int(wait/time.Millisecond))
	}
	resp := new(wire.PollResponse)
	status, err := c.postJSON(ctx, path, req, resp)
	if err != nil {
		return nil, err
	}
	if status == http.StatusNoContent {
		return &wire.PollResponse{}, nil
	}
	return resp, nil
}

func (c *client) result(ctx context.Context, id string, res *wire.Result) error {
	_, err := c.postJSON(ctx, wire.PathTasks+url.PathEscape(id)+"/result", res, nil)
	return err
}

// uploadUsers streams users as gzip NDJSON while produce writes them.
func (c *client) uploadUsers(ctx context.Context, id string, produce func(emit func(wire.User) error) error) (int, error) {
	pr, pw := io.Pipe()
	count := 0
	produced := make(chan error, 1)
	go func() {
		zw, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
		enc := json.NewEncoder(zw)
		err := produce(func(u wire.User) error {
			count++
			return enc.Encode(u)
		})
		if err == nil {
			err = zw.Close()
		}
		produced <- err
		pw.CloseWithError(err)
	}()
	var out struct {
		Users int `json:"users"`
	}
	_, err := c.do(ctx, wire.PathTasks+url.PathEscape(id)+"/users", pr,
		http.Header{"Content-Type": {"application/x-ndjson"}, "Content-Encoding": {"gzip"}}, &out)
	_ = pr.CloseWithError(errors.New("upload ended"))
	if perr := <-produced; perr != nil {
		return 0, perr // the directory failed: that is the task's error
	}
	if err != nil {
		return 0, err
	}
	if out.Users != count {
		return 0, fmt.Errorf("the server received %d users of %d", out.Users, count)
	}
	return count, nil
}
