package health

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startChecker runs a Checker until the end of the test and waits for Run
// to return in the cleanup, so goleak sees every goroutine gone.
func startChecker(t *testing.T, opts Options) *Checker {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return within 10s of cancel")
		}
	})
	return c
}

// waitFor polls cond every 10ms until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitStatus waits until the target with key k has status want and returns
// its state.
func waitStatus(t *testing.T, c *Checker, k Key, want Status, timeout time.Duration) State {
	t.Helper()
	var st State
	waitFor(t, timeout, string(k)+" to become "+want.String(), func() bool {
		var ok bool
		st, ok = c.State(k)
		return ok && st.Status == want
	})
	return st
}

// fast returns a config with short intervals for tests. Its timeout is
// generous: a TLS handshake with the race detector on a loaded 2-core VM can
// take a good part of a second. Tests about timeouts use short.
func fast(typ Type) Config {
	return Config{
		Type:     typ,
		Interval: 100 * time.Millisecond,
		Timeout:  5 * time.Second,
		Jitter:   NoJitter,
		Rise:     2,
		Fall:     2,
	}
}

// short gives cfg a 500ms timeout, for tests that expect one.
func short(cfg Config) Config {
	cfg.Timeout = 500 * time.Millisecond
	return cfg
}

// check runs one probe of cfg against addr the way the Checker does and
// returns the reason ("" for success).
func check(t *testing.T, addr string, cfg Config) string {
	t.Helper()
	if err := (Target{Address: addr, Config: cfg}).Validate(); err != nil {
		t.Fatalf("invalid target: %v", err)
	}
	cfg = cfg.WithDefaults()
	p, err := newProber(cfg, addr)
	if err != nil {
		t.Fatal(err)
	}
	_, reason := runProbe(context.Background(), cfg, p, addr)
	return reason
}

// closedPort returns an address on 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// tcpServer accepts connections on 127.0.0.1 and hands each to handle in
// its own goroutine; everything stops in the test's cleanup.
func tcpServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(c)
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}
