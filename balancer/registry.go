package balancer

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RegistryOptions configures a Registry.
type RegistryOptions struct {
	// Registerer receives the registry's metrics; nil registers nothing. When several
	// registries (one per pool) share a Prometheus registry, wrap it with the pool's
	// name, e.g. prometheus.WrapRegistererWith(prometheus.Labels{"pool": name}, reg).
	Registerer prometheus.Registerer
	// Now returns monotonic time since an arbitrary origin. It timestamps latency
	// samples for peak_ewma's decay. nil uses the process's monotonic clock; simulations
	// inject a virtual clock. It must never go backwards.
	Now func() time.Duration
}

// Registry holds the live per-member counters that must survive picker rebuilds:
// outstanding picks (in-flight requests for L7, open connections for L4), the latency
// EWMA and failure counts. Use one Registry per pool (or per client, in the client
// library): independent clients must not share counters.
//
// Entries are reference-counted by address. New acquires one reference per member of
// its Config; Picker.Close releases them; an entry whose count reaches zero is removed,
// so a member that left the pool stops costing memory as soon as the last picker that
// knew it is closed. Build the new picker before closing the old one, and counters of
// members present in both are carried over untouched.
//
// A Registry is safe for concurrent use. Only New, Close and Stats take its mutex;
// Pick and Done use atomics on entries they already hold.
type Registry struct {
	mu      sync.Mutex
	entries map[string]*memberStats

	now func() time.Duration
	// bounded counts outstanding picks made by bounded-load pickers, the "m" of
	// consistent hashing with bounded loads. Other pickers do not touch it.
	bounded atomic.Int64

	m *metrics
}

// NewRegistry returns an empty registry. It fails only if metric registration fails.
func NewRegistry(opts RegistryOptions) (*Registry, error) {
	r := &Registry{entries: make(map[string]*memberStats), now: opts.Now}
	if r.now == nil {
		start := time.Now()
		r.now = func() time.Duration { return time.Since(start) }
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	r.m = m
	return r, nil
}

// Close unregisters the registry's metrics. Pickers built on it keep working.
func (r *Registry) Close() { r.m.unregister() }

// MemberStats is a point-in-time copy of one member's live counters.
type MemberStats struct {
	// Outstanding is the number of picks not yet Done: in-flight requests (L7) or open
	// connections (L4).
	Outstanding int64
	// LatencyEWMA is the peak-sensitive latency estimate as last stored (before decay);
	// zero when no latency was reported through a peak_ewma picker.
	LatencyEWMA time.Duration
	// Failures counts Done calls whose Result was a failure (error, 5xx, 429).
	Failures uint64
	// Pickers is the number of open pickers that include the member.
	Pickers int
}

// Stats returns the live counters of address, or false if no open picker includes it.
func (r *Registry) Stats(address string) (MemberStats, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.entries[address]
	if !ok {
		return MemberStats{}, false
	}
	c, _ := s.loadEWMA()
	return MemberStats{
		Outstanding: s.active.Load(),
		LatencyEWMA: time.Duration(c),
		Failures:    s.failures.Load(),
		Pickers:     s.refs,
	}, true
}

// Len returns the number of members with live entries.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}

// acquire returns the entries for members (in order), taking one reference on each.
func (r *Registry) acquire(members []Member) []*memberStats {
	out := make([]*memberStats, len(members))
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range members {
		s := r.entries[members[i].Address]
		if s == nil {
			s = &memberStats{}
			r.entries[members[i].Address] = s
		}
		s.refs++
		out[i] = s
	}
	return out
}

// release drops one reference on each of stats (which belong to members, in order).
func (r *Registry) release(members []Member, stats []*memberStats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, s := range stats {
		s.refs--
		if s.refs == 0 && r.entries[members[i].Address] == s {
			delete(r.entries, members[i].Address)
		}
	}
}

// memberStats is one member's live state. It is padded to a cache line so that
// counters of different members, updated from different cores, do not false-share.
type memberStats struct {
	active   atomic.Int64
	ewma     atomic.Uint64 // packed: float32 estimate in ns <<32 | uint32 stamp in ms
	failures atomic.Uint64
	refs     int // guarded by Registry.mu
	_        [32]byte
}

const (
	// maxEWMA caps the estimate so that repeated error penalties cannot overflow and a
	// penalised member recovers within minutes.
	maxEWMA = float64(60 * time.Second)
	// noDataCost stands in for the estimate of a member that has requests outstanding
	// but has never answered (Finagle's "penalty"): at most one probe at a time goes to
	// a member whose latency is unknown.
	noDataCost = maxEWMA
	// minFailedRTT is the smallest latency a failure counts as, so that a member that
	// fails instantly (connection refused) never looks fast.
	minFailedRTT = float64(time.Millisecond)
)

func packEWMA(cost float64, stampMs uint32) uint64 {
	return uint64(math.Float32bits(float32(cost)))<<32 | uint64(stampMs)
}

// loadEWMA returns the stored estimate (ns) and its timestamp (ms).
func (s *memberStats) loadEWMA() (float64, uint32) {
	v := s.ewma.Load()
	return float64(math.Float32frombits(uint32(v >> 32))), uint32(v)
}

// decayed returns the estimate decayed to nowMs, and whether any sample exists. The
// timestamp wraps every 49.7 days; the unsigned difference keeps decay correct across
// one wrap.
func (s *memberStats) decayed(nowMs uint32, tauMs float64) (float64, bool) {
	c, stamp := s.loadEWMA()
	if c == 0 {
		return 0, false
	}
	if td := nowMs - stamp; td != 0 {
		c *= math.Exp(-float64(td) / tauMs)
	}
	return c, true
}

// observe folds one latency sample into the estimate the way Finagle's PeakEwma does:
// a sample above the stored estimate replaces it at once (peak sensitivity); a lower one
// pulls it down with weight 1-exp(-Δt/τ). A failure counts as
// max(latency, estimate, 1 ms) × penalty, so errors and 429s push a member away even
// when they are fast.
func (s *memberStats) observe(nowMs uint32, rtt float64, failed bool, tauMs, penalty float64) {
	for {
		old := s.ewma.Load()
		c := float64(math.Float32frombits(uint32(old >> 32)))
		stamp := uint32(old)
		obs := rtt
		if failed {
			obs = max(obs, c, minFailedRTT) * penalty
		}
		obs = min(obs, maxEWMA)
		var next float64
		switch {
		case obs > c || c == 0:
			next = obs
		case nowMs == stamp:
			return // Δt = 0: the weight of a lower sample is 1-exp(0) = 0, nothing changes
		default:
			w := math.Exp(-float64(nowMs-stamp) / tauMs)
			next = c*w + obs*(1-w)
		}
		if next <= 0 {
			next = math.SmallestNonzeroFloat32 // keep "has data" distinct from "never sampled"
		}
		if s.ewma.CompareAndSwap(old, packEWMA(next, nowMs)) {
			return
		}
	}
}

// metrics are pre-resolved counters: Pick never looks a label up.
type metrics struct {
	reg        prometheus.Registerer
	cols       []prometheus.Collector
	panicPicks prometheus.Counter
	noMembers  prometheus.Counter
	allTried   prometheus.Counter
	builds     prometheus.Counter
	panicMode  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	failed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fulcrum_balancer_failed_picks_total",
		Help: "Picks that returned no member, by reason: no_members (empty or all-disabled pool) or all_tried (every candidate was excluded by the request's retries).",
	}, []string{"reason"})
	m := &metrics{
		reg: reg,
		panicPicks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fulcrum_balancer_panic_picks_total",
			Help: "Picks made in panic mode: no member was healthy, so traffic was spread over every non-disabled member.",
		}),
		noMembers: failed.WithLabelValues("no_members"),
		allTried:  failed.WithLabelValues("all_tried"),
		builds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fulcrum_balancer_pickers_built_total",
			Help: "Pickers built (initial build and every rebuild after a membership, weight, state or health change).",
		}),
		panicMode: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fulcrum_balancer_panic_mode",
			Help: "1 if the most recently built picker is in panic mode (no healthy member), else 0.",
		}),
	}
	m.cols = []prometheus.Collector{m.panicPicks, failed, m.builds, m.panicMode}
	if reg == nil {
		return m, nil
	}
	for i, c := range m.cols {
		if err := reg.Register(c); err != nil {
			for _, done := range m.cols[:i] {
				reg.Unregister(done)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("balancer: metrics already registered (wrap the registerer with a pool label): %w", err)
			}
			return nil, fmt.Errorf("balancer: registering metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.cols {
		m.reg.Unregister(c)
	}
}
