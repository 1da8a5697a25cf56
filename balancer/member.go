package balancer

import (
	"errors"
	"fmt"
	"math"
	"net"
	"time"
)

// Algorithm names, exactly as they appear in a Pool's spec.algorithm.
const (
	RoundRobin         = "round_robin"
	WeightedRoundRobin = "weighted_round_robin"
	LeastConn          = "least_conn"
	WeightedLeastConn  = "weighted_least_conn"
	Random             = "random"
	LeastRequest       = "least_request"
	PeakEWMA           = "peak_ewma"
	SourceHash         = "source_hash"
	RingHash           = "ring_hash"
	Maglev             = "maglev"
)

// Algorithms returns every algorithm name New accepts, in documentation order.
func Algorithms() []string {
	return []string{RoundRobin, WeightedRoundRobin, LeastConn, WeightedLeastConn, Random,
		LeastRequest, PeakEWMA, SourceHash, RingHash, Maglev}
}

// Defaults applied by New to zero-valued Config fields.
const (
	// DefaultRingMinSize is Envoy's default minimum_ring_size.
	DefaultRingMinSize = 1024
	// DefaultRingMaxSize is Envoy's default maximum_ring_size (8M points); it is also the limit.
	DefaultRingMaxSize = 8 << 20
	// DefaultMaglevTableSize is the Maglev paper's and Envoy's default table size, a prime.
	DefaultMaglevTableSize = 65537
	// MaxMaglevTableSize bounds the table so a typo cannot allocate gigabytes.
	MaxMaglevTableSize = 1 << 24
	// DefaultEWMADecay is the peak_ewma time constant, as in Finagle and Linkerd (10 s).
	DefaultEWMADecay = 10 * time.Second
	// DefaultErrorPenalty multiplies the latency of a failed request in peak_ewma.
	DefaultErrorPenalty = 4.0
	// DefaultActiveRequestBias is Envoy's default least_request active_request_bias.
	DefaultActiveRequestBias = 1.0
)

// AdminState is the operator's intent for a member. The zero value is Enabled.
type AdminState uint8

const (
	// Enabled members receive new picks while they are healthy.
	Enabled AdminState = iota
	// Draining members receive no new picks, but Lookup still returns them so that
	// sessions already bound to them (sticky cookies) can finish.
	Draining
	// Disabled members receive nothing, not even in panic mode.
	Disabled
)

// String returns "enabled", "draining" or "disabled".
func (s AdminState) String() string {
	switch s {
	case Enabled:
		return "enabled"
	case Draining:
		return "draining"
	case Disabled:
		return "disabled"
	}
	return fmt.Sprintf("AdminState(%d)", uint8(s))
}

// ParseAdminState accepts the API spellings: "" and "enabled", "drain" and "draining", "disabled".
func ParseAdminState(s string) (AdminState, error) {
	switch s {
	case "", "enabled":
		return Enabled, nil
	case "drain", "draining":
		return Draining, nil
	case "disabled":
		return Disabled, nil
	}
	return Enabled, fmt.Errorf("balancer: unknown member state %q (want enabled, drain or disabled)", s)
}

// Health is what the health checker (or outlier detection) last concluded. The zero
// value is HealthUnknown, which counts as healthy: a pool without a health check
// must still receive traffic.
type Health uint8

const (
	// HealthUnknown means no check is configured or none has completed; treated as healthy.
	HealthUnknown Health = iota
	// Healthy means the last checks passed.
	Healthy
	// Unhealthy means the member failed its checks or was ejected; it is skipped unless
	// the picker is in panic mode.
	Unhealthy
)

// String returns "unknown", "healthy" or "unhealthy".
func (h Health) String() string {
	switch h {
	case HealthUnknown:
		return "unknown"
	case Healthy:
		return "healthy"
	case Unhealthy:
		return "unhealthy"
	}
	return fmt.Sprintf("Health(%d)", uint8(h))
}

// Member is one backend as the picker sees it. Members are values inside an immutable
// snapshot; to change one, build a new picker.
type Member struct {
	// Address is "host:port". It is the member's identity: live counters in the Registry,
	// hash positions (ring_hash, maglev) and Tried sets are all keyed by it.
	Address string
	// Weight is the member's relative share, at least 1. Algorithms that are not
	// weighted (round_robin, least_conn) ignore it.
	Weight uint32
	// Zone is carried for the data plane (locality reporting); no algorithm uses it yet.
	Zone string
	// State is the operator's intent.
	State AdminState
	// Health is the checker's view.
	Health Health
}

// serving reports whether the member takes new picks outside panic mode.
func (m *Member) serving() bool { return m.State == Enabled && m.Health != Unhealthy }

// affinity reports whether Lookup may return the member.
func (m *Member) affinity() bool { return m.State != Disabled && m.Health != Unhealthy }

// Config is everything New needs to build a picker. It is copied; the caller may reuse
// its Members slice afterwards. Zero-valued tuning fields take the documented defaults.
type Config struct {
	// Algorithm is one of the names returned by Algorithms.
	Algorithm string
	// Members is the whole pool, including draining, disabled and unhealthy members.
	// Addresses must be unique. An empty pool is valid: Pick returns ErrNoMembers.
	Members []Member

	// RingMinSize and RingMaxSize bound the number of points on the ring_hash ring, as
	// Envoy's minimum_ring_size and maximum_ring_size do (defaults 1024 and 8M). The
	// member with the smallest weight gets at least RingMinSize×weight/total points.
	RingMinSize int
	RingMaxSize int
	// BoundedLoadFactor enables consistent hashing with bounded loads for ring_hash:
	// no member takes more than ceil(factor × (in-flight+1) × weight/totalWeight)
	// outstanding picks; a full member's keys spill clockwise. 0 disables it; otherwise
	// it must be at least 1 (1.25 is a good start). Only ring_hash accepts it.
	BoundedLoadFactor float64
	// MaglevTableSize is the Maglev lookup table size M for maglev and source_hash. It
	// must be a prime between the member count and MaxMaglevTableSize; default 65537.
	// Keep it above 100× the member count for ≤1% imbalance.
	MaglevTableSize int
	// ActiveRequestBias is least_request's bias: effective weight =
	// weight / (active+1)^bias when weights differ. 0 means the default, 1.0.
	ActiveRequestBias float64
	// EWMADecay is peak_ewma's time constant (default 10 s): how quickly a member's
	// latency estimate forgets a peak.
	EWMADecay time.Duration
	// ErrorPenalty (peak_ewma) multiplies max(latency, current estimate) for a failed
	// request (error, 5xx or 429) before it enters the estimate; default 4.
	ErrorPenalty float64
	// Seed makes the picker's random choices reproducible (tests, simulations). 0 uses
	// the runtime's per-thread generator, which is faster under contention.
	Seed uint64
}

// Validate reports every problem in c, each prefixed with its field path, joined with
// errors.Join. New calls it; the API layer may call it for offline validation.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("balancer: "+format, args...))
	}
	known := false
	for _, a := range Algorithms() {
		known = known || a == c.Algorithm
	}
	if !known {
		add("algorithm %q: unknown (want one of %v)", c.Algorithm, Algorithms())
	}
	seen := make(map[string]int, len(c.Members))
	for i := range c.Members {
		m := &c.Members[i]
		if _, _, err := net.SplitHostPort(m.Address); err != nil || m.Address == "" {
			add("members[%d].address %q: must be host:port", i, m.Address)
		}
		if j, dup := seen[m.Address]; dup {
			add("members[%d].address %q: duplicate of members[%d]", i, m.Address, j)
		}
		seen[m.Address] = i
		if m.Weight == 0 {
			add("members[%d].weight: must be at least 1", i)
		}
		if m.State > Disabled {
			add("members[%d].state: invalid value %d", i, m.State)
		}
		if m.Health > Unhealthy {
			add("members[%d].health: invalid value %d", i, m.Health)
		}
	}
	errs = append(errs, c.validateTuning()...)
	return errors.Join(errs...)
}

func (c *Config) validateTuning() []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("balancer: "+format, args...))
	}
	if c.RingMinSize < 0 || c.RingMaxSize < 0 {
		add("ringMinSize/ringMaxSize: must not be negative")
	}
	if c.RingMinSize > 0 && c.RingMaxSize > 0 && c.RingMinSize > c.RingMaxSize {
		add("ringMinSize %d: larger than ringMaxSize %d", c.RingMinSize, c.RingMaxSize)
	}
	if c.RingMaxSize > DefaultRingMaxSize || c.RingMinSize > DefaultRingMaxSize {
		add("ringMinSize/ringMaxSize: must be at most %d", DefaultRingMaxSize)
	}
	if f := c.BoundedLoadFactor; f != 0 && (f < 1 || math.IsNaN(f) || math.IsInf(f, 0)) {
		add("boundedLoadFactor %v: must be 0 (off) or at least 1", f)
	}
	if c.BoundedLoadFactor != 0 && c.Algorithm != RingHash {
		add("boundedLoadFactor: only ring_hash supports bounded loads, not %q", c.Algorithm)
	}
	m := c.MaglevTableSize
	if m == 0 {
		m = DefaultMaglevTableSize
	}
	switch {
	case m < 0 || m > MaxMaglevTableSize:
		add("maglevTableSize %d: must be between 2 and %d", m, MaxMaglevTableSize)
	case !IsPrime(uint64(m)):
		add("maglevTableSize %d: must be prime (65537 and 131071 are)", m)
	case m < len(c.Members) && (c.Algorithm == Maglev || c.Algorithm == SourceHash):
		add("maglevTableSize %d: smaller than the %d members", m, len(c.Members))
	}
	if b := c.ActiveRequestBias; b < 0 || math.IsNaN(b) || math.IsInf(b, 0) {
		add("activeRequestBias %v: must be a finite number ≥ 0", b)
	}
	if c.EWMADecay < 0 {
		add("ewmaDecay %v: must not be negative", c.EWMADecay)
	}
	if p := c.ErrorPenalty; p != 0 && (p < 1 || math.IsNaN(p) || math.IsInf(p, 0)) {
		add("errorPenalty %v: must be 0 (default) or at least 1", p)
	}
	return errs
}

// withDefaults returns a copy of c with zero tuning fields set to their defaults and
// its own copy of Members.
func (c Config) withDefaults() Config {
	c.Members = append([]Member(nil), c.Members...)
	if c.RingMinSize == 0 {
		c.RingMinSize = DefaultRingMinSize
	}
	if c.RingMaxSize == 0 {
		c.RingMaxSize = max(DefaultRingMaxSize, c.RingMinSize)
	}
	if c.MaglevTableSize == 0 {
		c.MaglevTableSize = DefaultMaglevTableSize
	}
	if c.ActiveRequestBias == 0 {
		c.ActiveRequestBias = DefaultActiveRequestBias
	}
	if c.EWMADecay == 0 {
		c.EWMADecay = DefaultEWMADecay
	}
	if c.ErrorPenalty == 0 {
		c.ErrorPenalty = DefaultErrorPenalty
	}
	return c
}

// IsPrime reports whether n is prime. It is exact (trial division), which is fast for
// table sizes up to MaxMaglevTableSize.
func IsPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	if n%2 == 0 {
		return n == 2
	}
	for d := uint64(3); d*d <= n; d += 2 {
		if n%d == 0 {
			return false
		}
	}
	return true
}
