package upstream

import (
	"time"
)

// requestEjection hands a member that crossed its error threshold to the
// Run loop; the request path never rebuilds a picker itself.
func (m *Manager) requestEjection(lm *Member) {
	select {
	case m.ejectCh <- lm:
	default:
		// The loop is behind; the member stays pending and will be taken
		// by the next sweep.
		lm.ejectPending.Store(false)
	}
}

// eject takes a member out of rotation for base × multiplier (capped),
// unless that would eject more than maxEjectionPercent of the cluster.
func (m *Manager) eject(lm *Member) {
	m.mu.Lock()
	defer m.mu.Unlock()
	defer lm.ejectPending.Store(false)
	c := lm.cluster
	if lm.Removed() || lm.ejectedUntil.Load() != 0 {
		return
	}
	od := c.cfg.Load().Outlier
	members := c.state.Load().members
	ejected := 0
	for _, o := range members {
		if o.ejectedUntil.Load() != 0 {
			ejected++
		}
	}
	// Envoy's rule: eject only while the ejected share stays within the
	// cap, but always allow one ejection so that a two-member pool can
	// shed a dead member.
	if ejected > 0 && (ejected+1)*100 > od.MaxEjectionPercent*len(members) {
		m.metrics.ejectionSkipped(c.name)
		return
	}
	mult := lm.ejections.Add(1)
	d := od.BaseEjectionTime * time.Duration(mult)
	if od.MaxEjectionTime > 0 && d > od.MaxEjectionTime {
		d = od.MaxEjectionTime
	}
	until := m.now().Add(d)
	lm.ejectedUntil.Store(until.UnixNano())
	lm.consec5xx.Store(0)
	lm.consecGw.Store(0)
	m.metrics.ejected(c.name, lm.Address)
	m.log.Warn("member ejected by outlier detection", "pool", c.name, "member", lm.Address, "for", d.String())
	c.rebuild()
}

// sweep returns members whose ejection has expired to rotation, lowers the
// backoff multiplier of members that stayed in rotation for an interval,
// and returns how long until the next sweep is due.
func (m *Manager) sweep() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	next := time.Hour
	for _, c := range *m.clusters.Load() {
		od := c.cfg.Load().Outlier
		dirty := false
		for _, lm := range c.state.Load().members {
			until := lm.ejectedUntil.Load()
			switch {
			case until != 0 && now.UnixNano() >= until:
				lm.ejectedUntil.Store(0)
				lm.lastSweep = now
				dirty = true
				m.log.Info("member returned from ejection", "pool", c.name, "member", lm.Address)
			case until != 0:
				next = min(next, time.Duration(until-now.UnixNano()))
			case lm.ejections.Load() > 0 && od.Interval > 0:
				if now.Sub(lm.lastSweep) >= od.Interval {
					lm.ejections.Add(-1)
					lm.lastSweep = now
				}
				next = min(next, od.Interval)
			}
			if until == 0 && lm.ejectPending.CompareAndSwap(false, true) {
				// A member that tripped while the channel was full.
				if od.Consecutive5xx > 0 && int(lm.consec5xx.Load()) >= od.Consecutive5xx ||
					od.ConsecutiveGateway > 0 && int(lm.consecGw.Load()) >= od.ConsecutiveGateway {
					m.wakeEject(lm)
				} else {
					lm.ejectPending.Store(false)
				}
			}
		}
		if dirty {
			c.rebuild()
		}
	}
	return max(next, 10*time.Millisecond)
}

// wakeEject queues an ejection found by the sweep without blocking.
func (m *Manager) wakeEject(lm *Member) {
	select {
	case m.ejectCh <- lm:
	default:
		lm.ejectPending.Store(false)
	}
}
