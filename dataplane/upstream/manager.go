package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fulcrumlb/fulcrum/balancer"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/health"
)

// Options configure a Manager.
type Options struct {
	Logger *slog.Logger
	// Registerer receives the fulcrum_upstream_* and fulcrum_balancer_*
	// metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Checker, when set, runs the active health checks that clusters
	// configure (the standalone proxy). Without it, member health comes
	// from the configuration (the control plane's checks).
	Checker *health.Checker
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Manager owns every live cluster. Update applies a new set of cluster
// configurations; Run processes health events and outlier ejections.
type Manager struct {
	log     *slog.Logger
	reg     prometheus.Registerer
	checker *health.Checker
	now     func() time.Time
	metrics *metrics

	clusters atomic.Pointer[map[string]*Cluster]

	mu          sync.Mutex // serialises Update and the Run loop's rebuilds
	byKey       map[health.Key][]*Member
	checkOwners map[string]bool // clusters registered with the checker
	ejectCh     chan *Member
	wakeCh      chan struct{}
}

// NewManager returns an empty manager.
func NewManager(opts Options) (*Manager, error) {
	m := &Manager{
		log: opts.Logger, reg: opts.Registerer, checker: opts.Checker, now: opts.Now,
		byKey: map[health.Key][]*Member{}, checkOwners: map[string]bool{}, ejectCh: make(chan *Member, 1024), wakeCh: make(chan struct{}, 1),
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	met, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	m.metrics = met
	empty := map[string]*Cluster{}
	m.clusters.Store(&empty)
	return m, nil
}

// Cluster returns the live cluster with this name, or nil. It takes no lock.
func (m *Manager) Cluster(name string) *Cluster { return (*m.clusters.Load())[name] }

// Clusters returns every live cluster, by name.
func (m *Manager) Clusters() []*Cluster {
	cur := *m.clusters.Load()
	out := make([]*Cluster, 0, len(cur))
	for _, c := range cur {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Update makes the live clusters match cfgs. It builds every new picker
// first and publishes nothing if one fails, so a rejected configuration
// leaves the running state untouched.
func (m *Manager) Update(cfgs map[string]*runtime.Cluster) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := *m.clusters.Load()
	next := make(map[string]*Cluster, len(cfgs))
	type pending struct {
		c       *Cluster
		cfg     *runtime.Cluster
		members []*Member
		picker  balancer.Picker
	}
	var plan []pending
	var errs []error
	for name, cfg := range cfgs {
		c := cur[name]
		if c == nil {
			var err error
			if c, err = m.newCluster(name); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		members := c.planMembers(cfg)
		p, err := c.buildPicker(cfg, members)
		if err != nil {
			errs = append(errs, fmt.Errorf("pool %s: %w", name, err))
			continue
		}
		plan = append(plan, pending{c, cfg, members, p})
		next[name] = c
	}
	if len(errs) > 0 {
		for _, p := range plan {
			p.picker.Close()
		}
		for name, c := range next {
			if cur[name] == nil {
				c.reg.Close()
			}
		}
		return errors.Join(errs...)
	}
	for _, p := range plan {
		p.c.commit(p.cfg, p.members, p.picker)
	}
	m.clusters.Store(&next)
	for name, c := range cur {
		if next[name] == nil {
			c.close()
		}
	}
	m.syncHealthTargets()
	return nil
}

func (m *Manager) newCluster(name string) (*Cluster, error) {
	var reg prometheus.Registerer
	if m.reg != nil {
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"pool": name}, m.reg)
	}
	br, err := balancer.NewRegistry(balancer.RegistryOptions{Registerer: reg})
	if err != nil {
		return nil, fmt.Errorf("pool %s: %w", name, err)
	}
	return &Cluster{name: name, mgr: m, reg: br, members: map[string]*Member{}}, nil
}

// planMembers returns the live members for cfg in configuration order,
// reusing existing ones.
func (c *Cluster) planMembers(cfg *runtime.Cluster) (members []*Member) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range cfg.Members {
		spec := &cfg.Members[i]
		lm := c.members[spec.Address]
		if lm == nil {
			lm = &Member{Address: spec.Address, cluster: c}
			lm.spec.Store(spec)
		}
		members = append(members, lm)
	}
	return members
}

// buildPicker builds a picker over members with the specs of cfg.
func (c *Cluster) buildPicker(cfg *runtime.Cluster, members []*Member) (balancer.Picker, error) {
	now := c.mgr.now()
	bc := cfg.Balancer
	bc.Members = make([]balancer.Member, len(members))
	for i, lm := range members {
		spec := &cfg.Members[i]
		h, _ := lm.healthWith(spec, now)
		bc.Members[i] = balancer.Member{Address: spec.Address, Weight: spec.Weight, Zone: spec.Zone, State: spec.State, Health: h}
	}
	return balancer.New(bc, c.reg)
}

// healthWith is Health with a given spec (before the spec is published).
func (m *Member) healthWith(spec *runtime.Member, now time.Time) (balancer.Health, string) {
	old := m.spec.Load()
	if old == spec || old == nil {
		return m.Health(now)
	}
	if until := m.ejectedUntil.Load(); until != 0 && now.UnixNano() < until {
		return m.Health(now)
	}
	if m.checked.Load() != nil {
		return m.Health(now)
	}
	return spec.Health, spec.HealthReason
}

// commit publishes a built picture.
func (c *Cluster) commit(cfg *runtime.Cluster, members []*Member, p balancer.Picker) {
	c.mu.Lock()
	keep := make(map[string]*Member, len(members))
	for i, lm := range members {
		lm.spec.Store(&cfg.Members[i])
		keep[lm.Address] = lm
	}
	var gone []*Member
	for addr, lm := range c.members {
		if keep[addr] == nil {
			gone = append(gone, lm)
		}
	}
	c.members = keep
	c.cfg.Store(cfg)
	old := c.state.Swap(&clusterState{picker: p, members: members})
	c.mu.Unlock()
	if old != nil {
		old.picker.Close()
	}
	for _, lm := range gone {
		lm.remove()
	}
	c.mgr.metrics.setMembers(c)
}

// rebuild publishes a new picker for the current configuration, after a
// health change or an ejection. Callers hold Manager.mu.
func (c *Cluster) rebuild() {
	c.mu.Lock()
	if c.removed {
		c.mu.Unlock()
		return
	}
	cfg := c.cfg.Load()
	members := c.state.Load().members
	c.mu.Unlock()
	p, err := c.buildPicker(cfg, members)
	if err != nil {
		// The same configuration built before; only health changed, which
		// cannot make it invalid. Keep the old picker and say so.
		c.mgr.log.Error("upstream: rebuilding picker", "pool", c.name, "error", err)
		return
	}
	c.mu.Lock()
	old := c.state.Swap(&clusterState{picker: p, members: members})
	c.mu.Unlock()
	old.picker.Close()
	c.mgr.metrics.setMembers(c)
}

func (c *Cluster) close() {
	c.mu.Lock()
	c.removed = true
	members := c.members
	c.members = nil
	c.mu.Unlock()
	if st := c.state.Load(); st != nil {
		st.picker.Close()
	}
	for _, lm := range members {
		lm.remove()
	}
	c.reg.Close()
	c.mgr.metrics.dropCluster(c.name)
}

// syncHealthTargets registers every cluster's members with the checker.
// Callers hold m.mu.
func (m *Manager) syncHealthTargets() {
	if m.checker == nil {
		return
	}
	byKey := map[health.Key][]*Member{}
	for name, c := range *m.clusters.Load() {
		cfg := c.cfg.Load()
		if cfg.HealthCheck == nil {
			m.checker.Set(name, nil)
			c.setUnchecked()
			continue
		}
		var targets []health.Target
		var owners []*Member
		for _, lm := range c.state.Load().members {
			if lm.spec.Load().State == balancer.Disabled {
				continue
			}
			targets = append(targets, health.Target{Address: checkAddress(lm.Address, cfg.HealthCheckPort), Config: *cfg.HealthCheck})
			owners = append(owners, lm)
		}
		keys, err := m.checker.Set(name, targets)
		if err != nil {
			m.log.Error("upstream: health targets", "pool", name, "error", err)
			continue
		}
		for i, k := range keys {
			byKey[k] = append(byKey[k], owners[i])
			if st, ok := m.checker.State(k); ok {
				owners[i].checked.Store(&st)
			}
		}
	}
	live := *m.clusters.Load()
	for name := range m.checkOwners {
		if live[name] == nil {
			m.checker.Set(name, nil)
			delete(m.checkOwners, name)
		}
	}
	for name := range live {
		m.checkOwners[name] = true
	}
	m.byKey = byKey
}

func (c *Cluster) setUnchecked() {
	for _, lm := range c.state.Load().members {
		lm.checked.Store(nil)
	}
}

// checkAddress applies a health-check port override to a member address.
func checkAddress(addr string, port uint32) string {
	if port == 0 {
		return addr
	}
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return addr
	}
	return fmt.Sprintf("%s:%d", addr[:i], port)
}

// Run processes health transitions, ejections and their expiry until ctx
// is done.
func (m *Manager) Run(ctx context.Context) error {
	var events <-chan struct{}
	var sub *health.Subscription
	if m.checker != nil {
		sub = m.checker.Subscribe()
		defer sub.Close()
		events = sub.Ready()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-events:
			m.applyHealth(sub.Drain())
		case lm := <-m.ejectCh:
			m.eject(lm)
		case <-m.wakeCh:
		case <-timer.C:
		}
		timer.Reset(m.sweep())
	}
}

// applyHealth stores each transition on the members probed by that target
// and rebuilds the affected clusters once.
func (m *Manager) applyHealth(evs []health.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dirty := map[*Cluster]bool{}
	for _, ev := range evs {
		st := ev.State
		for _, lm := range m.byKey[ev.Key] {
			if ev.Removed {
				continue
			}
			lm.checked.Store(&st)
			dirty[lm.cluster] = true
			m.log.Info("member health changed", "pool", lm.cluster.name, "member", lm.Address,
				"from", ev.From.String(), "to", ev.To.String(), "reason", st.LastError)
		}
	}
	for c := range dirty {
		c.rebuild()
	}
}

// wake makes the Run loop sweep now (after a clock change in tests, or a
// configuration change that shortened an interval).
func (m *Manager) wake() {
	select {
	case m.wakeCh <- struct{}{}:
	default:
	}
}
