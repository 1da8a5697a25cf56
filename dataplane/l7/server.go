package l7

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
)

// Server serves one http, https or grpc listener on a borrowed socket.
// Its configuration is an atomic pointer that Update swaps; no request,
// connection or tunnel is closed by Update.
type Server struct {
	f   *Factory
	ln  net.Listener
	cfg atomic.Pointer[lconfig]

	// ctx is cancelled when Drain gives up waiting: it aborts upstream
	// exchanges and mirrors still running.
	ctx    context.Context
	cancel context.CancelFunc

	acceptDone chan struct{}
	detachOnce sync.Once
	detached   atomic.Bool
	draining   atomic.Bool

	// wg counts every goroutine of the server: the accept loop, one per
	// connection, tunnels, mirrors and HTTP/2 handlers.
	wg sync.WaitGroup

	mu     sync.Mutex
	conns  map[*h1conn]struct{}
	perIP  map[netip.Addr]int
	open   int
	h2     *h2front
	h2old  []*h2front
	tunnel map[*tunnel]struct{}
	// upInUse are upstream connections in use by the net/http path.
	upInUse map[*upConn]struct{}

	n1, nIdle, n2, nTunnel atomic.Int64
	gauges                 [3]prometheus.Gauge // http1, h2, tunnel

	mirrorSem chan struct{}
}

func newServer(f *Factory, cfg *lconfig, ln net.Listener) *Server {
	s := &Server{f: f, ln: ln, acceptDone: make(chan struct{}), conns: map[*h1conn]struct{}{},
		perIP: map[netip.Addr]int{}, tunnel: map[*tunnel]struct{}{}, upInUse: map[*upConn]struct{}{}, mirrorSem: make(chan struct{}, f.maxMirror)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.cfg.Store(cfg)
	s.setGauges(cfg.name)
	s.h2 = s.newH2Front(cfg)
	return s
}

func (s *Server) setGauges(listener string) {
	for i, p := range []string{"http1", "h2", "tunnel"} {
		s.gauges[i] = s.f.metrics.downConns.WithLabelValues(listener, p)
	}
}

func (s *Server) start() {
	s.wg.Add(1)
	go s.acceptLoop()
}

// Update implements runtime.Server: new requests use l; requests in flight
// keep the configuration they started with; no connection is closed.
func (s *Server) Update(l *runtime.Listener) {
	cfg, err := s.f.compile(l)
	if err != nil {
		s.f.log.Error("l7: configuration not applied", "listener", l.Name, "error", err)
		return
	}
	old := s.cfg.Swap(cfg)
	keep := cfg.routeNames()
	for name := range old.routeNames() {
		if !keep[name] || old.name != cfg.name {
			s.f.metrics.dropRoute(old.name, name)
		}
	}
	if old.name != cfg.name {
		s.setGauges(cfg.name)
	}
	if h2Settings(old.l) != h2Settings(l) {
		// HTTP/2 settings are per connection: new connections get a
		// server with the new ones, existing ones keep theirs.
		s.mu.Lock()
		s.h2old = append(s.h2old, s.h2)
		s.h2 = s.newH2Front(cfg)
		s.mu.Unlock()
	}
	s.f.sweepLimiters()
}

// Detach implements runtime.Server: the accept loop stops, the socket stays
// open for the proxy to hand over or close.
func (s *Server) Detach() {
	s.detachOnce.Do(func() {
		s.detached.Store(true)
		dl, ok := s.ln.(interface{ SetDeadline(time.Time) error })
		if ok {
			dl.SetDeadline(aLongTimeAgo)
		}
		<-s.acceptDone
		if ok {
			dl.SetDeadline(time.Time{})
		}
	})
}

// Drain implements runtime.Server: HTTP/1.1 connections close after their
// current response and idle ones now; HTTP/2 connections get GOAWAY; when
// ctx ends, everything left is closed. It returns when every goroutine of
// the server has ended.
func (s *Server) Drain(ctx context.Context) {
	s.Detach()
	s.draining.Store(true)
	s.mu.Lock()
	for c := range s.conns {
		c.wakeIfIdle()
	}
	fronts := append([]*h2front{s.h2}, s.h2old...)
	s.mu.Unlock()
	var h2wg sync.WaitGroup
	for _, h := range fronts {
		h2wg.Add(1)
		go func() { defer h2wg.Done(); h.shutdown(ctx) }()
	}
	done := make(chan struct{})
	go func() { h2wg.Wait(); s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.forceClose(fronts)
		<-done
	}
	s.cancel()
	s.f.forget(s)
}

// forceClose closes every connection that is still open.
func (s *Server) forceClose(fronts []*h2front) {
	s.cancel()
	for _, h := range fronts {
		h.close()
	}
	s.mu.Lock()
	for c := range s.conns {
		c.forceClose()
	}
	for t := range s.tunnel {
		t.close()
	}
	for uc := range s.upInUse {
		uc.c.Close()
	}
	s.mu.Unlock()
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	defer close(s.acceptDone)
	backoff := time.Duration(0)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.detached.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait and go on, as
			// net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		ip := addrOf(c.RemoteAddr())
		if !s.admit(ip) {
			c.Close()
			continue
		}
		s.wg.Add(1)
		go s.serveConn(c, ip)
	}
}

// admit enforces the listener's connection limits (total and per client
// address); over a limit the connection is closed at once.
func (s *Server) admit(ip netip.Addr) bool {
	lim := s.cfg.Load().l.Limits
	s.mu.Lock()
	defer s.mu.Unlock()
	if lim.MaxConnections > 0 && s.open >= lim.MaxConnections {
		return false
	}
	if lim.MaxConnectionsPerClient > 0 && s.perIP[ip] >= lim.MaxConnectionsPerClient {
		return false
	}
	s.open++
	s.perIP[ip]++
	return true
}

func (s *Server) release(ip netip.Addr) {
	s.mu.Lock()
	s.open--
	if n := s.perIP[ip] - 1; n > 0 {
		s.perIP[ip] = n
	} else {
		delete(s.perIP, ip)
	}
	s.mu.Unlock()
}

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// serveConn runs a connection: the TLS handshake, then HTTP/2 (handed to
// the HTTP/2 server) or the HTTP/1.1 loop on this goroutine.
func (s *Server) serveConn(c net.Conn, ip netip.Addr) {
	defer s.wg.Done()
	cfg := s.cfg.Load()
	if cfg.l.TLS != nil {
		tc := tls.Server(c, cfg.tlsConfig())
		c.SetDeadline(time.Now().Add(cfg.headerTimeout()))
		if err := tc.Handshake(); err != nil {
			c.Close()
			s.release(ip)
			return
		}
		c.SetDeadline(time.Time{})
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			s.serveH2(tc, ip)
			return
		}
		c = tc
	}
	h := newH1conn(s, c, ip)
	s.track(h, true)
	if !h.first() {
		s.track(h, false)
		h.free()
		c.Close()
		s.release(ip)
		return
	}
	if h.isH2Preface() {
		s.track(h, false)
		pc := &prefixConn{Conn: c, pre: append([]byte(nil), h.buf[h.r:h.w]...)}
		h.free()
		c.SetReadDeadline(time.Time{})
		s.serveH2(pc, ip)
		return
	}
	h.serve()
	s.track(h, false)
	s.release(ip)
}

func (s *Server) track(h *h1conn, add bool) {
	s.mu.Lock()
	if add {
		s.conns[h] = struct{}{}
	} else {
		delete(s.conns, h)
	}
	s.mu.Unlock()
	if add {
		s.n1.Add(1)
		s.gauges[0].Inc()
	} else {
		s.n1.Add(-1)
		s.gauges[0].Dec()
	}
}

func (s *Server) stats() ConnectionStats {
	cfg := s.cfg.Load()
	return ConnectionStats{Listener: cfg.name, Address: s.ln.Addr().String(), HTTP1: s.n1.Load(), Idle: s.nIdle.Load(),
		HTTP2: s.n2.Load(), Tunnels: s.nTunnel.Load(), Detached: s.detached.Load()}
}

// prefixConn replays bytes already read (the HTTP/2 preface) before
// reading from the connection.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
