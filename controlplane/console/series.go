package console

import (
	"math"
	"time"
)

// point is one chart sample: averages over the scrape interval that ends
// at At. NaN means "no data" (no requests, so no error ratio or latency).
type point struct {
	At       time.Time
	RPS      float64
	ErrRatio float64
	P99      float64 // seconds
}

// series is a ring of one pool's points.
type series struct {
	pts  []point
	head int // index of the oldest point
	n    int
}

func newSeries(capacity int) *series { return &series{pts: make([]point, capacity)} }

func (s *series) add(p point) {
	if s.n < len(s.pts) {
		s.pts[(s.head+s.n)%len(s.pts)] = p
		s.n++
		return
	}
	s.pts[s.head] = p
	s.head = (s.head + 1) % len(s.pts)
}

// since returns the points newer than t, oldest first.
func (s *series) since(t time.Time) []point {
	out := make([]point, 0, s.n)
	for i := range s.n {
		if p := s.pts[(s.head+i)%len(s.pts)]; p.At.After(t) {
			out = append(out, p)
		}
	}
	return out
}

func (s *series) last() (point, bool) {
	if s.n == 0 {
		return point{}, false
	}
	return s.pts[(s.head+s.n-1)%len(s.pts)], true
}

// delta is what one target counted for one pool between two scrapes.
type delta struct {
	pool             string
	seconds          float64
	requests, errors float64
	bounds, buckets  []float64
}

// deltas compares two scrapes of one target. A counter that went down
// was reset (the data plane restarted, or the series was recreated): its
// whole current value counts as new, as Prometheus' rate() does.
func deltas(prev, cur scrape) []delta {
	secs := cur.at.Sub(prev.at).Seconds()
	if secs <= 0 {
		return nil
	}
	out := make([]delta, 0, len(cur.pools))
	for pool, c := range cur.pools {
		p := prev.pools[pool] // zero when the pool is new
		d := delta{pool: pool, seconds: secs, requests: increase(p.requests, c.requests), errors: increase(p.errors, c.errors)}
		d.bounds, d.buckets = c.bounds, c.buckets
		if len(p.buckets) == len(c.buckets) && len(c.buckets) > 0 && c.buckets[len(c.buckets)-1] >= p.buckets[len(p.buckets)-1] {
			d.buckets = make([]float64, len(c.buckets))
			for i := range c.buckets {
				d.buckets[i] = max(c.buckets[i]-p.buckets[i], 0)
			}
		}
		out = append(out, d)
	}
	return out
}

func increase(prev, cur float64) float64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// addPoints adds one point per pool from the targets' deltas (summed:
// each target is a separate data plane carrying its own share), and
// drops the series of pools not seen for a whole window.
func (c *collector) addPoints(now time.Time, ds []delta) {
	type sum struct {
		rps, requests, errors float64
		bounds, buckets       []float64
	}
	sums := map[string]*sum{}
	for _, d := range ds {
		s := sums[d.pool]
		if s == nil {
			s = &sum{}
			sums[d.pool] = s
		}
		s.rps += d.requests / d.seconds
		s.requests += d.requests
		s.errors += d.errors
		s.bounds, s.buckets = mergeBuckets(s.bounds, s.buckets, d.bounds, d.buckets)
	}
	capacity := int(window/c.interval) + 2
	for pool, s := range sums {
		p := point{At: now, RPS: s.rps, ErrRatio: math.NaN(), P99: quantile(0.99, s.bounds, s.buckets)}
		if s.requests > 0 {
			p.ErrRatio = min(s.errors/s.requests, 1)
		}
		ser := c.series[pool]
		if ser == nil {
			ser = newSeries(capacity)
			c.series[pool] = ser
		}
		ser.add(p)
	}
	for pool, ser := range c.series {
		if last, ok := ser.last(); !ok || now.Sub(last.At) > window {
			delete(c.series, pool)
		}
	}
}

// quantile estimates the q-quantile of a cumulative histogram the way
// Prometheus' histogram_quantile does: linear interpolation inside the
// bucket that holds the rank; the +Inf bucket answers with the largest
// finite bound. NaN without observations.
func quantile(q float64, bounds, counts []float64) float64 {
	n := len(counts)
	if n == 0 || counts[n-1] <= 0 {
		return math.NaN()
	}
	rank := q * counts[n-1]
	i := 0
	for i < n-1 && counts[i] < rank {
		i++
	}
	if math.IsInf(bounds[i], +1) {
		if i == 0 {
			return math.NaN()
		}
		return bounds[i-1]
	}
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = bounds[i-1], counts[i-1]
	}
	in := counts[i] - below
	if in <= 0 {
		return bounds[i]
	}
	return lower + (bounds[i]-lower)*(rank-below)/in
}

// pointsOf returns a pool's points of the last window.
func (c *collector) pointsOf(pool string, now time.Time) []point {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if s := c.series[pool]; s != nil {
		return s.since(now.Add(-window))
	}
	return nil
}
