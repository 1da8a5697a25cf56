package balancer

import (
	"container/heap"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var simSeconds = flag.Int("sim.seconds", 10, "simulated seconds per algorithm in TestSimulation")

// simParams describes benchmark B10: independent clients, one slow member.
type simParams struct {
	clients, members int
	slow             int     // index of the slow member
	slowFactor       float64 // its service times are this many times longer
	meanService      time.Duration
	workers          int     // concurrent requests a member serves; the rest queue
	clientRate       float64 // requests per second per client (Poisson)
	duration         time.Duration
	seed             uint64
}

type simResult struct {
	alg            string
	n              int
	p50, p99, p999 time.Duration
	mean           time.Duration
	slowShare      float64
}

func (r simResult) String() string {
	return fmt.Sprintf("%-13s requests=%d  p50=%6.2fms  p99=%6.2fms  p99.9=%6.2fms  mean=%6.2fms  to slow member=%5.2f%%",
		r.alg, r.n, ms(r.p50), ms(r.p99), ms(r.p999), ms(r.mean), 100*r.slowShare)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type simRequest struct {
	picked Picked
	member int
	start  int64
}

type simEvent struct {
	at     int64
	seq    uint64
	client int         // arrival: the client; -1 for a completion
	req    *simRequest // completion
}

type eventQueue []simEvent

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	return q[i].at < q[j].at || q[i].at == q[j].at && q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type simMember struct {
	busy  int
	queue []*simRequest
}

// simulate runs a seeded discrete-event simulation: every client has its own Registry
// and Picker over the same members (independent clients share no counters, as separate
// processes would not), requests arrive per client as a Poisson process, members serve
// up to `workers` requests at once with exponential service times and queue the rest.
// Time is virtual: nothing sleeps, and the pickers' clock is the simulation clock.
func simulate(t testing.TB, alg string, sp simParams) simResult {
	r := rand.New(rand.NewPCG(sp.seed, 7))
	var now int64
	clock := func() time.Duration { return time.Duration(now) }
	pickers := make([]Picker, sp.clients)
	for c := range pickers {
		reg := mustRegistry(t, RegistryOptions{Now: clock})
		pickers[c] = mustNew(t, Config{Algorithm: alg, Members: pool(sp.members), Seed: sp.seed*1000 + uint64(c) + 1}, reg)
	}
	members := make([]simMember, sp.members)
	var q eventQueue
	var seq uint64
	push := func(e simEvent) { seq++; e.seq = seq; heap.Push(&q, e) }
	interArrival := func() int64 { return int64(r.ExpFloat64() / sp.clientRate * float64(time.Second)) }
	serve := func(req *simRequest) {
		members[req.member].busy++
		d := r.ExpFloat64() * float64(sp.meanService)
		if req.member == sp.slow {
			d *= sp.slowFactor
		}
		push(simEvent{at: now + int64(d), client: -1, req: req})
	}
	for c := range sp.clients {
		push(simEvent{at: interArrival(), client: c})
	}
	var latencies []time.Duration
	toSlow := 0
	end := int64(sp.duration)
	for q.Len() > 0 {
		e := heap.Pop(&q).(simEvent)
		now = e.at
		if e.client >= 0 { // arrival
			if now >= end {
				continue // stop generating; let in-flight requests finish
			}
			pk, err := pickers[e.client].Pick(PickInfo{})
			if err != nil {
				t.Fatal(err)
			}
			req := &simRequest{picked: pk, member: pk.Index, start: now}
			if m := &members[pk.Index]; m.busy < sp.workers {
				serve(req)
			} else {
				m.queue = append(m.queue, req)
			}
			push(simEvent{at: now + interArrival(), client: e.client})
			continue
		}
		req := e.req // completion
		lat := time.Duration(now - req.start)
		req.picked.Done(Result{Latency: lat, Status: 200})
		latencies = append(latencies, lat)
		if req.member == sp.slow {
			toSlow++
		}
		m := &members[req.member]
		m.busy--
		if len(m.queue) > 0 {
			next := m.queue[0]
			m.queue = m.queue[1:]
			serve(next)
		}
	}
	for _, p := range pickers {
		p.Close()
	}
	slices.Sort(latencies)
	var sum time.Duration
	for _, l := range latencies {
		sum += l
	}
	pct := func(p float64) time.Duration { return latencies[int(p*float64(len(latencies)-1))] }
	return simResult{alg: alg, n: len(latencies), p50: pct(0.50), p99: pct(0.99), p999: pct(0.999),
		mean: sum / time.Duration(len(latencies)), slowShare: float64(toSlow) / float64(len(latencies))}
}

// b10 is the scenario of benchmark B10. 50 clients × 100 requests/s = 5,000 requests/s
// over 10 members of 8 workers each (1 ms mean service; the slow one 10 ms). Round robin
// sends the slow member 500 requests/s, 62% of its capacity: it queues but stays stable.
func b10(seconds int) simParams {
	return simParams{
		clients: 50, members: 10, slow: 3, slowFactor: 10,
		meanService: time.Millisecond, workers: 8, clientRate: 100,
		duration: time.Duration(seconds) * time.Second, seed: 1,
	}
}

// TestSimulation is benchmark B10 as a deterministic simulation. Print the figures with
//
//	go test -run TestSimulation -v ./balancer/
//
// (add -args -sim.seconds=60 for a longer run). It asserts peak_ewma's p99 is at most
// 0.75× round robin's.
func TestSimulation(t *testing.T) {
	sp := b10(*simSeconds)
	t.Logf("B10 simulation: %d independent clients × %.0f req/s, %d members × %d workers, service exp(mean %v), member %d ×%.0f slower, %v simulated per algorithm, seed %d",
		sp.clients, sp.clientRate, sp.members, sp.workers, sp.meanService, sp.slow, sp.slowFactor, sp.duration, sp.seed)
	results := map[string]simResult{}
	for _, alg := range []string{RoundRobin, LeastConn, LeastRequest, PeakEWMA} {
		res := simulate(t, alg, sp)
		results[alg] = res
		t.Log(res)
	}
	rr, pe := results[RoundRobin], results[PeakEWMA]
	ratio := float64(pe.p99) / float64(rr.p99)
	t.Logf("peak_ewma p99 / round_robin p99 = %.3f (target ≤ 0.75); least_request / round_robin = %.3f",
		ratio, float64(results[LeastRequest].p99)/float64(rr.p99))
	if ratio > 0.75 {
		t.Errorf("peak_ewma p99 %v is %.2f× round_robin's %v, want ≤ 0.75×", pe.p99, ratio, rr.p99)
	}
	// Determinism: the same seed gives the same figures.
	if again := simulate(t, PeakEWMA, b10(1)); again != simulate(t, PeakEWMA, b10(1)) {
		t.Error("simulation is not deterministic")
	}
}
