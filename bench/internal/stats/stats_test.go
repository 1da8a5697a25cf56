package stats

import (
	"math"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	cases := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{math.NaN(), 5, 1}, 3},
	}
	for _, c := range cases {
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	in := []float64{3, 1, 2}
	Median(in)
	if in[0] != 3 {
		t.Error("Median sorted its argument in place")
	}
}

func TestQuantileNearestRank(t *testing.T) {
	var l Latencies
	if l.Quantile(0.5) != 0 {
		t.Error("empty quantile not 0")
	}
	for i := 100; i >= 1; i-- { // 1..100 ms, added out of order
		l.Add(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.5, 50}, {0.99, 99}, {0.999, 100}, {1, 100}} {
		if got := l.Quantile(c.q); got != c.want*time.Millisecond {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want*time.Millisecond)
		}
	}
	s := l.Summary()
	if s.N != 100 || s.P50 != 50*time.Millisecond || s.Max != 100*time.Millisecond {
		t.Errorf("Summary = %+v", s)
	}
	var m Latencies
	m.Add(500 * time.Millisecond)
	l.Merge(&m)
	if l.Quantile(1) != 500*time.Millisecond || l.Len() != 101 {
		t.Errorf("after Merge: max %v, len %d", l.Quantile(1), l.Len())
	}
}

func TestBestAndRatio(t *testing.T) {
	v := map[string]float64{"fulcrum": 10, "nginx": 12, "haproxy": 14, "caddy": 0}
	peer := func(n string) bool { return n != "fulcrum" }
	if n, x, ok := Best(v, peer, true); !ok || n != "nginx" || x != 12 {
		t.Errorf("lowest peer = %s %v %v", n, x, ok)
	}
	if n, x, ok := Best(v, peer, false); !ok || n != "haproxy" || x != 14 {
		t.Errorf("highest peer = %s %v %v (caddy's 0 means not measured)", n, x, ok)
	}
	if _, _, ok := Best(map[string]float64{"fulcrum": 1}, peer, true); ok {
		t.Error("Best found a peer among none")
	}
	if r := Ratio(10, 12); math.Abs(r-0.8333) > 0.001 {
		t.Errorf("Ratio = %v", r)
	}
	if !math.IsNaN(Ratio(1, 0)) || !math.IsNaN(Ratio(0, 1)) {
		t.Error("Ratio of a missing value is not NaN")
	}
	if lo, hi := MinMax([]float64{3, 1, 2}); lo != 1 || hi != 3 {
		t.Errorf("MinMax = %v %v", lo, hi)
	}
}
