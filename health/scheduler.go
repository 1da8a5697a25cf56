package health

import (
	"container/heap"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// spreadPerTarget widens the window over which the first probes of a batch
// of new targets are spread: n targets added together are spread over at
// least n × spreadPerTarget (capped at their interval), so a 10,000-member
// import starts as a steady stream instead of one burst.
const spreadPerTarget = time.Millisecond

// workerIdle is how long a worker waits for a job before it leaves the pool
// (the last one stays), so a burst of slow probes does not leave hundreds of
// goroutines behind.
const workerIdle = 10 * time.Second

// dispatchBatch bounds how many due targets the scheduler takes from the heap
// under one lock, so Add and the workers never wait long for it.
const dispatchBatch = 256

// timerHeap orders targets by their next due time.
type timerHeap []*target

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

// Push implements heap.Interface.
func (h *timerHeap) Push(x any) {
	t := x.(*target)
	t.index = len(*h)
	*h = append(*h, t)
}

// Pop implements heap.Interface.
func (h *timerHeap) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	old[n-1] = nil
	t.index = -1
	*h = old[:n-1]
	return t
}

func (h *timerHeap) remove(t *target) { heap.Remove(h, t.index) }

// pushLocked queues t at t.next and wakes the scheduler when t became the
// earliest deadline.
func (c *Checker) pushLocked(t *target) {
	heap.Push(&c.queue, t)
	if t.index == 0 {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// firstDelay is the wait before a new target's first probe: random within
// the jitter, or within batch × spreadPerTarget when that is wider, never
// more than the interval.
func firstDelay(cfg Config, batch int) time.Duration {
	window := max(cfg.Jitter, time.Duration(batch)*spreadPerTarget)
	window = min(window, cfg.Interval)
	if window <= 0 {
		return 0
	}
	return rand.N(window + 1)
}

// nextDelay is the wait after a probe: Interval while the target is healthy
// and the probe passed, UnhealthyInterval otherwise, plus or minus half the
// jitter.
func nextDelay(cfg Config, st *State) time.Duration {
	base := cfg.Interval
	if st.Status != StatusHealthy || st.ConsecutiveFailures > 0 {
		base = cfg.UnhealthyInterval
	}
	j := min(cfg.Jitter, base)
	if j <= 0 {
		return base
	}
	return base - j/2 + rand.N(j+1)
}

// Run probes the targets until ctx is done, then waits for every goroutine
// it started (the scheduler's workers) to return. Probes cut short by the
// end of ctx are not counted. Run may be called again after it returned;
// the targets keep their state. It returns an error only when it is already
// running.
func (c *Checker) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("health: Run is already running")
	}
	c.running = true
	// Targets added before Run would all be due at once: spread them.
	now := time.Now()
	for _, t := range c.targets {
		if t.index >= 0 {
			t.next = now.Add(firstDelay(t.cfg, len(c.targets)))
		}
	}
	heap.Init(&c.queue)
	c.mu.Unlock()

	p := &pool{c: c, ctx: ctx, jobs: make(chan *target, min(c.maxWorkers, 1024)), max: int32(c.maxWorkers), idle: c.workerIdle}
	c.schedule(ctx, p)
	p.wg.Wait()
	// Jobs still buffered were never probed: put them back on the heap.
	close(p.jobs)
	var left []*target
	for t := range p.jobs {
		left = append(left, t)
	}
	c.requeue(left)

	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
	return nil
}

// schedule is the scheduler loop: it sleeps until the earliest deadline,
// hands due targets to the worker pool, and returns when ctx is done.
func (c *Checker) schedule(ctx context.Context, p *pool) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	due := make([]*target, 0, dispatchBatch)
	for {
		due = due[:0]
		c.mu.Lock()
		now := time.Now()
		for len(c.queue) > 0 && !c.queue[0].next.After(now) && len(due) < dispatchBatch {
			due = append(due, heap.Pop(&c.queue).(*target))
		}
		wait := time.Hour
		if len(c.queue) > 0 {
			wait = c.queue[0].next.Sub(now)
		}
		c.mu.Unlock()

		for i, t := range due {
			if !p.submit(t) {
				c.requeue(due[i:])
				return
			}
		}
		if len(due) > 0 {
			continue // more may be due already
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-c.wake:
		case <-ctx.Done():
			return
		}
	}
}

// requeue puts targets that were taken off the heap but not probed back on
// it, due now, so that a later Run probes them first.
func (c *Checker) requeue(ts []*target) {
	if len(ts) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for _, t := range ts {
		if !t.removed && t.index < 0 {
			t.next = now
			heap.Push(&c.queue, t)
		}
	}
}

// pool is the bounded set of probe workers of one Run. Workers start when
// jobs queue up and leave after workerIdle without work, so the number of
// goroutines follows the probe concurrency actually needed, never above max.
type pool struct {
	c    *Checker
	ctx  context.Context
	jobs chan *target // buffered: the scheduler does not wait for a handoff
	max  int32
	idle time.Duration // see workerIdle
	n    atomic.Int32  // live workers
	busy atomic.Int32  // workers running a probe
	wg   sync.WaitGroup
}

// submit queues t for a worker. It starts another worker only when jobs
// wait and every worker is in the middle of a probe: a worker that is merely
// slow to pick up (the process was descheduled, common on a busy machine)
// will take the job in a moment, and probes of microseconds do not justify a
// goroutine each. It blocks only when max jobs are already queued, and
// returns false if ctx ends first.
func (p *pool) submit(t *target) bool {
	select {
	case p.jobs <- t:
		if n := p.n.Load(); n == 0 || (len(p.jobs) > 0 && p.busy.Load() >= n) {
			p.grow()
		}
		return true
	default:
	}
	p.grow()
	select {
	case p.jobs <- t:
		return true
	case <-p.ctx.Done():
		return false
	}
}

// grow starts a worker unless max are running.
func (p *pool) grow() {
	for {
		n := p.n.Load()
		if n >= p.max {
			return
		}
		if p.n.CompareAndSwap(n, n+1) {
			break
		}
	}
	p.c.m.workers.Inc()
	p.wg.Add(1)
	go p.work()
}

func (p *pool) work() {
	defer p.wg.Done()
	defer p.c.m.workers.Dec()
	idle := time.NewTimer(p.idle)
	defer idle.Stop()
	for {
		select {
		case t := <-p.jobs:
			p.busy.Add(1)
			p.c.probe(p.ctx, t)
			p.busy.Add(-1)
			idle.Reset(p.idle)
		case <-idle.C:
			// Leave unless this is the last worker: one always stays, so
			// a queued job is never stranded.
			if n := p.n.Load(); n > 1 && p.n.CompareAndSwap(n, n-1) {
				return
			}
			idle.Reset(p.idle)
		case <-p.ctx.Done():
			p.n.Add(-1)
			return
		}
	}
}

// probe runs one probe of t and records the result.
func (c *Checker) probe(ctx context.Context, t *target) {
	// A target removed while its job waited in the queue is not probed.
	c.mu.Lock()
	removed := t.removed
	c.mu.Unlock()
	if removed {
		return
	}
	start := time.Now()
	c.m.lag.Observe(max(0, start.Sub(t.next)).Seconds())
	result, reason := runProbe(ctx, t.cfg, t.prober, t.addr)
	d := time.Since(start)
	if ctx.Err() != nil {
		// Stopping is not the target's fault: do not count this probe.
		c.requeue([]*target{t})
		return
	}
	ok := result == resultSuccess
	tm := c.m.byType[t.cfg.Type]
	tm.duration.Observe(d.Seconds())
	tm.results[result].Inc()

	c.mu.Lock()
	if t.removed {
		c.mu.Unlock()
		return
	}
	from, changed := t.state.record(ok, reason, t.cfg.Rise, t.cfg.Fall, start, d)
	t.next = time.Now().Add(nextDelay(t.cfg, &t.state))
	c.pushLocked(t)
	var st State
	if changed {
		st = c.snapshotLocked(t)
		c.m.targets.WithLabelValues(from.String()).Dec()
		c.m.targets.WithLabelValues(st.Status.String()).Inc()
		c.m.transitions.WithLabelValues(st.Status.String()).Inc()
		c.publishLocked(Event{Key: t.key, From: from, To: st.Status, State: st})
	}
	c.mu.Unlock()

	if changed {
		c.log.Info("health: status changed", "target", t.addr, "type", string(t.cfg.Type), "key", string(t.key),
			"from", from.String(), "to", st.Status.String(), "reason", reason)
	} else if !ok {
		c.log.Debug("health: probe failed", "target", t.addr, "type", string(t.cfg.Type), "reason", reason)
	}
}

// runProbe runs one probe with the configured timeout and returns its result
// label and, for a failure, the reason.
func runProbe(ctx context.Context, cfg Config, p prober, addr string) (result, reason string) {
	pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	err := p.probe(pctx, addr)
	if err == nil {
		return resultSuccess, ""
	}
	timedOut := errors.Is(pctx.Err(), context.DeadlineExceeded)
	result = resultFailure
	if timedOut || isTimeout(err) {
		result = resultTimeout
	}
	return result, describe(err, cfg.Timeout, timedOut)
}
