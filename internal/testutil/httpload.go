package testutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Backend is a tiny HTTP server on 127.0.0.1 for tests that put a proxy in
// front of something. GET /healthz answers the status set with SetHealth
// (200 by default) and is not counted; every other request answers 200
// with the backend's name and a newline, and is counted in Hits.
type Backend struct {
	Name string
	// Addr is "127.0.0.1:PORT".
	Addr string

	srv    *http.Server
	ln     net.Listener
	hits   atomic.Int64
	health atomic.Int32
	done   chan struct{}
	once   sync.Once
}

// StartBackend starts a backend on a free port; the test's cleanup stops it.
func StartBackend(t testing.TB, name string) *Backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("backend %s: %v", name, err)
	}
	b := &Backend{Name: name, Addr: ln.Addr().String(), ln: ln, done: make(chan struct{})}
	b.health.Store(http.StatusOK)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(b.health.Load()))
		fmt.Fprintln(w, b.Name)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprintln(w, b.Name)
	})
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { defer close(b.done); _ = b.srv.Serve(ln) }()
	t.Cleanup(b.Close)
	return b
}

// SetHealth sets the status /healthz answers.
func (b *Backend) SetHealth(status int) { b.health.Store(int32(status)) }

// Hits returns how many requests other than /healthz it answered.
func (b *Backend) Hits() int64 { return b.hits.Load() }

// Close stops the backend at once: the listener and every connection are
// closed, as when the process behind it dies.
func (b *Backend) Close() {
	b.once.Do(func() {
		_ = b.srv.Close()
		<-b.done
	})
}

// LoadOptions configure a constant-rate HTTP load.
type LoadOptions struct {
	// URL is requested with GET.
	URL string
	// Rate is the number of requests started per second (1 to 2000). The
	// schedule is fixed: a stalled server makes requests pile up (and fail
	// when MaxInFlight is reached), it does not slow the load down.
	Rate int
	// Timeout bounds each request (default 5s).
	Timeout time.Duration
	// MaxInFlight bounds concurrent requests; a request due while that
	// many are outstanding counts as failed ("overloaded"). The default,
	// Rate × Timeout, is never reached while requests end by their
	// timeout: a stall shows as slow or timed-out requests, not as
	// overload.
	MaxInFlight int
	// NewConnections makes every request use a new connection, so that
	// several listeners sharing a port (SO_REUSEPORT) all get traffic.
	NewConnections bool
	// Check judges a response; the default wants status 200.
	Check func(status int, body []byte) error
	// Key, when set, classifies successful responses (e.g. by the backend
	// that answered); LoadResult.ByKey counts them.
	Key func(body []byte) string
}

// LoadResult summarises a load run.
type LoadResult struct {
	Sent, OK, Failed int
	// Errors holds the first failures, each with its time since the start.
	Errors []string
	ByKey  map[string]int
	// MaxLatency is the slowest successful request.
	MaxLatency time.Duration
}

func (r LoadResult) String() string {
	var keys []string
	for k, n := range r.ByKey {
		keys = append(keys, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(keys)
	s := fmt.Sprintf("%d sent, %d ok, %d failed, max latency %v", r.Sent, r.OK, r.Failed, r.MaxLatency.Round(time.Millisecond))
	if len(keys) > 0 {
		s += ", by key: " + strings.Join(keys, " ")
	}
	if len(r.Errors) > 0 {
		s += "\nfirst failures:\n  " + strings.Join(r.Errors, "\n  ")
	}
	return s
}

// Load is a running constant-rate HTTP load.
type Load struct {
	opt    LoadOptions
	client *http.Client
	tr     *http.Transport
	start  time.Time
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup
	sem    chan struct{}

	mu  sync.Mutex
	res LoadResult
}

// maxLoadErrors bounds the failures kept for the report.
const maxLoadErrors = 20

// StartLoad starts sending requests; Stop ends the load and returns the
// result. The test's cleanup stops a load the test did not stop.
func StartLoad(t testing.TB, opt LoadOptions) *Load {
	t.Helper()
	if opt.Rate < 1 || opt.Rate > 2000 {
		t.Fatalf("load: rate %d out of 1..2000", opt.Rate)
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 5 * time.Second
	}
	if opt.MaxInFlight <= 0 {
		opt.MaxInFlight = int(int64(opt.Rate)*int64(opt.Timeout)/int64(time.Second)) + 16
	}
	if opt.Check == nil {
		opt.Check = func(status int, _ []byte) error {
			if status != http.StatusOK {
				return fmt.Errorf("status %d", status)
			}
			return nil
		}
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: opt.Timeout}).DialContext,
		MaxIdleConnsPerHost: min(opt.MaxInFlight, 64),
		DisableKeepAlives:   opt.NewConnections,
		IdleConnTimeout:     30 * time.Second,
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Load{opt: opt, tr: tr, client: &http.Client{Transport: tr, Timeout: opt.Timeout},
		start: time.Now(), cancel: cancel, done: make(chan struct{}), sem: make(chan struct{}, opt.MaxInFlight),
		res: LoadResult{ByKey: map[string]int{}}}
	go l.run(ctx)
	t.Cleanup(func() { l.Stop() })
	return l
}

func (l *Load) run(ctx context.Context) {
	defer close(l.done)
	interval := time.Second / time.Duration(l.opt.Rate)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i++ {
		due := l.start.Add(time.Duration(i) * interval)
		timer.Reset(time.Until(due))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		select {
		case l.sem <- struct{}{}:
		default:
			l.record(fmt.Errorf("overloaded: %d requests outstanding", l.opt.MaxInFlight), 0, "")
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer func() { <-l.sem }()
			l.one()
		}()
	}
}

func (l *Load) one() {
	began := time.Now()
	resp, err := l.client.Get(l.opt.URL)
	if err != nil {
		l.record(err, 0, "")
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err == nil {
		err = l.opt.Check(resp.StatusCode, body)
	}
	key := ""
	if err == nil && l.opt.Key != nil {
		key = l.opt.Key(body)
	}
	l.record(err, time.Since(began), key)
}

func (l *Load) record(err error, latency time.Duration, key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res.Sent++
	if err != nil {
		l.res.Failed++
		if len(l.res.Errors) < maxLoadErrors {
			l.res.Errors = append(l.res.Errors, fmt.Sprintf("+%v: %v", time.Since(l.start).Round(time.Millisecond), err))
		}
		return
	}
	l.res.OK++
	l.res.MaxLatency = max(l.res.MaxLatency, latency)
	if l.opt.Key != nil {
		l.res.ByKey[key]++
	}
}

// Result returns the counts so far.
func (l *Load) Result() LoadResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.res
	r.Errors = append([]string(nil), l.res.Errors...)
	r.ByKey = make(map[string]int, len(l.res.ByKey))
	for k, v := range l.res.ByKey {
		r.ByKey[k] = v
	}
	return r
}

// Stop ends the load, waits for outstanding requests and returns the result.
func (l *Load) Stop() LoadResult {
	l.cancel()
	<-l.done
	l.wg.Wait()
	l.tr.CloseIdleConnections()
	return l.Result()
}

// ErrNotReady is what WaitHTTP reports when the deadline passes.
var ErrNotReady = errors.New("testutil: not ready")

// WaitHTTP polls url until it answers want, for at most timeout, and
// returns nil or an error naming the last answer.
func WaitHTTP(url string, want int, timeout time.Duration) error {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		resp, err := c.Get(url)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%w: %s did not answer %d within %v (last: %s)", ErrNotReady, url, want, timeout, last)
}

// WaitTCP waits until addr accepts a TCP connection, for at most timeout.
func WaitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		var c net.Conn
		if c, err = net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%w: %s not accepting connections within %v: %v", ErrNotReady, addr, timeout, err)
}
