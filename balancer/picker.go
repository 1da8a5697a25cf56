package balancer

import (
	"errors"
	"fmt"
	"time"
)

// ErrNoMembers is returned by Pick when the pool is empty or every member is disabled.
var ErrNoMembers = errors.New("balancer: no members available")

// ErrAllTried is returned by Pick when every member that could be picked is in
// PickInfo.Tried. The caller decides: fail the request, or pick again with an empty
// Tried set to allow a member a second attempt.
var ErrAllTried = errors.New("balancer: every available member was already tried")

// Picker chooses a member for each request or connection. A Picker is an immutable
// snapshot of a pool: when membership, weights, admin state or health change, the owner
// builds a new Picker with New (on the same Registry), publishes it with an atomic
// pointer swap, and closes the old one. Requests already holding the old Picker finish
// with it; nothing on the pick path takes a lock that a rebuild holds.
//
// The contract, for every algorithm:
//
//   - Pick, Lookup, Panic, Algorithm and Members are safe for concurrent use, take no
//     locks and allocate nothing.
//   - Every successful Pick or Lookup counts one outstanding pick on the member's
//     Registry entry. The caller must call Picked.Done exactly once when the request
//     completes (L7) or the connection closes (L4), also on error paths.
//   - Pick never returns a Disabled member, never returns a Draining member, and
//     returns an Unhealthy member only in panic mode.
//   - Panic mode: when no Enabled member is healthy (HealthUnknown counts as healthy),
//     the picker spreads picks over every non-disabled member regardless of health,
//     reports Panic() == true, and counts each such pick in
//     fulcrum_balancer_panic_picks_total.
//   - Pick never returns a member recorded in PickInfo.Tried; if every candidate is
//     tried it returns ErrAllTried. An empty or all-disabled pool gives ErrNoMembers.
//   - Hash-based algorithms (source_hash, ring_hash, maglev) use PickInfo.Hash when
//     HasHash is set, and pick as if a random hash were given otherwise.
//   - Close releases the picker's Registry references. Pick, Lookup and Done remain
//     safe after Close (late requests finish normally); counters of members that no
//     open picker includes simply stop being shared.
type Picker interface {
	// Pick chooses a member for a new request or connection.
	Pick(info PickInfo) (Picked, error)
	// Lookup returns the member with the given address if it is Enabled or Draining
	// and not Unhealthy, for session affinity (sticky cookies): a draining member keeps
	// the sessions bound to it. Like Pick it counts an outstanding pick: call Done.
	Lookup(address string) (Picked, bool)
	// Panic reports whether the picker was built in panic mode.
	Panic() bool
	// Algorithm returns the algorithm name.
	Algorithm() string
	// Members returns the snapshot's members in Config order. The slice is shared:
	// do not modify it.
	Members() []Member
	// Close releases the picker's Registry references; call it once, after the
	// replacement picker is published. Later calls do nothing.
	Close()
}

// MaxTried is the capacity of a Tried set. It covers Fulcrum's retry budget (at most
// maxRetries plus connect failures); beyond it the oldest entry is forgotten.
const MaxTried = 8

// Tried is a small fixed-size set of members a request has already tried, so that a
// retry or a connect failure goes elsewhere. It stores address hashes, not indices, so
// it stays meaningful across a picker rebuild in the middle of a request. It lives on
// the caller's stack and is passed by value inside PickInfo: no allocation.
type Tried struct {
	keys [MaxTried]uint64
	n    uint8 // entries in use
	next uint8 // slot the next Add overwrites once full
}

// Add records p's member.
func (t *Tried) Add(p Picked) {
	if p.Member != nil {
		t.addKey(p.key)
	}
}

// AddAddress records the member with the given address.
func (t *Tried) AddAddress(address string) { t.addKey(HashString(address)) }

func (t *Tried) addKey(k uint64) {
	if t.has(k) {
		return
	}
	t.keys[t.next] = k
	t.next = (t.next + 1) % MaxTried
	if t.n < MaxTried {
		t.n++
	}
}

// Len returns the number of members recorded.
func (t *Tried) Len() int { return int(t.n) }

// Reset empties the set.
func (t *Tried) Reset() { *t = Tried{} }

func (t *Tried) has(k uint64) bool {
	for i := uint8(0); i < t.n; i++ {
		if t.keys[i] == k {
			return true
		}
	}
	return false
}

// PickInfo describes the request to Pick. The zero value is valid: no hash, nothing tried.
type PickInfo struct {
	// Hash is the request's affinity key hashed with HashString or HashBytes (source IP,
	// header or cookie value). Only source_hash, ring_hash and maglev use it.
	Hash uint64
	// HasHash says Hash is set; without it hash algorithms pick at random.
	HasHash bool
	// Tried holds members this request already tried; Pick avoids them.
	Tried Tried
}

// Result is the outcome reported to Picked.Done.
type Result struct {
	// Latency is the time to the response headers (L7) or to connection establishment
	// (L4); 0 means unknown and feeds nothing into the latency estimate.
	Latency time.Duration
	// Err is the transport error, if any (connect failure, reset, timeout).
	Err error
	// Status is the HTTP status, or 0. 5xx and 429 count as failures for peak_ewma's
	// penalty and the member's failure count.
	Status int
}

// Failed reports whether r counts as a failure: an error, a 5xx or a 429.
func (r Result) Failed() bool { return r.Err != nil || r.Status >= 500 || r.Status == 429 }

// Picked is the outcome of a successful Pick or Lookup. It is a small value, not a heap
// closure; copy it freely, but call Done exactly once.
type Picked struct {
	// Member points into the picker's immutable snapshot; do not modify it.
	Member *Member
	// Index is the member's position in Config.Members (and Picker.Members), for callers
	// that keep per-member state (connection pools) in a parallel slice.
	Index int

	key   uint64
	stats *memberStats
	b     *base
}

// Done ends the outstanding pick and feeds the result back: it decrements the member's
// outstanding count, counts failures, and — for a peak_ewma picker — folds a non-zero
// latency (or a failure) into the member's latency estimate. Other algorithms skip the
// estimate: it costs a clock read and an exponential that they would not use. Done
// allocates nothing and is safe to call from any goroutine, also after the picker was
// closed. Calling it on the zero Picked does nothing.
func (p Picked) Done(r Result) {
	if p.stats == nil {
		return
	}
	p.stats.active.Add(-1)
	if p.b.bounded {
		p.b.reg.bounded.Add(-1)
	}
	failed := r.Failed()
	if failed {
		p.stats.failures.Add(1)
	}
	if p.b.ewma && (r.Latency > 0 || failed) {
		p.stats.observe(p.b.nowMs(), float64(r.Latency), failed, p.b.tauMs, p.b.penalty)
	}
}

// New builds a picker for cfg. Counters live in reg, keyed by address, so that a
// rebuild on the same registry keeps them; nil gives the picker a private registry.
// New validates cfg and returns every problem found.
func New(cfg Config, reg *Registry) (Picker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if reg == nil {
		var err error
		if reg, err = NewRegistry(RegistryOptions{}); err != nil {
			return nil, err
		}
	}
	cfg = cfg.withDefaults()
	b := newBase(cfg, reg)
	var p Picker
	switch cfg.Algorithm {
	case RoundRobin:
		p = newRoundRobin(b)
	case WeightedRoundRobin:
		p = newWeightedRoundRobin(b)
	case LeastConn:
		p = &leastConnPicker{base: b}
	case WeightedLeastConn:
		p = &leastConnPicker{base: b, weighted: true}
	case Random:
		p = newRandom(b)
	case LeastRequest:
		p = newLeastRequest(b, cfg.ActiveRequestBias)
	case PeakEWMA:
		b.ewma = true
		p = &peakEWMAPicker{base: b}
	case SourceHash, Maglev:
		p = newMaglevPicker(b, cfg.MaglevTableSize)
	case RingHash:
		p = newRingHash(b, cfg.RingMinSize, cfg.RingMaxSize, cfg.BoundedLoadFactor)
	default:
		b.Close()
		return nil, fmt.Errorf("balancer: algorithm %q: unknown", cfg.Algorithm)
	}
	reg.m.builds.Inc()
	if b.panic {
		reg.m.panicMode.Set(1)
	} else {
		reg.m.panicMode.Set(0)
	}
	return p, nil
}
