package balancer

import "math"

// leastConnPicker scans every member for the fewest outstanding picks (active
// connections for L4, in-flight requests for L7), as nginx's least_conn does. The
// weighted variant minimises (active+1)/weight, so an idle pool still favours heavy
// members and a busy one keeps active counts proportional to weights. Ties are broken
// uniformly at random: a first pass finds the minimum and counts the members that share
// it, a second pass takes a random one of them. Both passes are plain loads and compares;
// the scan is still O(members), so for very large pools prefer least_request.
type leastConnPicker struct {
	*base
	weighted bool
}

// cmp compares slot s with active count a against slot b with active count ab:
// negative if s is less loaded, 0 if equally loaded, positive if more.
func (p *leastConnPicker) cmp(s int, a uint64, b int, ab uint64) int {
	var l, r uint64
	if p.weighted && !p.equalWeights {
		l, r = (a+1)*uint64(p.sWeight[b]), (ab+1)*uint64(p.sWeight[s])
	} else {
		l, r = a, ab
	}
	switch {
	case l < r:
		return -1
	case l > r:
		return 1
	}
	return 0
}

// Pick returns the least-loaded allowed member.
func (p *leastConnPicker) Pick(info PickInfo) (Picked, error) {
	if err := p.check(&info); err != nil {
		return Picked{}, err
	}
	tried := info.Tried.n != 0
	best, ties := -1, 0
	var bestA uint64
	for s := range p.slots {
		if tried && info.Tried.has(p.sKeys[s]) {
			continue
		}
		a := p.active(s)
		if best < 0 {
			best, bestA, ties = s, a, 1
			continue
		}
		switch c := p.cmp(s, a, best, bestA); {
		case c < 0:
			best, bestA, ties = s, a, 1
		case c == 0:
			ties++
		}
	}
	if ties > 1 {
		// Counters may move between the passes; if the k-th tie is gone, the first
		// pass's choice stands.
		k := p.rng.intn(ties)
		for s := range p.slots {
			if tried && info.Tried.has(p.sKeys[s]) {
				continue
			}
			if p.cmp(s, p.active(s), best, bestA) == 0 {
				if k == 0 {
					best = s
					break
				}
				k--
			}
		}
	}
	return p.pickedSlot(best), nil
}

// leastRequestPicker is Envoy's least_request. With equal weights it is the power of
// two choices: draw two distinct members at random and take the one with fewer
// outstanding picks. With unequal weights Envoy schedules by effective weight
// weight/(active+1)^bias; a shared lock-free picker cannot keep Envoy's per-thread EDF
// scheduler, so it samples the same distribution instead: draw a member in proportion
// to its weight and accept it with probability 1/(active+1)^bias; after two rejected
// draws take the one with the higher effective weight (two choices again).
type leastRequestPicker struct {
	*base
	alias *aliasTable // nil when weights are equal
	bias  float64
}

func newLeastRequest(b *base, bias float64) *leastRequestPicker {
	p := &leastRequestPicker{base: b, bias: bias}
	if !b.equalWeights {
		p.alias = newAliasTable(b.sWeight)
	}
	return p
}

// Pick returns the less loaded of two random members (see the type comment for weights).
func (p *leastRequestPicker) Pick(info PickInfo) (Picked, error) {
	if err := p.check(&info); err != nil {
		return Picked{}, err
	}
	if p.alias == nil {
		x, y := p.twoChoices(&info)
		if y >= 0 && p.active(y) < p.active(x) {
			x = y
		}
		return p.pickedSlot(x), nil
	}
	best, bestEff := -1, -1.0
	for try := 0; try < 2; try++ {
		s := p.alias.sample(p.rng.uint64())
		if p.excluded(s, &info) {
			continue
		}
		a := p.active(s)
		if a == 0 {
			return p.pickedSlot(s), nil
		}
		inv := p.invLoad(a)
		if float64(p.rng.uint64()>>11)*0x1p-53 < inv {
			return p.pickedSlot(s), nil
		}
		if eff := float64(p.sWeight[s]) * inv; eff > bestEff {
			best, bestEff = s, eff
		}
	}
	if best < 0 {
		best = p.firstAllowed(p.rng.intn(len(p.slots)), &info)
	}
	return p.pickedSlot(best), nil
}

// invLoad returns 1/(active+1)^bias.
func (p *leastRequestPicker) invLoad(a uint64) float64 {
	switch p.bias {
	case 1:
		return 1 / float64(a+1)
	case 0:
		return 1
	}
	return math.Pow(float64(a+1), -p.bias)
}

// peakEWMAPicker is Finagle's and Linkerd's peak EWMA with the power of two choices:
// each member's cost is its latency estimate (decayed to now) × (outstanding+1), divided
// by its weight when weights differ; of two random members the cheaper one wins. The
// estimate jumps to any latency above it (peak sensitivity) and decays with time
// constant Config.EWMADecay, so a member that was slow is retried once it has had time
// to recover. Failures (errors, 5xx, 429) count as penalised latencies. A member with
// no latency sample costs 0 while idle (it is explored at once) and a large penalty
// while a probe is outstanding, so only one probe at a time goes to an unknown member.
type peakEWMAPicker struct {
	*base
}

// Pick returns the cheaper of two random members.
func (p *peakEWMAPicker) Pick(info PickInfo) (Picked, error) {
	if err := p.check(&info); err != nil {
		return Picked{}, err
	}
	x, y := p.twoChoices(&info)
	if y >= 0 {
		now := p.nowMs()
		if p.cost(y, now) < p.cost(x, now) {
			x = y
		}
	}
	return p.pickedSlot(x), nil
}

func (p *peakEWMAPicker) cost(s int, nowMs uint32) float64 {
	c, ok := p.sStats[s].decayed(nowMs, p.tauMs)
	a := p.active(s)
	if !ok {
		if a == 0 {
			return 0
		}
		c = noDataCost
	}
	c *= float64(a + 1)
	if !p.equalWeights {
		c /= float64(p.sWeight[s])
	}
	return c
}
