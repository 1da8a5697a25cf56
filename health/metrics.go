package health

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Probe outcomes, the values of the "result" label.
const (
	resultSuccess = "success"
	resultFailure = "failure"
	resultTimeout = "timeout"
)

// metrics holds the Checker's collectors. They exist even without a
// registerer, so the probing code never branches on it.
type metrics struct {
	duration    *prometheus.HistogramVec
	probes      *prometheus.CounterVec
	targets     *prometheus.GaugeVec
	transitions *prometheus.CounterVec
	lag         prometheus.Histogram
	workers     prometheus.Gauge

	// byType holds each check type's series, looked up once so a probe
	// does not hash label values.
	byType map[Type]*typeMetrics
}

// typeMetrics are the series of one check type.
type typeMetrics struct {
	duration prometheus.Observer
	results  map[string]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fulcrum_health_probe_duration_seconds",
			Help:    "Time taken by one health-check probe, from dialing to the verdict, by check type.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"type"}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_health_probes_total",
			Help: "Health-check probes run, by check type and result (success, failure, timeout).",
		}, []string{"type", "result"}),
		targets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fulcrum_health_targets",
			Help: "Targets being checked, by status (unknown, healthy, unhealthy).",
		}, []string{"status"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_health_transitions_total",
			Help: "Status changes of targets, by the status entered.",
		}, []string{"status"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fulcrum_health_schedule_lag_seconds",
			Help:    "How late probes start compared with their due time; grows when the worker pool is saturated.",
			Buckets: []float64{.0001, .001, .005, .01, .05, .1, .5, 1, 5},
		}),
		workers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fulcrum_health_workers",
			Help: "Probe worker goroutines running; at most the Checker's MaxConcurrency.",
		}),
	}
	// Create every series up front so dashboards see zeros, not gaps.
	m.byType = make(map[Type]*typeMetrics)
	for _, t := range []Type{TypeHTTP, TypeTCP, TypeMySQL, TypeGRPC} {
		tm := &typeMetrics{duration: m.duration.WithLabelValues(string(t)), results: map[string]prometheus.Counter{}}
		for _, r := range []string{resultSuccess, resultFailure, resultTimeout} {
			tm.results[r] = m.probes.WithLabelValues(string(t), r)
		}
		m.byType[t] = tm
	}
	for _, s := range statusNames {
		m.targets.WithLabelValues(s)
		m.transitions.WithLabelValues(s)
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.duration, m.probes, m.targets, m.transitions, m.lag, m.workers}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			// Leave the registry as it was: a half-registered Checker would
			// block the next attempt with a confusing duplicate error.
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("health: metrics already registered (one Checker per registry): %w", err)
			}
			return nil, fmt.Errorf("health: register metrics: %w", err)
		}
	}
	return m, nil
}
