package balancer

import (
	"math"
	"sync/atomic"
	"testing"
	"time"
)

// hold picks n times without calling Done, returning the picks.
func hold(t *testing.T, p Picker, n int) []Picked {
	t.Helper()
	out := make([]Picked, n)
	for i := range out {
		pk, err := p.Pick(PickInfo{})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = pk
	}
	return out
}

func TestLeastConnBalancesOutstanding(t *testing.T) {
	p := mustNew(t, Config{Algorithm: LeastConn, Members: pool(4), Seed: 9}, nil)
	defer p.Close()
	held := hold(t, p, 40)
	counts := make([]int, 4)
	for _, h := range held {
		counts[h.Index]++
	}
	for i, c := range counts {
		if c != 10 {
			t.Errorf("member %d holds %d connections, want 10: %v", i, c, counts)
		}
	}
	// Close three connections of member 2: the next three picks must go there.
	closed := 0
	for _, h := range held {
		if h.Index == 2 && closed < 3 {
			h.Done(Result{})
			closed++
		}
	}
	for range 3 {
		if pk := hold(t, p, 1)[0]; pk.Index != 2 {
			t.Fatalf("least_conn picked %d, want 2", pk.Index)
		}
	}
}

func TestLeastConnTiesAreRandom(t *testing.T) {
	p := mustNew(t, Config{Algorithm: LeastConn, Members: pool(5), Seed: 4}, nil)
	defer p.Close()
	counts := pickN(t, p, 50_000, PickInfo{}) // Done at once: all tied at 0
	for i, c := range counts {
		if math.Abs(float64(c)/50_000-0.2) > 0.01 {
			t.Errorf("tied member %d got share %.4f, want 0.2", i, float64(c)/50_000)
		}
	}
}

func TestWeightedLeastConn(t *testing.T) {
	p := mustNew(t, Config{Algorithm: WeightedLeastConn, Members: weighted(1, 3), Seed: 2}, nil)
	defer p.Close()
	// Idle: (0+1)/3 < (0+1)/1, so the heavy member goes first.
	if pk := hold(t, p, 1)[0]; pk.Index != 1 {
		t.Errorf("first pick went to member %d, want the heavy one", pk.Index)
	}
	hold(t, p, 399)
	a := p.(*leastConnPicker).sStats[0].active.Load()
	b := p.(*leastConnPicker).sStats[1].active.Load()
	if a != 100 || b != 300 {
		t.Errorf("outstanding = %d, %d, want 100, 300 (proportional to weights 1:3)", a, b)
	}
}

func TestLeastRequestAvoidsLoaded(t *testing.T) {
	reg := mustRegistry(t, RegistryOptions{})
	p := mustNew(t, Config{Algorithm: LeastRequest, Members: pool(4), Seed: 8}, reg)
	defer p.Close()
	// Member 0 has 50 requests outstanding (picked through Lookup, which counts too).
	for range 50 {
		if _, ok := p.Lookup(addr(0)); !ok {
			t.Fatal("Lookup failed")
		}
	}
	counts := pickN(t, p, 30_000, PickInfo{})
	// P2C: member 0 wins only if drawn twice, which distinct draws forbid.
	if counts[0] != 0 {
		t.Errorf("loaded member got %d picks: %v", counts[0], counts)
	}
}

func TestLeastRequestWeighted(t *testing.T) {
	ws := []uint32{1, 2, 5}
	p := mustNew(t, Config{Algorithm: LeastRequest, Members: weighted(ws...), Seed: 21}, nil)
	defer p.Close()
	// Idle pool (Done at once): every draw is accepted, so shares follow the weights.
	const n = 80_000
	counts := pickN(t, p, n, PickInfo{})
	for i, w := range ws {
		if got, want := float64(counts[i])/n, float64(w)/8; math.Abs(got-want) > 0.01 {
			t.Errorf("idle member %d: share %.4f, want %.4f", i, got, want)
		}
	}
	// Loaded pool: effective weight w/(active+1) steers new requests so that
	// outstanding counts end up roughly proportional to weights.
	held := hold(t, p, 800)
	got := make([]float64, len(ws))
	for _, h := range held {
		got[h.Index]++
	}
	for i, w := range ws {
		if share, want := got[i]/800, float64(w)/8; math.Abs(share-want) > 0.05 {
			t.Errorf("loaded member %d: share of outstanding %.3f, want about %.3f", i, share, want)
		}
	}
}

// fakeClock is a manual clock for peak_ewma tests.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Duration      { return time.Duration(c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestPeakEWMA(t *testing.T) {
	clock := &fakeClock{}
	reg := mustRegistry(t, RegistryOptions{Now: clock.now})
	p := mustNew(t, Config{Algorithm: PeakEWMA, Members: pool(3), Seed: 5}, reg)
	defer p.Close()
	latency := []time.Duration{time.Millisecond, time.Millisecond, 50 * time.Millisecond}
	counts := make([]int, 3)
	for range 3000 {
		pk, err := p.Pick(PickInfo{})
		if err != nil {
			t.Fatal(err)
		}
		counts[pk.Index]++
		clock.advance(100 * time.Microsecond)
		pk.Done(Result{Latency: latency[pk.Index]})
	}
	if counts[2] > 30 {
		t.Errorf("slow member got %d of 3000 picks: %v", counts[2], counts)
	}
	st, _ := reg.Stats(addr(2))
	if st.LatencyEWMA < 40*time.Millisecond {
		t.Errorf("slow member estimate %v", st.LatencyEWMA)
	}
	// After a long quiet period the estimate has decayed and the member is tried again.
	clock.advance(2 * time.Minute)
	tried := false
	for range 100 {
		pk, _ := p.Pick(PickInfo{})
		tried = tried || pk.Index == 2
		pk.Done(Result{Latency: time.Millisecond})
	}
	if !tried {
		t.Error("slow member never retried after its estimate decayed")
	}
}

func TestPeakEWMAPenalisesErrors(t *testing.T) {
	clock := &fakeClock{}
	reg := mustRegistry(t, RegistryOptions{Now: clock.now})
	p := mustNew(t, Config{Algorithm: PeakEWMA, Members: pool(2), Seed: 5}, reg)
	defer p.Close()
	counts := make([]int, 2)
	for i := range 2000 {
		pk, _ := p.Pick(PickInfo{})
		clock.advance(time.Millisecond)
		r := Result{Latency: 2 * time.Millisecond, Status: 200}
		if pk.Index == 1 { // fails fast: 429 in 100 µs
			r = Result{Latency: 100 * time.Microsecond, Status: 429}
		}
		if i >= 1000 {
			counts[pk.Index]++
		}
		pk.Done(r)
	}
	if counts[1] > 50 {
		t.Errorf("member answering 429 got %d of the last 1000 picks", counts[1])
	}
	if st, _ := reg.Stats(addr(1)); st.Failures == 0 {
		t.Error("failures not counted")
	}
}

func TestPeakEWMAUnknownMemberProbedOnce(t *testing.T) {
	clock := &fakeClock{}
	reg := mustRegistry(t, RegistryOptions{Now: clock.now})
	p := mustNew(t, Config{Algorithm: PeakEWMA, Members: pool(2), Seed: 5}, reg)
	defer p.Close()
	first := hold(t, p, 1)[0]
	other := 1 - first.Index
	// Member "first" has a probe outstanding and no sample: everything else goes to the
	// other member, which also has no sample but is idle, then is costed by its samples.
	for range 20 {
		pk := hold(t, p, 1)[0]
		if pk.Index != other {
			t.Fatalf("second probe sent to the unknown member")
		}
		pk.Done(Result{Latency: 10 * time.Millisecond})
	}
	first.Done(Result{})
}

func TestEWMAMath(t *testing.T) {
	var s memberStats
	const tau = 10_000.0 // ms
	s.observe(0, 10e6, false, tau, 4)
	if c, _ := s.loadEWMA(); c != 10e6 {
		t.Fatalf("first sample: %v", c)
	}
	s.observe(0, 50e6, false, tau, 4) // a peak replaces the estimate
	if c, _ := s.loadEWMA(); c != 50e6 {
		t.Fatalf("peak: %v", c)
	}
	s.observe(10_000, 10e6, false, tau, 4) // one τ later: weight 1/e on the old value
	want := 50e6/math.E + 10e6*(1-1/math.E)
	if c, _ := s.loadEWMA(); math.Abs(c-want)/want > 1e-6 {
		t.Fatalf("decay: %v, want %v", c, want)
	}
	if c, ok := s.decayed(20_000, tau); !ok || math.Abs(c-want/math.E)/want > 1e-6 {
		t.Fatalf("read-time decay: %v", c)
	}
	s.observe(20_000, 0, true, tau, 4) // a failure: max(0, estimate, 1ms) × 4
	if c, _ := s.loadEWMA(); c < 4*want/math.E*0.99 {
		t.Fatalf("failure penalty: %v", c)
	}
	for range 100 {
		s.observe(20_000, 0, true, tau, 4)
	}
	if c, _ := s.loadEWMA(); math.Abs(c-maxEWMA)/maxEWMA > 1e-6 {
		t.Fatalf("penalties not capped: %v", c)
	}
	// Timestamps wrap after 2^32 ms; decay stays correct across the wrap.
	var w memberStats
	w.observe(math.MaxUint32-500, 1e6, false, tau, 4)
	if c, _ := w.decayed(499, tau); math.Abs(c-1e6*math.Exp(-1000/tau)) > 1 {
		t.Fatalf("wrap: %v", c)
	}
}
