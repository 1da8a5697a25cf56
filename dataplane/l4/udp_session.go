package l4

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
)

// session is one client address's flow through a udp listener.
type session struct {
	srv     *udpServer
	client  netip.AddrPort
	conn    *net.UDPConn
	raw     syscall.RawConn
	cluster *upstream.Cluster
	pick    upstream.Pick
	stats   *memberStats
	lm      *listenerMetrics
	start   time.Time

	last    atomic.Int64 // monotonic time of the last datagram either way
	in, out atomic.Int64
	failed  atomic.Pointer[error]

	// onReadable is readable bound once, so waiting allocates nothing.
	onReadable func(uintptr) bool
	readErr    error

	// Guarded by srv.mu.
	prev, next *session
	linked     bool
}

// datagramPool holds buffers for replies: a session holds one only while
// it forwards, not while it waits, so idle sessions cost no buffer.
var datagramPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// readable forwards every datagram the member socket holds to the client
// through the listening socket. It returns false (wait) only after EAGAIN,
// as the edge-triggered poller requires.
func (ss *session) readable(fd uintptr) bool {
	bp := datagramPool.Get().(*[]byte)
	defer datagramPool.Put(bp)
	for {
		n, err := syscall.Read(int(fd), *bp)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return false
		case err != nil:
			ss.readErr = err
			return true
		}
		ss.last.Store(now())
		if _, err := ss.srv.pc.WriteToUDPAddrPort((*bp)[:n], ss.client); err == nil {
			ss.out.Add(int64(n))
			ss.stats.out.Add(float64(n))
		}
		ss.srv.touch(ss)
	}
}

// loop waits for replies until the session is idle, evicted, failed or
// closed.
func (ss *session) loop() {
	defer ss.srv.wg.Done()
	for {
		err := ss.raw.Read(ss.onReadable)
		if err == nil {
			if ss.readErr != nil {
				ss.fail(ss.readErr)
				break
			}
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			break // closed
		}
		idle := ss.srv.idle()
		since := time.Duration(now() - ss.last.Load())
		if since >= idle {
			break
		}
		if ss.conn.SetReadDeadline(time.Now().Add(idle-since)) != nil {
			break
		}
	}
	ss.finish()
}

// fail ends a session whose member refused it (an ICMP port unreachable
// reported on the connected socket), counting a connect failure for
// outlier detection.
func (ss *session) fail(err error) {
	if ss.failed.CompareAndSwap(nil, &err) {
		ss.stats.cerrs.Inc()
	}
	ss.srv.unlink(ss)
	ss.conn.Close()
}

func (ss *session) finish() {
	ss.srv.unlink(ss)
	ss.conn.Close()
	o := upstream.Outcome{Latency: 0}
	e := &accessEntry{listener: ss.lm.name, pool: ss.cluster.Name(), member: ss.pick.Member.Address,
		protocol: "udp", client: ss.client, in: ss.in.Load(), out: ss.out.Load(), start: ss.start}
	if p := ss.failed.Load(); p != nil {
		o.Err, o.ConnectFailure = *p, true
		e.err = (*p).Error()
	}
	ss.pick.Done(o)
	ss.lm.sessions.Dec()
	ss.srv.f.accessLog(ss.srv.cfg.Load().l.AccessLog, e)
}
