package upstream

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/balancer"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/health"
)

// Member is the live state of one backend. It survives configuration
// changes for as long as its address stays in the cluster, so connection
// pools, counters, health and ejections carry over.
type Member struct {
	// Address is "host:port".
	Address string
	cluster *Cluster

	spec atomic.Pointer[runtime.Member]

	inflight atomic.Int64
	requests atomic.Uint64
	failures atomic.Uint64

	// Outlier detection.
	consec5xx    atomic.Int32
	consecGw     atomic.Int32
	ejectedUntil atomic.Int64 // unix nanoseconds; 0 when not ejected
	ejections    atomic.Int32 // the current backoff multiplier
	ejectPending atomic.Bool
	lastSweep    time.Time // guarded by Manager.mu

	// checked is the active health check's view (standalone proxy); nil
	// when the data plane does not check.
	checked atomic.Pointer[health.State]

	// attachments hold per-protocol state such as connection pools, so that
	// it lives exactly as long as the member.
	attachMu    sync.Mutex
	attachments map[any]Attachment
	removed     atomic.Bool
}

// Attachment is state a protocol hangs on a member (an HTTP connection
// pool); Close is called when the member leaves its cluster.
type Attachment interface {
	Close()
}

// Attach returns the attachment stored under key, creating it with mk on
// first use. It returns nil when the member has been removed, so a request
// that raced with the removal does not leak a new pool.
func (m *Member) Attach(key any, mk func() Attachment) Attachment {
	m.attachMu.Lock()
	defer m.attachMu.Unlock()
	if a, ok := m.attachments[key]; ok {
		return a
	}
	if m.removed.Load() {
		return nil
	}
	if m.attachments == nil {
		m.attachments = map[any]Attachment{}
	}
	a := mk()
	m.attachments[key] = a
	return a
}

// Cluster returns the member's cluster.
func (m *Member) Cluster() *Cluster { return m.cluster }

// Spec returns the member as configured.
func (m *Member) Spec() *runtime.Member { return m.spec.Load() }

// Removed reports whether the member has left its cluster; connections to
// it are not reused.
func (m *Member) Removed() bool { return m.removed.Load() }

// Draining reports whether the member takes no new traffic (drained by an
// operator, or removed).
func (m *Member) Draining() bool {
	return m.removed.Load() || m.spec.Load().State != balancer.Enabled
}

func (m *Member) remove() {
	m.removed.Store(true)
	m.attachMu.Lock()
	atts := m.attachments
	m.attachments = nil
	m.attachMu.Unlock()
	for _, a := range atts {
		a.Close()
	}
}

// Health combines what the control plane reported, the data plane's own
// check and outlier ejection, with a reason a person understands.
func (m *Member) Health(now time.Time) (balancer.Health, string) {
	if until := m.ejectedUntil.Load(); until != 0 && now.UnixNano() < until {
		return balancer.Unhealthy, "ejected by outlier detection until " + time.Unix(0, until).UTC().Format(time.RFC3339)
	}
	if st := m.checked.Load(); st != nil {
		switch st.Status {
		case health.StatusHealthy:
			return balancer.Healthy, ""
		case health.StatusUnhealthy:
			return balancer.Unhealthy, st.LastError
		}
		return balancer.HealthUnknown, "not checked yet"
	}
	spec := m.spec.Load()
	return spec.Health, spec.HealthReason
}

// HealthState returns the active check's state, if the data plane checks.
func (m *Member) HealthState() (health.State, bool) {
	if st := m.checked.Load(); st != nil {
		return *st, true
	}
	return health.State{}, false
}

// Snapshot is a point-in-time view of a member for display.
type Snapshot struct {
	Address      string    `json:"address"`
	Weight       uint32    `json:"weight"`
	Zone         string    `json:"zone,omitempty"`
	State        string    `json:"state"`
	Health       string    `json:"health"`
	Reason       string    `json:"reason,omitempty"`
	Inflight     int64     `json:"inflight"`
	Requests     uint64    `json:"requests"`
	Failures     uint64    `json:"failures"`
	Ejections    int32     `json:"ejections"`
	EjectedUntil time.Time `json:"ejectedUntil,omitzero"`
	// Check is the active check's state when the data plane checks.
	Check *health.State `json:"check,omitempty"`
}

// Snapshot returns the member's state for display.
func (m *Member) Snapshot(now time.Time) Snapshot {
	spec := m.spec.Load()
	h, reason := m.Health(now)
	s := Snapshot{
		Address: m.Address, Weight: spec.Weight, Zone: spec.Zone, State: spec.State.String(),
		Health: h.String(), Reason: reason, Inflight: m.inflight.Load(),
		Requests: m.requests.Load(), Failures: m.failures.Load(), Ejections: m.ejections.Load(),
	}
	if until := m.ejectedUntil.Load(); until != 0 {
		s.EjectedUntil = time.Unix(0, until).UTC()
	}
	if st, ok := m.HealthState(); ok {
		s.Check = &st
	}
	return s
}

// observe feeds one outcome to the member's counters and to outlier
// detection. Gateway errors are connect failures and 502, 503 and 504;
// every transport error and every 5xx counts as an error.
func (m *Member) observe(o Outcome) {
	m.requests.Add(1)
	isErr := o.Err != nil || o.Status >= 500
	if !isErr {
		m.consec5xx.Store(0)
		m.consecGw.Store(0)
		return
	}
	m.failures.Add(1)
	gateway := o.ConnectFailure || o.Status == 502 || o.Status == 503 || o.Status == 504 || o.Err != nil
	od := m.cluster.cfg.Load().Outlier
	trip := false
	if n := m.consec5xx.Add(1); od.Consecutive5xx > 0 && int(n) >= od.Consecutive5xx {
		trip = true
	}
	if gateway {
		if n := m.consecGw.Add(1); od.ConsecutiveGateway > 0 && int(n) >= od.ConsecutiveGateway {
			trip = true
		}
	} else {
		m.consecGw.Store(0)
	}
	if trip && m.ejectedUntil.Load() == 0 && m.ejectPending.CompareAndSwap(false, true) {
		m.cluster.mgr.requestEjection(m)
	}
}
