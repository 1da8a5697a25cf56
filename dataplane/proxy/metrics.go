package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	applies *prometheus.CounterVec
	info    *prometheus.GaugeVec
	last    string
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		applies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_config_applies_total",
			Help: "Configurations the data plane received, by result (applied or rejected).",
		}, []string{"result"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fulcrum_config_info",
			Help: "1 for the configuration version in force.",
		}, []string{"version"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.applies, m.info} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) applied(ok bool) {
	if ok {
		m.applies.WithLabelValues("applied").Inc()
	} else {
		m.applies.WithLabelValues("rejected").Inc()
	}
}

func (m *metrics) version(v string) {
	if m.last != "" && m.last != v {
		m.info.DeleteLabelValues(m.last)
	}
	m.info.WithLabelValues(v).Set(1)
	m.last = v
}
