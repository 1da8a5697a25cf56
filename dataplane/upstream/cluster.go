// Package upstream keeps the live side of every cluster: the members and
// their health, the current picker, outlier ejections and circuit-breaker
// counters. It outlives configurations: a new snapshot updates a Cluster in
// place (a new immutable picker is published), and counters, ejections and
// health carry over (architecture rule 2).
package upstream

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/balancer"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
)

// ErrNoHealthyMember is returned by Pick when the cluster has no member to
// send to (empty, all disabled, or every candidate already tried).
var ErrNoHealthyMember = errors.New("no member available")

// Cluster is the live state of one pool. Its methods are safe for
// concurrent use; Pick and the Member accessors take no locks.
type Cluster struct {
	name string
	mgr  *Manager
	reg  *balancer.Registry

	cfg   atomic.Pointer[runtime.Cluster]
	state atomic.Pointer[clusterState]

	// Circuit-breaker gauges.
	activeRequests atomic.Int64
	activeRetries  atomic.Int64
	pendingConns   atomic.Int64
	activeConns    atomic.Int64

	// mu serialises rebuilds; the request path never takes it.
	mu      sync.Mutex
	members map[string]*Member // live members by address, across rebuilds
	removed bool
}

// clusterState is one immutable picture: the picker and the live members in
// the picker's order (Picked.Index indexes Members).
type clusterState struct {
	picker  balancer.Picker
	members []*Member
}

// Name returns the cluster's name.
func (c *Cluster) Name() string { return c.name }

// Config returns the cluster's current configuration.
func (c *Cluster) Config() *runtime.Cluster { return c.cfg.Load() }

// Members returns the members of the current picture in picker order.
func (c *Cluster) Members() []*Member { return c.state.Load().members }

// Panic reports whether the current picker spreads over unhealthy members
// because none is healthy.
func (c *Cluster) Panic() bool { return c.state.Load().picker.Panic() }

// Pick chooses a member. Call Done on the result exactly once.
func (c *Cluster) Pick(info *balancer.PickInfo) (Pick, error) {
	st := c.state.Load()
	p, err := st.picker.Pick(*info)
	if err != nil {
		return Pick{}, fmt.Errorf("pool %s: %w", c.name, ErrNoHealthyMember)
	}
	m := st.members[p.Index]
	m.inflight.Add(1)
	return Pick{Member: m, picked: p}, nil
}

// Lookup returns the member with this address if it may still take the
// session (enabled or draining, and healthy), for sticky cookies.
func (c *Cluster) Lookup(address string) (Pick, bool) {
	st := c.state.Load()
	p, ok := st.picker.Lookup(address)
	if !ok {
		return Pick{}, false
	}
	m := st.members[p.Index]
	m.inflight.Add(1)
	return Pick{Member: m, picked: p}, true
}

// Pick is a chosen member; Done must be called once with the outcome.
type Pick struct {
	Member *Member
	picked balancer.Picked
}

// Tried records the pick in a Tried set so that a retry goes elsewhere.
func (p Pick) Tried(t *balancer.Tried) { t.Add(p.picked) }

// Outcome classifies what happened to a request or connection for the
// feedback loops: balancing latency, outlier detection and metrics.
type Outcome struct {
	// Latency to the response head (L7) or the connection (L4).
	Latency time.Duration
	// Status is the HTTP status, 0 for L4 or when there was no response.
	Status int
	// Err is a transport failure: connect failure, reset, timeout.
	Err error
	// ConnectFailure says the failure happened before a connection existed.
	ConnectFailure bool
}

// Done reports the outcome: it ends the pick, feeds the latency estimate
// and counts errors for outlier detection.
func (p Pick) Done(o Outcome) {
	if p.Member == nil {
		return
	}
	p.Member.inflight.Add(-1)
	p.picked.Done(balancer.Result{Latency: o.Latency, Status: o.Status, Err: o.Err})
	p.Member.observe(o)
}

// Circuit-breaker reasons, reported in the x-fulcrum-overloaded header.
const (
	OverloadMaxRequests        = "max_requests"
	OverloadMaxPendingRequests = "max_pending_requests"
	OverloadMaxConnections     = "max_connections"
	OverloadMaxRetries         = "max_retries"
)

// AcquireRequest takes a request slot; it returns false and the reason when
// the circuit breaker is open. Call ReleaseRequest when the request ends.
func (c *Cluster) AcquireRequest() (bool, string) {
	limit := int64(c.cfg.Load().Circuit.MaxRequests)
	if n := c.activeRequests.Add(1); limit > 0 && n > limit {
		c.activeRequests.Add(-1)
		c.mgr.metrics.overflow(c.name, OverloadMaxRequests)
		return false, OverloadMaxRequests
	}
	return true, ""
}

// ReleaseRequest returns a request slot.
func (c *Cluster) ReleaseRequest() { c.activeRequests.Add(-1) }

// AcquireRetry takes a retry slot: within max_retries, and within the retry
// budget (a share of active requests, with a floor) when one is set.
func (c *Cluster) AcquireRetry() (bool, string) {
	cb := c.cfg.Load().Circuit
	n := c.activeRetries.Add(1)
	limit := int64(cb.MaxRetries)
	if cb.RetryBudgetPercent >= 0 {
		budget := int64(float64(c.activeRequests.Load()) * cb.RetryBudgetPercent / 100)
		limit = max(budget, int64(cb.RetryBudgetMin))
	}
	if n > limit {
		c.activeRetries.Add(-1)
		c.mgr.metrics.overflow(c.name, OverloadMaxRetries)
		return false, OverloadMaxRetries
	}
	return true, ""
}

// ReleaseRetry returns a retry slot.
func (c *Cluster) ReleaseRetry() { c.activeRetries.Add(-1) }

// AcquireConnection takes a slot for a new upstream connection (L7 pools
// and L4 proxies); call ReleaseConnection when the connection closes.
func (c *Cluster) AcquireConnection() (bool, string) {
	limit := int64(c.cfg.Load().Circuit.MaxConnections)
	if n := c.activeConns.Add(1); limit > 0 && n > limit {
		c.activeConns.Add(-1)
		c.mgr.metrics.overflow(c.name, OverloadMaxConnections)
		return false, OverloadMaxConnections
	}
	return true, ""
}

// ReleaseConnection returns a connection slot.
func (c *Cluster) ReleaseConnection() { c.activeConns.Add(-1) }

// AcquirePending takes a slot for a request waiting for a connection.
func (c *Cluster) AcquirePending() (bool, string) {
	limit := int64(c.cfg.Load().Circuit.MaxPendingRequests)
	if n := c.pendingConns.Add(1); limit > 0 && n > limit {
		c.pendingConns.Add(-1)
		c.mgr.metrics.overflow(c.name, OverloadMaxPendingRequests)
		return false, OverloadMaxPendingRequests
	}
	return true, ""
}

// ReleasePending returns a pending slot.
func (c *Cluster) ReleasePending() { c.pendingConns.Add(-1) }

// Stats are the cluster's live gauges.
type Stats struct {
	ActiveRequests     int64 `json:"activeRequests"`
	ActiveRetries      int64 `json:"activeRetries"`
	PendingConnections int64 `json:"pendingConnections"`
	ActiveConnections  int64 `json:"activeConnections"`
	Panic              bool  `json:"panic"`
}

// Stats returns the live gauges.
func (c *Cluster) Stats() Stats {
	return Stats{c.activeRequests.Load(), c.activeRetries.Load(), c.pendingConns.Load(), c.activeConns.Load(), c.Panic()}
}
