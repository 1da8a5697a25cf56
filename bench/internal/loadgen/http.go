package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/stats"
)

// Kind classifies a failed request.
type Kind int

// The kinds of failure the generator tells apart.
const (
	// Refused: the connection was refused (nothing listening).
	Refused Kind = iota
	// DialError: the connection failed otherwise (reset, timeout).
	DialError
	// Transport: the connection broke after the request was sent on a
	// new connection, or after response bytes arrived.
	Transport
	// ReusedClosed: a kept-alive connection ended before any byte of the
	// response — the race HTTP clients retry for idempotent requests.
	ReusedClosed
	// BadStatus: a response other than 2xx/3xx.
	BadStatus
	// Timeout: no complete response within the request timeout.
	Timeout
	// Unsent: due before the end of an open-loop run but never sent,
	// every connection being busy until the end.
	Unsent
	// NumKinds is the number of kinds, for arrays indexed by Kind.
	NumKinds
)

var kindNames = [NumKinds]string{"refused", "dial", "transport", "reused-closed", "status", "timeout", "unsent"}

func (k Kind) String() string { return kindNames[k] }

// HTTPOptions configure RunHTTP.
type HTTPOptions struct {
	// Addr is host:port of the server.
	Addr string
	// Path and Host of every request ("/" and "bench" by default).
	Path, Host string
	// Conns is the number of connections (and workers).
	Conns int
	// Rate is the request rate over all connections; 0 runs closed loop
	// (each connection sends its next request when the last completed).
	Rate float64
	// Duration of the run.
	Duration time.Duration
	// Timeout bounds each request (default 5s).
	Timeout time.Duration
	// Fresh opens a new connection for every request (Connection: close).
	Fresh bool
	// CheckIdle makes a worker test a kept-alive connection that waited
	// for its next request with a non-blocking peek, and reconnect if the
	// server has closed it — as HTTP clients do before reusing one.
	CheckIdle bool
	// WantHeader names a response header whose last value is recorded.
	WantHeader string
}

// HTTPResult is what a run measured.
type HTTPResult struct {
	// Sent counts requests started; OK those answered 2xx or 3xx.
	Sent, OK int64
	// Failed counts failures by kind.
	Failed [NumKinds]int64
	// Latency of successful requests: from the scheduled start in open
	// loop when the request had to wait for a free connection, else from
	// the moment it was written.
	Latency stats.Latencies
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
	// Header is the last value seen of HTTPOptions.WantHeader.
	Header string
	// FailedAt are the times of the first failures (at most 10,000).
	FailedAt []time.Time
	// Statuses counts the responses of kind BadStatus by status code.
	Statuses map[int]int64
}

// Due is the number of requests the run meant to send: those sent and
// those left unsent.
func (r *HTTPResult) Due() int64 { return r.Sent + r.Failed[Unsent] }

// Failures is the total of failed requests.
func (r *HTTPResult) Failures() int64 {
	var n int64
	for _, f := range r.Failed {
		n += f
	}
	return n
}

// FailureSummary lists the non-zero failure counts, e.g. "refused 3, status 1".
func (r *HTTPResult) FailureSummary() string {
	s := ""
	for k, n := range r.Failed {
		if n > 0 {
			if s != "" {
				s += ", "
			}
			s += fmt.Sprintf("%s %d", Kind(k), n)
			if Kind(k) == BadStatus {
				codes := make([]int, 0, len(r.Statuses))
				for c := range r.Statuses {
					codes = append(codes, c)
				}
				slices.Sort(codes)
				for i, c := range codes {
					s += map[bool]string{true: " (", false: ", "}[i == 0] + fmt.Sprintf("%d×%d", r.Statuses[c], c)
				}
				if len(codes) > 0 {
					s += ")"
				}
			}
		}
	}
	if s == "" {
		return "none"
	}
	return s
}

// Rate is the achieved rate of successful requests per second.
func (r *HTTPResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

func (o *HTTPOptions) defaults() {
	if o.Path == "" {
		o.Path = "/"
	}
	if o.Host == "" {
		o.Host = "bench"
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	o.Conns = max(o.Conns, 1)
}

// RunHTTP drives the server for o.Duration (or until ctx ends), and
// returns at most o.Timeout later. In open
// loop, request i is due at start + i/Rate; a worker takes the next due
// request as soon as it is free. If it is free before the due time it
// sleeps and measures from the moment it writes (the generator's own timer
// lateness is not the server's); if it is late because every connection
// was busy, latency counts from the due time, so a stalled server is
// charged for the requests it kept waiting (no coordinated omission).
func RunHTTP(ctx context.Context, o HTTPOptions) (*HTTPResult, error) {
	o.defaults()
	req := []byte(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: fulcrum-bench\r\n\r\n", o.Path, o.Host))
	if o.Fresh {
		req = []byte(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: fulcrum-bench\r\nConnection: close\r\n\r\n", o.Path, o.Host))
	}
	start := time.Now().Add(5 * time.Millisecond)
	end := start.Add(o.Duration)
	var ticket atomic.Int64
	res := &HTTPResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range o.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{o: &o, req: req, res: &HTTPResult{}}
			w.run(ctx, start, end, &ticket)
			w.close()
			mu.Lock()
			res.merge(w.res)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if o.Rate > 0 && ctx.Err() == nil {
		due := int64(math.Ceil(o.Duration.Seconds() * o.Rate))
		res.Failed[Unsent] = max(due-res.Sent, 0)
	}
	if res.Sent == 0 {
		return res, errors.New("loadgen: no request was sent")
	}
	return res, nil
}

func (r *HTTPResult) merge(o *HTTPResult) {
	r.Sent += o.Sent
	r.OK += o.OK
	for k := range r.Failed {
		r.Failed[k] += o.Failed[k]
	}
	r.Latency.Merge(&o.Latency)
	for c, n := range o.Statuses {
		if r.Statuses == nil {
			r.Statuses = map[int]int64{}
		}
		r.Statuses[c] += n
	}
	if o.Header != "" {
		r.Header = o.Header
	}
	if room := 10000 - len(r.FailedAt); room > 0 {
		r.FailedAt = append(r.FailedAt, o.FailedAt[:min(room, len(o.FailedAt))]...)
	}
}

// worker owns one connection at a time.
type worker struct {
	o    *HTTPOptions
	req  []byte
	res  *HTTPResult
	conn net.Conn
	br   *bufio.Reader
	used bool // the connection has carried a request
}

func (w *worker) run(ctx context.Context, start, end time.Time, ticket *atomic.Int64) {
	for ctx.Err() == nil {
		var from time.Time
		idle := false
		if w.o.Rate > 0 {
			n := ticket.Add(1) - 1
			due := start.Add(time.Duration(float64(n) * float64(time.Second) / w.o.Rate))
			// Requests still due after the end are not sent (RunHTTP
			// counts them as Unsent): a stalled server must not hold the
			// run until the backlog drains.
			if !due.Before(end) || time.Now().After(end) {
				return
			}
			if wait := time.Until(due); wait > 0 {
				time.Sleep(wait)
				idle = true
				from = time.Now()
			} else {
				from = due
			}
		} else {
			if time.Now().After(end) {
				return
			}
			from = time.Now()
		}
		w.one(from, idle)
	}
}

// one sends a request and reads its response, recording the outcome.
func (w *worker) one(from time.Time, idle bool) {
	w.res.Sent++
	if w.conn != nil && idle && w.o.CheckIdle && peerClosed(w.conn) {
		w.close()
	}
	if w.conn == nil {
		c, err := net.DialTimeout("tcp", w.o.Addr, w.o.Timeout)
		if err != nil {
			kind := DialError
			if errors.Is(err, syscall.ECONNREFUSED) {
				kind = Refused
			}
			w.fail(kind)
			return
		}
		w.conn, w.br, w.used = c, bufio.NewReaderSize(c, 16<<10), false
	}
	reused := w.used
	w.used = true
	_ = w.conn.SetDeadline(time.Now().Add(w.o.Timeout))
	if _, err := w.conn.Write(w.req); err != nil {
		w.failConn(err, reused, false)
		return
	}
	resp, err := ReadResponse(w.br, w.o.WantHeader)
	if err != nil {
		w.failConn(err, reused, w.br.Buffered() > 0 || resp.Status != 0)
		return
	}
	lat := time.Since(from)
	if resp.Close || w.o.Fresh {
		w.close()
	}
	if resp.Status >= 400 || resp.Status < 200 {
		if w.res.Statuses == nil {
			w.res.Statuses = map[int]int64{}
		}
		w.res.Statuses[resp.Status]++
		w.fail(BadStatus)
		return
	}
	w.res.OK++
	w.res.Latency.Add(lat)
	if resp.Header != "" {
		w.res.Header = resp.Header
	}
}

func (w *worker) failConn(err error, reused, gotBytes bool) {
	w.close()
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		w.fail(Timeout)
	case reused && !gotBytes:
		w.fail(ReusedClosed)
	default:
		w.fail(Transport)
	}
}

func (w *worker) fail(k Kind) {
	w.res.Failed[k]++
	if len(w.res.FailedAt) < 10000 {
		w.res.FailedAt = append(w.res.FailedAt, time.Now())
	}
}

func (w *worker) close() {
	if w.conn != nil {
		w.conn.Close()
		w.conn, w.br = nil, nil
	}
}

// peerClosed reports whether the server has closed (or reset) an idle
// connection, with a non-blocking MSG_PEEK that consumes nothing.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var buf [1]byte
	_ = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = (n == 0 && err == nil) || (err != nil && err != syscall.EAGAIN)
		return true // never wait
	})
	return closed
}

// Probe sends one GET on a new connection and returns the response head
// (with the value of the header want), or the kind of failure.
func Probe(addr, want string, timeout time.Duration) (Response, Kind, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return Response{}, Refused, err
		}
		return Response{}, DialError, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: fulcrum-bench-probe\r\nConnection: close\r\n\r\n")); err != nil {
		return Response{}, Transport, err
	}
	r, err := ReadResponse(bufio.NewReader(c), want)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return r, Timeout, err
		}
		return r, Transport, err
	}
	if r.Status < 200 || r.Status >= 400 {
		return r, BadStatus, fmt.Errorf("status %d", r.Status)
	}
	return r, 0, nil
}
