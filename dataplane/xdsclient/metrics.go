package xdsclient

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the client's Prometheus series.
type metrics struct {
	connected prometheus.Gauge
	attempts  prometheus.Counter
	responses *prometheus.CounterVec
	nacks     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fulcrum_xds_client_connected",
			Help: "1 while the data plane has an ADS stream to a control plane.",
		}),
		attempts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fulcrum_xds_client_connection_attempts_total",
			Help: "ADS streams the data plane tried to open.",
		}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_xds_client_responses_total",
			Help: "ADS responses received, by resource type.",
		}, []string{"type"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_xds_client_nacks_total",
			Help: "ADS responses the data plane rejected, by resource type.",
		}, []string{"type"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.connected, m.attempts, m.responses, m.nacks} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
