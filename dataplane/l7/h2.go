package l7

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"net/netip"

	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
)

// h2front is the standard library's HTTP/2 server behind a listener. The
// accept loop hands it connections that negotiated h2 by ALPN (the
// *tls.Conn itself, which net/http needs for ALPN) or that start with the
// h2c preface, through a channel-fed net.Listener. Its settings are per
// connection, so a configuration that changes them gets a new front for
// new connections while existing ones keep theirs.
type h2front struct {
	s         *Server
	srv       *http.Server
	ln        *chanListener
	serveDone chan struct{}
	hwg       sync.WaitGroup // handlers
	once      sync.Once
}

// h2Key is what makes two listener versions need different HTTP/2 servers.
type h2Key struct {
	streams, headerBytes int
	idle, header         time.Duration
}

func h2Settings(l *runtime.Listener) h2Key {
	return h2Key{l.Limits.MaxConcurrentStreams, l.Limits.MaxHeaderBytes, l.Limits.IdleTimeout, l.Limits.HeaderTimeout}
}

func (s *Server) newH2Front(cfg *lconfig) *h2front {
	lim := cfg.l.Limits
	p := new(http.Protocols)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true)
	h := &h2front{s: s, ln: newChanListener(s.ln.Addr()), serveDone: make(chan struct{})}
	streams := lim.MaxConcurrentStreams
	if streams <= 0 {
		streams = 100
	}
	h.srv = &http.Server{
		Handler:           h,
		Protocols:         p,
		ReadHeaderTimeout: cfg.headerTimeout(),
		IdleTimeout:       cfg.idleTimeout(),
		MaxHeaderBytes:    max(lim.MaxHeaderBytes, 4096),
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: streams,
			// Envoy's edge recommendation: 64 KiB stream windows, 1 MiB
			// per connection, bounding what one client can make us buffer.
			MaxReceiveBufferPerStream:     64 << 10,
			MaxReceiveBufferPerConnection: 1 << 20,
			MaxDecoderHeaderTableSize:     4096,
			PingTimeout:                   15 * time.Second,
			SendPingTimeout:               cfg.idleTimeout(),
		},
		ConnState:   s.h2ConnState,
		BaseContext: func(net.Listener) context.Context { return s.ctx },
		ErrorLog:    log.New(io.Discard, "", 0),
	}
	s.wg.Add(1)
	go func() {
		defer close(h.serveDone)
		h.srv.Serve(h.ln)
	}()
	return h
}

// ServeHTTP counts the handler (Drain waits for it) and serves the request.
func (h *h2front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.hwg.Add(1)
	defer h.hwg.Done()
	h.s.serveHTTP(w, r)
}

// shutdown sends GOAWAY to every connection and waits for their streams
// until ctx ends, then closes what remains; it returns when the server and
// its handlers are done.
func (h *h2front) shutdown(ctx context.Context) {
	h.once.Do(func() {
		if err := h.srv.Shutdown(ctx); err != nil {
			h.srv.Close()
		}
		<-h.serveDone
		h.hwg.Wait()
		h.s.wg.Done()
	})
}

func (h *h2front) close() { h.srv.Close() }

// serveH2 hands a connection to the current HTTP/2 server.
func (s *Server) serveH2(c net.Conn, ip netip.Addr) {
	s.mu.Lock()
	h := s.h2
	s.mu.Unlock()
	select {
	case h.ln.ch <- c:
	case <-h.ln.closed:
		c.Close()
		s.release(ip)
	}
}

// h2ConnState keeps the connection counts of HTTP/2 connections; their
// connection limit slots are returned when net/http closes them.
func (s *Server) h2ConnState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.n2.Add(1)
		s.gauges[1].Inc()
	case http.StateClosed, http.StateHijacked:
		s.n2.Add(-1)
		s.gauges[1].Dec()
		s.release(addrOf(c.RemoteAddr()))
	}
}

// chanListener is a net.Listener fed by the accept loop.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
