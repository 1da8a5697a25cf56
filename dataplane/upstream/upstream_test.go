package upstream

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fulcrumlb/fulcrum/balancer"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/health"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func cluster(name, algo string, addrs ...string) *runtime.Cluster {
	c := &runtime.Cluster{
		Name:           name,
		Balancer:       balancer.Config{Algorithm: algo},
		ConnectTimeout: time.Second,
		Circuit:        runtime.CircuitBreaker{MaxConnections: 100, MaxPendingRequests: 100, MaxRequests: 100, MaxRetries: 3, RetryBudgetPercent: -1},
		Outlier:        runtime.OutlierDetection{Consecutive5xx: 3, Interval: time.Second, BaseEjectionTime: 10 * time.Second, MaxEjectionTime: 60 * time.Second, MaxEjectionPercent: 50},
	}
	for _, a := range addrs {
		c.Members = append(c.Members, runtime.Member{Address: a, Weight: 1})
	}
	return c
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newManager(t *testing.T, opts Options) *Manager {
	t.Helper()
	m, err := NewManager(opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func pickAll(t *testing.T, c *Cluster, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		p, err := c.Pick(&balancer.PickInfo{})
		if err != nil {
			t.Fatal(err)
		}
		got[p.Member.Address]++
		p.Done(Outcome{Status: 200})
	}
	return got
}

func TestUpdateKeepsLiveMembers(t *testing.T) {
	m := newManager(t, Options{})
	if err := m.Update(map[string]*runtime.Cluster{"web": cluster("web", "round_robin", "10.0.0.1:80", "10.0.0.2:80")}); err != nil {
		t.Fatal(err)
	}
	c := m.Cluster("web")
	first := c.Members()[0]
	pickAll(t, c, 10)
	if err := m.Update(map[string]*runtime.Cluster{"web": cluster("web", "least_request", "10.0.0.1:80", "10.0.0.3:80")}); err != nil {
		t.Fatal(err)
	}
	if m.Cluster("web") != c {
		t.Fatal("cluster object replaced; live state lost")
	}
	if got := c.Members()[0]; got != first || got.requests.Load() != 5 {
		t.Errorf("member 10.0.0.1 not carried over: %p vs %p, requests %d", got, first, got.requests.Load())
	}
	if got := pickAll(t, c, 10); got["10.0.0.2:80"] != 0 || got["10.0.0.3:80"] == 0 {
		t.Errorf("picks after update: %v", got)
	}
	if err := m.Update(map[string]*runtime.Cluster{}); err != nil {
		t.Fatal(err)
	}
	if m.Cluster("web") != nil || !first.Removed() {
		t.Error("removed cluster still live")
	}
}

func TestRejectedUpdateChangesNothing(t *testing.T) {
	m := newManager(t, Options{})
	good := cluster("web", "round_robin", "10.0.0.1:80")
	if err := m.Update(map[string]*runtime.Cluster{"web": good}); err != nil {
		t.Fatal(err)
	}
	bad := cluster("web", "maglev", "10.0.0.1:80", "10.0.0.9:80")
	bad.Balancer.MaglevTableSize = 65536 // not prime
	other := cluster("api", "round_robin", "10.0.1.1:80")
	err := m.Update(map[string]*runtime.Cluster{"web": bad, "api": other})
	if err == nil {
		t.Fatal("invalid maglev table accepted")
	}
	if m.Cluster("api") != nil {
		t.Error("part of a rejected update was applied")
	}
	if got := m.Cluster("web").Config(); got != good || len(m.Cluster("web").Members()) != 1 {
		t.Error("rejected update changed the running cluster")
	}
}

// TestOutlierEjection runs the Run loop with a fake clock: consecutive
// errors eject a member, the ejection doubles on the second offence, and the
// member returns when its time is up.
func TestOutlierEjection(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	m := newManager(t, Options{Now: clk.Now})
	if err := m.Update(map[string]*runtime.Cluster{"web": cluster("web", "round_robin", "10.0.0.1:80", "10.0.0.2:80")}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	c := m.Cluster("web")
	bad := c.Members()[0]
	fail := func() {
		for i := 0; i < 3; i++ {
			p, ok := c.Lookup(bad.Address)
			if !ok {
				t.Fatal("lookup failed")
			}
			p.Done(Outcome{Status: 503})
		}
	}
	fail()
	waitFor(t, func() bool { h, _ := bad.Health(clk.Now()); return h == balancer.Unhealthy })
	if got := pickAll(t, c, 20); got[bad.Address] != 0 {
		t.Errorf("ejected member still picked: %v", got)
	}
	clk.Add(11 * time.Second)
	m.wake()
	waitFor(t, func() bool { return bad.ejectedUntil.Load() == 0 })
	if got := pickAll(t, c, 20); got[bad.Address] != 10 {
		t.Errorf("member not back in rotation: %v", got)
	}
	fail()
	waitFor(t, func() bool { return bad.ejectedUntil.Load() != 0 })
	if d := time.Duration(bad.ejectedUntil.Load() - clk.Now().UnixNano()); d != 20*time.Second {
		t.Errorf("second ejection lasts %v, want 20s (base × 2)", d)
	}
}

// TestMaxEjectionPercent: with 50 %, only one of two members may be ejected.
func TestMaxEjectionPercent(t *testing.T) {
	m := newManager(t, Options{})
	cfg := cluster("web", "round_robin", "10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80")
	if err := m.Update(map[string]*runtime.Cluster{"web": cfg}); err != nil {
		t.Fatal(err)
	}
	c := m.Cluster("web")
	for _, lm := range c.Members() {
		m.eject(lm)
	}
	n := 0
	for _, lm := range c.Members() {
		if lm.ejectedUntil.Load() != 0 {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d of 4 members ejected; maxEjectionPercent 50 allows 2", n)
	}
}

func TestCircuitBreakers(t *testing.T) {
	m := newManager(t, Options{})
	cfg := cluster("web", "round_robin", "10.0.0.1:80")
	cfg.Circuit = runtime.CircuitBreaker{MaxRequests: 2, MaxConnections: 1, MaxPendingRequests: 1, MaxRetries: 1, RetryBudgetPercent: -1}
	if err := m.Update(map[string]*runtime.Cluster{"web": cfg}); err != nil {
		t.Fatal(err)
	}
	c := m.Cluster("web")
	for i, want := range []bool{true, true, false} {
		if ok, reason := c.AcquireRequest(); ok != want || !ok && reason != OverloadMaxRequests {
			t.Errorf("request %d: ok=%v reason=%q", i, ok, reason)
		}
	}
	c.ReleaseRequest()
	if ok, _ := c.AcquireRequest(); !ok {
		t.Error("slot not returned")
	}
	if ok, _ := c.AcquireConnection(); !ok {
		t.Error("first connection refused")
	}
	if ok, reason := c.AcquireConnection(); ok || reason != OverloadMaxConnections {
		t.Errorf("second connection: %v %q", ok, reason)
	}
	if ok, _ := c.AcquireRetry(); !ok {
		t.Error("first retry refused")
	}
	if ok, reason := c.AcquireRetry(); ok || reason != OverloadMaxRetries {
		t.Errorf("second retry: %v %q", ok, reason)
	}
}

// TestRetryBudget: 20 % of active requests, at least 3.
func TestRetryBudget(t *testing.T) {
	m := newManager(t, Options{})
	cfg := cluster("web", "round_robin", "10.0.0.1:80")
	cfg.Circuit = runtime.CircuitBreaker{MaxRequests: 1000, MaxRetries: 1000, RetryBudgetPercent: 20, RetryBudgetMin: 3}
	if err := m.Update(map[string]*runtime.Cluster{"web": cfg}); err != nil {
		t.Fatal(err)
	}
	c := m.Cluster("web")
	for range 50 {
		c.AcquireRequest()
	}
	n := 0
	for range 20 {
		if ok, _ := c.AcquireRetry(); ok {
			n++
		}
	}
	if n != 10 {
		t.Errorf("%d retries allowed with 50 active requests; want 10 (20%%)", n)
	}
}

// TestActiveHealthChecks uses a real checker against real sockets: a member
// whose port refuses connections leaves rotation, and comes back when it
// listens again.
func TestActiveHealthChecks(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go acceptAll(up)
	down, _ := net.Listen("tcp", "127.0.0.1:0")
	downAddr := down.Addr().String()
	down.Close()

	checker, err := health.New(health.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); checker.Run(ctx) }()
	m := newManager(t, Options{Checker: checker})
	go func() { defer wg.Done(); m.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	cfg := cluster("web", "round_robin", up.Addr().String(), downAddr)
	cfg.HealthCheck = &health.Config{Type: health.TypeTCP, Interval: 50 * time.Millisecond, Timeout: 200 * time.Millisecond, Rise: 1, Fall: 1}
	if err := m.Update(map[string]*runtime.Cluster{"web": cfg}); err != nil {
		t.Fatal(err)
	}
	c := m.Cluster("web")
	dead := c.Members()[1]
	waitFor(t, func() bool { h, _ := dead.Health(time.Now()); return h == balancer.Unhealthy })
	if _, reason := dead.Health(time.Now()); reason == "" {
		t.Error("unhealthy member has no reason")
	}
	if got := pickAll(t, c, 10); got[downAddr] != 0 {
		t.Errorf("unhealthy member picked: %v", got)
	}
	again, err := net.Listen("tcp", downAddr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", downAddr, err)
	}
	defer again.Close()
	go acceptAll(again)
	waitFor(t, func() bool { h, _ := dead.Health(time.Now()); return h == balancer.Healthy })
	if got := pickAll(t, c, 10); got[downAddr] != 5 {
		t.Errorf("recovered member not back: %v", got)
	}
}

func acceptAll(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func TestDialConnectFailure(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	m := newManager(t, Options{})
	if err := m.Update(map[string]*runtime.Cluster{"web": cluster("web", "round_robin", addr)}); err != nil {
		t.Fatal(err)
	}
	_, err := m.Cluster("web").Members()[0].Dial(context.Background(), DialOptions{})
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("dial to a closed port: %v", err)
	}
}

func TestAttachmentsClosedOnRemoval(t *testing.T) {
	m := newManager(t, Options{})
	if err := m.Update(map[string]*runtime.Cluster{"web": cluster("web", "round_robin", "10.0.0.1:80")}); err != nil {
		t.Fatal(err)
	}
	lm := m.Cluster("web").Members()[0]
	var closed atomic.Bool
	lm.Attach("pool", func() Attachment { return closer(func() { closed.Store(true) }) })
	if err := m.Update(map[string]*runtime.Cluster{"web": cluster("web", "round_robin", "10.0.0.2:80")}); err != nil {
		t.Fatal(err)
	}
	if !closed.Load() {
		t.Error("attachment of a removed member not closed")
	}
	if lm.Attach("pool", func() Attachment { return closer(func() {}) }) != nil {
		t.Error("a removed member accepted a new attachment")
	}
}

type closer func()

func (c closer) Close() { c() }

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
