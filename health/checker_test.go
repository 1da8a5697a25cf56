package health

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/fulcrumlb/fulcrum/internal/testutil"
)

// countingServer answers 200 and counts requests per path.
type countingServer struct {
	mu   sync.Mutex
	hits map[string]int
	addr string
}

func newCountingServer(t *testing.T) *countingServer {
	cs := &countingServer{hits: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.mu.Lock()
		cs.hits[r.URL.Path]++
		cs.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	cs.addr = srv.Listener.Addr().String()
	return cs
}

func (cs *countingServer) count(path string) int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.hits[path]
}

func TestDedupAcrossOwners(t *testing.T) {
	cs := newCountingServer(t)
	c := startChecker(t, Options{})
	tg := Target{Address: cs.addr, Config: httpConfig(HTTPCheck{Path: "/shared"})}
	k1, err := c.Add("pool/a", tg)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := c.Add("pool/b", tg)
	if err != nil {
		t.Fatal(err)
	}
	if k1 != k2 || c.Len() != 1 {
		t.Fatalf("two owners of one target: keys %s, %s; %d targets", k1, k2, c.Len())
	}
	waitFor(t, 5*time.Second, "10 probes", func() bool { st, _ := c.State(k1); return st.TotalSuccesses >= 10 })
	st, _ := c.State(k1)
	// One probe stream: the server saw as many requests as the state
	// counted (one more may be in flight), not twice as many.
	if hits := cs.count("/shared"); hits < int(st.TotalSuccesses) || hits > int(st.TotalSuccesses)+1 {
		t.Errorf("server saw %d requests for %d recorded probes", hits, st.TotalSuccesses)
	}
	if strings.Join(st.Owners, ",") != "pool/a,pool/b" {
		t.Errorf("owners %v", st.Owners)
	}

	if !c.Remove("pool/a", k1) || c.Remove("pool/a", k1) {
		t.Fatal("Remove should succeed once")
	}
	before := cs.count("/shared")
	waitFor(t, 5*time.Second, "probes after one owner left", func() bool { return cs.count("/shared") >= before+3 })
	if got := c.StatesByOwner("pool/b"); len(got) != 1 || len(c.StatesByOwner("pool/a")) != 0 {
		t.Errorf("by owner: b=%d a=%d", len(got), len(c.StatesByOwner("pool/a")))
	}

	c.Remove("pool/b", k1)
	if _, ok := c.State(k1); ok || c.Len() != 0 {
		t.Fatal("target still registered after its last owner left")
	}
	time.Sleep(500 * time.Millisecond) // let a probe in flight land
	stopped := cs.count("/shared")
	time.Sleep(400 * time.Millisecond)
	if got := cs.count("/shared"); got != stopped {
		t.Errorf("probing went on after removal: %d more requests", got-stopped)
	}
}

func TestSetDiff(t *testing.T) {
	cs := newCountingServer(t)
	c := startChecker(t, Options{})
	sub := c.Subscribe()
	defer sub.Close()
	tg := func(path string) Target { return Target{Address: cs.addr, Config: httpConfig(HTTPCheck{Path: path})} }

	keys, err := c.Set("pool/web", []Target{tg("/a"), tg("/b")})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "both healthy", func() bool {
		return len(c.States()) == 2 && c.States()[0].Healthy() && c.States()[1].Healthy()
	})
	stB, _ := c.State(keys[1])
	sub.Drain()

	// An invalid list changes nothing and names the bad entry.
	bad := tg("/c")
	bad.Config.Rise = -1
	if _, err := c.Set("pool/web", []Target{tg("/b"), bad}); err == nil ||
		!strings.Contains(err.Error(), "targets[1]") || !strings.Contains(err.Error(), "rise") {
		t.Fatalf("invalid Set: %v", err)
	}
	if c.Len() != 2 {
		t.Fatalf("invalid Set changed the targets: %d", c.Len())
	}

	keys2, err := c.Set("pool/web", []Target{tg("/b"), tg("/c")})
	if err != nil {
		t.Fatal(err)
	}
	if keys2[0] != keys[1] {
		t.Errorf("kept target changed key: %s vs %s", keys2[0], keys[1])
	}
	if _, ok := c.State(keys[0]); ok {
		t.Error("/a still registered")
	}
	if st, _ := c.State(keys[1]); st.TotalSuccesses < stB.TotalSuccesses || st.Status != StatusHealthy {
		t.Errorf("/b lost its state: %+v", st)
	}
	waitStatus(t, c, keys2[1], StatusHealthy, 5*time.Second)
	var removed bool
	for _, ev := range sub.Drain() {
		if ev.Key == keys[0] {
			removed = ev.Removed && ev.To == StatusUnknown && ev.From == StatusHealthy
		}
	}
	if !removed {
		t.Error("no removal event for /a")
	}
	if got := c.StatesByAddress(cs.addr); len(got) != 2 {
		t.Errorf("StatesByAddress: %d states", len(got))
	}
	if _, err := c.Set("pool/web", nil); err != nil || c.Len() != 0 {
		t.Errorf("Set(nil): %v, %d left", err, c.Len())
	}
}

// A target whose probes alternate between success and failure does not
// flap; one whose results come in pairs changes at most once per pair.
func TestHysteresisWithFlappingServer(t *testing.T) {
	var pattern atomic.Value
	pattern.Store("+-")
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := pattern.Load().(string)
		if p[int(n.Add(1)-1)%len(p)] == '-' {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	c := startChecker(t, Options{})
	cfg := httpConfig(HTTPCheck{})
	// A generous timeout: a probe that timed out on a loaded machine would
	// shift the server's pattern and make a real flip.
	cfg.Interval, cfg.Timeout, cfg.Rise, cfg.Fall = 20*time.Millisecond, 5*time.Second, 2, 2
	k, err := c.Add("flappy", Target{Address: srv.Listener.Addr().String(), Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	probes := func() uint64 { st, _ := c.State(k); return st.TotalSuccesses + st.TotalFailures }
	waitFor(t, 10*time.Second, "30 probes", func() bool { return probes() >= 30 })
	st, _ := c.State(k)
	if st.Transitions != 1 || st.Status != StatusHealthy {
		t.Errorf("alternating results: %d transitions, status %v; want 1 and healthy", st.Transitions, st.Status)
	}

	sub := c.Subscribe()
	defer sub.Close()
	pattern.Store("--++")
	start := probes()
	var events []Event
	waitFor(t, 10*time.Second, "40 more probes", func() bool {
		events = append(events, sub.Drain()...)
		return probes() >= start+40
	})
	events = append(events, sub.Drain()...)
	if len(events) < 2 {
		t.Fatalf("runs of two failures and two successes made only %d transitions", len(events))
	}
	for i := 1; i < len(events); i++ {
		a, b := events[i-1].State, events[i].State
		if gap := b.TotalSuccesses + b.TotalFailures - a.TotalSuccesses - a.TotalFailures; gap < 2 {
			t.Errorf("transitions %d probes apart, want at least min(rise, fall)=2", gap)
		}
	}
	t.Logf("%d probes, %d transitions", probes()-start, len(events))
}

func TestInitialStatusAndUnhealthyInterval(t *testing.T) {
	c := startChecker(t, Options{})
	cfg := fast(TypeTCP)
	cfg.Interval, cfg.UnhealthyInterval, cfg.Fall = 5*time.Second, 50*time.Millisecond, 3
	k, err := c.Add("p", Target{Address: closedPort(t), Config: cfg, Initial: StatusHealthy})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := c.State(k); st.Status != StatusHealthy {
		t.Fatalf("initial status %v", st.Status)
	}
	start := time.Now()
	st := waitStatus(t, c, k, StatusUnhealthy, 5*time.Second)
	// Three failures: the first after at most 1ms (first probe), the next two
	// after the 50ms unhealthy interval, not the 5s interval.
	if took := time.Since(start); took > 3*time.Second || st.ConsecutiveFailures < 3 {
		t.Errorf("unhealthy after %v with %d failures", took, st.ConsecutiveFailures)
	}
}

func TestMaxConcurrencyBoundsProbes(t *testing.T) {
	var inflight, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
	}))
	defer srv.Close()
	c := startChecker(t, Options{MaxConcurrency: 3})
	var targets []Target
	for i := range 20 {
		targets = append(targets, Target{Address: srv.Listener.Addr().String(),
			Config: httpConfig(HTTPCheck{Path: fmt.Sprintf("/%d", i)})})
	}
	if _, err := c.Set("p", targets); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "all healthy", func() bool {
		for _, st := range c.States() {
			if !st.Healthy() {
				return false
			}
		}
		return true
	})
	if p := peak.Load(); p > 3 {
		t.Errorf("%d probes in flight, MaxConcurrency is 3", p)
	}
}

// The pool grows while probes are slow and shrinks back to one worker when
// the work goes away; the remaining worker still serves new targets.
func TestWorkerPoolShrinks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	c, err := New(Options{MaxConcurrency: 8, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	c.workerIdle = 100 * time.Millisecond
	workers := func() float64 { return gauge(t, reg, "fulcrum_health_workers") }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	var targets []Target
	for i := range 20 {
		targets = append(targets, Target{Address: srv.Listener.Addr().String(),
			Config: httpConfig(HTTPCheck{Path: fmt.Sprintf("/%d", i)})})
	}
	if _, err := c.Set("p", targets); err != nil {
		t.Fatal(err)
	}
	peak := 0.0
	waitFor(t, 5*time.Second, "the pool to grow", func() bool {
		peak = max(peak, workers())
		return peak >= 4
	})
	if peak > 8 {
		t.Errorf("%v workers, MaxConcurrency is 8", peak)
	}
	if _, err := c.Set("p", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the pool to shrink to one worker", func() bool { return workers() == 1 })
	k, err := c.Add("p", targets[0])
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, k, StatusHealthy, 5*time.Second)
	t.Logf("workers: peak %v, after idling %v", peak, workers())
}

func TestRunLifecycle(t *testing.T) {
	cs := newCountingServer(t)
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.Add("p", Target{Address: cs.addr, Config: httpConfig(HTTPCheck{Path: "/x"})})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		want := uint64(3 * (round + 1))
		waitFor(t, 5*time.Second, "probes", func() bool { st, _ := c.State(k); return st.TotalSuccesses >= want })
		if round == 0 {
			if err := c.Run(ctx); err == nil || !strings.Contains(err.Error(), "already running") {
				t.Errorf("second concurrent Run: %v", err)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := c.State(k); st.TotalFailures != 0 {
		t.Errorf("stopping counted as failures: %+v", st)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c := startChecker(t, Options{Registerer: reg})
	if _, err := New(Options{MaxConcurrency: -1}); err == nil || !strings.HasPrefix(err.Error(), "health: MaxConcurrency") {
		t.Errorf("negative MaxConcurrency: %v", err)
	}
	if _, err := New(Options{Registerer: reg}); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("second Checker on one registry: %v", err)
	}
	cs := newCountingServer(t)
	ok, _ := c.Add("p", Target{Address: cs.addr, Config: httpConfig(HTTPCheck{})})
	down, _ := c.Add("p", Target{Address: closedPort(t), Config: fast(TypeTCP)})
	waitStatus(t, c, ok, StatusHealthy, 5*time.Second)
	waitStatus(t, c, down, StatusUnhealthy, 5*time.Second)

	if v := gauge(t, reg, "fulcrum_health_targets", "status", "healthy"); v != 1 {
		t.Errorf("healthy targets gauge %v", v)
	}
	if v := gauge(t, reg, "fulcrum_health_targets", "status", "unhealthy"); v != 1 {
		t.Errorf("unhealthy targets gauge %v", v)
	}
	if v := counter(t, reg, "fulcrum_health_probes_total", "type", "tcp", "result", "failure"); v < 1 {
		t.Errorf("tcp failures %v", v)
	}
	if v := counter(t, reg, "fulcrum_health_probes_total", "type", "http", "result", "success"); v < 1 {
		t.Errorf("http successes %v", v)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		if !strings.HasPrefix(mf.GetName(), "fulcrum_health_") {
			t.Errorf("metric %s lacks the fulcrum_health_ prefix", mf.GetName())
		}
	}
	for _, want := range []string{"fulcrum_health_probe_duration_seconds", "fulcrum_health_probes_total",
		"fulcrum_health_targets", "fulcrum_health_transitions_total", "fulcrum_health_schedule_lag_seconds",
		"fulcrum_health_workers"} {
		if !names[want] {
			t.Errorf("metric %s missing", want)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	if _, err := c.Set("p", nil); err != nil {
		t.Fatal(err)
	}
	if v := gauge(t, reg, "fulcrum_health_targets", "status", "healthy"); v != 0 {
		t.Errorf("healthy targets gauge after removal %v", v)
	}
}

// sample returns the value of the series of metric name whose labels
// include the given name/value pairs, read through the registry.
func sample(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) (gauge, counter float64) {
	t.Helper()
	series := testutil.Series(t, reg, name, labels...)
	if len(series) == 0 {
		t.Fatalf("no series %s%v", name, labels)
	}
	return series[0].GetGauge().GetValue(), series[0].GetCounter().GetValue()
}

func gauge(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	g, _ := sample(t, reg, name, labels...)
	return g
}

func counter(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	_, c := sample(t, reg, name, labels...)
	return c
}
