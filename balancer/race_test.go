package balancer

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// box lets an interface value sit behind an atomic.Pointer, as a data plane keeps it.
type box struct{ p Picker }

// randomConfig returns a config over members 0..11 for rebuild i: member 0 is always
// present and enabled; the others come and go with random states and health.
func randomConfig(r *rand.Rand, i int) Config {
	algs := Algorithms()
	cfg := Config{Algorithm: algs[i%len(algs)], Seed: uint64(i + 1)}
	for m := range 12 {
		if m > 0 && r.IntN(4) == 0 {
			continue
		}
		mem := Member{Address: addr(m), Weight: 1 + uint32(r.IntN(5))}
		if m > 0 {
			mem.State = AdminState(r.IntN(3))
			mem.Health = Health(r.IntN(3))
		}
		cfg.Members = append(cfg.Members, mem)
	}
	if cfg.Algorithm == RingHash && i%2 == 0 {
		cfg.BoundedLoadFactor = 1.25
	}
	return cfg
}

// raceWorker picks n times from whatever picker cur holds, keeps up to eight requests
// outstanding (so that many span a rebuild), finishes them in random order, and returns
// the number of successful and refused picks.
func raceWorker(t *testing.T, cur *atomic.Pointer[box], seed uint64, n int) (picks, refused int64) {
	wr := rand.New(rand.NewPCG(seed, 2))
	var held []Picked
	defer func() {
		for _, h := range held {
			h.Done(Result{Err: errors.New("shutdown")})
		}
	}()
	for i := range n {
		info := PickInfo{Hash: wr.Uint64(), HasHash: i%2 == 0}
		if i%7 == 0 {
			info.Tried.AddAddress(addr(wr.IntN(12)))
		}
		p := cur.Load().p
		pk, err := p.Pick(info)
		switch {
		case err == nil:
			picks++
			held = append(held, pk)
		case errors.Is(err, ErrNoMembers), errors.Is(err, ErrAllTried):
			refused++
		default:
			t.Errorf("Pick: %v", err)
			return picks, refused
		}
		if lk, ok := p.Lookup(addr(wr.IntN(12))); ok {
			held = append(held, lk)
		}
		// Finish a random outstanding request, possibly picked from an older picker.
		for len(held) > 8 {
			j := wr.IntN(len(held))
			held[j].Done(Result{Latency: time.Duration(wr.IntN(5000)) * time.Microsecond, Status: 200 + 100*wr.IntN(4)})
			held = append(held[:j], held[j+1:]...)
		}
	}
	return picks, refused
}

// TestConcurrentPicksDuringRebuilds runs pickers on every core while the pool is rebuilt
// hundreds of times (every algorithm, members joining, leaving, draining, failing).
// Under -race it proves Pick, Lookup, Done, New and Close share no unsynchronised state;
// at the end every counter must be back to zero and every registry entry released.
func TestConcurrentPicksDuringRebuilds(t *testing.T) {
	reg := mustRegistry(t, RegistryOptions{})
	r := rand.New(rand.NewPCG(1, 1))
	var cur atomic.Pointer[box]
	cur.Store(&box{mustNew(t, randomConfig(r, 0), reg)})

	// A long request on member 0 spans every rebuild: its count must survive them.
	long, ok := cur.Load().p.Lookup(addr(0))
	if !ok {
		t.Fatal("member 0 not found")
	}

	const workers, picksPerWorker, rebuilds = 4, 4000, 300
	var wg sync.WaitGroup
	var picks, failures atomic.Int64
	stop := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, f := raceWorker(t, &cur, uint64(w), picksPerWorker)
			picks.Add(p)
			failures.Add(f)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= rebuilds; i++ {
			select {
			case <-stop:
				return
			default:
			}
			np, err := New(randomConfig(r, i), reg)
			if err != nil {
				t.Errorf("rebuild %d: %v", i, err)
				return
			}
			old := cur.Swap(&box{np})
			old.p.Close()
			if i%50 == 0 {
				time.Sleep(time.Millisecond) // let the pickers run between bursts
			}
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(45 * time.Second):
		close(stop)
		<-done
		t.Fatal("workers did not finish in time")
	}

	if st, _ := reg.Stats(addr(0)); st.Outstanding != 1 {
		t.Errorf("member 0 outstanding = %d across %d rebuilds, want 1 (the long request)", st.Outstanding, rebuilds)
	}
	long.Done(Result{Latency: time.Second})
	final := cur.Load().p
	for _, m := range final.Members() {
		if st, _ := reg.Stats(m.Address); st.Outstanding != 0 {
			t.Errorf("%s: %d outstanding after every Done", m.Address, st.Outstanding)
		}
	}
	if got := reg.bounded.Load(); got != 0 {
		t.Errorf("bounded-load total = %d after every Done", got)
	}
	if reg.Len() != len(final.Members()) {
		t.Errorf("registry holds %d entries, the live picker %d members", reg.Len(), len(final.Members()))
	}
	final.Close()
	if reg.Len() != 0 {
		t.Errorf("registry holds %d entries after the last Close", reg.Len())
	}
	t.Logf("%d picks, %d refused (no member / all tried), %d rebuilds", picks.Load(), failures.Load(), rebuilds)
}
