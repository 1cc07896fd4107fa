package app_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// BenchmarkColdStart builds the binary, then starts it b.N times on a fresh
// SQLite data directory and measures the time until /readyz answers 200 and
// the resident memory after start. Run: go test -run '^$' -bench ColdStart ./app/
func BenchmarkColdStart(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "latchkey")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/latchkey").CombinedOutput()
	require.NoError(b, err, "%s", out)
	var starts []time.Duration
	var rss []int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, kb := startOnce(b, bin)
		starts = append(starts, d)
		rss = append(rss, kb)
	}
	b.StopTimer()
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	sort.Ints(rss)
	med := starts[len(starts)/2]
	b.ReportMetric(float64(med.Microseconds())/1000, "ms-to-ready")
	b.ReportMetric(float64(rss[len(rss)/2])/1024, "MB-RSS")
	fmt.Printf("cold start to ready (SQLite, fresh data dir, migrations included): median %s over %d starts (min %s, max %s)\n",
		med.Round(time.Millisecond), len(starts), starts[0].Round(time.Millisecond), starts[len(starts)-1].Round(time.Millisecond))
	fmt.Printf("memory after start: median RSS %.1f MB (max %.1f MB)\n", float64(rss[len(rss)/2])/1024, float64(rss[len(rss)-1])/1024)
}

func startOnce(b *testing.B, bin string) (time.Duration, int) {
	dir := b.TempDir()
	port := freePort(b)
	cmd := exec.Command(bin, "--addr", "127.0.0.1:"+strconv.Itoa(port), "--data-dir", dir, "--log-level", "error")
	cmd.Env = append(os.Environ(), "LATCHKEY_MASTER_KEY=k1:"+strings.Repeat("A", 43)+"=")
	start := time.Now()
	require.NoError(b, cmd.Start())
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
	for {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(start) > 20*time.Second {
			b.Fatalf("server did not become ready")
		}
		time.Sleep(2 * time.Millisecond)
	}
	d := time.Since(start)
	time.Sleep(200 * time.Millisecond) // let River's start-up settle before reading memory
	return d, rssKB(b, cmd.Process.Pid)
}

func rssKB(b *testing.B, pid int) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(b, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(sc.Text())[1])
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

func freePort(b *testing.B) int {
	l, err := netListen()
	require.NoError(b, err)
	defer l.Close()
	return l.Addr().(*netTCPAddr).Port
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// BenchmarkSignIn measures sign-in (password check with Argon2id, session
// renewal, audit row) at 32 concurrent clients, against /healthz in the same
// run, on each database. Run: go test -run '^$' -bench SignIn -benchtime 1x ./app/
func BenchmarkSignIn(b *testing.B) {
	for _, dia := range dbtest.Dialects {
		b.Run(string(dia), func(b *testing.B) { benchSignIn(b, dia) })
	}
}

func benchSignIn(b *testing.B, dia db.Dialect) {
	env := apptest.New(b, dia)
	f := env.Setup("Bench MSP")
	const clients = 32
	logins := make([]*login.Login, clients)
	for i := range logins {
		logins[i] = env.CreateLogin(f, login.RoleTechnician, fmt.Sprintf("tech%02d@bench.example", i))
	}
	perClient := 20 * max(1, b.N)
	b.ResetTimer()
	health := load(b, env.URL, clients, perClient, func(c *http.Client, _ int) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, env.URL+"/healthz", nil)
	}, nil)
	signin := load(b, env.URL, clients, perClient, func(c *http.Client, i int) (*http.Request, error) {
		return nil, nil
	}, logins)
	b.StopTimer()
	b.ReportMetric(signin.rps, "signin-req/s")
	b.ReportMetric(float64(signin.p95.Microseconds())/1000, "signin-p95-ms")
	b.ReportMetric(health.rps, "healthz-req/s")
	fmt.Printf("[%s] 32 concurrent clients: sign-in %.0f req/s, p50 %s, p95 %s (%d requests); /healthz %.0f req/s, p50 %s, p95 %s (%d requests)\n",
		dia, signin.rps, signin.p50, signin.p95, signin.n, health.rps, health.p50, health.p95, health.n)
}

type loadResult struct {
	n        int
	rps      float64
	p50, p95 time.Duration
	bytes    int // body bytes per request (gridLoad)
}

// load runs `clients` goroutines, each sending perClient requests; with
// logins set, each goroutine signs in as its own login (GET the form for the
// CSRF token once, then POST /signin repeatedly).
func load(b *testing.B, base string, clients, perClient int, mk func(*http.Client, int) (*http.Request, error), logins []*login.Login) loadResult {
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < clients; w++ {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 60 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		var form url.Values
		if logins != nil {
			res, err := c.Get(base + "/signin")
			require.NoError(b, err)
			body := readAll(res)
			m := csrfField.FindStringSubmatch(body)
			require.NotNil(b, m)
			form = url.Values{"_csrf": {m[1]}, "email": {logins[w].Email}, "password": {apptest.Password}}
		}
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			local := make([]time.Duration, 0, perClient)
			for i := 0; i < perClient; i++ {
				var req *http.Request
				var err error
				if logins != nil {
					req, err = http.NewRequestWithContext(context.Background(), http.MethodPost, base+"/signin", strings.NewReader(form.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				} else {
					req, err = mk(c, i)
				}
				if err != nil {
					b.Error(err)
					return
				}
				t0 := time.Now()
				res, err := c.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				readAll(res)
				if logins != nil && res.StatusCode != http.StatusSeeOther {
					b.Errorf("sign-in answered %d", res.StatusCode)
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	el := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		b.Fatal("no requests completed")
	}
	return loadResult{n: len(lat), rps: float64(len(lat)) / el.Seconds(), p50: lat[len(lat)/2].Round(time.Microsecond), p95: lat[len(lat)*95/100].Round(time.Microsecond)}
}

func readAll(res *http.Response) string {
	defer res.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}
