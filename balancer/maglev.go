package balancer

import (
	"fmt"
	"math/bits"
)

// maglevPicker serves maglev and source_hash: a Maglev lookup table of M entries (a
// prime) maps hash % M to a member. Lookups are one division and one load; the table is
// rebuilt with the picker. source_hash is the same table under the name operators know
// from nginx and HAProxy, fed with a hash of the client address.
//
// The table is filled over every member of the Config, whatever its state; entries of
// members that Pick may not return (draining, disabled, unhealthy) are then handed to
// the next entry's member that it may return (see resolveTable). A drain, a failed
// health check or an ejection therefore moves exactly the keys of the member concerned,
// and its keys come back when it does; only adding or deleting members refills the
// table, with Maglev's usual, slightly larger disruption.
type maglevPicker struct {
	*base
	table []uint32 // slot per entry
}

func newMaglevPicker(b *base, m int) *maglevPicker {
	p := &maglevPicker{base: b}
	if len(b.slots) > 0 {
		weights := make([]uint32, len(b.members))
		for i := range b.members {
			weights[i] = b.members[i].Weight
		}
		p.table = buildMaglev(b.keys, weights, m)
		resolveTable(p.table, b.slotOf)
	}
	return p
}

// resolveTable rewrites a table of member indices in place: an entry whose member maps
// to a value ≥ 0 in to takes that value; any other entry takes the value of the next
// such entry, cyclically. to must map at least one member to a value ≥ 0.
func resolveTable(table []uint32, to []int32) {
	identity := true
	for i, v := range to {
		identity = identity && v == int32(i)
	}
	if identity {
		return // every member is usable: nothing to rewrite
	}
	seed := int32(-1) // value of the first usable entry: the successor of the last ones
	for _, e := range table {
		if seed = to[e]; seed >= 0 {
			break
		}
	}
	if seed < 0 {
		// No usable member owns an entry (only possible with extreme weight ratios):
		// spread the usable ones evenly instead.
		var usable []int32
		for _, v := range to {
			if v >= 0 {
				usable = append(usable, v)
			}
		}
		for j := range table {
			table[j] = uint32(usable[j%len(usable)])
		}
		return
	}
	next := seed
	for j := len(table) - 1; j >= 0; j-- {
		if v := to[table[j]]; v >= 0 {
			next = v
		}
		table[j] = uint32(next)
	}
}

// Pick looks the request's hash up in the table. A tried member is skipped by walking
// on through the table, which visits other members in a key-dependent order.
func (p *maglevPicker) Pick(info PickInfo) (Picked, error) {
	if err := p.check(&info); err != nil {
		return Picked{}, err
	}
	return p.pickedSlot(p.lookup(p.hashOf(&info), &info)), nil
}

// lookup returns the slot for hash h, skipping tried members.
func (p *maglevPicker) lookup(h uint64, info *PickInfo) int {
	i := h % uint64(len(p.table))
	s := int(p.table[i])
	if p.excluded(s, info) {
		s = p.walk(int(i), info)
	}
	return s
}

func (p *maglevPicker) walk(i int, info *PickInfo) int {
	m := len(p.table)
	for j := 1; j < m; j++ {
		if i++; i == m {
			i = 0
		}
		if s := int(p.table[i]); !p.excluded(s, info) {
			return s
		}
	}
	// Only members too light to own any entry remain.
	return p.firstAllowed(int(p.table[i]), info)
}

// Seeds that derive a member's Maglev offset and skip from its address hash.
const (
	maglevOffsetSeed = 0x5851f42d4c957f2d
	maglevSkipSeed   = 0x14057b7ef767814f
)

// MaglevTable builds the Maglev lookup table for the XDP fast path: entry j holds the
// index (in members) of the member that receives hash values h with h % size == j —
// exactly the member a maglev or source_hash Picker built from the same members returns
// for PickInfo{Hash: h}. size must be a prime ≥ len(members) and ≤ MaxMaglevTableSize
// (65537 is the usual choice; keep it above 100× the member count for ≤1% imbalance).
//
// Pass the whole pool with its states and health, not a filtered list: the table is
// filled over every member (a member's permutation depends only on its address, so the
// table is the same in every process), then entries of members a Picker would not
// return — draining, disabled, unhealthy, with Envoy-style panic mode when none is
// healthy — go to the next entry's member. Draining or ejecting a member thus moves
// only its own flows. Weights follow Katran: each round, a member places an entry when
// its accumulated weight reaches the largest weight, so with equal weights every member
// owns ⌊M/N⌋ or ⌈M/N⌉ entries and otherwise entries are proportional to weight.
// It returns ErrNoMembers if every member is disabled.
func MaglevTable(members []Member, size int) ([]uint32, error) {
	if size < 2 || size > MaxMaglevTableSize || !IsPrime(uint64(size)) {
		return nil, fmt.Errorf("balancer: maglev table size %d: must be a prime between 2 and %d", size, MaxMaglevTableSize)
	}
	if len(members) == 0 || len(members) > size {
		return nil, fmt.Errorf("balancer: maglev table: %d members for %d entries (need 1 to %d)", len(members), size, size)
	}
	keys := make([]uint64, len(members))
	weights := make([]uint32, len(members))
	seen := make(map[string]int, len(members))
	for i := range members {
		if members[i].Weight == 0 {
			return nil, fmt.Errorf("balancer: maglev table: members[%d].weight: must be at least 1", i)
		}
		if j, dup := seen[members[i].Address]; dup {
			return nil, fmt.Errorf("balancer: maglev table: members[%d].address %q: duplicate of members[%d]", i, members[i].Address, j)
		}
		seen[members[i].Address] = i
		keys[i] = HashString(members[i].Address)
		weights[i] = members[i].Weight
	}
	set, _ := pickSet(members)
	if len(set) == 0 {
		return nil, ErrNoMembers
	}
	to := make([]int32, len(members))
	for i := range to {
		to[i] = -1
	}
	for _, i := range set {
		to[i] = i
	}
	table := buildMaglev(keys, weights, size)
	resolveTable(table, to)
	return table, nil
}

// maglevTail is the number of free entries at which buildMaglev stops probing
// permutations and searches the free list instead (see buildMaglev).
const maglevTail = 128

// buildMaglev fills a table of size m (prime, ≥ len(keys) ≥ 1) from the members' address
// hashes and weights: the populate loop of the Maglev paper (Eisenbud et al., NSDI 2016)
// with Katran's weighting. Member i prefers entries offset_i, offset_i+skip_i, ... (mod m)
// and, on its turn, takes the first free one.
//
// Two things make it fast without changing the result. Occupancy is a bitmap (8 KiB for
// M = 65537) that stays in L1 cache, and positions advance by addition, not modulo.
// And the tail is solved differently: with F entries free, a member's walk visits about
// m/F entries before it finds one. Once only maglevTail entries are free, the next entry
// of member i is instead found directly as the free entry x with the smallest
// permutation index (x - offset_i) × skip_i⁻¹ mod m — every entry before the member's
// cursor is already taken, so this is exactly the entry probing would reach
// (TestMaglevMatchesReference checks the tables are identical). At 1,000 members and
// M = 65537 this cut the build's CPU time by about a fifth (perf stat task-clock).
func buildMaglev(keys []uint64, weights []uint32, m int) []uint32 {
	n := len(keys)
	f := &maglevFill{
		table:   make([]uint32, m),
		filled:  make([]uint64, (m+63)/64),
		off:     make([]uint32, n),
		pos:     make([]uint32, n),
		skip:    make([]uint32, n),
		weights: weights,
		equal:   true,
	}
	for i, k := range keys {
		f.off[i] = uint32(mix64(k^maglevOffsetSeed) % uint64(m))
		f.pos[i] = f.off[i]
		f.skip[i] = uint32(mix64(k^maglevSkipSeed)%uint64(m-1)) + 1
		f.maxW = max(f.maxW, uint64(weights[i]))
		f.equal = f.equal && weights[i] == weights[0]
	}
	if !f.equal {
		f.cum = make([]uint64, n)
	}
	f.probe(m - min(maglevTail, m))
	f.fillTail()
	return f.table
}

// maglevFill is the state of one table build.
type maglevFill struct {
	table     []uint32
	filled    []uint64 // occupancy bitmap
	off, pos  []uint32 // permutation start and cursor of each member
	skip      []uint32
	weights   []uint32
	cum       []uint64 // accumulated weight (unequal weights only)
	maxW      uint64
	equal     bool
	placed, i int // entries placed; member whose turn is next
}

// turn reports whether member i places an entry this round (Katran: when its
// accumulated weight reaches the largest weight).
func (f *maglevFill) turn(i int) bool {
	if f.equal {
		return true
	}
	if f.cum[i] += uint64(f.weights[i]); f.cum[i] < f.maxW {
		return false
	}
	f.cum[i] -= f.maxW
	return true
}

// probe runs the populate loop until `until` entries are placed. It copies the slices
// into locals and avoids closures so that the hot loop works on registers.
func (f *maglevFill) probe(until int) {
	table, filled, pos, skip := f.table, f.filled, f.pos, f.skip
	mm := uint32(len(table))
	n := len(pos)
	placed, i := f.placed, f.i
	for placed < until {
		if f.equal || f.turn(i) {
			sk := skip[i]
			c := nextFree(filled, pos[i], sk, mm)
			table[c] = uint32(i)
			filled[c>>6] |= 1 << (c & 63)
			if c += sk; c >= mm {
				c -= mm
			}
			pos[i] = c
			placed++
		}
		if i++; i == n {
			i = 0
		}
	}
	f.placed, f.i = placed, i
}

// fillTail places the last entries by searching the free list (see buildMaglev),
// continuing the round-robin turn order.
func (f *maglevFill) fillTail() {
	m := uint64(len(f.table))
	free := make([]uint32, 0, int(m)-f.placed)
	for w, word := range f.filled {
		for empty := ^word; empty != 0; empty &= empty - 1 {
			if x := uint32(w<<6 + bits.TrailingZeros64(empty)); x < uint32(m) {
				free = append(free, x)
			}
		}
	}
	inv := make(map[int]uint64) // skip⁻¹ mod m, for the few members that place here
	recip := ^uint64(0) / m     // Barrett constant ⌊(2^64-1)/m⌋
	for i := f.i; len(free) > 0; {
		if f.turn(i) {
			si, ok := inv[i]
			if !ok {
				si = powMod(uint64(f.skip[i]), m-2, m) // Fermat: m is prime
				inv[i] = si
			}
			best, bestIdx := 0, m
			off := uint64(f.off[i])
			for k, x := range free {
				d := uint64(x) + m - off // in [1, 2m)
				if d >= m {
					d -= m
				}
				// d × skip⁻¹ mod m by Barrett reduction: the product is below 2^48.
				a := d * si
				q, _ := bits.Mul64(a, recip)
				idx := a - q*m
				if idx >= m {
					idx -= m
				}
				if idx < bestIdx {
					best, bestIdx = k, idx
				}
			}
			f.table[free[best]] = uint32(i)
			free[best] = free[len(free)-1]
			free = free[:len(free)-1]
		}
		if i++; i == len(f.off) {
			i = 0
		}
	}
}

// powMod returns b^e mod m for m < 2^32.
func powMod(b, e, m uint64) uint64 {
	r := uint64(1)
	b %= m
	for ; e > 0; e >>= 1 {
		if e&1 == 1 {
			r = r * b % m
		}
		b = b * b % m
	}
	return r
}

// nextFree returns the first free entry at or after c along a permutation with step sk.
// This loop is most of the build's time. It wraps around m without a branch: whether
// c+sk passes m is random, so a branch mispredicts about every other probe. That alone
// cut the build's CPU time by about a quarter (perf stat task-clock, 1,000 members).
func nextFree(filled []uint64, c, sk, m uint32) uint32 {
	skm := sk - m // wraps around: c + skm is c + sk - m
	for filled[c>>6]&(1<<(c&63)) != 0 {
		e := c + skm
		c = e + m&uint32(int32(e)>>31) // add m back if c + sk < m (e negative)
	}
	return c
}
