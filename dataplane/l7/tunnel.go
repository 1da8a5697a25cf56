package l7

import (
	"net"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/dataplane/l7/http1"
)

// tunnel is an upgraded connection (WebSocket and other Upgrades after a
// 101): bytes flow both ways until either side closes or stays idle past
// the idle timeout. It reads no configuration, so no change touches it;
// only Drain's deadline closes it.
type tunnel struct {
	a, b net.Conn
	once sync.Once
}

func (t *tunnel) close() {
	t.once.Do(func() {
		t.a.Close()
		t.b.Close()
	})
}

// switchProtocols answers the client's Upgrade with the member's 101 and
// runs the tunnel until it ends. The connection is never used for HTTP
// again.
func (h *h1conn) switchProtocols(uc *upConn) bool {
	resp := &h.resp
	h.rs.status = resp.Status
	h.out = http1.AppendResponse(h.out[:0], resp, &http1.ResponseOptions{Connection: http1.ConnUpgrade, Edits: h.responseEdits()})
	h.out = append(h.out, uc.buf[uc.r:uc.w]...)
	uc.r = uc.w
	h.c.SetWriteDeadline(time.Now().Add(h.rs.cfg.idleTimeout()))
	if _, err := h.c.Write(h.out); err != nil {
		uc.close()
		return false
	}
	if h.r < h.w {
		if _, err := uc.c.Write(h.buf[h.r:h.w]); err != nil {
			uc.close()
			return false
		}
		h.r = h.w
	}
	h.record()
	h.setUpstream(nil)
	h.runTunnel(uc)
	return false
}

func (h *h1conn) runTunnel(uc *upConn) {
	s := h.s
	idle := h.rs.cfg.idleTimeout()
	t := &tunnel{a: h.c, b: uc.c}
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		t.close()
		uc.close()
		return
	}
	s.tunnel[t] = struct{}{}
	s.mu.Unlock()
	s.nTunnel.Add(1)
	s.gauges[2].Inc()
	var wg sync.WaitGroup
	wg.Add(1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer wg.Done()
		pipe(uc.c, h.c, h.buf, idle)
		t.close()
	}()
	pipe(h.c, uc.c, uc.buf, idle)
	t.close()
	wg.Wait()
	uc.close()
	s.mu.Lock()
	delete(s.tunnel, t)
	s.mu.Unlock()
	s.nTunnel.Add(-1)
	s.gauges[2].Dec()
}

// pipe copies src to dst until either fails or src stays silent for idle.
func pipe(dst, src net.Conn, buf []byte, idle time.Duration) {
	for {
		src.SetReadDeadline(time.Now().Add(idle))
		n, err := src.Read(buf)
		if n > 0 {
			dst.SetWriteDeadline(time.Now().Add(idle))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
