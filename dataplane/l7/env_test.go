package l7

import (
	"context"
	"crypto/tls"
	"fmt"
	"github.com/fulcrumlb/fulcrum/internal/testutil"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/dataplane/proxy"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
	"github.com/fulcrumlb/fulcrum/translator"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(childBackendEnv); addr != "" {
		runChildBackend(addr)
		return
	}
	goleak.VerifyTestMain(m)
}

// env is a real proxy (proxy.New + Apply) with this package's factory,
// configured from YAML the way the standalone proxy is.
type env struct {
	t       testing.TB
	f       *Factory
	p       *proxy.Proxy
	reg     *prometheus.Registry
	version int
	cancel  context.CancelFunc
	done    chan struct{}
}

func newEnv(t *testing.T, yaml string) *env { return newBenchEnv(t, yaml) }

func newBenchEnv(t testing.TB, yaml string) *env {
	t.Helper()
	e := &env{t: t, reg: prometheus.NewRegistry(), done: make(chan struct{})}
	var err error
	e.p, err = proxy.New(proxy.Options{CheckHealth: true, Registerer: e.reg,
		NewFactories: func(deps runtime.Deps, ups *upstream.Manager) ([]runtime.ServerFactory, error) {
			f, err := NewFactoryWithOptions(Options{Deps: deps, Upstreams: ups})
			e.f = f
			return []runtime.ServerFactory{f}, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { defer close(e.done); e.p.Run(ctx) }()
	t.Cleanup(e.stop)
	if yaml != "" {
		e.apply(yaml)
	}
	return e
}

func (e *env) stop() {
	e.cancel()
	<-e.done
}

func (e *env) apply(yaml string) {
	e.t.Helper()
	if err := e.tryApply(yaml); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) tryApply(yaml string) error {
	l, errs := api.Load([]api.Input{{Name: "t.yaml", Data: []byte(yaml)}}, api.ValidateOptions{})
	if len(errs) > 0 {
		return fmt.Errorf("invalid test configuration: %v", errs)
	}
	res, err := translator.Translate(l.Config, translator.Options{ActiveHealthChecks: true, DefaultAddress: "127.0.0.1"})
	if err != nil {
		return err
	}
	e.version++
	return e.p.Apply(fmt.Sprint(e.version), res)
}

func freePort(t testing.TB) int {
	t.Helper()
	return testutil.FreePort(t)
}

// testBackend is a real HTTP server on 127.0.0.1:0 that answers with its name
// and records what it saw.
type testBackend struct {
	name  string
	addr  string
	srv   *http.Server
	hits  atomic.Int64
	mu    sync.Mutex
	last  *http.Request
	delay atomic.Int64 // nanoseconds to sleep per request

	// quit cuts short the delay of handlers still running when the test
	// ends, and running counts them, so that cleanup leaves no goroutine
	// behind for goleak to find.
	quit    chan struct{}
	running sync.WaitGroup
	closed  bool // guarded by mu
}

func newTestBackend(t *testing.T, name string, h http.HandlerFunc) *testBackend {
	t.Helper()
	b := &testBackend{name: name, quit: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(200)
			return
		}
		// Add happens under mu and only before cleanup sets closed, so it
		// is ordered before cleanup's Wait, as WaitGroup requires.
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return
		}
		b.running.Add(1)
		b.mu.Unlock()
		defer b.running.Done()
		b.hits.Add(1)
		b.mu.Lock()
		b.last = r.Clone(context.Background())
		b.mu.Unlock()
		if d := b.delay.Load(); d > 0 {
			select {
			case <-time.After(time.Duration(d)):
			case <-b.quit:
			}
		}
		if h != nil {
			h(w, r)
			return
		}
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Backend", name)
		io.WriteString(w, name)
	}), ErrorLog: nil}
	go b.srv.Serve(ln)
	t.Cleanup(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		close(b.quit)
		b.srv.Close()
		b.running.Wait()
	})
	return b
}

func (b *testBackend) lastRequest() *http.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// client returns an HTTP/1.1 keep-alive client that talks to the proxy
// directly (no environment proxy).
func client() *http.Client {
	return &http.Client{
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, DisableCompression: true,
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func closeClient(c *http.Client) { c.Transport.(*http.Transport).CloseIdleConnections() }

func get(t *testing.T, c *http.Client, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// poolYAML is a pool with an http frontend on port and the given members.
func poolYAML(name string, port int, extra string, members ...string) string {
	var ms []string
	for _, m := range members {
		ms = append(ms, fmt.Sprintf("{address: %q}", m))
	}
	fe := ""
	if port > 0 {
		fe = fmt.Sprintf("  frontend: {port: %d, protocol: http}\n", port)
	}
	hc := "  healthCheck: {type: none}\n"
	if strings.Contains(extra, "healthCheck:") {
		hc = ""
	}
	return fmt.Sprintf("apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: %s}\nspec:\n%s  members: [%s]\n%s%s---\n",
		name, fe, strings.Join(ms, ", "), hc, extra)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func itoa(n int) string { return fmt.Sprint(n) }

func runtimeSocket(ln net.Listener) runtime.Socket { return runtime.Socket{Stream: ln} }

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func mustTime() time.Time { return time.Now() }
