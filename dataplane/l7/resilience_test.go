package l7

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/balancer"
	"github.com/fulcrumlb/fulcrum/internal/testutil"
)

// load sends GETs from workers until stop is closed and counts failures.
func load(t *testing.T, url string, workers int, stop <-chan struct{}) (ok, failed *atomic.Int64, done func()) {
	ok, failed = &atomic.Int64{}, &atomic.Int64{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client()
			defer closeClient(c)
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(url)
				if err != nil {
					failed.Add(1)
					t.Logf("request failed: %v", err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					t.Logf("request failed: %d %s", resp.StatusCode, resp.Header.Get("X-Fulcrum-Overloaded"))
					continue
				}
				ok.Add(1)
			}
		}()
	}
	return ok, failed, wg.Wait
}

// TestBackendKilledUnderLoad SIGKILLs a real backend process under
// constant load with retries on: no GET fails, and the dead member leaves
// rotation (health check and outlier detection) and gets no more tries.
// The retry budget is widened: with the default (20 %, at least 3 at once)
// a fourth request caught in flight on the dead member is, by design, not
// retried.
func TestBackendKilledUnderLoad(t *testing.T) {
	child, cmd := childBackend(t)
	alive := newTestBackend(t, "alive", nil)
	port := freePort(t)
	e := newEnv(t, poolYAML("web", port, `  healthCheck: {type: http, path: /healthz, interval: 100ms, timeout: 100ms, rise: 1, fall: 2}
  outlierDetection: {consecutiveErrors: 3}
  retries: {attempts: 3, on: [connect-failure, reset, 5xx], budget: {percent: 100, minConcurrent: 16}}
`, child, alive.addr))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	stop := make(chan struct{})
	ok, failed, wait := load(t, url, 4, stop)
	waitFor(t, "traffic on both members", func() bool { return ok.Load() > 200 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cl := e.p.Upstreams().Cluster("web")
	var dead = func() bool {
		for _, m := range cl.Members() {
			if m.Address == child {
				h, _ := m.Health(time.Now())
				return h == balancer.Unhealthy
			}
		}
		return false
	}
	waitFor(t, "dead member out of rotation", dead)
	before := memberTries(e, child)
	time.Sleep(300 * time.Millisecond)
	after := memberTries(e, child)
	close(stop)
	wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d GETs failed while a member died", failed.Load(), failed.Load()+ok.Load())
	}
	if after != before {
		t.Errorf("dead member still tried after leaving rotation: %v → %v", before, after)
	}
}

// memberTries sums fulcrum_http_upstream_requests_total for a member.
func memberTries(e *env, member string) float64 {
	return testutil.SeriesSum(e.t, e.reg, "fulcrum_http_upstream_requests_total", "member", member)
}

// TestPerTryTimeoutRetry: a member slower than the per-try timeout is
// given up on and the request succeeds on the other member.
func TestPerTryTimeoutRetry(t *testing.T) {
	slow, fast := newTestBackend(t, "slow", nil), newTestBackend(t, "fast", nil)
	slow.delay.Store(int64(2 * time.Second))
	port := freePort(t)
	newEnv(t, poolYAML("web", port, "  retries: {attempts: 2, on: [5xx], perTryTimeout: 150ms}\n", slow.addr, fast.addr))
	c := client()
	defer closeClient(c)
	for i := 0; i < 6; i++ {
		start := time.Now()
		resp, body := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", port))
		if resp.StatusCode != 200 || body != "fast" || time.Since(start) > time.Second {
			t.Fatalf("request %d: %d %q after %v", i, resp.StatusCode, body, time.Since(start))
		}
	}
	if slow.hits.Load() == 0 {
		t.Error("the slow member was never tried; the test proves nothing")
	}
}

// TestTimeoutWithoutRetry: without retries a slow member gives 504.
func TestTimeoutWithoutRetry(t *testing.T) {
	slow := newTestBackend(t, "slow", nil)
	slow.delay.Store(int64(2 * time.Second))
	port := freePort(t)
	newEnv(t, poolYAML("web", port, "  timeouts: {request: 200ms}\n  retries: {attempts: 0}\n", slow.addr))
	c := client()
	defer closeClient(c)
	resp, _ := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", port))
	if resp.StatusCode != 504 {
		t.Errorf("status %d, want 504", resp.StatusCode)
	}
}

// TestPostNeverRetriedAfterBytes: a member that reads a POST body and then
// resets the connection is not retried, even with nonIdempotent retries;
// the client gets 502 and the other member never sees the request.
func TestPostNeverRetriedAfterBytes(t *testing.T) {
	var hits atomic.Int64
	reset := func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		hits.Add(1)
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}
	a, b := newTestBackend(t, "a", reset), newTestBackend(t, "b", reset)
	port := freePort(t)
	newEnv(t, poolYAML("web", port, "  retries: {attempts: 3, on: [reset, 5xx], nonIdempotent: true}\n", a.addr, b.addr))
	c := client()
	defer closeClient(c)
	for _, size := range []int{10, 100 << 10} {
		hits.Store(0)
		resp, err := c.Post(fmt.Sprintf("http://127.0.0.1:%d/", port), "text/plain", strings.NewReader(strings.Repeat("x", size)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 502 || hits.Load() != 1 {
			t.Errorf("POST of %d bytes: status %d, members hit %d times; want 502 and exactly 1", size, resp.StatusCode, hits.Load())
		}
	}
	// A GET is retried on the same failure.
	hits.Store(0)
	resp, _ := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", port))
	if hits.Load() < 2 || resp.StatusCode != 502 {
		t.Errorf("GET: %d tries, status %d; want retries", hits.Load(), resp.StatusCode)
	}
}

// TestCircuitBreaker: beyond maxRequests in flight the proxy answers 503
// with x-fulcrum-overloaded naming the limit.
func TestCircuitBreaker(t *testing.T) {
	slow := newTestBackend(t, "slow", nil)
	slow.delay.Store(int64(500 * time.Millisecond))
	port := freePort(t)
	newEnv(t, poolYAML("web", port, "  circuitBreaker: {maxRequests: 1}\n", slow.addr))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	done := make(chan int, 1)
	go func() {
		c := client()
		defer closeClient(c)
		resp, err := c.Get(url)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	waitFor(t, "first request in flight", func() bool { return slow.hits.Load() == 1 })
	c := client()
	defer closeClient(c)
	resp, _ := get(t, c, url)
	if resp.StatusCode != 503 || resp.Header.Get("X-Fulcrum-Overloaded") != "max_requests" {
		t.Errorf("second request: %d %q", resp.StatusCode, resp.Header.Get("X-Fulcrum-Overloaded"))
	}
	if st := <-done; st != 200 {
		t.Errorf("first request: %d", st)
	}
}

// TestNoHealthyMember: a pool whose member refuses connections gives 503.
func TestNoHealthyMember(t *testing.T) {
	port, dead := freePort(t), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	newEnv(t, poolYAML("web", port, "", dead))
	c := client()
	defer closeClient(c)
	resp, _ := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", port))
	if resp.StatusCode != 503 && resp.StatusCode != 502 {
		t.Errorf("status %d, want 502/503", resp.StatusCode)
	}
	_ = context.Background
}
