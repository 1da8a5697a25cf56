package upstream

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the upstream side. Label lookups happen on configuration and
// health changes and on ejections and overflows, never per request.
type metrics struct {
	members   *prometheus.GaugeVec
	ejections *prometheus.CounterVec
	skipped   *prometheus.CounterVec
	overflows *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		members: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fulcrum_upstream_members",
			Help: "Members of each pool by health (healthy, unhealthy, unknown) as the picker sees them.",
		}, []string{"pool", "health"}),
		ejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_upstream_ejections_total",
			Help: "Members ejected by outlier detection.",
		}, []string{"pool", "member"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_upstream_ejections_skipped_total",
			Help: "Ejections not made because maxEjectionPercent of the pool was already ejected.",
		}, []string{"pool"}),
		overflows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_upstream_circuit_breaker_overflows_total",
			Help: "Requests or connections refused by a pool's circuit breaker, by limit.",
		}, []string{"pool", "limit"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.members, m.ejections, m.skipped, m.overflows} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) setMembers(c *Cluster) {
	now := c.mgr.now()
	counts := map[string]float64{"healthy": 0, "unhealthy": 0, "unknown": 0}
	for _, lm := range c.state.Load().members {
		h, _ := lm.Health(now)
		counts[h.String()]++
	}
	for h, n := range counts {
		m.members.WithLabelValues(c.name, h).Set(n)
	}
}

func (m *metrics) dropCluster(name string) {
	m.members.DeletePartialMatch(prometheus.Labels{"pool": name})
	m.ejections.DeletePartialMatch(prometheus.Labels{"pool": name})
	m.skipped.DeletePartialMatch(prometheus.Labels{"pool": name})
	m.overflows.DeletePartialMatch(prometheus.Labels{"pool": name})
}

func (m *metrics) ejected(pool, member string) { m.ejections.WithLabelValues(pool, member).Inc() }
func (m *metrics) ejectionSkipped(pool string) { m.skipped.WithLabelValues(pool).Inc() }
func (m *metrics) overflow(pool, limit string) { m.overflows.WithLabelValues(pool, limit).Inc() }
