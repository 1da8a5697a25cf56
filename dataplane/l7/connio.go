package l7

import (
	"net"
	"runtime"
	"syscall"
	"time"
)

// connReader reads from a connection and keeps its RawConn (plain TCP
// only) for the non-blocking liveness probe of pooled connections.
//
// Measured and rejected: skipping the first read attempt when the socket
// was drained (waiting for readiness through RawConn.Read instead of after
// a read that fails with EAGAIN) saves ~1.6 system calls per proxied
// request, but RawConn.Read resets the poller's readiness flag before the
// callback runs, so readiness that arrived just before the call is lost
// and the read can stall until the next packet. Go's plain Read is kept.
type connReader struct {
	c  net.Conn
	rc syscall.RawConn
}

func (r *connReader) init(c net.Conn) {
	r.c, r.rc = c, nil
	if tc, ok := c.(*net.TCPConn); ok {
		if rc, err := tc.SyscallConn(); err == nil {
			r.rc = rc
		}
	}
}

// Read implements io.Reader.
func (r *connReader) Read(p []byte) (int, error) { return r.c.Read(p) }

// peerClosed checks without blocking whether an idle connection was closed
// by its peer (or has unexpected data), with MSG_PEEK|MSG_DONTWAIT. A read
// with a deadline in the past would not do: Go returns the timeout without
// a system call.
func peerClosed(rc syscall.RawConn) bool {
	if rc == nil {
		return false
	}
	closed := false
	var b [1]byte
	err := rc.Control(func(fd uintptr) {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = err != syscall.EAGAIN
	})
	return err != nil || closed
}

// deadlines remembers the read and write deadlines in force on a
// connection, so that the per-request refresh (idle timeout, header
// timeout) is skipped when the deadline in force is already within a small
// tolerance below the wanted one: setting a deadline re-arms a runtime
// timer, a measurable cost at tens of thousands of requests per second. A
// deadline is never moved later than wanted, and is early by at most the
// tolerance.
type deadlines struct {
	r, w time.Time
}

// tolerance is how early a kept deadline may be: 1/16 of the timeout, at
// most a second.
func tolerance(d time.Duration) time.Duration { return min(d/16, time.Second) }

func (d *deadlines) setRead(c net.Conn, want time.Time, tol time.Duration) {
	if keep(d.r, want, tol) {
		return
	}
	c.SetReadDeadline(want)
	d.r = want
}

func (d *deadlines) setWrite(c net.Conn, want time.Time, tol time.Duration) {
	if keep(d.w, want, tol) {
		return
	}
	c.SetWriteDeadline(want)
	d.w = want
}

// forget is called after a deadline was set directly.
func (d *deadlines) forget() { *d = deadlines{r: aLongTimeAgo, w: aLongTimeAgo} }

func keep(cur, want time.Time, tol time.Duration) bool {
	if want.IsZero() || cur.IsZero() {
		return want.IsZero() && cur.IsZero()
	}
	return !cur.After(want) && want.Sub(cur) <= tol
}

// yieldBeforeRead lets other goroutines run before a read that would
// most likely find nothing yet (the next request of a kept-alive client,
// the response a member is still computing). Under load, by the time this
// goroutine runs again the bytes have usually arrived, and the read
// succeeds at once instead of failing with EAGAIN and parking: nginx makes
// 2 reads per proxied request, Go's read-first poller 3.6 without this.
// With nothing else runnable it returns at once.
func yieldBeforeRead() { runtime.Gosched() }
