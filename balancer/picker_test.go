package balancer

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

func TestConfigValidate(t *testing.T) {
	cfg := Config{
		Algorithm: "fastest",
		Members: []Member{
			{Address: "10.0.0.1:80", Weight: 1},
			{Address: "10.0.0.1:80", Weight: 1},
			{Address: "no-port", Weight: 1},
			{Address: "10.0.0.2:80", Weight: 0},
		},
		MaglevTableSize:   65536,
		BoundedLoadFactor: 0.5,
		RingMinSize:       10,
		RingMaxSize:       5,
		ErrorPenalty:      0.5,
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{
		`algorithm "fastest": unknown`,
		`members[1].address "10.0.0.1:80": duplicate of members[0]`,
		`members[2].address "no-port": must be host:port`,
		`members[3].weight: must be at least 1`,
		`maglevTableSize 65536: must be prime`,
		`boundedLoadFactor 0.5: must be 0 (off) or at least 1`,
		`boundedLoadFactor: only ring_hash supports bounded loads`,
		`ringMinSize 10: larger than ringMaxSize 5`,
		`errorPenalty 0.5`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := New(cfg, nil); err == nil {
		t.Error("New accepted a bad config")
	}
	good := Config{Algorithm: Maglev, Members: pool(3), MaglevTableSize: 131071}
	if err := good.Validate(); err != nil {
		t.Errorf("good config: %v", err)
	}
	small := Config{Algorithm: Maglev, Members: pool(12), MaglevTableSize: 11}
	if err := small.Validate(); err == nil || !strings.Contains(err.Error(), "smaller than the 12 members") {
		t.Errorf("table smaller than pool: %v", err)
	}
}

func TestParseAdminState(t *testing.T) {
	for in, want := range map[string]AdminState{"": Enabled, "enabled": Enabled, "drain": Draining, "draining": Draining, "disabled": Disabled} {
		if got, err := ParseAdminState(in); err != nil || got != want {
			t.Errorf("ParseAdminState(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseAdminState("off"); err == nil {
		t.Error("accepted off")
	}
}

func TestHashHelpers(t *testing.T) {
	// XXH64 reference values (seed 0): every process must agree on them.
	if got := HashString(""); got != 0xef46db3751d8e999 {
		t.Errorf("HashString(\"\") = %#x", got)
	}
	if got := HashString("abc"); got != 0x44bc2cf5ad770999 {
		t.Errorf("HashString(abc) = %#x", got)
	}
	if HashBytes([]byte("10.1.2.3")) != HashString("10.1.2.3") {
		t.Error("HashBytes and HashString disagree")
	}
}

func TestEmptyAndDisabledPools(t *testing.T) {
	disabled := pool(3)
	for i := range disabled {
		disabled[i].State = Disabled
	}
	for _, alg := range Algorithms() {
		for name, ms := range map[string][]Member{"empty": nil, "all-disabled": disabled} {
			p := mustNew(t, Config{Algorithm: alg, Members: ms}, nil)
			if _, err := p.Pick(PickInfo{}); !errors.Is(err, ErrNoMembers) {
				t.Errorf("%s %s: Pick err = %v, want ErrNoMembers", alg, name, err)
			}
			if p.Panic() {
				t.Errorf("%s %s: Panic() = true", alg, name)
			}
			if _, ok := p.Lookup(addr(0)); ok {
				t.Errorf("%s %s: Lookup found a disabled member", alg, name)
			}
			p.Close()
		}
	}
}

// mixedPool has every state and health combination; only members 0 and 1 may be picked.
func mixedPool() []Member {
	ms := pool(6)
	ms[1].Health = Healthy
	ms[2].State = Draining
	ms[3].State = Disabled
	ms[4].Health = Unhealthy
	ms[5].State, ms[5].Health = Draining, Unhealthy
	return ms
}

func TestDrainDisabledUnhealthy(t *testing.T) {
	for _, alg := range Algorithms() {
		p := mustNew(t, Config{Algorithm: alg, Members: mixedPool(), Seed: 7}, nil)
		for i := range 2000 {
			info := PickInfo{Hash: hashKey(i), HasHash: true}
			counts := pickN(t, p, 1, info)
			for m, c := range counts {
				if c > 0 && m > 1 {
					t.Fatalf("%s picked member %d (%v/%v)", alg, m, p.Members()[m].State, p.Members()[m].Health)
				}
			}
		}
		if p.Panic() {
			t.Errorf("%s: panic with healthy members", alg)
		}
		for i, want := range []bool{true, true, true, false, false, false} {
			pk, ok := p.Lookup(addr(i))
			if ok != want {
				t.Errorf("%s: Lookup(member %d) = %v, want %v", alg, i, ok, want)
			}
			if ok {
				if pk.Index != i || pk.Member.Address != addr(i) {
					t.Errorf("%s: Lookup(member %d) returned %d", alg, i, pk.Index)
				}
				pk.Done(Result{})
			}
		}
		if _, ok := p.Lookup("10.9.9.9:1"); ok {
			t.Errorf("%s: Lookup of an unknown address succeeded", alg)
		}
		p.Close()
	}
}

func TestPanicMode(t *testing.T) {
	ms := pool(5)
	for i := range ms {
		ms[i].Health = Unhealthy
	}
	ms[3].State = Draining
	ms[4].State = Disabled
	for _, alg := range Algorithms() {
		preg := prometheus.NewPedanticRegistry()
		reg := mustRegistry(t, RegistryOptions{Registerer: preg})
		p := mustNew(t, Config{Algorithm: alg, Members: ms, Seed: 3}, reg)
		if !p.Panic() {
			t.Fatalf("%s: not in panic mode with every member unhealthy", alg)
		}
		var counts []int
		const n = 4000
		for i := range n {
			c := pickN(t, p, 1, PickInfo{Hash: hashKey(i), HasHash: true})
			if counts == nil {
				counts = c
			} else {
				for j := range c {
					counts[j] += c[j]
				}
			}
		}
		if counts[4] != 0 {
			t.Errorf("%s: panic mode picked the disabled member", alg)
		}
		for i := 0; i < 4; i++ {
			if counts[i] < n/10 {
				t.Errorf("%s: panic mode gave member %d only %d of %d picks: %v", alg, i, counts[i], n, counts)
			}
		}
		if got := counterValue(t, preg, "fulcrum_balancer_panic_picks_total", ""); got != n {
			t.Errorf("%s: panic picks metric = %v, want %d", alg, got, n)
		}
		if got := gaugeValue(t, preg, "fulcrum_balancer_panic_mode"); got != 1 {
			t.Errorf("%s: panic mode gauge = %v", alg, got)
		}
		if _, ok := p.Lookup(addr(0)); ok {
			t.Errorf("%s: Lookup returned an unhealthy member", alg)
		}
		p.Close()
		reg.Close()
	}
}

func TestTriedExclusion(t *testing.T) {
	for _, alg := range Algorithms() {
		p := mustNew(t, Config{Algorithm: alg, Members: weighted(1, 5, 1, 3, 2), Seed: 11}, nil)
		for i := range 500 {
			info := PickInfo{Hash: hashKey(i), HasHash: true}
			seen := map[int]bool{}
			for attempt := 0; attempt < 5; attempt++ {
				pk, err := p.Pick(info)
				if err != nil {
					t.Fatalf("%s: attempt %d: %v", alg, attempt, err)
				}
				if seen[pk.Index] {
					t.Fatalf("%s: member %d picked twice for one request", alg, pk.Index)
				}
				seen[pk.Index] = true
				pk.Done(Result{Err: errors.New("connect refused")})
				info.Tried.Add(pk)
			}
			if _, err := p.Pick(info); !errors.Is(err, ErrAllTried) {
				t.Fatalf("%s: sixth attempt err = %v, want ErrAllTried", alg, err)
			}
		}
		p.Close()
	}
}

func TestTriedSurvivesRebuild(t *testing.T) {
	reg := mustRegistry(t, RegistryOptions{})
	old := mustNew(t, Config{Algorithm: RoundRobin, Members: pool(2)}, reg)
	pk, _ := old.Pick(PickInfo{})
	var info PickInfo
	info.Tried.Add(pk)
	pk.Done(Result{})
	// The new picker lists the members in a different order: indices change, but the
	// Tried set is keyed by address.
	ms := pool(3)
	ms[0], ms[2] = ms[2], ms[0]
	p := mustNew(t, Config{Algorithm: RoundRobin, Members: ms}, reg)
	old.Close()
	for range 20 {
		got, err := p.Pick(info)
		if err != nil || got.Member.Address == pk.Member.Address {
			t.Fatalf("picked %v (%v) after it was tried", got.Member, err)
		}
		got.Done(Result{})
	}
	var tr Tried
	for i := range MaxTried + 3 {
		tr.AddAddress(addr(i))
		tr.AddAddress(addr(i)) // duplicates are ignored
	}
	if tr.Len() != MaxTried || tr.has(HashString(addr(0))) || !tr.has(HashString(addr(MaxTried+2))) {
		t.Errorf("Tried overflow: len %d", tr.Len())
	}
	tr.Reset()
	if tr.Len() != 0 {
		t.Error("Reset left entries")
	}
	p.Close()
}

func TestCountersSurviveRebuild(t *testing.T) {
	reg := mustRegistry(t, RegistryOptions{})
	p1 := mustNew(t, Config{Algorithm: LeastConn, Members: pool(3)}, reg)
	var held []Picked
	for range 6 {
		pk, _ := p1.Pick(PickInfo{})
		held = append(held, pk)
	}
	for i := range 3 {
		if st, _ := reg.Stats(addr(i)); st.Outstanding != 2 {
			t.Fatalf("member %d outstanding = %d, want 2", i, st.Outstanding)
		}
	}
	// Rebuild: member 2 leaves, member 3 joins. Build first, then close the old one.
	p2 := mustNew(t, Config{Algorithm: LeastConn, Members: []Member{pool(4)[0], pool(4)[1], pool(4)[3]}}, reg)
	p1.Close()
	p1.Close() // idempotent
	if st, _ := reg.Stats(addr(0)); st.Outstanding != 2 || st.Pickers != 1 {
		t.Errorf("member 0 after rebuild: %+v", st)
	}
	if _, ok := reg.Stats(addr(2)); ok {
		t.Error("removed member still has a registry entry")
	}
	// least_conn now favours the new, idle member.
	pk, _ := p2.Pick(PickInfo{})
	if pk.Member.Address != addr(3) {
		t.Errorf("least_conn picked %s, want the idle new member", pk.Member.Address)
	}
	pk.Done(Result{Latency: 5 * time.Millisecond, Status: 503})
	for _, h := range held {
		h.Done(Result{}) // old picks finish after the rebuild, also for the removed member
	}
	st, _ := reg.Stats(addr(3))
	if st.Outstanding != 0 || st.Failures != 1 || st.LatencyEWMA != 0 { // least_conn keeps no estimate
		t.Errorf("new member stats after a 503: %+v", st)
	}
	for i := range 2 {
		if st, _ := reg.Stats(addr(i)); st.Outstanding != 0 {
			t.Errorf("member %d outstanding = %d after Done", i, st.Outstanding)
		}
	}
	p2.Close()
	if reg.Len() != 0 {
		t.Errorf("registry keeps %d entries after every picker closed", reg.Len())
	}
	Picked{}.Done(Result{}) // the zero value is harmless
}

func TestPickAllocatesNothing(t *testing.T) {
	preg := prometheus.NewRegistry()
	reg := mustRegistry(t, RegistryOptions{Registerer: preg})
	defer reg.Close()
	for _, alg := range Algorithms() {
		for _, ms := range [][]Member{pool(1000), pool(100), weighted(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)} {
			cfg := Config{Algorithm: alg, Members: ms}
			if alg == RingHash {
				cfg.BoundedLoadFactor = 1.25
			}
			p := mustNew(t, cfg, reg)
			i, a1 := 0, addr(1)
			allocs := testing.AllocsPerRun(200, func() {
				i++
				info := PickInfo{Hash: hashKey(i), HasHash: true}
				pk, err := p.Pick(info)
				if err != nil {
					t.Fatal(err)
				}
				info.Tried.Add(pk)
				pk2, _ := p.Pick(info)
				pk.Done(Result{Latency: time.Millisecond, Status: 429})
				pk2.Done(Result{Latency: time.Millisecond})
				if lk, ok := p.Lookup(a1); ok {
					lk.Done(Result{})
				}
			})
			if allocs != 0 {
				t.Errorf("%s (%d members): %v allocations per pick", alg, len(ms), allocs)
			}
			p.Close()
		}
	}
}

func TestMetricsLint(t *testing.T) {
	preg := prometheus.NewRegistry()
	reg := mustRegistry(t, RegistryOptions{Registerer: preg})
	p := mustNew(t, Config{Algorithm: RoundRobin, Members: nil}, reg)
	if _, err := p.Pick(PickInfo{}); !errors.Is(err, ErrNoMembers) {
		t.Fatal(err)
	}
	if got := counterValue(t, preg, "fulcrum_balancer_failed_picks_total", "no_members"); got != 1 {
		t.Errorf("no_members = %v", got)
	}
	mfs, err := preg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}
	if _, err := NewRegistry(RegistryOptions{Registerer: preg}); err == nil || !strings.Contains(err.Error(), "wrap the registerer") {
		t.Errorf("second registry on the same registerer: %v", err)
	}
	reg.Close()
	if mfs, _ := preg.Gather(); len(mfs) != 0 {
		t.Errorf("Close left %d metric families registered", len(mfs))
	}
	// One registry per pool, each wrapped with its pool's name, share a Prometheus registry.
	shared := prometheus.NewRegistry()
	for _, name := range []string{"a", "b"} {
		wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"pool": name}, shared)
		r := mustRegistry(t, RegistryOptions{Registerer: wrapped})
		defer r.Close()
	}
}

func counterValue(t *testing.T, g prometheus.Gatherer, name, reason string) float64 {
	t.Helper()
	for _, m := range findMetric(t, g, name) {
		if reason == "" || labelValue(m, "reason") == reason {
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func gaugeValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	for _, m := range findMetric(t, g, name) {
		return m.GetGauge().GetValue()
	}
	return -1
}

func findMetric(t *testing.T, g prometheus.Gatherer, name string) []*dto.Metric {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()
		}
	}
	return nil
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestSingleMember(t *testing.T) {
	for _, alg := range Algorithms() {
		cfg := Config{Algorithm: alg, Members: weighted(3)}
		if alg == RingHash {
			cfg.BoundedLoadFactor = 1.5
		}
		p := mustNew(t, cfg, nil)
		var held []Picked
		for i := range 50 {
			pk, err := p.Pick(PickInfo{Hash: hashKey(i), HasHash: i%2 == 0})
			if err != nil || pk.Index != 0 {
				t.Fatalf("%s: %v %v", alg, pk.Index, err)
			}
			held = append(held, pk) // keep them outstanding: bounded loads must still pick
		}
		var info PickInfo
		info.Tried.Add(held[0])
		if _, err := p.Pick(info); !errors.Is(err, ErrAllTried) {
			t.Errorf("%s: %v, want ErrAllTried", alg, err)
		}
		for _, h := range held {
			h.Done(Result{})
		}
		p.Close()
	}
}
