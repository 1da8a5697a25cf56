package l4

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/fulcrumlb/fulcrum/balancer"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
)

// proxied is one client connection and, once connected, its member.
type proxied struct {
	srv    *tcpServer
	cfg    *tcpConfig
	client *net.TCPConn
	start  time.Time

	// Set up before the relay starts, read-only afterwards.
	addr    netip.AddrPort // the true client: from a trusted PROXY header, else the peer
	route   string
	cluster *upstream.Cluster
	pick    upstream.Pick
	stats   *memberStats
	connect time.Duration
	limited bool // holds a per-client slot

	in, out         atomic.Int64 // bytes client→member and member→client
	inSink, outSink sink
	last            atomic.Int64 // monotonic time of the last transfer, for the idle timer

	mu         sync.Mutex
	up         net.Conn
	aborted    error
	drainTimer *time.Timer
	idleTimer  *time.Timer
	done       bool
	reason     string // why it was rejected, for the access log
}

// clock is the monotonic origin of proxied.last.
var clock = time.Now()

func now() int64 { return int64(time.Since(clock)) }

// run sets the connection up and relays it; it returns when both sides
// are closed.
func (pc *proxied) run() {
	cfg := pc.cfg
	peer := pc.client.RemoteAddr().(*net.TCPAddr).AddrPort()
	pc.addr = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	var clientAddr, localAddr net.Addr = pc.client.RemoteAddr(), pc.client.LocalAddr()
	var pending []byte
	if cfg.trusted(pc.addr.Addr()) {
		src, dst, rest, err := readProxyHeader(pc.client, cfg.handshakeTimeout())
		if err != nil {
			pc.reject(reasonProxyProtocol, err)
			return
		}
		if src.IsValid() {
			pc.addr = src
			clientAddr, localAddr = net.TCPAddrFromAddrPort(src), net.TCPAddrFromAddrPort(dst)
		}
		pending = rest
	}
	if limit := cfg.l.Limits.MaxConnectionsPerClient; limit > 0 {
		if !pc.srv.clients.acquire(pc.addr.Addr(), limit) {
			pc.reject(reasonClientLimit, nil)
			return
		}
		pc.limited = true
	}
	route := cfg.l.TCP
	if cfg.sni != nil {
		hello, name, err := peekClientHello(pc.client, pending, cfg.handshakeTimeout())
		if err != nil {
			pc.reject(reasonTLSHello, err)
			return
		}
		pending = hello
		if r := cfg.sni.match(name); r != nil {
			route, pc.route = &r.Route, r.Name
		}
	}
	if route == nil || len(route.Backends) == 0 {
		pc.reject(reasonNoRoute, nil)
		return
	}
	up, reason, err := pc.dial(route, clientAddr, localAddr)
	if err != nil {
		pc.reject(reason, err)
		return
	}
	if !pc.attach(up) {
		return
	}
	if len(pending) > 0 {
		if _, err := up.Write(pending); err != nil {
			pc.abort(err)
			return
		}
		pc.inSink.add(int64(len(pending)))
	}
	pc.relay(up)
}

// reject closes a connection that reaches no member.
func (pc *proxied) reject(reason string, err error) {
	pc.cfg.lm.rejected[reason].Inc()
	pc.mu.Lock()
	pc.reason = reason
	if err != nil {
		pc.reason = reason + ": " + err.Error()
	}
	pc.mu.Unlock()
	pc.client.Close()
}

// readProxyHeader reads a PROXY v1 or v2 header from a trusted peer. It
// returns the addresses it carries (invalid for a LOCAL header, which
// health checkers send: the peer's own address stands) and the bytes read
// past it, which belong to the payload.
func readProxyHeader(c *net.TCPConn, timeout time.Duration) (src, dst netip.AddrPort, rest []byte, err error) {
	br := bufio.NewReaderSize(c, 4096)
	hdr, err := proxyproto.ReadHeaderTimeout(c, br, timeout)
	if err != nil {
		if errors.Is(err, proxyproto.ErrNoProxyProtocol) {
			err = fmt.Errorf("no PROXY header within %v from a trusted peer", timeout)
		}
		return src, dst, nil, err
	}
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		rest = append([]byte(nil), b...)
	}
	if hdr.Command.IsProxy() {
		if s, d, ok := hdr.TCPAddrs(); ok {
			src, dst = s.AddrPort(), d.AddrPort()
			src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		}
	}
	return src, dst, rest, nil
}

// dial picks members of the route's pool and connects, trying another
// member after a connect failure, up to the route's MaxConnectAttempts.
// Every failure is reported to the pick at once so outlier detection
// sees it; the successful pick stays open until the connection closes so
// that least_conn counts connections.
func (pc *proxied) dial(route *runtime.TCPRoute, clientAddr, localAddr net.Addr) (net.Conn, string, error) {
	var info balancer.PickInfo
	if route.HashSourceIP {
		info.Hash, info.HasHash = hashAddr(pc.addr.Addr()), true
	}
	name := chooseCluster(route, info.Hash, info.HasHash)
	c := pc.srv.f.ups.Cluster(name)
	if c == nil {
		return nil, reasonNoMember, fmt.Errorf("pool %s does not exist", name)
	}
	if ok, _ := c.AcquireConnection(); !ok {
		return nil, reasonPoolLimit, fmt.Errorf("pool %s: at its connection limit", name)
	}
	attempts := max(route.MaxConnectAttempts, 1)
	var last error
	for range attempts {
		pk, err := c.Pick(&info)
		if err != nil {
			if last == nil {
				last = err
			}
			break
		}
		t0 := time.Now()
		up, err := pk.Member.Dial(pc.srv.ctx, upstream.DialOptions{Client: clientAddr, Local: localAddr})
		if err == nil {
			pc.cluster, pc.pick, pc.connect = c, pk, time.Since(t0)
			pc.stats = pc.srv.f.met.member(pk.Member)
			pc.inSink = sink{pc: pc, total: &pc.in, prom: pc.stats.in}
			pc.outSink = sink{pc: pc, total: &pc.out, prom: pc.stats.out}
			return up, "", nil
		}
		last = err
		if pc.srv.ctx.Err() != nil {
			pk.Done(upstream.Outcome{}) // our shutdown, not the member's fault
			break
		}
		pk.Done(upstream.Outcome{Latency: time.Since(t0), Err: err, ConnectFailure: true})
		pc.srv.f.met.member(pk.Member).cerrs.Inc()
		pk.Tried(&info.Tried)
	}
	c.ReleaseConnection()
	return nil, reasonNoMember, last
}

// attach publishes the member connection so that abort can close it; it
// fails when the connection was aborted during the dial.
func (pc *proxied) attach(up net.Conn) bool {
	pc.mu.Lock()
	if pc.aborted != nil {
		pc.mu.Unlock()
		up.Close()
		return false
	}
	pc.up = up
	pc.mu.Unlock()
	// After publishing: an Update that drains the member either sees this
	// connection or ran before, in which case Draining is already true.
	pc.checkDrain()
	return true
}

// checkDrain gives a connection to a member that left its pool, or is
// draining, the pool's drain deadline (when it has one).
func (pc *proxied) checkDrain() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.up == nil || pc.drainTimer != nil || pc.done || !pc.pick.Member.Draining() {
		return
	}
	d := pc.cluster.Config().DrainTimeout
	if d <= 0 {
		return
	}
	pc.drainTimer = time.AfterFunc(d, func() { pc.abort(errMember) })
}

// abort closes both sides now; the relay goroutines see the error and end.
func (pc *proxied) abort(why error) {
	pc.mu.Lock()
	if pc.aborted == nil {
		pc.aborted = why
	}
	up := pc.up
	pc.mu.Unlock()
	pc.client.Close()
	if up != nil {
		up.Close()
	}
}

// finish releases what the connection held and writes its access line.
func (pc *proxied) finish() {
	pc.mu.Lock()
	pc.done = true
	if pc.drainTimer != nil {
		pc.drainTimer.Stop()
	}
	if pc.idleTimer != nil {
		pc.idleTimer.Stop()
	}
	up, why, reason := pc.up, pc.aborted, pc.reason
	pc.mu.Unlock()
	pc.client.Close()
	if pc.limited {
		pc.srv.clients.release(pc.addr.Addr())
	}
	e := &accessEntry{listener: pc.cfg.l.Name, route: pc.route, protocol: pc.cfg.l.Protocol, client: pc.addr,
		in: pc.in.Load(), out: pc.out.Load(), start: pc.start, connect: pc.connect, err: reason}
	if up != nil {
		up.Close()
		pc.pick.Done(upstream.Outcome{Latency: pc.connect})
		pc.cluster.ReleaseConnection()
		e.pool, e.member = pc.cluster.Name(), pc.pick.Member.Address
	}
	if why != nil && e.err == "" {
		e.err = why.Error()
	}
	pc.srv.f.accessLog(pc.cfg.l.AccessLog, e)
}
