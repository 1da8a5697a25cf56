package console

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/translator"
)

// The data-plane metrics the charts are computed from (dataplane/l7 and
// dataplane/l4 define them).
const (
	mHTTPRequests    = "fulcrum_http_requests_total"
	mUpstreamLatency = "fulcrum_http_upstream_response_seconds"
	mL4Connections   = "fulcrum_l4_connections_total"
	mL4ConnectErrors = "fulcrum_l4_connect_errors_total"
	// maxScrapeBytes bounds one scrape: a data plane with thousands of
	// pools exports a few MiB.
	maxScrapeBytes = 32 << 20
)

// window is how much history the charts show.
const window = 15 * time.Minute

// counters are one pool's cumulative counts in one scrape of one target.
type counters struct {
	requests, errors float64
	// bounds and buckets are the upstream latency histogram: cumulative
	// counts per upper bound, +Inf last.
	bounds, buckets []float64
}

type collectorOptions struct {
	Targets  []string
	Token    string
	Interval time.Duration
	Logger   *slog.Logger
	OnScrape func()
	Failures prometheus.Counter
}

// collector scrapes the data planes' Prometheus endpoints and keeps, per
// pool, a ring of points (requests/s, error ratio, p99) over the window.
type collector struct {
	targets  []string
	token    string
	interval time.Duration
	log      *slog.Logger
	hc       *http.Client
	onScrape func()
	failures prometheus.Counter

	mu     sync.RWMutex
	series map[string]*series
	prev   map[string]scrape // by target
	errs   map[string]string // by target: the last scrape's error
}

// scrape is what one target said at one time.
type scrape struct {
	at    time.Time
	pools map[string]counters
}

func newCollector(opt collectorOptions) (*collector, error) {
	c := &collector{token: opt.Token, interval: opt.Interval, log: opt.Logger, onScrape: opt.OnScrape,
		failures: opt.Failures, series: map[string]*series{}, prev: map[string]scrape{}, errs: map[string]string{}}
	if c.interval <= 0 {
		c.interval = DefaultScrapeInterval
	}
	for _, t := range opt.Targets {
		u, err := targetURL(t)
		if err != nil {
			return nil, err
		}
		c.targets = append(c.targets, u)
	}
	c.hc = &http.Client{Timeout: min(c.interval, 5*time.Second)}
	return c, nil
}

// targetURL accepts "host:port" (an admin listener) or a URL.
func targetURL(t string) (string, error) {
	if strings.HasPrefix(t, "http://") || strings.HasPrefix(t, "https://") {
		return t, nil
	}
	if t == "" || strings.Contains(t, "/") {
		return "", fmt.Errorf("console: metrics target %q: want host:port or a URL", t)
	}
	return "http://" + t + "/metrics", nil
}

// enabled reports whether any target is configured.
func (c *collector) enabled() bool { return len(c.targets) > 0 }

func (c *collector) run(ctx context.Context) {
	if !c.enabled() {
		return
	}
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		c.scrapeAll(ctx, time.Now())
		if c.onScrape != nil {
			c.onScrape()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// scrapeAll scrapes every target and adds one point per pool seen.
func (c *collector) scrapeAll(ctx context.Context, now time.Time) {
	results := make([]map[string]counters, len(c.targets))
	errs := make([]error, len(c.targets))
	var wg sync.WaitGroup
	for i, t := range c.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.fetch(ctx, t)
		}()
	}
	wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	var ds []delta
	for i, t := range c.targets {
		if errs[i] != nil {
			if ctx.Err() == nil {
				c.errs[t] = errs[i].Error()
				if c.failures != nil {
					c.failures.Inc()
				}
			}
			continue
		}
		delete(c.errs, t)
		cur := scrape{at: now, pools: results[i]}
		if prev, ok := c.prev[t]; ok {
			ds = append(ds, deltas(prev, cur)...)
		}
		c.prev[t] = cur
	}
	c.addPoints(now, ds)
}

// fetch reads one target's metrics and sums them per pool.
func (c *collector) fetch(ctx context.Context, target string) (map[string]counters, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d", target, resp.StatusCode)
	}
	return parseMetrics(io.LimitReader(resp.Body, maxScrapeBytes))
}

// parseMetrics sums the data plane's counters per pool: HTTP requests
// (errors: 5xx and no response at all), L4 connections of a pool's own
// frontend (errors: failed connects to members), and the upstream latency
// histogram.
func parseMetrics(r io.Reader) (map[string]counters, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing metrics: %w", err)
	}
	out := map[string]counters{}
	add := func(pool string, f func(*counters)) {
		if pool == "" {
			return
		}
		c := out[pool]
		f(&c)
		out[pool] = c
	}
	for _, m := range fams[mHTTPRequests].GetMetric() {
		v, code := m.GetCounter().GetValue(), label(m, "code")
		add(label(m, "pool"), func(c *counters) {
			c.requests += v
			if code == "5xx" || code == "none" {
				c.errors += v
			}
		})
	}
	for _, m := range fams[mL4Connections].GetMetric() {
		if kind, name, ok := translator.ParseListenerName(label(m, "listener")); ok && kind == api.KindPool {
			add(name, func(c *counters) { c.requests += m.GetCounter().GetValue() })
		}
	}
	for _, m := range fams[mL4ConnectErrors].GetMetric() {
		add(label(m, "pool"), func(c *counters) { c.errors += m.GetCounter().GetValue() })
	}
	for _, m := range fams[mUpstreamLatency].GetMetric() {
		add(label(m, "pool"), func(c *counters) { addHistogram(c, m.GetHistogram()) })
	}
	return out, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// addHistogram adds a histogram's cumulative buckets to c's, by bound.
func addHistogram(c *counters, h *dto.Histogram) {
	bs := h.GetBucket()
	bounds := make([]float64, 0, len(bs)+1)
	counts := make([]float64, 0, len(bs)+1)
	for _, b := range bs {
		if math.IsInf(b.GetUpperBound(), +1) {
			continue
		}
		bounds = append(bounds, b.GetUpperBound())
		counts = append(counts, float64(b.GetCumulativeCount()))
	}
	bounds = append(bounds, math.Inf(+1))
	counts = append(counts, float64(h.GetSampleCount()))
	c.bounds, c.buckets = mergeBuckets(c.bounds, c.buckets, bounds, counts)
}

// mergeBuckets adds two cumulative histograms. With the same bounds (the
// data planes all use one layout) it is a sum; otherwise each is read as
// a step function at the union of the bounds.
func mergeBuckets(ab, ac, bb, bc []float64) ([]float64, []float64) {
	if len(ab) == 0 {
		return bb, bc
	}
	union := append(append([]float64(nil), ab...), bb...)
	sort.Float64s(union)
	bounds := union[:0]
	for i, b := range union {
		if i == 0 || b != union[i-1] {
			bounds = append(bounds, b)
		}
	}
	out := make([]float64, len(bounds))
	for i, b := range bounds {
		out[i] = cumulativeAt(ab, ac, b) + cumulativeAt(bb, bc, b)
	}
	return bounds, out
}

// cumulativeAt is the count of observations ≤ x that a cumulative
// histogram can vouch for.
func cumulativeAt(bounds, counts []float64, x float64) float64 {
	v := 0.0
	for i, b := range bounds {
		if b > x {
			break
		}
		v = counts[i]
	}
	return v
}

// targetErrors returns each failing target's last error, for the page.
func (c *collector) targetErrors() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.errs))
	for t, e := range c.errs {
		out = append(out, t+": "+e)
	}
	sort.Strings(out)
	return out
}

// intervalText is the scrape interval as people read it.
func (c *collector) intervalText() string {
	return strconv.FormatFloat(c.interval.Seconds(), 'f', -1, 64) + " s"
}
