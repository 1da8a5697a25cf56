package xds

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fulcrumlb/fulcrum/dataplane/proxy"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/xdsclient"
	"github.com/fulcrumlb/fulcrum/internal/testutil/xdstest"
	"github.com/fulcrumlb/fulcrum/translator"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startServer serves an ADS server on 127.0.0.1:0 (or on addr) until the
// test ends; it returns the server and its address.
func startServer(t testing.TB, opts Options, addr string) (*Server, string) {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if opts.Replica == "" {
		opts.Replica = "cp-test"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Serve(lis); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { s.Stop(); wg.Wait() })
	return s, lis.Addr().String()
}

// fastBackoff keeps reconnection tests short.
var fastBackoff = xdsclient.Backoff{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond}

// startClient runs an xDS client for node until the test ends (or until
// the returned stop is called).
func startClient(t testing.TB, addr, node, zone string, apply xdsclient.ApplyFunc, tune func(*xdsclient.Options)) (c *xdsclient.Client, stop func()) {
	t.Helper()
	opts := xdsclient.Options{Address: addr, Node: node, Zone: zone, Build: "test-build", Apply: apply, Backoff: fastBackoff}
	if tune != nil {
		tune(&opts)
	}
	c, err := xdsclient.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return c, stop
}

// newProxy returns a real data-plane proxy whose servers bind sockets but
// serve nothing.
func newProxy(t testing.TB) *proxy.Proxy {
	t.Helper()
	p, err := proxy.New(proxy.Options{Factories: []runtime.ServerFactory{&xdstest.Factory{}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown(context.Background()) })
	return p
}

// recorder is a trivial Apply that remembers what it was given.
type recorder struct {
	mu    sync.Mutex
	calls []call
}

type call struct {
	version string
	res     *translator.Resources
}

func (r *recorder) apply(version string, res *translator.Resources) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{version, res})
	return nil
}

func (r *recorder) last() (int, call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) == 0 {
		return 0, call{}
	}
	return len(r.calls), r.calls[len(r.calls)-1]
}

// waitFor waits until every named node has acknowledged version.
func waitFor(t testing.TB, s *Server, version string, nodes ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.WaitForVersion(ctx, version, nodes...); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or 10 s have passed.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func proxyStatus(s *Server, node string) (ProxyStatus, bool) {
	for _, p := range s.Proxies() {
		if p.Node == node {
			return p, true
		}
	}
	return ProxyStatus{}, false
}
