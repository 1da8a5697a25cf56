package l4

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
)

// tcpConfig is a listener's configuration compiled for the accept path.
type tcpConfig struct {
	l   *runtime.Listener
	sni *sniTable // tls listeners only
	lm  *listenerMetrics
}

func (c *tcpConfig) trusted(a netip.Addr) bool {
	for _, p := range c.l.ProxyProtocolFrom {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// handshakeTimeout bounds the PROXY header and the ClientHello.
func (c *tcpConfig) handshakeTimeout() time.Duration {
	if idle := c.l.Limits.IdleTimeout; idle > 0 && idle < handshakeTimeout {
		return idle
	}
	return handshakeTimeout
}

// tcpServer serves a tcp or tls listener.
type tcpServer struct {
	f  *factory
	ln *net.TCPListener

	cfg atomic.Pointer[tcpConfig]

	// ctx is cancelled when Drain gives up waiting, which aborts dials and
	// handshakes still in progress.
	ctx    context.Context
	cancel context.CancelFunc

	detached   atomic.Bool
	detachOnce sync.Once
	acceptDone chan struct{}

	wg      sync.WaitGroup // one per connection
	active  atomic.Int64
	clients clientCounter

	mu    sync.Mutex
	conns map[*proxied]struct{}
}

func newTCPServer(f *factory, l *runtime.Listener, ln *net.TCPListener) (*tcpServer, error) {
	s := &tcpServer{f: f, ln: ln, acceptDone: make(chan struct{}), conns: map[*proxied]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.cfg.Store(s.compile(l, nil))
	// The socket may come from a server that detached by setting a past
	// deadline; clear it so Accept blocks again.
	if err := ln.SetDeadline(time.Time{}); err != nil {
		s.cancel()
		return nil, err
	}
	go s.acceptLoop()
	return s, nil
}

func (s *tcpServer) compile(l *runtime.Listener, old *tcpConfig) *tcpConfig {
	c := &tcpConfig{l: l}
	if l.Protocol == runtime.ProtoTLS {
		c.sni = newSNITable(l.SNI)
	}
	if old != nil && old.lm.name == l.Name {
		c.lm = old.lm
	} else {
		c.lm = s.f.met.listener(l.Name)
		if old != nil {
			s.f.met.release(old.lm)
		}
	}
	return c
}

// Update implements runtime.Server: new connections use l; established
// ones keep their member. Connections to members that left their pool or
// are draining are given the pool's drain deadline.
func (s *tcpServer) Update(l *runtime.Listener) {
	s.cfg.Store(s.compile(l, s.cfg.Load()))
	s.mu.Lock()
	defer s.mu.Unlock()
	for pc := range s.conns {
		pc.checkDrain()
	}
}

// Detach implements runtime.Server. A past deadline wakes Accept without
// closing the socket, which the proxy may hand to another server.
func (s *tcpServer) Detach() {
	s.detachOnce.Do(func() {
		s.detached.Store(true)
		_ = s.ln.SetDeadline(time.Now())
	})
	<-s.acceptDone
}

// Drain implements runtime.Server. TCP has no way to ask a peer to finish,
// so connections go on until they end by themselves or ctx is done; then
// every remaining connection is closed.
func (s *tcpServer) Drain(ctx context.Context) {
	s.Detach()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel()
		s.mu.Lock()
		for pc := range s.conns {
			pc.abort(errDrained)
		}
		s.mu.Unlock()
		<-done
	}
	s.cancel()
	s.f.met.release(s.cfg.Load().lm)
}

var (
	errDrained = errors.New("closed at the listener's drain deadline")
	errMember  = errors.New("closed at the pool's drain deadline: the member left or is draining")
	errIdle    = errors.New("idle timeout")
)

func (s *tcpServer) acceptLoop() {
	defer close(s.acceptDone)
	var delay time.Duration
	for {
		c, err := s.ln.AcceptTCP()
		if err != nil {
			if s.detached.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors or a similar passing error: back off
			// as net/http does, rather than spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		s.admit(c)
	}
}

// admit applies the listener's connection limit and starts the
// connection's goroutine.
func (s *tcpServer) admit(c *net.TCPConn) {
	cfg := s.cfg.Load()
	if limit := int64(cfg.l.Limits.MaxConnections); limit > 0 && s.active.Load() >= limit {
		cfg.lm.rejected[reasonListenerLimit].Inc()
		_ = c.SetLinger(0)
		c.Close()
		return
	}
	s.active.Add(1)
	cfg.lm.active.Inc()
	cfg.lm.total.Inc()
	s.wg.Add(1)
	go s.serve(c, cfg)
}

func (s *tcpServer) track(pc *proxied) {
	s.mu.Lock()
	s.conns[pc] = struct{}{}
	s.mu.Unlock()
}

func (s *tcpServer) untrack(pc *proxied) {
	s.mu.Lock()
	delete(s.conns, pc)
	s.mu.Unlock()
}

func (s *tcpServer) serve(c *net.TCPConn, cfg *tcpConfig) {
	defer s.wg.Done()
	pc := &proxied{srv: s, client: c, cfg: cfg, start: time.Now()}
	s.track(pc)
	pc.run()
	s.untrack(pc)
	pc.finish()
	s.active.Add(-1)
	cfg.lm.active.Dec()
}
