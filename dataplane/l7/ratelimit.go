package l7

import (
	"fmt"
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
)

// maxClientBuckets bounds the per-client-address buckets of one limiter
// (Envoy's max_dynamic_descriptors, as the translator sets it); beyond it
// the least recently used client of a shard is forgotten, which gives it a
// full bucket again.
const maxClientBuckets = 10000

const limiterShards = 16

// limiter is a token bucket, shared by a whole route or pool, or one per
// client address.
type limiter struct {
	rate  float64 // tokens per second
	burst float64
	per   bool

	global bucket
	shards [limiterShards]clientShard
}

type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   int64 // unix nanoseconds of the last refill
}

// take removes one token if there is one; otherwise it returns how long
// until one is available.
func (b *bucket) take(now int64, rate, burst float64) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last == 0 {
		b.tokens, b.last = burst, now
	}
	b.tokens = math.Min(burst, b.tokens+float64(now-b.last)/1e9*rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	if rate <= 0 {
		return false, time.Hour
	}
	return false, time.Duration((1 - b.tokens) / rate * 1e9)
}

// clientShard holds per-address buckets in LRU order (a doubly linked list
// threaded through the entries, most recent at head).
type clientShard struct {
	mu      sync.Mutex
	entries map[netip.Addr]*clientEntry
	head    *clientEntry
	tail    *clientEntry
}

type clientEntry struct {
	addr       netip.Addr
	tokens     float64
	last       int64
	prev, next *clientEntry
}

func newLimiter(rl *runtime.RateLimit) *limiter {
	l := &limiter{rate: rl.RequestsPerSecond, burst: float64(max(rl.Burst, 1)), per: rl.PerClientIP}
	for i := range l.shards {
		l.shards[i].entries = map[netip.Addr]*clientEntry{}
	}
	return l
}

// allow takes a token for a request from ip, or says how long to wait.
func (l *limiter) allow(ip netip.Addr, now time.Time) (bool, time.Duration) {
	ns := now.UnixNano()
	if !l.per {
		return l.global.take(ns, l.rate, l.burst)
	}
	h := ip.As16()
	sh := &l.shards[(h[15]^h[14]^h[11])%limiterShards]
	return sh.take(ip, ns, l.rate, l.burst)
}

func (s *clientShard) take(ip netip.Addr, now int64, rate, burst float64) (bool, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[ip]
	if e == nil {
		if len(s.entries) >= maxClientBuckets/limiterShards {
			old := s.tail
			s.unlink(old)
			delete(s.entries, old.addr)
			*old = clientEntry{}
			e = old // reuse the evicted entry: no allocation once full
		} else {
			e = &clientEntry{}
		}
		e.addr, e.tokens, e.last = ip, burst, now
		s.entries[ip] = e
	} else {
		s.unlink(e)
	}
	s.pushFront(e)
	e.tokens = math.Min(burst, e.tokens+float64(now-e.last)/1e9*rate)
	e.last = now
	if e.tokens >= 1 {
		e.tokens--
		return true, 0
	}
	if rate <= 0 {
		return false, time.Hour
	}
	return false, time.Duration((1 - e.tokens) / rate * 1e9)
}

func (s *clientShard) unlink(e *clientEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (s *clientShard) pushFront(e *clientEntry) {
	e.next = s.head
	if s.head != nil {
		s.head.prev = e
	}
	s.head = e
	if s.tail == nil {
		s.tail = e
	}
}

// limiterRegistry keeps limiters across configurations, keyed by scope and
// settings: a reload that leaves a limit unchanged keeps its buckets
// (architecture rule 2). Limiters no configuration used for a while are
// dropped by sweep.
type limiterRegistry struct {
	mu   sync.Mutex
	byID map[string]*limiterEntry
}

type limiterEntry struct {
	l    *limiter
	used time.Time
}

func (r *limiterRegistry) get(scope string, rl *runtime.RateLimit) *limiter {
	id := fmt.Sprintf("%s|%g|%d|%t", scope, rl.RequestsPerSecond, rl.Burst, rl.PerClientIP)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID == nil {
		r.byID = map[string]*limiterEntry{}
	}
	e := r.byID[id]
	if e == nil {
		e = &limiterEntry{l: newLimiter(rl)}
		r.byID[id] = e
	}
	e.used = time.Now()
	return e.l
}

// sweep forgets limiters not handed out since before; live configurations
// re-register theirs on every compile, and requests keep the limiter they
// hold, so dropping one only loses state nobody uses.
func (r *limiterRegistry) sweep(keep map[*limiter]bool, before time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, e := range r.byID {
		if !keep[e.l] && e.used.Before(before) {
			delete(r.byID, id)
		}
	}
}

// retryAfter formats a wait as whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	return max(s, 1)
}
