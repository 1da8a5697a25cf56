package l4

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/balancer"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
)

// handshakeTimeout bounds how long a client may take to send a PROXY
// header or a TLS ClientHello, unless the listener's idle timeout is
// shorter. HAProxy's "timeout client" and Envoy's listener filter timeout
// play the same role.
const handshakeTimeout = 10 * time.Second

// factory starts L4 servers. It is safe for concurrent use.
type factory struct {
	deps runtime.Deps
	ups  *upstream.Manager
	log  *slog.Logger
	met  *metrics
}

// NewFactory returns the factory of tcp, tls and udp servers. Servers pick
// members from ups, the proxy's live clusters; deps supplies the logger
// (access lines are written to it) and the metrics registerer.
func NewFactory(deps runtime.Deps, ups *upstream.Manager) runtime.ServerFactory {
	f := &factory{deps: deps, ups: ups, log: deps.Logger}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	met, err := newMetrics(deps.Registerer)
	if err != nil {
		// A name clash with a foreign collector: serve anyway, unexported.
		f.log.Error("l4: registering metrics", "error", err)
		met, _ = newMetrics(nil)
	}
	f.met = met
	return f
}

// Protocols implements runtime.ServerFactory.
func (f *factory) Protocols() []string {
	return []string{runtime.ProtoTCP, runtime.ProtoTLS, runtime.ProtoUDP}
}

// NewServer implements runtime.ServerFactory.
func (f *factory) NewServer(l *runtime.Listener, sock runtime.Socket) (runtime.Server, error) {
	switch l.Protocol {
	case runtime.ProtoTCP, runtime.ProtoTLS:
		ln, ok := sock.Stream.(*net.TCPListener)
		if !ok {
			return nil, fmt.Errorf("l4: listener %s: a %s listener needs a TCP socket", l.Name, l.Protocol)
		}
		return newTCPServer(f, l, ln)
	case runtime.ProtoUDP:
		pc, ok := sock.Packet.(*net.UDPConn)
		if !ok {
			return nil, fmt.Errorf("l4: listener %s: a udp listener needs a UDP socket", l.Name)
		}
		return newUDPServer(f, l, pc)
	}
	return nil, fmt.Errorf("l4: listener %s: protocol %q is not served here", l.Name, l.Protocol)
}

// hashAddr is the affinity key of a client: its IP address in network byte
// order (4 bytes for IPv4, 16 for IPv6), hashed with the balancer's XXH64,
// so the same client maps to the same member on every listener and in
// every process.
func hashAddr(a netip.Addr) uint64 {
	if a.Is4() {
		b := a.As4()
		return balancer.HashBytes(b[:])
	}
	b := a.As16()
	return balancer.HashBytes(b[:])
}

// chooseCluster picks one of a route's weighted backends; with a hash the
// choice is stable for a client.
func chooseCluster(r *runtime.TCPRoute, hash uint64, hasHash bool) string {
	if len(r.Backends) == 1 {
		return r.Backends[0].Cluster
	}
	var total uint64
	for _, b := range r.Backends {
		total += uint64(b.Weight)
	}
	if total == 0 {
		return r.Backends[0].Cluster
	}
	if !hasHash {
		hash = rand.Uint64()
	}
	n := hash % total
	for _, b := range r.Backends {
		if n < uint64(b.Weight) {
			return b.Cluster
		}
		n -= uint64(b.Weight)
	}
	return r.Backends[len(r.Backends)-1].Cluster
}

// clientCounter counts open connections per client address for
// Limits.MaxConnectionsPerClient.
type clientCounter struct {
	mu sync.Mutex
	n  map[netip.Addr]int
}

func (c *clientCounter) acquire(a netip.Addr, limit int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[netip.Addr]int{}
	}
	if c.n[a] >= limit {
		return false
	}
	c.n[a]++
	return true
}

func (c *clientCounter) release(a netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[a] <= 1 {
		delete(c.n, a)
		return
	}
	c.n[a]--
}

// accessEntry is what one access-log line can tell about a connection or a
// UDP session.
type accessEntry struct {
	listener, route, pool, member, protocol string
	client                                  netip.AddrPort
	in, out                                 int64
	start                                   time.Time
	connect                                 time.Duration
	err                                     string
}

// accessLog writes one JSON line (through the process's slog handler) with
// the listener's chosen fields, or every field L4 knows when none is named.
func (f *factory) accessLog(al runtime.AccessLog, e *accessEntry) {
	if !al.Enabled {
		return
	}
	want := func(name string) bool {
		if len(al.Fields) == 0 {
			return true
		}
		for _, f := range al.Fields {
			if f == name {
				return true
			}
		}
		return false
	}
	attrs := make([]slog.Attr, 0, 12)
	add := func(name string, v slog.Value) {
		if want(name) {
			attrs = append(attrs, slog.Attr{Key: name, Value: v})
		}
	}
	add("listener", slog.StringValue(e.listener))
	if e.route != "" {
		add("route", slog.StringValue(e.route))
	}
	add("pool", slog.StringValue(e.pool))
	add("member", slog.StringValue(e.member))
	add("client", slog.StringValue(e.client.String()))
	add("protocol", slog.StringValue(e.protocol))
	add("bytes_in", slog.Int64Value(e.in))
	add("bytes_out", slog.Int64Value(e.out))
	add("duration_ms", slog.Float64Value(float64(time.Since(e.start).Microseconds())/1000))
	add("upstream_ms", slog.Float64Value(float64(e.connect.Microseconds())/1000))
	if e.err != "" {
		add("error", slog.StringValue(e.err))
	}
	f.log.LogAttrs(context.Background(), slog.LevelInfo, "access", attrs...)
}

// Ensure the interface is met.
var _ runtime.ServerFactory = (*factory)(nil)
