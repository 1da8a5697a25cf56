package l4

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// relay copies both ways until both directions have ended. A direction
// that reaches end of stream half-closes its destination (CloseWrite), so
// a client that shuts down its sending side still gets the member's reply;
// a direction that fails (reset, abort, idle timeout) closes everything.
func (pc *proxied) relay(up net.Conn) {
	pc.last.Store(now())
	if idle := pc.cfg.l.Limits.IdleTimeout; idle > 0 {
		pc.mu.Lock()
		if !pc.done {
			pc.idleTimer = time.AfterFunc(idle, func() { pc.checkIdle(idle) })
		}
		pc.mu.Unlock()
	}
	back := make(chan struct{})
	go func() {
		defer close(back)
		pc.copyHalf(pc.client, up, &pc.outSink)
	}()
	pc.copyHalf(up, pc.client, &pc.inSink)
	<-back
}

// checkIdle runs when the idle timer fires: it closes a connection that
// has moved no byte for idle, and otherwise re-arms for the remainder.
func (pc *proxied) checkIdle(idle time.Duration) {
	since := time.Duration(now() - pc.last.Load())
	if since >= idle {
		pc.abort(errIdle)
		return
	}
	pc.mu.Lock()
	if !pc.done {
		pc.idleTimer.Reset(idle - since)
	}
	pc.mu.Unlock()
}

// sink receives a direction's progress: it marks activity for the idle
// timer and counts bytes for the access log and the member's metrics.
type sink struct {
	pc    *proxied
	total *atomic.Int64
	prom  prometheus.Counter
}

func (s *sink) add(n int64) {
	s.pc.last.Store(now())
	s.total.Add(n)
	s.prom.Add(float64(n))
}

// copyHalf copies src to dst until src ends, then half-closes dst; on an
// error it aborts the whole connection.
func (pc *proxied) copyHalf(dst, src net.Conn, sk *sink) {
	var err error
	var spliced, copied int64
	d, dok := dst.(*net.TCPConn)
	s, sok := src.(*net.TCPConn)
	if dok && sok {
		spliced, copied, err = spliceCopy(d, s, sk)
	} else {
		copied, err = bufferCopy(dst, src, sk)
	}
	pc.srv.f.met.splice.Add(float64(spliced))
	pc.srv.f.met.buffer.Add(float64(copied))
	if err != nil {
		pc.abort(err)
		return
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			return
		}
	}
	pc.abort(io.EOF)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// bufferCopy is the relay through user space, for members reached over
// TLS (and systems without splice).
func bufferCopy(dst io.Writer, src io.Reader, sk *sink) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var total int64
	for {
		n, err := src.Read(buf)
		if n > 0 {
			sk.add(int64(n))
			w, werr := dst.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}
