package balancer

import (
	"math"
	"math/rand/v2"
	"testing"
)

// sequence returns n consecutive picks (member indices).
func sequence(t *testing.T, p Picker, n int) []int {
	t.Helper()
	out := make([]int, n)
	for i := range out {
		pk, err := p.Pick(PickInfo{})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = pk.Index
		pk.Done(Result{})
	}
	return out
}

func TestWeightedRoundRobinExactProportions(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := [][]uint32{{5, 1, 1}, {5, 3, 2, 1}, {2, 4, 6}, {1, 1, 1, 1}, {100, 1}}
	for range 20 {
		ws := make([]uint32, 2+r.IntN(12))
		for i := range ws {
			ws[i] = 1 + uint32(r.IntN(20))
		}
		cases = append(cases, ws)
	}
	for _, ws := range cases {
		p := mustNew(t, Config{Algorithm: WeightedRoundRobin, Members: weighted(ws...), Seed: 5}, nil)
		var g uint64
		for _, w := range ws {
			g = gcd(g, uint64(w))
		}
		var cycle int
		for _, w := range ws {
			cycle += int(uint64(w) / g)
		}
		// Any window of one cycle, wherever the counter starts, has exact proportions.
		seq := sequence(t, p, 3*cycle)
		for start := 0; start < 2*cycle; start += max(1, cycle/7) {
			counts := make([]int, len(ws))
			for _, m := range seq[start : start+cycle] {
				counts[m]++
			}
			for i, w := range ws {
				if counts[i] != int(uint64(w)/g) {
					t.Fatalf("weights %v: member %d picked %d times in a cycle of %d, want %d", ws, i, counts[i], cycle, uint64(w)/g)
				}
			}
		}
		checkSmooth(t, ws, seq[:cycle], g)
		p.Close()
	}
}

// checkSmooth asserts that in every cyclic window of the schedule each member's count is
// within 2 of its fair share: no bursts anywhere, including across the cycle boundary.
func checkSmooth(t *testing.T, ws []uint32, cycle []int, g uint64) {
	t.Helper()
	n := len(cycle)
	for length := 1; length <= n; length++ {
		counts := make([]int, len(ws))
		for _, m := range cycle[:length] {
			counts[m]++
		}
		for start := 0; start < n; start++ {
			for i, w := range ws {
				fair := float64(length) * float64(uint64(w)/g) / float64(n)
				if math.Abs(float64(counts[i])-fair) > 2 {
					t.Fatalf("weights %v: member %d has %d picks in window [%d,+%d), fair share %.2f: schedule %v", ws, i, counts[i], start, length, fair, cycle)
				}
			}
			counts[cycle[start]]--
			counts[cycle[(start+length)%n]]++
		}
	}
}

func TestWeightedRoundRobinSmooth511(t *testing.T) {
	p := mustNew(t, Config{Algorithm: WeightedRoundRobin, Members: weighted(5, 1, 1), Seed: 1}, nil)
	defer p.Close()
	seq := sequence(t, p, 70)
	// The heavy member cannot avoid runs (5 picks in 2 gaps), but no run may exceed 3,
	// even across cycles; the light members are never adjacent.
	run, maxRun := 0, 0
	for i, m := range seq {
		if m == 0 {
			run++
			maxRun = max(maxRun, run)
		} else {
			run = 0
			if i > 0 && seq[i-1] != 0 {
				t.Fatalf("light members adjacent: %v", seq[:14])
			}
		}
	}
	if maxRun > 3 {
		t.Errorf("member with weight 5 picked %d times in a row: %v", maxRun, seq[:14])
	}
	t.Logf("5,1,1 schedule: %v", seq[:7])
}

func TestRoundRobinNeverRepeats(t *testing.T) {
	for _, alg := range []string{RoundRobin, WeightedRoundRobin} {
		for _, n := range []int{2, 3, 10, 100} {
			ms := pool(n)
			for i := range ms {
				ms[i].Weight = 7 // equal, but not 1
			}
			p := mustNew(t, Config{Algorithm: alg, Members: ms}, nil)
			seq := sequence(t, p, 5*n)
			for i := 1; i < len(seq); i++ {
				if seq[i] == seq[i-1] {
					t.Fatalf("%s with %d equal members: %d picked twice in a row", alg, n, seq[i])
				}
			}
			counts := make([]int, n)
			for _, m := range seq {
				counts[m]++
			}
			for i, c := range counts {
				if c != 5 {
					t.Fatalf("%s: member %d picked %d times in 5 rounds", alg, i, c)
				}
			}
			p.Close()
		}
	}
}

func TestWeightedRoundRobinHugeWeights(t *testing.T) {
	ws := []uint32{4_000_000_000, 1, 300_000_000, 123_456_789}
	sched := smoothSchedule(ws, maxSchedule)
	if len(sched) > maxSchedule+len(ws) {
		t.Fatalf("schedule has %d entries, limit %d", len(sched), maxSchedule)
	}
	counts := make([]int, len(ws))
	for _, s := range sched {
		counts[s]++
	}
	var total float64
	for _, w := range ws {
		total += float64(w)
	}
	for i, w := range ws {
		if counts[i] == 0 {
			t.Fatalf("member %d missing from the bounded schedule", i)
		}
		if got, want := float64(counts[i])/float64(len(sched)), float64(w)/total; math.Abs(got-want) > 1e-4 {
			t.Errorf("member %d share %.6f, want %.6f", i, got, want)
		}
	}
}

func TestWeightedRandomProportions(t *testing.T) {
	ws := []uint32{1, 2, 3, 4, 10}
	p := mustNew(t, Config{Algorithm: Random, Members: weighted(ws...), Seed: 42}, nil)
	defer p.Close()
	const n = 200_000
	counts := pickN(t, p, n, PickInfo{})
	// With a fixed seed the outcome is deterministic; the tolerance (0.5 points, about
	// 5 standard deviations) keeps the test meaningful if the seed ever changes.
	for i, w := range ws {
		got, want := float64(counts[i])/n, float64(w)/20
		if math.Abs(got-want) > 0.005 {
			t.Errorf("member %d (weight %d): share %.4f, want %.4f", i, w, got, want)
		}
	}
	// Unweighted random is uniform.
	u := mustNew(t, Config{Algorithm: Random, Members: pool(4), Seed: 42}, nil)
	defer u.Close()
	for i, c := range pickN(t, u, n, PickInfo{}) {
		if math.Abs(float64(c)/n-0.25) > 0.005 {
			t.Errorf("uniform member %d: share %.4f", i, float64(c)/n)
		}
	}
}

func TestAliasTableExact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 50 {
		ws := make([]uint32, 1+r.IntN(50))
		var total float64
		for i := range ws {
			ws[i] = 1 + uint32(r.IntN(1000))
			total += float64(ws[i])
		}
		tab := newAliasTable(ws)
		prob := make([]float64, len(ws))
		for i := range ws {
			keep := float64(tab.prob[i]) / (1 << 32)
			if tab.prob[i] == math.MaxUint32 {
				keep = 1
			}
			prob[i] += keep / float64(len(ws))
			prob[tab.alias[i]] += (1 - keep) / float64(len(ws))
		}
		for i, w := range ws {
			if math.Abs(prob[i]-float64(w)/total) > 1e-6 {
				t.Fatalf("weights %v: P(%d) = %v, want %v", ws, i, prob[i], float64(w)/total)
			}
		}
	}
}

// nginxSmooth is nginx's smooth weighted round robin, as a reference.
func nginxSmooth(ws []uint32) []int {
	var total int
	cur := make([]int, len(ws))
	for _, w := range ws {
		total += int(w)
	}
	out := make([]int, 0, total)
	for range total {
		best := -1
		for i, w := range ws {
			cur[i] += int(w)
			if best < 0 || cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		out = append(out, best)
	}
	return out
}

// discrepancy is the largest |picks - fair share| of any member over any cyclic window.
func discrepancy(ws []uint32, cycle []int) float64 {
	n := len(cycle)
	var total float64
	for _, w := range ws {
		total += float64(w)
	}
	worst := 0.0
	for length := 1; length <= n; length++ {
		counts := make([]int, len(ws))
		for _, m := range cycle[:length] {
			counts[m]++
		}
		for start := 0; start < n; start++ {
			for i, w := range ws {
				worst = max(worst, math.Abs(float64(counts[i])-float64(length)*float64(w)/total))
			}
			counts[cycle[start]]--
			counts[cycle[(start+length)%n]]++
		}
	}
	return worst
}

// TestWeightedRoundRobinVsNginx compares smoothness with nginx's algorithm over random
// weight sets (printed with -v) and asserts it is never worse than 2 picks.
func TestWeightedRoundRobinVsNginx(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	worstOurs, worstNginx := 0.0, 0.0
	for range 300 {
		ws := make([]uint32, 2+r.IntN(8))
		for i := range ws {
			ws[i] = 1 + uint32(r.IntN(12))
		}
		var g uint64
		for _, w := range ws {
			g = gcd(g, uint64(w))
		}
		for i := range ws {
			ws[i] /= uint32(g)
		}
		var ours []int
		for _, s := range smoothSchedule(ws, maxSchedule) {
			ours = append(ours, int(s))
		}
		worstOurs = max(worstOurs, discrepancy(ws, ours))
		worstNginx = max(worstNginx, discrepancy(ws, nginxSmooth(ws)))
	}
	t.Logf("worst cyclic-window discrepancy over 300 weight sets: fulcrum %.2f picks, nginx smooth WRR %.2f picks", worstOurs, worstNginx)
	if worstOurs > 2 {
		t.Errorf("schedule discrepancy %.2f > 2", worstOurs)
	}
}
