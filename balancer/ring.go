package balancer

import (
	"math"
	"math/bits"
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// ringHashPicker is a Ketama-style consistent hash ring: each member gets points in
// proportion to its weight (weight × a power-of-two scale, see ringPoints), each point
// hashed with XXH64 from "address_k", and the ring has at least RingMinSize points
// (fewer than 2×RingMinSize unless weights are very uneven) and at most RingMaxSize.
// A request maps to the first point at or after its hash, clockwise. Like the Maglev
// table, the ring holds every configured member; points of members Pick may not return
// belong to the next point clockwise (see resolveRing).
//
// With a BoundedLoadFactor c (consistent hashing with bounded loads, Mirrokni et al.;
// Envoy's and HAProxy's hash_balance_factor), a member may hold at most
// ceil(c × (m+1) × weight/totalWeight) outstanding picks, where m is the number of
// outstanding bounded-load picks in the Registry; a key whose member is full walks on
// clockwise to the next member with room, so a hot key spills over instead of
// overloading its owner, and keys move back as load falls.
type ringHashPicker struct {
	*base
	points []uint64 // sorted; high bits: point hash, low bits (mask): owning slot
	mask   uint64
	// capScale[s] = factor × weight_s / totalWeight (bounded loads only).
	capScale []float64
	maxWalk  int
}

func newRingHash(b *base, minSize, maxSize int, factor float64) *ringHashPicker {
	p := &ringHashPicker{base: b}
	if len(b.slots) > 0 {
		p.points, p.mask = buildRing(b.members, minSize, maxSize)
		resolveRing(p.points, p.mask, b.slotOf)
	}
	if factor > 0 {
		b.bounded = true
		p.capScale = make([]float64, len(b.slots))
		for s, w := range b.sWeight {
			p.capScale[s] = factor * float64(w) / float64(b.totalWeight)
		}
	}
	// A walk that has seen 16 points per member without finding room means the load
	// counters disagree (e.g. picks outstanding from a previous algorithm); the walk
	// then stops and the key's own member is used.
	p.maxWalk = min(len(p.points), 16*len(b.slots)+64)
	return p
}

// ringPoints returns the number of points each member gets: weight × 2^e, rounded, at
// least 1, with e the smallest exponent that puts at least minSize points on the ring
// (lowered again if that exceeds maxSize). Because the scale is a power of two that
// depends on the pool only through the ring size bracket, removing or adding a member
// normally leaves every other member's points untouched (minimal disruption); only when
// the pool crosses a power-of-two size does the scale change.
func ringPoints(weights []uint32, total uint64, minSize, maxSize int) []int {
	count := func(e int) int {
		var c int
		for _, w := range weights {
			c += max(1, int(math.Round(math.Ldexp(float64(w), e))))
		}
		return c
	}
	e := int(math.Ceil(math.Log2(float64(minSize) / float64(total))))
	for count(e) < minSize {
		e++
	}
	for e > -64 && count(e-1) >= minSize {
		e--
	}
	for e > -64 && count(e) > maxSize {
		e--
	}
	out := make([]int, len(weights))
	for s, w := range weights {
		out[s] = max(1, int(math.Round(math.Ldexp(float64(w), e))))
	}
	return out
}

// resolveRing turns the member index in each point's low bits into a slot: points of
// members Pick may not return take the slot of the next point clockwise that it may, so
// draining or ejecting a member moves exactly its own keys. slotOf has at least one
// slot ≥ 0.
func resolveRing(points []uint64, mask uint64, slotOf []int32) {
	seed := int32(-1)
	for _, pt := range points {
		if seed = slotOf[pt&mask]; seed >= 0 {
			break
		}
	}
	next := seed
	for j := len(points) - 1; j >= 0; j-- {
		if v := slotOf[points[j]&mask]; v >= 0 {
			next = v
		}
		points[j] = points[j]&^mask | uint64(next)
	}
}

// buildRing returns the sorted ring over all members and the mask that extracts a
// point's member index (later its slot, see resolveRing). Each point
// is one uint64: the high bits are the point's hash, the low bits (mask) its slot, so
// the ring sorts as plain integers and a lookup reads a single array. Point k of a
// member hashes "address_k" with XXH64, as Envoy and nginx's ketama do, so a member's
// points are the same in every process and a prefix of its points at any larger scale.
func buildRing(members []Member, minSize, maxSize int) ([]uint64, uint64) {
	weights := make([]uint32, len(members))
	var total uint64
	for i := range members {
		weights[i] = members[i].Weight
		total += uint64(weights[i])
	}
	counts := ringPoints(weights, total, minSize, maxSize)
	size := 0
	for _, c := range counts {
		size += c
	}
	mask := uint64(1)<<bits.Len(uint(len(members))) - 1
	points := make([]uint64, 0, size)
	var buf []byte
	for i := range members {
		buf = append(append(buf[:0], members[i].Address...), '_')
		n := len(buf)
		for k := 0; k < counts[i]; k++ {
			buf = strconv.AppendInt(buf[:n], int64(k), 10)
			points = append(points, xxhash.Sum64(buf)&^mask|uint64(i))
		}
	}
	sortPoints(points)
	return points, mask
}

// sortPoints sorts a ring. Large rings use an LSD radix sort (six 11-bit passes,
// buckets that stay in L1), about 10× faster than pdqsort at a million points.
func sortPoints(a []uint64) {
	if len(a) < 1<<14 {
		slices.Sort(a)
		return
	}
	const digit = 11
	tmp := make([]uint64, len(a))
	src, dst := a, tmp
	var count [1 << digit]int
	for shift := 0; shift < 64; shift += digit {
		clear(count[:])
		for _, v := range src {
			count[v>>shift&(1<<digit-1)]++
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for _, v := range src {
			d := v >> shift & (1<<digit - 1)
			dst[count[d]] = v
			count[d]++
		}
		src, dst = dst, src
	}
	// Six passes: the sorted data ends in a again.
}

// RingSize returns the number of points on a ring_hash picker's ring, or 0 for other
// algorithms. It is for tests and the admin API.
func RingSize(p Picker) int {
	if r, ok := p.(*ringHashPicker); ok {
		return len(r.points)
	}
	return 0
}

// Pick maps the request's hash to the ring.
func (p *ringHashPicker) Pick(info PickInfo) (Picked, error) {
	if err := p.check(&info); err != nil {
		return Picked{}, err
	}
	return p.pickedSlot(p.lookup(p.hashOf(&info), &info)), nil
}

// lookup returns the slot for hash h: the first point at or after it, then, if that
// member is tried or (bounded loads) full, the walk clockwise.
func (p *ringHashPicker) lookup(h uint64, info *PickInfo) int {
	h &^= p.mask
	n := len(p.points)
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p.points[m] < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == n {
		lo = 0
	}
	s := int(p.points[lo] & p.mask)
	if p.capScale == nil && !p.excluded(s, info) {
		return s
	}
	return p.walk(lo, info)
}

// walk goes clockwise from point i to the first member that is allowed and, with
// bounded loads, has room.
func (p *ringHashPicker) walk(i int, info *PickInfo) int {
	n := len(p.points)
	var m float64
	if p.capScale != nil {
		m = float64(p.reg.bounded.Load() + 1)
	}
	first := -1 // first allowed member seen, used if none has room
	for j := 0; j < p.maxWalk; j++ {
		s := int(p.points[i] & p.mask)
		if !p.excluded(s, info) {
			if p.capScale == nil || float64(p.active(s)) < math.Ceil(p.capScale[s]*m) {
				return s
			}
			if first < 0 {
				first = s
			}
		}
		if i++; i == n {
			i = 0
		}
	}
	if first >= 0 {
		return first
	}
	return p.firstAllowed(int(p.points[i]&p.mask), info)
}
