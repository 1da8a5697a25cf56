package l7

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
)

// memberState is what the L7 data plane hangs on a live member (with
// Member.Attach, so it lives exactly as long as the member): the idle
// HTTP/1.1 connections (LIFO), the HTTP/2 transport, the sticky token and
// the member's metric handles.
type memberState struct {
	f           *Factory
	m           *upstream.Member
	pool        string
	stickyToken string
	metrics     memberMetrics

	idleGauge prometheus.Gauge

	mu     sync.Mutex
	idle   []*upConn
	closed bool
	reaper *time.Timer

	h2once sync.Once
	h2     idleCloser
}

// memberState returns the member's state, creating it on first use; nil
// when the member has left its cluster.
func (f *Factory) memberState(m *upstream.Member) *memberState {
	a := m.Attach(f.poolKey, func() upstream.Attachment { return f.newMemberState(m) })
	if a == nil {
		return nil
	}
	return a.(*memberState)
}

func (f *Factory) newMemberState(m *upstream.Member) *memberState {
	pool := m.Cluster().Name()
	return &memberState{f: f, m: m, pool: pool, stickyToken: stickyToken(f.stickyKey, pool, m.Address),
		metrics: f.metrics.member(pool, m.Address), idleGauge: f.metrics.upConnections.WithLabelValues(pool)}
}

// Close implements upstream.Attachment: the member left its cluster.
func (ms *memberState) Close() {
	ms.mu.Lock()
	ms.closed = true
	idle := ms.idle
	ms.idle = nil
	if ms.reaper != nil {
		ms.reaper.Stop()
	}
	ms.mu.Unlock()
	ms.idleGauge.Sub(float64(len(idle)))
	for _, c := range idle {
		c.close()
	}
	if ms.h2 != nil {
		ms.h2.CloseIdleConnections()
	}
	ms.f.metrics.dropMember(ms.pool, ms.m.Address)
}

// upConn is one pooled upstream HTTP/1.1 connection with its read buffer.
type upConn struct {
	c       net.Conn
	ms      *memberState
	rd      connReader
	dl      deadlines
	bp      *iobuf
	buf     []byte
	r, w    int // unread bytes are buf[r:w]
	idleAt  time.Time
	reused  bool
	closed  bool
	expires time.Time
}

// errOverload is a circuit breaker refusing a request or connection.
type errOverload struct{ reason string }

func (e *errOverload) Error() string { return "circuit breaker: " + e.reason }

// get returns an idle connection (most recently used first), or nil.
func (ms *memberState) get(now time.Time) *upConn {
	ms.mu.Lock()
	for n := len(ms.idle); n > 0; n = len(ms.idle) {
		c := ms.idle[n-1]
		ms.idle[n-1] = nil
		ms.idle = ms.idle[:n-1]
		ms.idleGauge.Dec()
		if now.Before(c.expires) {
			ms.mu.Unlock()
			c.reused = true
			return c
		}
		ms.mu.Unlock()
		c.close()
		ms.mu.Lock()
	}
	ms.mu.Unlock()
	return nil
}

// put returns a connection whose last exchange ended cleanly to the pool,
// or closes it when the pool is full, the member is gone or the cluster
// keeps no idle connections.
func (ms *memberState) put(c *upConn, cfg *runtime.Cluster, now time.Time) {
	limit := cfg.MaxIdleConnections
	idle := cfg.IdleTimeout
	if idle <= 0 {
		idle = 60 * time.Second
	}
	ms.mu.Lock()
	if ms.closed || len(ms.idle) >= limit || ms.m.Removed() {
		ms.mu.Unlock()
		c.close()
		return
	}
	c.r, c.w = 0, 0
	c.idleAt = now
	c.expires = now.Add(idle)
	ms.idle = append(ms.idle, c)
	ms.idleGauge.Inc()
	if ms.reaper == nil {
		ms.reaper = time.AfterFunc(idle, ms.reap)
	}
	ms.mu.Unlock()
}

// reap closes connections idle for longer than their timeout, so that
// a quiet pool does not hold sockets the member has long closed.
func (ms *memberState) reap() {
	now := time.Now()
	ms.mu.Lock()
	var dead []*upConn
	keep := ms.idle[:0]
	next := time.Duration(0)
	for _, c := range ms.idle {
		if !now.Before(c.expires) {
			dead = append(dead, c)
			continue
		}
		keep = append(keep, c)
		if d := c.expires.Sub(now); next == 0 || d < next {
			next = d
		}
	}
	for i := len(keep); i < len(ms.idle); i++ {
		ms.idle[i] = nil
	}
	ms.idle = keep
	if next > 0 && !ms.closed {
		ms.reaper.Reset(next)
	} else {
		ms.reaper = nil
	}
	ms.mu.Unlock()
	ms.idleGauge.Sub(float64(len(dead)))
	for _, c := range dead {
		c.close()
	}
}

// dial opens a new connection through the cluster's circuit breakers
// (pending requests, then connections).
func (ms *memberState) dial(ctx context.Context, opt upstream.DialOptions) (net.Conn, error) {
	cl := ms.m.Cluster()
	if ok, why := cl.AcquirePending(); !ok {
		return nil, &errOverload{why}
	}
	defer cl.ReleasePending()
	if ok, why := cl.AcquireConnection(); !ok {
		return nil, &errOverload{why}
	}
	c, err := ms.m.Dial(ctx, opt)
	if err != nil {
		cl.ReleaseConnection()
		return nil, &connectError{err}
	}
	return &countedConn{Conn: c, cl: cl}, nil
}

// newUpConn dials a fresh HTTP/1.1 connection.
func (ms *memberState) newUpConn(ctx context.Context, opt upstream.DialOptions) (*upConn, error) {
	c, err := ms.dial(ctx, opt)
	if err != nil {
		return nil, err
	}
	bp := getBuf()
	uc := &upConn{c: c, ms: ms, bp: bp, buf: bp[:]}
	uc.rd.init(rawConn(c))
	return uc, nil
}

func (c *upConn) close() {
	if c.closed {
		return
	}
	c.closed = true
	c.c.Close()
	putBuf(c.bp)
	c.bp, c.buf = nil, nil
}

// alive checks, without blocking, that an idle connection was not closed
// by the member; used before sending a request that could not be replayed.
func (c *upConn) alive() bool { return !peerClosed(c.rd.rc) }

var aLongTimeAgo = time.Unix(1, 0)

// rawConn unwraps a countedConn so that plain TCP connections can be read
// through their RawConn.
func rawConn(c net.Conn) net.Conn {
	if cc, ok := c.(*countedConn); ok {
		return cc.Conn
	}
	return c
}

// countedConn releases the cluster's connection slot when closed.
type countedConn struct {
	net.Conn
	cl   *upstream.Cluster
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.cl.ReleaseConnection)
	return err
}

// connectError marks a failure to establish a connection: the request
// never reached the member and may go elsewhere.
type connectError struct{ err error }

func (e *connectError) Error() string { return e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// bufSize is the size of pooled I/O buffers: heads up to this size are
// parsed in place; larger request heads grow a private buffer.
const bufSize = 16 << 10

// iobuf is a pooled buffer; pooling array pointers keeps Put allocation-free.
type iobuf = [bufSize]byte

var bufPool = sync.Pool{New: func() any { return new(iobuf) }}

func getBuf() *iobuf { return bufPool.Get().(*iobuf) }

func putBuf(b *iobuf) {
	if b != nil {
		bufPool.Put(b)
	}
}
