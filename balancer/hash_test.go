package balancer

import (
	"slices"
	"strings"
	"testing"
)

func maglevLoad(table []uint32, n int) []int {
	out := make([]int, n)
	for _, s := range table {
		out[s]++
	}
	return out
}

func loadRatio(counts []int) float64 {
	return float64(slices.Max(counts)) / float64(slices.Min(counts))
}

func TestMaglevBalance(t *testing.T) {
	for _, tc := range []struct {
		n, m  int
		limit float64
	}{
		{3, 65537, 1.01},
		{10, 65537, 1.01},
		{100, 65537, 1.01},
		// 65537/1000 = 65.5: some member owns 65 entries and another 66, so 66/65 =
		// 1.0154 is the best any table of this size can do; Maglev reaches it.
		{1000, 65537, 66.0 / 65.0},
		// With M > 100 N (the paper's advice), 1,000 members are within 1%.
		{1000, 131071, 1.01},
	} {
		table, err := MaglevTable(pool(tc.n), tc.m)
		if err != nil {
			t.Fatal(err)
		}
		counts := maglevLoad(table, tc.n)
		ratio := loadRatio(counts)
		t.Logf("maglev balance: N=%d M=%d max/min entries = %d/%d = %.4f", tc.n, tc.m, slices.Max(counts), slices.Min(counts), ratio)
		if ratio > tc.limit+1e-9 {
			t.Errorf("N=%d M=%d: max/min = %.4f > %.4f", tc.n, tc.m, ratio, tc.limit)
		}
	}
}

func TestMaglevWeighted(t *testing.T) {
	ws := []uint32{1, 2, 3, 10}
	table, err := MaglevTable(weighted(ws...), DefaultMaglevTableSize)
	if err != nil {
		t.Fatal(err)
	}
	counts := maglevLoad(table, len(ws))
	for i, w := range ws {
		got, want := float64(counts[i])/float64(len(table)), float64(w)/16
		if got < want*0.99 || got > want*1.01 {
			t.Errorf("member %d (weight %d): %.4f of the table, want %.4f", i, w, got, want)
		}
	}
}

// referenceMaglev is the textbook populate loop (probing to the very end), with Katran's
// weighting: buildMaglev must produce exactly the same table.
func referenceMaglev(keys []uint64, weights []uint32, m int) []uint32 {
	n := len(keys)
	next := make([]uint64, n)
	cum := make([]uint64, n)
	maxW := uint64(slices.Max(weights))
	table := make([]int64, m)
	for j := range table {
		table[j] = -1
	}
	for placed := 0; ; {
		for i, k := range keys {
			cum[i] += uint64(weights[i])
			if cum[i] < maxW {
				continue
			}
			cum[i] -= maxW
			offset := mix64(k^maglevOffsetSeed) % uint64(m)
			skip := mix64(k^maglevSkipSeed)%uint64(m-1) + 1
			c := (offset + next[i]*skip) % uint64(m)
			for table[c] >= 0 {
				next[i]++
				c = (offset + next[i]*skip) % uint64(m)
			}
			table[c] = int64(i)
			next[i]++
			if placed++; placed == m {
				out := make([]uint32, m)
				for j, v := range table {
					out[j] = uint32(v)
				}
				return out
			}
		}
	}
}

func TestMaglevMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		ws []uint32
		m  int
	}{
		{[]uint32{1, 1, 1}, 65537},
		{[]uint32{1}, 7},
		{[]uint32{1, 1, 1, 1, 1}, 131},
		{[]uint32{1, 2, 3, 10}, 65537},
		{[]uint32{5, 1, 7, 7, 2, 9, 1, 1}, 4099},
		{func() []uint32 {
			w := make([]uint32, 1000)
			for i := range w {
				w[i] = 1 + uint32(i%3)
			}
			return w
		}(), 65537},
	} {
		keys := make([]uint64, len(tc.ws))
		for i := range keys {
			keys[i] = HashString(addr(i))
		}
		if got, want := buildMaglev(keys, tc.ws, tc.m), referenceMaglev(keys, tc.ws, tc.m); !slices.Equal(got, want) {
			t.Errorf("weights %v M=%d: table differs from the reference populate loop", tc.ws[:min(len(tc.ws), 8)], tc.m)
		}
	}
}

func TestMaglevTableErrors(t *testing.T) {
	for _, tc := range []struct {
		ms   []Member
		size int
		want string
	}{
		{pool(3), 65536, "must be a prime"},
		{pool(3), 1, "must be a prime"},
		{nil, 65537, "0 members"},
		{[]Member{{Address: "a:1", Weight: 1, State: Disabled}}, 65537, "no members"},
		{pool(20), 17, "20 members for 17 entries"},
		{weighted(1, 0), 65537, "members[1].weight"},
		{[]Member{{Address: "a:1", Weight: 1}, {Address: "a:1", Weight: 1}}, 65537, "duplicate"},
	} {
		if _, err := MaglevTable(tc.ms, tc.size); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("MaglevTable(%d members, %d): %v, want %q", len(tc.ms), tc.size, err, tc.want)
		}
	}
	// The table depends only on addresses and weights: the same input gives the same
	// table in every process and every build.
	a, _ := MaglevTable(pool(50), 65537)
	b, _ := MaglevTable(pool(50), 65537)
	if !slices.Equal(a, b) {
		t.Error("table is not deterministic")
	}
}

// disruptionKeys is the number of keys hashed in disruption tests (fewer under -race,
// where each lookup is ten times slower; the bounds still hold with a wide margin).
var disruptionKeys = map[bool]int{false: 200_000, true: 50_000}[raceEnabled]

// hashLookup returns the member index that p's Pick maps hash h to (no Tried set).
func hashLookup(t *testing.T, p Picker) func(h uint64) int {
	t.Helper()
	var none PickInfo
	switch q := p.(type) {
	case *maglevPicker:
		return func(h uint64) int { return int(q.slots[q.lookup(h, &none)]) }
	case *ringHashPicker:
		return func(h uint64) int { return int(q.slots[q.lookup(h, &none)]) }
	}
	t.Fatalf("%s has no hash lookup", p.Algorithm())
	return nil
}

func TestHashLookupMatchesPick(t *testing.T) {
	for _, alg := range []string{SourceHash, Maglev, RingHash} {
		ms := pool(20)
		ms[3].State = Draining
		p := mustNew(t, Config{Algorithm: alg, Members: ms}, nil)
		lookup := hashLookup(t, p)
		for i := range 5000 {
			if got, want := lookup(hashKey(i)), ownerOf(t, p, hashKey(i)); p.Members()[got].Address != want {
				t.Fatalf("%s: lookup %s, Pick %s", alg, p.Members()[got].Address, want)
			}
		}
		p.Close()
	}
}

// owners maps every test key to its member's address.
func owners(t *testing.T, cfg Config) []string {
	t.Helper()
	p := mustNew(t, cfg, nil)
	defer p.Close()
	// The table or ring lookup that Pick uses, without the outstanding-pick accounting
	// (which would dominate under -race). TestHashLookupMatchesPick ties the two.
	lookup := hashLookup(t, p)
	out := make([]string, disruptionKeys)
	for i := range out {
		out[i] = p.Members()[lookup(hashKey(i))].Address
	}
	return out
}

// disruption takes member victim out of cfg — by draining it (a state change: the
// table or ring is resolved, not refilled) or by deleting it from the pool (a refill) —
// and returns the fraction of keys whose member changed and how many of the moved keys
// the victim did not own.
func disruption(t *testing.T, cfg Config, before []string, victim int, deleteIt bool) (float64, int) {
	t.Helper()
	victimAddr := cfg.Members[victim].Address
	cfg.Members = slices.Clone(cfg.Members)
	if deleteIt {
		cfg.Members = slices.Delete(cfg.Members, victim, victim+1)
	} else {
		cfg.Members[victim].State = Draining
	}
	after := owners(t, cfg)
	moved, collateral := 0, 0
	for i, a := range before {
		if a != after[i] {
			moved++
			if a != victimAddr {
				collateral++
			}
		}
	}
	return float64(moved) / float64(disruptionKeys), collateral
}

func TestMaglevDisruption(t *testing.T) {
	for _, tc := range []struct{ n, m int }{{3, 65537}, {10, 65537}, {100, 65537}, {1000, 65537}, {1000, 655373}} {
		cfg := Config{Algorithm: Maglev, Members: pool(tc.n), MaglevTableSize: tc.m}
		before := owners(t, cfg)
		for _, victim := range []int{0, tc.n / 2, tc.n - 1} {
			frac, collateral := disruption(t, cfg, before, victim, false)
			t.Logf("maglev N=%d M=%d drain #%d: %.5f of keys moved (%.2f/N)", tc.n, tc.m, victim, frac, frac*float64(tc.n))
			if collateral != 0 || frac > 2/float64(tc.n) {
				t.Errorf("maglev N=%d: draining member %d moved %.5f of keys (%d it did not own), want ≤ 2/N and 0", tc.n, victim, frac, collateral)
			}
			frac, _ = disruption(t, cfg, before, victim, true)
			t.Logf("maglev N=%d M=%d delete #%d: %.5f of keys moved (%.2f/N)", tc.n, tc.m, victim, frac, frac*float64(tc.n))
			// Refilling the table moves more than the deleted member's keys; the more
			// entries per member, the less. 2/N holds up to 100 members at M = 65537; at
			// 1,000 members only a regression bound is checked (see docs/balancing.md).
			limit := 2.0
			if tc.n >= 1000 {
				limit = 10
			}
			if frac > limit/float64(tc.n) {
				t.Errorf("maglev N=%d M=%d: deleting member %d moved %.5f of keys > %.0f/N", tc.n, tc.m, victim, frac, limit)
			}
		}
	}
}

func TestRingHashDisruption(t *testing.T) {
	for _, tc := range []struct{ n, minRing int }{
		{3, 0}, {10, 0}, {10, 1 << 14}, {100, 1 << 17}, {1000, 500_000},
	} {
		cfg := Config{Algorithm: RingHash, Members: pool(tc.n), RingMinSize: tc.minRing}
		before := owners(t, cfg)
		probe := mustNew(t, cfg, nil)
		ringSize := RingSize(probe)
		probe.Close()
		for _, victim := range []int{0, tc.n / 2, tc.n - 1} {
			for _, del := range []bool{false, true} {
				frac, collateral := disruption(t, cfg, before, victim, del)
				how := map[bool]string{false: "drain", true: "delete"}[del]
				t.Logf("ring_hash N=%d ring=%d %s #%d: %.5f of keys moved (%.2f/N)", tc.n, ringSize, how, victim, frac, frac*float64(tc.n))
				if collateral != 0 {
					t.Errorf("ring_hash N=%d %s: %d keys moved that the removed member did not own", tc.n, how, collateral)
				}
				if frac > 1.2/float64(tc.n) {
					t.Errorf("ring_hash N=%d ring=%d: %s member %d moved %.5f of keys > 1.2/N", tc.n, ringSize, how, victim, frac)
				}
			}
		}
	}
}

func TestHashAffinityAndDrain(t *testing.T) {
	for _, alg := range []string{SourceHash, RingHash, Maglev} {
		p := mustNew(t, Config{Algorithm: alg, Members: pool(10)}, nil)
		owner := ownerOf(t, p, HashString("203.0.113.7"))
		for range 100 {
			if got := ownerOf(t, p, HashString("203.0.113.7")); got != owner {
				t.Fatalf("%s: the same hash went to %s and %s", alg, owner, got)
			}
		}
		// Without a hash, picks spread.
		spread := pickN(t, p, 2000, PickInfo{})
		for i, c := range spread {
			if c == 0 {
				t.Errorf("%s: member %d never picked without a hash", alg, i)
			}
		}
		p.Close()
	}
}

func TestRingHashBoundedLoad(t *testing.T) {
	const n, factor = 10, 1.25
	reg := mustRegistry(t, RegistryOptions{})
	p := mustNew(t, Config{Algorithm: RingHash, Members: pool(n), BoundedLoadFactor: factor, Seed: 3}, reg)
	defer p.Close()
	// Every request carries the same (hot) key: without bounds one member takes all.
	hot := PickInfo{Hash: HashString("hot-key"), HasHash: true}
	var held []Picked
	for range 1000 {
		pk, err := p.Pick(hot)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, pk)
	}
	counts := make([]int, n)
	for _, h := range held {
		counts[h.Index]++
	}
	limit := int(factor*1000/n) + 1
	for i, c := range counts {
		if c > limit {
			t.Errorf("member %d holds %d outstanding picks, cap %d: %v", i, c, limit, counts)
		}
	}
	for _, h := range held {
		h.Done(Result{})
	}
	if reg.bounded.Load() != 0 {
		t.Errorf("bounded-load total = %d after every Done", reg.bounded.Load())
	}
	// Idle again: the hot key returns to its own member.
	plain := mustNew(t, Config{Algorithm: RingHash, Members: pool(n)}, nil)
	defer plain.Close()
	if a, b := ownerOf(t, p, hot.Hash), ownerOf(t, plain, hot.Hash); a != b {
		t.Errorf("idle bounded ring sends the key to %s, plain ring to %s", a, b)
	}
}

func TestRingSizeBounds(t *testing.T) {
	for _, tc := range []struct {
		ws       []uint32
		min, max int
		lo, hi   int
	}{
		{[]uint32{1, 1, 1}, 1024, 0, 1024, 2048},
		{[]uint32{1, 1000}, 100, 5000, 100, 200},
		{[]uint32{1, 1000}, 4096, 5000, 2000, 5000}, // the maximum wins
		{[]uint32{3, 7, 100}, 1 << 16, 0, 1 << 16, 1 << 17},
	} {
		p := mustNew(t, Config{Algorithm: RingHash, Members: weighted(tc.ws...), RingMinSize: tc.min, RingMaxSize: tc.max}, nil)
		if got := RingSize(p); got < tc.lo || got > tc.hi {
			t.Errorf("weights %v min %d max %d: ring size %d, want %d..%d", tc.ws, tc.min, tc.max, got, tc.lo, tc.hi)
		}
		p.Close()
	}
	if RingSize(mustNew(t, Config{Algorithm: Maglev, Members: pool(2)}, nil)) != 0 {
		t.Error("RingSize of a maglev picker")
	}
}
