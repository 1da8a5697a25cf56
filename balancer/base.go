package balancer

import (
	"sync/atomic"
	"time"
)

// base is the part of every picker that does not depend on the algorithm: the member
// snapshot, the pick set, registry entries, panic state and the Tried logic.
//
// Algorithms work on "slots": positions in the pick set (the members Pick may return).
// Outside panic mode the pick set is every Enabled member that is not Unhealthy; in
// panic mode it is every member that is not Disabled.
type base struct {
	alg     string
	members []Member
	stats   []*memberStats // per member, from the registry
	keys    []uint64       // per member: HashString(Address), the Tried identity
	byAddr  map[string]int32

	slots   []int32 // member index of each slot
	slotOf  []int32 // slot of each member, or -1 if Pick may not return it
	sStats  []*memberStats
	sKeys   []uint64
	sWeight []uint32
	// equalWeights is true when every slot has the same weight, which lets weighted
	// algorithms take their unweighted fast path.
	equalWeights bool
	totalWeight  uint64

	panic   bool
	bounded bool // counts picks in Registry.bounded (bounded-load ring_hash)
	ewma    bool // Done feeds the latency estimate (peak_ewma)
	reg     *Registry
	rng     *rng
	tauMs   float64 // peak_ewma decay
	penalty float64 // peak_ewma error penalty
	closed  atomic.Bool
}

func newBase(cfg Config, reg *Registry) *base {
	b := &base{
		alg:     cfg.Algorithm,
		members: cfg.Members,
		keys:    make([]uint64, len(cfg.Members)),
		byAddr:  make(map[string]int32, len(cfg.Members)),
		reg:     reg,
		rng:     newRNG(cfg.Seed),
		tauMs:   float64(cfg.EWMADecay) / float64(time.Millisecond),
		penalty: cfg.ErrorPenalty,
	}
	b.stats = reg.acquire(b.members)
	for i := range b.members {
		b.keys[i] = HashString(b.members[i].Address)
		b.byAddr[b.members[i].Address] = int32(i)
	}
	b.slots, b.panic = pickSet(b.members)
	b.slotOf = make([]int32, len(b.members))
	for i := range b.slotOf {
		b.slotOf[i] = -1
	}
	for s, i := range b.slots {
		b.slotOf[i] = int32(s)
	}
	b.sStats = make([]*memberStats, len(b.slots))
	b.sKeys = make([]uint64, len(b.slots))
	b.sWeight = make([]uint32, len(b.slots))
	b.equalWeights = true
	for s, i := range b.slots {
		b.sStats[s] = b.stats[i]
		b.sKeys[s] = b.keys[i]
		b.sWeight[s] = b.members[i].Weight
		b.totalWeight += uint64(b.members[i].Weight)
		if b.sWeight[s] != b.sWeight[0] {
			b.equalWeights = false
		}
	}
	return b
}

// pickSet returns the indices of the members Pick may return: Enabled and not Unhealthy,
// or, when there is none (panic mode), every member that is not Disabled.
func pickSet(members []Member) (set []int32, panic bool) {
	for i := range members {
		if members[i].serving() {
			set = append(set, int32(i))
		}
	}
	if len(set) > 0 {
		return set, false
	}
	for i := range members {
		if members[i].State != Disabled {
			set = append(set, int32(i))
		}
	}
	return set, len(set) > 0
}

// Panic reports whether the picker is in panic mode.
func (b *base) Panic() bool { return b.panic }

// Algorithm returns the algorithm name.
func (b *base) Algorithm() string { return b.alg }

// Members returns the snapshot's members; the slice is shared and must not be modified.
func (b *base) Members() []Member { return b.members }

// Close releases the picker's registry references once.
func (b *base) Close() {
	if b.closed.CompareAndSwap(false, true) {
		b.reg.release(b.members, b.stats)
	}
}

// Lookup returns the member with the given address if it may keep affinity traffic:
// Enabled or Draining, and not Unhealthy.
func (b *base) Lookup(address string) (Picked, bool) {
	i, ok := b.byAddr[address]
	if !ok || !b.members[i].affinity() {
		return Picked{}, false
	}
	return b.pickedMember(int(i)), true
}

// check returns ErrNoMembers or ErrAllTried when Pick cannot succeed. After a nil
// return at least one slot is not excluded, so firstAllowed always finds one.
func (b *base) check(info *PickInfo) error {
	n := len(b.slots)
	if n == 0 {
		b.reg.m.noMembers.Inc()
		return ErrNoMembers
	}
	// A Tried set holds at most MaxTried members, so only small pick sets can be
	// exhausted; larger ones skip the scan.
	if int(info.Tried.n) < n {
		return nil
	}
	for s := 0; s < n; s++ {
		if !info.Tried.has(b.sKeys[s]) {
			return nil
		}
	}
	b.reg.m.allTried.Inc()
	return ErrAllTried
}

// excluded reports whether slot s was already tried by this request.
func (b *base) excluded(s int, info *PickInfo) bool {
	return info.Tried.n != 0 && info.Tried.has(b.sKeys[s])
}

// firstAllowed returns the first slot at or after start (cyclically) that is not
// excluded. check guarantees one exists.
func (b *base) firstAllowed(start int, info *PickInfo) int {
	n := len(b.slots)
	start %= n
	for i := 0; i < n; i++ {
		s := start + i
		if s >= n {
			s -= n
		}
		if !b.excluded(s, info) {
			return s
		}
	}
	return start
}

// pickedSlot records a pick of slot s.
func (b *base) pickedSlot(s int) Picked {
	if b.panic {
		b.reg.m.panicPicks.Inc()
	}
	return b.pickedMember(int(b.slots[s]))
}

// pickedMember records a pick of member i.
func (b *base) pickedMember(i int) Picked {
	st := b.stats[i]
	st.active.Add(1)
	if b.bounded {
		b.reg.bounded.Add(1)
	}
	return Picked{Member: &b.members[i], Index: i, key: b.keys[i], stats: st, b: b}
}

// active returns slot s's outstanding picks, clamped to [0, 2^31) so that weighted
// comparisons can multiply it by a weight without overflowing.
func (b *base) active(s int) uint64 {
	a := b.sStats[s].active.Load()
	return uint64(min(max(a, 0), 1<<31-1))
}

func (b *base) nowMs() uint32 { return uint32(b.reg.now() / time.Millisecond) }

// hashOf returns the request's hash, or a random one.
func (b *base) hashOf(info *PickInfo) uint64 {
	if info.HasHash {
		return info.Hash
	}
	return b.rng.uint64()
}

// twoChoices returns two distinct random slots that are not excluded; b is -1 when only
// one is available. It draws both from one random number.
func (b *base) twoChoices(info *PickInfo) (int, int) {
	n := len(b.slots)
	if n == 1 {
		return 0, -1 // check guaranteed slot 0 is allowed
	}
	r := b.rng.uint64()
	x := int((uint64(uint32(r)) * uint64(n)) >> 32)
	y := int(((r >> 32) * uint64(n-1)) >> 32)
	if y >= x {
		y++
	}
	if info.Tried.n == 0 {
		return x, y
	}
	switch ex, ey := b.excluded(x, info), b.excluded(y, info); {
	case ex && ey:
		return b.firstAllowed(x+1, info), -1
	case ex:
		return y, -1
	case ey:
		return x, -1
	}
	return x, y
}
