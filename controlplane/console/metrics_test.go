package console

import (
	"context"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// fakeDataPlane exports the data plane's metric families with their real
// names, labels and buckets (dataplane/l7/metrics.go, dataplane/l4), so
// that the collector can be checked against exact numbers. The browser
// test scrapes a real data plane.
type fakeDataPlane struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	conns    *prometheus.CounterVec
	connErrs *prometheus.CounterVec
	srv      *httptest.Server
}

func newFakeDataPlane(t *testing.T) *fakeDataPlane {
	f := &fakeDataPlane{reg: prometheus.NewRegistry()}
	f.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: mHTTPRequests, Help: "h"}, []string{"listener", "route", "pool", "code"})
	f.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: mUpstreamLatency, Help: "h",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"pool"})
	f.conns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: mL4Connections, Help: "h"}, []string{"listener"})
	f.connErrs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: mL4ConnectErrors, Help: "h"}, []string{"pool", "member"})
	f.reg.MustRegister(f.requests, f.latency, f.conns, f.connErrs)
	f.srv = httptest.NewServer(promhttp.HandlerFor(f.reg, promhttp.HandlerOpts{}))
	t.Cleanup(f.srv.Close)
	return f
}

// traffic adds n requests to pool web (errs of them 5xx, split over two
// routes), their latencies, and L4 connections to pool db.
func (f *fakeDataPlane) traffic(n, errs int, slow float64) {
	f.requests.WithLabelValues("listener/front", "a", "web", "2xx").Add(float64(n-errs) / 2)
	f.requests.WithLabelValues("pool/web", "pool/web", "web", "2xx").Add(float64(n-errs) / 2)
	f.requests.WithLabelValues("listener/front", "a", "web", "5xx").Add(float64(errs))
	f.requests.WithLabelValues("listener/front", "a", "", "4xx").Add(1000) // no pool: not counted
	for i := range n {
		v := 0.004
		if float64(i) < slow*float64(n) {
			v = 0.2
		}
		f.latency.WithLabelValues("web").Observe(v)
	}
	f.conns.WithLabelValues("pool/db").Add(float64(n) / 2)
	f.connErrs.WithLabelValues("db", "10.0.0.1:5432").Add(float64(errs) / 2)
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

// TestScrapeComputesRatesErrorsAndP99: two scrapes 10 s apart give the
// pool's requests per second, error ratio and p99 from the histogram; a
// data plane that restarts (counters back to small values) is not a
// negative rate; two data planes add up.
func TestScrapeComputesRatesErrorsAndP99(t *testing.T) {
	a, b := newFakeDataPlane(t), newFakeDataPlane(t)
	c, err := newCollector(collectorOptions{Targets: []string{a.srv.URL + "/metrics"}, Interval: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Now()
	a.traffic(100, 0, 0)
	c.scrapeAll(ctx, t0)
	if pts := c.pointsOf("web", t0); len(pts) != 0 {
		t.Fatalf("one scrape made %d points: a rate needs two", len(pts))
	}
	a.traffic(1000, 100, 0.02) // 100 req/s over 10 s, 10 % errors, 2 % slow
	c.scrapeAll(ctx, t0.Add(10*time.Second))
	p := c.pointsOf("web", t0.Add(10*time.Second))
	if len(p) != 1 || !near(p[0].RPS, 100) || !near(p[0].ErrRatio, 0.1) || p[0].P99 <= 0.1 || p[0].P99 > 0.25 {
		t.Fatalf("web: %+v", p)
	}
	if db := c.pointsOf("db", t0.Add(10*time.Second)); len(db) != 1 || !near(db[0].RPS, 50) || !near(db[0].ErrRatio, 0.1) || !math.IsNaN(db[0].P99) {
		t.Fatalf("db (L4): %+v", db)
	}

	// A restart: the data plane's counters start again from zero.
	a2 := newFakeDataPlane(t)
	a2.traffic(50, 0, 0)
	c.targets = []string{a2.srv.URL + "/metrics", b.srv.URL + "/metrics"}
	c.prev[a2.srv.URL+"/metrics"] = c.prev[a.srv.URL+"/metrics"]
	b.traffic(100, 0, 0)
	c.scrapeAll(ctx, t0.Add(20*time.Second)) // b's first scrape: no rate yet
	p = c.pointsOf("web", t0.Add(20*time.Second))
	if len(p) != 2 || !near(p[1].RPS, 5) || p[1].ErrRatio != 0 {
		t.Fatalf("after a restart: %+v", p)
	}
	a2.traffic(100, 0, 0)
	b.traffic(200, 20, 0)
	c.scrapeAll(ctx, t0.Add(30*time.Second))
	p = c.pointsOf("web", t0.Add(30*time.Second))
	if last := p[len(p)-1]; !near(last.RPS, 30) || !near(last.ErrRatio, 20.0/300) {
		t.Fatalf("two data planes: %+v", last)
	}
	if errs := c.targetErrors(); len(errs) != 0 {
		t.Fatalf("scrape errors: %v", errs)
	}
	c.targets = append(c.targets, "http://127.0.0.1:1/metrics")
	c.scrapeAll(ctx, t0.Add(40*time.Second))
	if errs := c.targetErrors(); len(errs) != 1 || !strings.Contains(errs[0], "127.0.0.1:1") {
		t.Fatalf("a dead target's error is not reported: %v", errs)
	}
}

// TestQuantileInterpolates checks the estimate against known histograms.
func TestQuantileInterpolates(t *testing.T) {
	inf := math.Inf(+1)
	for _, tc := range []struct {
		bounds, counts []float64
		q, want        float64
	}{
		{[]float64{1, 2, inf}, []float64{50, 100, 100}, 0.5, 1},
		{[]float64{1, 2, inf}, []float64{0, 100, 100}, 0.99, 1.99},
		{[]float64{1, 2, inf}, []float64{0, 0, 10}, 0.99, 2}, // all above the last bound
		{[]float64{0.1, inf}, []float64{100, 100}, 0.99, 0.099},
	} {
		if got := quantile(tc.q, tc.bounds, tc.counts); !near(got, tc.want) {
			t.Errorf("quantile(%v, %v, %v) = %v, want %v", tc.q, tc.bounds, tc.counts, got, tc.want)
		}
	}
	if !math.IsNaN(quantile(0.99, []float64{1, inf}, []float64{0, 0})) {
		t.Error("no observations must give no estimate")
	}
}

// TestChartBreaksAtGaps: points further apart than the gap, or without a
// value, start a new line; a window without values is an empty chart.
func TestChartBreaksAtGaps(t *testing.T) {
	now := time.Now()
	var pts []point
	for _, s := range []int{600, 595, 590, 300, 295, 10, 5} {
		v := float64(s)
		if s == 10 {
			v = math.NaN()
		}
		pts = append(pts, point{At: now.Add(-time.Duration(s) * time.Second), RPS: v})
	}
	ch := makeChart("rps", "r", pts, now, 12*time.Second, 1, func(p point) float64 { return p.RPS }, formatRate)
	if len(ch.Lines) != 3 || ch.Peak != "600/s" || ch.Latest != "5.00/s" || ch.YMax != "1000/s" {
		t.Fatalf("chart: %+v", ch)
	}
	if empty := makeChart("e", "e", pts[5:6], now, time.Minute, 1, func(p point) float64 { return p.RPS }, formatRate); !empty.Empty {
		t.Fatalf("a NaN-only chart is not empty: %+v", empty)
	}
}
