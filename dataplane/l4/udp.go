package l4

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/balancer"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
)

const (
	// defaultMaxSessions applies when a listener names no cap (the API's
	// default is the same).
	defaultMaxSessions = 65536
	// udpDrainGrace is how long a draining listener keeps a silent session
	// for replies still on their way.
	udpDrainGrace = time.Second
	// udpPickAttempts bounds the members tried when a session's socket
	// cannot be opened.
	udpPickAttempts = 3
)

type udpConfig struct {
	l  *runtime.Listener
	lm *listenerMetrics
}

// udpServer serves a udp listener. One goroutine reads the listening
// socket and forwards each datagram to its session's connected upstream
// socket; each session has one goroutine parked on that socket that sends
// replies back to the client through the listening socket. No goroutine
// is started per datagram.
type udpServer struct {
	f  *factory
	pc *net.UDPConn

	cfg        atomic.Pointer[udpConfig]
	detached   atomic.Bool
	detachOnce sync.Once
	readerDone chan struct{}
	draining   atomic.Bool
	wg         sync.WaitGroup // one per session

	// mu guards the session table and its recency list (head is the most
	// recently used session, tail the eviction candidate).
	mu         sync.Mutex
	sessions   map[netip.AddrPort]*session
	head, tail *session
}

func newUDPServer(f *factory, l *runtime.Listener, pc *net.UDPConn) (*udpServer, error) {
	s := &udpServer{f: f, pc: pc, readerDone: make(chan struct{}), sessions: map[netip.AddrPort]*session{}}
	s.cfg.Store(&udpConfig{l: l, lm: f.met.listener(l.Name)})
	if err := pc.SetReadDeadline(time.Time{}); err != nil {
		f.met.release(s.cfg.Load().lm)
		return nil, err
	}
	go s.readLoop()
	return s, nil
}

// Update implements runtime.Server. Sessions keep their member; a session
// whose member left its pool is replaced on the client's next datagram.
func (s *udpServer) Update(l *runtime.Listener) {
	old := s.cfg.Load()
	c := &udpConfig{l: l, lm: old.lm}
	if l.Name != old.lm.name {
		c.lm = s.f.met.listener(l.Name)
		s.f.met.release(old.lm)
	}
	s.cfg.Store(c)
}

// Detach implements runtime.Server: a past read deadline wakes the reader
// without closing the socket.
func (s *udpServer) Detach() {
	s.detachOnce.Do(func() {
		s.detached.Store(true)
		_ = s.pc.SetReadDeadline(time.Now())
	})
	<-s.readerDone
}

// Drain implements runtime.Server. Once detached no datagram reaches a
// session, so sessions are kept only while replies may still come: each
// ends after udpDrainGrace of silence (or its idle timeout, if shorter),
// and all are closed when ctx is done.
func (s *udpServer) Drain(ctx context.Context) {
	s.Detach()
	s.draining.Store(true)
	s.eachSession(func(ss *session) { _ = ss.conn.SetReadDeadline(time.Now()) })
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.eachSession(func(ss *session) { ss.conn.Close() })
		<-done
	}
	s.f.met.release(s.cfg.Load().lm)
}

func (s *udpServer) eachSession(fn func(*session)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := s.head; ss != nil; ss = ss.next {
		fn(ss)
	}
}

// idle is the silence after which a session ends.
func (s *udpServer) idle() time.Duration {
	idle := s.cfg.Load().l.Limits.IdleTimeout
	if r := s.cfg.Load().l.UDP; r != nil && r.IdleTimeout > 0 {
		idle = r.IdleTimeout
	}
	if idle <= 0 {
		idle = 60 * time.Second
	}
	if s.draining.Load() {
		idle = min(idle, udpDrainGrace)
	}
	return idle
}

func (s *udpServer) readLoop() {
	defer close(s.readerDone)
	buf := make([]byte, 64<<10)
	errs := 0
	for {
		n, addr, err := s.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.detached.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Passing errors (ICMP reports, buffer shortage) are skipped;
			// a persistent one must not spin a core.
			if errs++; errs > 10 {
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		errs = 0
		s.forward(buf[:n], netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port()))
	}
}

// forward sends a client's datagram on its session, creating the session
// if needed.
func (s *udpServer) forward(b []byte, client netip.AddrPort) {
	s.mu.Lock()
	ss := s.sessions[client]
	if ss != nil {
		s.moveFront(ss)
	}
	s.mu.Unlock()
	if ss != nil && ss.pick.Member.Removed() {
		s.unlink(ss)
		ss.conn.Close()
		ss = nil
	}
	if ss == nil {
		if ss = s.create(client); ss == nil {
			return
		}
	}
	ss.last.Store(now())
	if _, err := ss.conn.Write(b); err != nil {
		// ECONNREFUSED: an ICMP port unreachable from an earlier datagram.
		ss.fail(err)
		return
	}
	ss.in.Add(int64(len(b)))
	ss.stats.in.Add(float64(len(b)))
}

// create opens a session to a member picked for client, evicting the
// least recently used session when the table is full.
func (s *udpServer) create(client netip.AddrPort) *session {
	cfg := s.cfg.Load()
	r := cfg.l.UDP
	if r == nil {
		cfg.lm.rejected[reasonNoRoute].Inc()
		return nil
	}
	c := s.f.ups.Cluster(r.Cluster)
	if c == nil {
		cfg.lm.rejected[reasonNoMember].Inc()
		return nil
	}
	var info balancer.PickInfo
	if r.HashSourceIP {
		info.Hash, info.HasHash = hashAddr(client.Addr()), true
	}
	for range udpPickAttempts {
		pk, err := c.Pick(&info)
		if err != nil {
			break
		}
		conn, err := dialUDP(pk.Member.Address)
		if err != nil {
			pk.Done(upstream.Outcome{Err: err, ConnectFailure: true})
			s.f.met.member(pk.Member).cerrs.Inc()
			pk.Tried(&info.Tried)
			continue
		}
		return s.start(client, cfg, c, pk, conn)
	}
	cfg.lm.rejected[reasonNoMember].Inc()
	return nil
}

func (s *udpServer) start(client netip.AddrPort, cfg *udpConfig, c *upstream.Cluster, pk upstream.Pick, conn *net.UDPConn) *session {
	ss := &session{srv: s, client: client, conn: conn, cluster: c, pick: pk, stats: s.f.met.member(pk.Member),
		start: time.Now(), lm: cfg.lm}
	ss.last.Store(now())
	ss.onReadable = ss.readable
	raw, err := conn.SyscallConn()
	if err == nil {
		err = conn.SetReadDeadline(time.Now().Add(s.idle()))
	}
	if err != nil {
		conn.Close()
		pk.Done(upstream.Outcome{})
		return nil
	}
	ss.raw = raw
	limit := cfg.l.Limits.MaxUDPSessions
	if limit <= 0 {
		limit = defaultMaxSessions
	}
	s.mu.Lock()
	for len(s.sessions) >= limit && s.tail != nil {
		victim := s.tail
		s.unlinkLocked(victim)
		victim.conn.Close()
		cfg.lm.evictions.Inc()
	}
	s.sessions[client] = ss
	ss.linked = true
	s.pushFront(ss)
	s.mu.Unlock()
	cfg.lm.sessions.Inc()
	cfg.lm.sessTotal.Inc()
	s.wg.Add(1)
	go ss.loop()
	return ss
}

// dialUDP opens a connected socket to a member, so that its replies are
// told apart from every other session's by the kernel.
func dialUDP(address string) (*net.UDPConn, error) {
	if ap, err := netip.ParseAddrPort(address); err == nil {
		return net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ap))
	}
	// A member named by DNS: resolved here, in the reader, once per session.
	ra, err := net.ResolveUDPAddr("udp", address)
	if err != nil {
		return nil, err
	}
	return net.DialUDP("udp", nil, ra)
}

// The recency list. Callers hold s.mu.

func (s *udpServer) pushFront(ss *session) {
	ss.prev, ss.next = nil, s.head
	if s.head != nil {
		s.head.prev = ss
	}
	s.head = ss
	if s.tail == nil {
		s.tail = ss
	}
}

func (s *udpServer) moveFront(ss *session) {
	if s.head == ss || !ss.linked {
		return
	}
	s.detachNode(ss)
	s.pushFront(ss)
}

func (s *udpServer) detachNode(ss *session) {
	if ss.prev != nil {
		ss.prev.next = ss.next
	} else {
		s.head = ss.next
	}
	if ss.next != nil {
		ss.next.prev = ss.prev
	} else {
		s.tail = ss.prev
	}
	ss.prev, ss.next = nil, nil
}

func (s *udpServer) unlinkLocked(ss *session) {
	if !ss.linked {
		return
	}
	ss.linked = false
	s.detachNode(ss)
	if s.sessions[ss.client] == ss {
		delete(s.sessions, ss.client)
	}
}

func (s *udpServer) unlink(ss *session) {
	s.mu.Lock()
	s.unlinkLocked(ss)
	s.mu.Unlock()
}

func (s *udpServer) touch(ss *session) {
	s.mu.Lock()
	s.moveFront(ss)
	s.mu.Unlock()
}
