package balancer

import (
	"math"
	"math/bits"
	"slices"
	"sync/atomic"
)

// roundRobinPicker cycles through the pick set with one atomic counter, ignoring
// weights. The counter starts at a random offset so that many proxies started together
// do not hit the same member in lock-step.
type roundRobinPicker struct {
	*base
	next atomic.Uint64
}

func newRoundRobin(b *base) *roundRobinPicker {
	p := &roundRobinPicker{base: b}
	p.next.Store(b.rng.uint64())
	return p
}

// Pick returns the next member in order, skipping tried ones.
func (p *roundRobinPicker) Pick(info PickInfo) (Picked, error) {
	if err := p.check(&info); err != nil {
		return Picked{}, err
	}
	// A 32-bit remainder is cheaper than a 64-bit one; the cycle skips one step when the
	// low 32 bits wrap, once every 4 billion picks.
	s := int(uint32(p.next.Add(1)) % uint32(len(p.slots)))
	if p.excluded(s, &info) {
		s = p.firstAllowed(s+1, &info)
	}
	return p.pickedSlot(s), nil
}

// maxSchedule bounds the weighted_round_robin schedule (entries of 4 bytes).
const maxSchedule = 1 << 16

// weightedRoundRobinPicker walks a precomputed smooth schedule with one atomic counter:
// lock-free, and as smooth as nginx's smooth weighted round robin (see smoothSchedule).
type weightedRoundRobinPicker struct {
	*base
	schedule []int32
	next     atomic.Uint64
}

func newWeightedRoundRobin(b *base) *weightedRoundRobinPicker {
	p := &weightedRoundRobinPicker{base: b, schedule: smoothSchedule(b.sWeight, maxSchedule)}
	if len(p.schedule) > 0 {
		p.next.Store(b.rng.uint64())
	}
	return p
}

// Pick returns the next entry of the schedule, skipping tried members.
func (p *weightedRoundRobinPicker) Pick(info PickInfo) (Picked, error) {
	if err := p.check(&info); err != nil {
		return Picked{}, err
	}
	n := uint32(len(p.schedule))
	pos := uint32(p.next.Add(1)) // 32-bit remainder: see roundRobinPicker.Pick
	s := int(p.schedule[pos%n])
	if p.excluded(s, &info) {
		// Walk on along the schedule (keeps the weighting) for a bounded number of
		// steps, then fall back to the next allowed slot.
		found := false
		for j := uint32(1); j <= 64 && j < n; j++ {
			if s = int(p.schedule[(pos+j)%n]); !p.excluded(s, &info) {
				found = true
				break
			}
		}
		if !found {
			s = p.firstAllowed(s+1, &info)
		}
	}
	return p.pickedSlot(s), nil
}

// smoothSchedule returns one full cycle of a smooth weighted round robin over slots
// with the given weights: slot i appears weights[i]/g times (g = gcd of the weights), so
// proportions are exact over the cycle, and its appearances are evenly spread.
//
// Construction: slot i gets deadlines (k + φ_i)/w_i for k = 0..w_i-1, with phases
// φ_i = (i+½)/n staggered across slots; the schedule is all deadlines in increasing order.
// Each slot's picks are thus evenly spaced in "time", and staggering keeps light slots
// from bunching (for 5,1,1 it yields a a a b a a c: no member waits more than its fair
// gap, where nginx's smooth WRR yields a a b a c a a). Equal weights give plain round
// robin. When the reduced weights sum to more than limit, they are scaled down so that
// the cycle has about limit entries (each slot keeps at least one); proportions are then
// exact to within 1/limit of the total. Cost: O(S log S) for a cycle of S entries, done
// once per build.
func smoothSchedule(weights []uint32, limit int) []int32 {
	n := len(weights)
	if n == 0 {
		return nil
	}
	w := scaledWeights(weights, max(limit, n))
	var total int
	for _, x := range w {
		total += int(x)
	}
	idxBits := uint(bits.Len(uint(n)))
	fracBits := 64 - idxBits
	scale := math.Ldexp(1, int(fracBits)) // deadlines are < 1: the top bits order them
	keys := make([]uint64, 0, total)
	for i, wi := range w {
		phase := (float64(i) + 0.5) / float64(n)
		for k := uint32(0); k < wi; k++ {
			d := (float64(k) + phase) / float64(wi)
			keys = append(keys, uint64(d*scale)<<idxBits|uint64(i))
		}
	}
	slices.Sort(keys)
	out := make([]int32, total)
	mask := uint64(1)<<idxBits - 1
	for j, k := range keys {
		out[j] = int32(k & mask)
	}
	return out
}

// scaledWeights divides weights by their gcd and, if they still sum to more than
// limit, scales them to sum to about limit (each at least 1).
func scaledWeights(weights []uint32, limit int) []uint32 {
	g := uint64(0)
	for _, x := range weights {
		g = gcd(g, uint64(x))
	}
	out := make([]uint32, len(weights))
	var sum uint64
	for i, x := range weights {
		out[i] = uint32(uint64(x) / g)
		sum += uint64(out[i])
	}
	if sum <= uint64(limit) {
		return out
	}
	f := float64(limit) / float64(sum)
	for i, x := range out {
		out[i] = uint32(max(1, math.Round(float64(x)*f)))
	}
	return out
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// randomPicker picks a member at random in proportion to its weight, in O(1) with an
// alias table (uniform when weights are equal).
type randomPicker struct {
	*base
	alias *aliasTable // nil when weights are equal
}

func newRandom(b *base) *randomPicker {
	p := &randomPicker{base: b}
	if !b.equalWeights {
		p.alias = newAliasTable(b.sWeight)
	}
	return p
}

// Pick draws a member; a tried member is redrawn up to three times, then the next
// allowed slot is taken.
func (p *randomPicker) Pick(info PickInfo) (Picked, error) {
	if err := p.check(&info); err != nil {
		return Picked{}, err
	}
	s := 0
	for try := 0; ; try++ {
		s = p.draw()
		if !p.excluded(s, &info) {
			break
		}
		if try == 3 {
			s = p.firstAllowed(s+1, &info)
			break
		}
	}
	return p.pickedSlot(s), nil
}

func (p *randomPicker) draw() int {
	if p.alias == nil {
		return p.rng.intn(len(p.slots))
	}
	return p.alias.sample(p.rng.uint64())
}

// aliasTable samples index i with probability weights[i]/Σweights in O(1) (Vose's
// alias method): pick a column uniformly, then keep it or take its alias by a biased coin.
type aliasTable struct {
	prob  []uint32 // keep column i if the coin (32 random bits) is below prob[i]
	alias []int32
}

func newAliasTable(weights []uint32) *aliasTable {
	n := len(weights)
	t := &aliasTable{prob: make([]uint32, n), alias: make([]int32, n)}
	var total float64
	for _, w := range weights {
		total += float64(w)
	}
	p := make([]float64, n)
	var small, large []int
	for i, w := range weights {
		p[i] = float64(w) * float64(n) / total
		if p[i] < 1 {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		t.prob[s] = uint32(p[s] * (1 << 32))
		t.alias[s] = int32(l)
		p[l] -= 1 - p[s]
		if p[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	// Whatever is left is full up to rounding: always keep it.
	for _, i := range append(small, large...) {
		t.prob[i] = math.MaxUint32
		t.alias[i] = int32(i)
	}
	return t
}

// sample maps 64 random bits to an index: the low half picks the column, the high half
// is the coin.
func (t *aliasTable) sample(r uint64) int {
	i := int((uint64(uint32(r)) * uint64(len(t.prob))) >> 32)
	if uint32(r>>32) < t.prob[i] {
		return i
	}
	return int(t.alias[i])
}
