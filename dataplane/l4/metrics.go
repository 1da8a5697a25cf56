package l4

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
)

// Reasons a connection or UDP session is refused, the values of the
// fulcrum_l4_rejected_total reason label.
const (
	reasonListenerLimit = "listener_limit"
	reasonClientLimit   = "client_limit"
	reasonPoolLimit     = "pool_limit"
	reasonNoMember      = "no_member"
	reasonNoRoute       = "no_route"
	reasonProxyProtocol = "proxy_protocol"
	reasonTLSHello      = "tls_hello"
)

var allReasons = []string{reasonListenerLimit, reasonClientLimit, reasonPoolLimit, reasonNoMember,
	reasonNoRoute, reasonProxyProtocol, reasonTLSHello}

// Copy modes, the values of fulcrum_l4_copied_bytes_total's mode label.
const (
	modeSplice = "splice"
	modeBuffer = "buffer"
)

// metrics are the fulcrum_l4_* collectors. Label lookups happen when a
// listener starts and when a connection first meets a member, never per
// transfer: the hot path holds pre-resolved handles.
type metrics struct {
	active    *prometheus.GaugeVec
	total     *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	connErrs  *prometheus.CounterVec
	sessions  *prometheus.GaugeVec
	sessTotal *prometheus.CounterVec
	evictions *prometheus.CounterVec
	copied    *prometheus.CounterVec

	splice, buffer prometheus.Counter

	mu        sync.Mutex
	listeners map[string]*listenerMetrics
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fulcrum_l4_connections_active",
			Help: "TCP connections open on each L4 listener, from accept to close.",
		}, []string{"listener"}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_l4_connections_total",
			Help: "TCP connections accepted by each L4 listener.",
		}, []string{"listener"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_l4_rejected_total",
			Help: "TCP connections closed and UDP sessions refused before reaching a member, by reason.",
		}, []string{"listener", "reason"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_l4_bytes_total",
			Help: "Payload bytes relayed per member: in from clients to the member, out from the member to clients.",
		}, []string{"pool", "member", "direction"}),
		connErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_l4_connect_errors_total",
			Help: "Failed connection attempts to members (refused, timed out, unreachable).",
		}, []string{"pool", "member"}),
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fulcrum_l4_udp_sessions",
			Help: "UDP sessions in each listener's session table.",
		}, []string{"listener"}),
		sessTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_l4_udp_sessions_total",
			Help: "UDP sessions created by each listener.",
		}, []string{"listener"}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_l4_udp_evictions_total",
			Help: "UDP sessions evicted, least recently used first, because the table was full.",
		}, []string{"listener"}),
		copied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_l4_copied_bytes_total",
			Help: "TCP payload bytes relayed by copy mode: splice (kernel only) or buffer (through user space).",
		}, []string{"mode"}),
		listeners: map[string]*listenerMetrics{},
	}
	for _, c := range []any{&m.active, &m.total, &m.rejected, &m.bytes, &m.connErrs, &m.sessions, &m.sessTotal, &m.evictions, &m.copied} {
		if err := register(reg, c); err != nil {
			return nil, err
		}
	}
	m.splice = m.copied.WithLabelValues(modeSplice)
	m.buffer = m.copied.WithLabelValues(modeBuffer)
	return m, nil
}

// register registers *c, or replaces it by the collector already
// registered under the same name, so that several factories may share one
// registry (a process runs one; tests and benchmarks may run more).
func register(reg prometheus.Registerer, c any) error {
	if reg == nil {
		return nil
	}
	var col prometheus.Collector
	switch v := c.(type) {
	case **prometheus.GaugeVec:
		col = *v
	case **prometheus.CounterVec:
		col = *v
	}
	err := reg.Register(col)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		switch v := c.(type) {
		case **prometheus.GaugeVec:
			if ex, ok := are.ExistingCollector.(*prometheus.GaugeVec); ok {
				*v = ex
				return nil
			}
		case **prometheus.CounterVec:
			if ex, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				*v = ex
				return nil
			}
		}
	}
	return err
}

// listenerMetrics are one listener's pre-resolved handles, shared by every
// server that serves a listener of that name and deleted with the last one.
type listenerMetrics struct {
	name      string
	refs      int
	active    prometheus.Gauge
	total     prometheus.Counter
	rejected  map[string]prometheus.Counter
	sessions  prometheus.Gauge
	sessTotal prometheus.Counter
	evictions prometheus.Counter
}

func (m *metrics) listener(name string) *listenerMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if lm := m.listeners[name]; lm != nil {
		lm.refs++
		return lm
	}
	lm := &listenerMetrics{
		name: name, refs: 1,
		active: m.active.WithLabelValues(name), total: m.total.WithLabelValues(name),
		sessions: m.sessions.WithLabelValues(name), sessTotal: m.sessTotal.WithLabelValues(name),
		evictions: m.evictions.WithLabelValues(name), rejected: map[string]prometheus.Counter{},
	}
	for _, r := range allReasons {
		lm.rejected[r] = m.rejected.WithLabelValues(name, r)
	}
	m.listeners[name] = lm
	return lm
}

// release drops a server's reference; the last one removes the series of
// a listener that no longer exists.
func (m *metrics) release(lm *listenerMetrics) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if lm.refs--; lm.refs > 0 {
		return
	}
	delete(m.listeners, lm.name)
	for _, v := range []interface{ DeleteLabelValues(...string) bool }{m.active, m.total, m.sessions, m.sessTotal, m.evictions} {
		v.DeleteLabelValues(lm.name)
	}
	m.rejected.DeletePartialMatch(prometheus.Labels{"listener": lm.name})
}

// memberStats are a member's pre-resolved counters. They hang on the
// member as an upstream.Attachment, so they live exactly as long as the
// member and its series go when it leaves its pool.
type memberStats struct {
	m              *metrics
	pool, member   string
	in, out, cerrs prometheus.Counter
}

// Close implements upstream.Attachment.
func (s *memberStats) Close() {
	s.m.bytes.DeletePartialMatch(prometheus.Labels{"pool": s.pool, "member": s.member})
	s.m.connErrs.DeleteLabelValues(s.pool, s.member)
}

// orphanStats count for members that left their pool while a connection
// was being set up; they are exported nowhere.
var orphanStats = &memberStats{
	in:    prometheus.NewCounter(prometheus.CounterOpts{Name: "orphan_in"}),
	out:   prometheus.NewCounter(prometheus.CounterOpts{Name: "orphan_out"}),
	cerrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "orphan_errors"}),
}

// statsKey is the attachment key of a metrics set's member counters.
type statsKey struct{ m *metrics }

func (m *metrics) member(mb *upstream.Member) *memberStats {
	pool := mb.Cluster().Name()
	a := mb.Attach(statsKey{m}, func() upstream.Attachment {
		return &memberStats{
			m: m, pool: pool, member: mb.Address,
			in:    m.bytes.WithLabelValues(pool, mb.Address, "in"),
			out:   m.bytes.WithLabelValues(pool, mb.Address, "out"),
			cerrs: m.connErrs.WithLabelValues(pool, mb.Address),
		}
	})
	if a == nil {
		return orphanStats
	}
	return a.(*memberStats)
}
