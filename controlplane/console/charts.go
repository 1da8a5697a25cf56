package console

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The charts' drawing area, in SVG user units; the SVG scales to its box.
const (
	chartW = 600
	chartH = 120
)

// chart is one server-rendered SVG line chart over the last window.
type chart struct {
	ID, Title string
	// Latest and Peak are formatted values for the caption and the
	// screen-reader description; YMax labels the top grid line.
	Latest, Peak, YMax string
	// Lines are SVG polyline point lists; a gap in the data (no scrape,
	// no traffic) starts a new line.
	Lines []string
	Empty bool
}

// makeChart draws val(point) over the window that ends at now. Points
// further apart than gap are not joined.
func makeChart(id, title string, pts []point, now time.Time, gap time.Duration, floor float64, val func(point) float64, format func(float64) string) chart {
	ch := chart{ID: id, Title: title, Latest: "no data", Peak: "no data"}
	peak := 0.0
	seen := false
	for _, p := range pts {
		if v := val(p); !math.IsNaN(v) {
			peak, seen = max(peak, v), true
		}
	}
	if !seen {
		ch.Empty = true
		return ch
	}
	top := niceCeil(max(peak, floor))
	ch.Peak, ch.YMax = format(peak), format(top)
	if v := val(pts[len(pts)-1]); !math.IsNaN(v) {
		ch.Latest = format(v)
	}
	start := now.Add(-window)
	var line []string
	var prev time.Time
	flush := func() {
		if len(line) == 1 { // a lone point still shows, as a short tick
			line = append(line, line[0])
		}
		if len(line) > 0 {
			ch.Lines = append(ch.Lines, strings.Join(line, " "))
		}
		line = nil
	}
	for _, p := range pts {
		v := val(p)
		if math.IsNaN(v) || (!prev.IsZero() && p.At.Sub(prev) > gap) {
			flush()
		}
		prev = p.At
		if math.IsNaN(v) {
			continue
		}
		x := float64(chartW) * p.At.Sub(start).Seconds() / window.Seconds()
		y := float64(chartH-2) - float64(chartH-6)*v/top // zero stays visible above the axis
		line = append(line, strconv.FormatFloat(x, 'f', 1, 64)+","+strconv.FormatFloat(y, 'f', 1, 64))
	}
	flush()
	return ch
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten, so that the top
// grid line has a readable value.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func formatRate(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + "/s"
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + "/s"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "/s"
}

func formatPercent(v float64) string {
	return strconv.FormatFloat(100*v, 'f', 1, 64) + " %"
}

func formatSeconds(v float64) string {
	switch {
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64) + " s"
	case v >= 0.01:
		return strconv.FormatFloat(v*1000, 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(v*1000, 'f', 1, 64) + " ms"
}

// chartsData is the charts fragment of a pool page.
type chartsData struct {
	Pool     string
	Enabled  bool
	Interval string
	Charts   []chart
	Errors   []string
	NoData   bool
}

func (c *Console) chartsOf(pool string) chartsData {
	d := chartsData{Pool: pool, Enabled: c.metrics.enabled(), Interval: c.metrics.intervalText()}
	if !d.Enabled {
		return d
	}
	now := time.Now()
	pts := c.metrics.pointsOf(pool, now)
	gap := 5 * c.metrics.interval / 2
	d.Charts = []chart{
		makeChart("rps", "Requests per second", pts, now, gap, 1, func(p point) float64 { return p.RPS }, formatRate),
		makeChart("err", "Error rate", pts, now, gap, 0.01, func(p point) float64 { return p.ErrRatio }, formatPercent),
		makeChart("p99", "p99 upstream latency", pts, now, gap, 0.01, func(p point) float64 { return p.P99 }, formatSeconds),
	}
	d.NoData = len(pts) == 0
	d.Errors = c.metrics.targetErrors()
	return d
}

func (c *Console) chartsFragment(w http.ResponseWriter, r *http.Request, s *session) error {
	c.renderFragment(w, r, s, "charts", c.chartsOf(r.PathValue("name")))
	return nil
}
