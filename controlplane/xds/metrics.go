package xds

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the ADS server's Prometheus series.
type metrics struct {
	connected   prometheus.Gauge
	pushes      *prometheus.CounterVec
	acks        *prometheus.CounterVec
	nacks       *prometheus.CounterVec
	snapshots   prometheus.Counter
	propagation prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fulcrum_xds_connected_proxies",
			Help: "Data planes with an open ADS stream to this control-plane replica.",
		}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_xds_pushes_total",
			Help: "ADS responses sent, by resource type.",
		}, []string{"type"}),
		acks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_xds_acks_total",
			Help: "ADS responses data planes acknowledged (applied), by resource type.",
		}, []string{"type"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_xds_nacks_total",
			Help: "ADS responses data planes rejected, by resource type.",
		}, []string{"type"}),
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fulcrum_xds_snapshots_total",
			Help: "Configuration snapshots published to data planes.",
		}),
		propagation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fulcrum_xds_propagation_seconds",
			Help:    "Time from publishing a snapshot to a data plane acknowledging all of it.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.connected, m.pushes, m.acks, m.nacks, m.snapshots, m.propagation} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
