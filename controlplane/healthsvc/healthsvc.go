// Package healthsvc runs the control plane's health checks: every member of
// every pool is probed once, by the one control-plane replica elected
// leader, and the results are written to the store, fenced by the
// election, from where they reach every data plane as EDS health.
package healthsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/health"
	"github.com/fulcrumlb/fulcrum/translator"
)

// ElectionName is the election key, under the store's prefix.
const ElectionName = "elections/health"

// Options configure the service.
type Options struct {
	Store  *store.Store
	Logger *slog.Logger
	// Registerer receives the checker's fulcrum_health_* metrics while
	// this replica leads; nil registers nothing.
	Registerer prometheus.Registerer
	// Replica names this control plane in the election.
	Replica string
	// FlushInterval bounds how stale success/failure counts and last-check
	// times in the store may get; status changes are written at once.
	// Default 5s.
	FlushInterval time.Duration
	// SessionTTL is the etcd lease of the leadership: a dead leader is
	// replaced after at most this long. Default 5s.
	SessionTTL time.Duration
}

// Service campaigns for leadership and, while leading, checks members.
type Service struct {
	opt Options
	log *slog.Logger
	// members maps pool → probe address → member address (they differ
	// when the check uses another port).
	members atomic.Pointer[map[string]map[string]string]
}

// New returns a service; Run starts it.
func New(opt Options) *Service {
	if opt.FlushInterval <= 0 {
		opt.FlushInterval = 5 * time.Second
	}
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = 5 * time.Second
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{opt: opt, log: log.With("component", "health", "replica", opt.Replica)}
}

// Run campaigns and leads until ctx is done. Losing leadership (a lost
// lease, a fenced write) ends the term; the service then campaigns again.
func (s *Service) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := s.term(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("health leadership ended", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// term is one campaign and, if won, one term of leadership.
func (s *Service) term(ctx context.Context) error {
	sess, err := concurrency.NewSession(s.opt.Store.Client(), concurrency.WithTTL(int(s.opt.SessionTTL.Seconds())), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("healthsvc: session: %w", err)
	}
	defer sess.Close()
	e := concurrency.NewElection(sess, s.opt.Store.Prefix()+ElectionName)
	if err := e.Campaign(ctx, s.opt.Replica); err != nil {
		return fmt.Errorf("healthsvc: campaign: %w", err)
	}
	s.log.Info("leading health checks")
	lead, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sess.Done():
			cancel()
		case <-lead.Done():
		}
	}()
	err = s.lead(lead, store.Fence{Key: e.Key(), Rev: e.Rev()})
	if ctx.Err() != nil {
		// Hand over quickly on shutdown instead of waiting for the lease.
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = e.Resign(rctx)
		rcancel()
	}
	return err
}

// lead runs a checker over the configured members and writes what it finds.
func (s *Service) lead(ctx context.Context, fence store.Fence) error {
	var reg prometheus.Registerer
	if s.opt.Registerer != nil {
		term := &termRegisterer{Registerer: s.opt.Registerer}
		defer term.unregisterAll()
		reg = term
	}
	checker, err := health.New(health.Options{Logger: s.log, Registerer: reg})
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = checker.Run(ctx) }()
	defer func() { <-done }()
	sub := checker.Subscribe()
	defer sub.Close()
	changes := s.opt.Store.Watch(ctx)
	w := &writer{store: s.opt.Store, fence: fence, checker: checker, members: &s.members}
	if err := s.sync(ctx, checker); err != nil {
		return err
	}
	flush := time.NewTicker(s.opt.FlushInterval)
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case _, ok := <-changes:
			if !ok {
				return ctx.Err()
			}
			if err := s.sync(ctx, checker); err != nil {
				s.log.Error("health targets not updated", "error", err)
			}
		case <-sub.Ready():
			sub.Drain()
			if err := w.write(ctx); err != nil {
				return err
			}
		case <-flush.C:
			if err := w.write(ctx); err != nil {
				return err
			}
		}
	}
}

// sync makes the checker's targets match the stored configuration. Health
// already in the store seeds new targets (Target.Initial), so a new leader
// does not reset every member to unknown.
func (s *Service) sync(ctx context.Context, checker *health.Checker) error {
	snap, err := s.opt.Store.Config(ctx)
	if err != nil {
		return err
	}
	targets, members, err := Targets(snap.Config)
	if err != nil {
		return err
	}
	s.members.Store(&members)
	live := map[string]bool{}
	for pool, ts := range targets {
		live[pool] = true
		if _, err := checker.Set(pool, ts); err != nil {
			s.log.Error("health targets rejected", "pool", pool, "error", err)
		}
	}
	for _, st := range checker.States() {
		for _, owner := range st.Owners {
			if !live[owner] {
				checker.Set(owner, nil)
			}
		}
	}
	return nil
}

// Targets lists, per pool, what to probe: every member not disabled, with
// the check the pool configures, seeded with the stored status. Pools
// without a check are absent. The second result maps each pool's probe
// addresses back to member addresses.
func Targets(cfg *api.Config) (map[string][]health.Target, map[string]map[string]string, error) {
	pools := &api.Config{}
	for _, p := range cfg.Pools {
		if p.Spec.HealthCheck == nil || p.Spec.HealthCheck.Type == api.CheckNone || p.Spec.HealthCheck.Type == "" {
			continue
		}
		q := p.DeepCopyObject().(*api.Pool)
		q.Spec.Frontend = nil // frontends do not matter here and may still await allocation
		pools.Add(q)
	}
	res, err := translator.Translate(pools, translator.Options{ActiveHealthChecks: true})
	if err != nil {
		return nil, nil, fmt.Errorf("healthsvc: %w", err)
	}
	out := map[string][]health.Target{}
	back := map[string]map[string]string{}
	for _, c := range res.Clusters {
		hc, port, _, err := runtime.HealthCheckOf(c)
		if err != nil {
			return nil, nil, err
		}
		if hc == nil {
			continue
		}
		p := cfg.Pool(c.GetName())
		initial := storedStatus(p)
		back[p.Metadata.Name] = map[string]string{}
		for _, m := range p.Spec.Members {
			if m.State == api.StateDisabled {
				continue
			}
			probe := probeAddress(m.Address, port)
			back[p.Metadata.Name][probe] = m.Address
			out[p.Metadata.Name] = append(out[p.Metadata.Name], health.Target{Address: probe, Config: *hc, Initial: initial[m.Address]})
		}
	}
	return out, back, nil
}

func storedStatus(p *api.Pool) map[string]health.Status {
	out := map[string]health.Status{}
	if p.Status == nil {
		return out
	}
	for _, ms := range p.Status.Members {
		switch ms.Health {
		case api.HealthHealthy:
			out[ms.Address] = health.StatusHealthy
		case api.HealthUnhealthy:
			out[ms.Address] = health.StatusUnhealthy
		}
	}
	return out
}

func probeAddress(addr string, port uint32) string {
	if port == 0 {
		return addr
	}
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return fmt.Sprintf("%s:%d", addr[:i], port)
		}
	}
	return addr
}

// writer turns checker states into stored member statuses, writing only
// when something changed since the last successful write.
type writer struct {
	store   *store.Store
	fence   store.Fence
	checker *health.Checker
	members *atomic.Pointer[map[string]map[string]string]
	last    map[string][]api.MemberStatus
}

func (w *writer) write(ctx context.Context) error {
	statuses := map[string][]api.MemberStatus{}
	var back map[string]map[string]string
	if p := w.members.Load(); p != nil {
		back = *p
	}
	for _, st := range w.checker.States() {
		for _, pool := range st.Owners {
			ms := memberStatus(st)
			if addr, ok := back[pool][st.Address]; ok {
				ms.Address = addr
			}
			statuses[pool] = append(statuses[pool], ms)
		}
	}
	for pool := range statuses {
		sort.Slice(statuses[pool], func(i, j int) bool { return statuses[pool][i].Address < statuses[pool][j].Address })
	}
	if equalStatuses(w.last, statuses) {
		return nil
	}
	err := w.store.WriteHealth(ctx, w.fence, statuses)
	if errors.Is(err, store.ErrFenced) {
		return fmt.Errorf("healthsvc: no longer the leader: %w", err)
	}
	if err != nil {
		return nil // transient: the next flush tries again
	}
	w.last = statuses
	return nil
}

func memberStatus(st health.State) api.MemberStatus {
	ms := api.MemberStatus{
		Address: st.Address, Health: api.HealthUnknown, Reason: st.LastError,
		Successes: int64(st.TotalSuccesses), Failures: int64(st.TotalFailures),
	}
	switch st.Status {
	case health.StatusHealthy:
		ms.Health = api.HealthHealthy
	case health.StatusUnhealthy:
		ms.Health = api.HealthUnhealthy
	}
	if !st.LastCheck.IsZero() {
		ms.LastCheck = st.LastCheck.UTC().Format(time.RFC3339)
	}
	if !st.LastTransition.IsZero() {
		ms.LastTransition = st.LastTransition.UTC().Format(time.RFC3339)
	}
	return ms
}

func equalStatuses(a, b map[string][]api.MemberStatus) bool {
	if len(a) != len(b) {
		return false
	}
	for k, as := range a {
		bs := b[k]
		if len(as) != len(bs) {
			return false
		}
		for i := range as {
			if as[i] != bs[i] {
				return false
			}
		}
	}
	return true
}

// termRegisterer registers one term's checker metrics and unregisters them
// when the term ends: a replica that lost the leadership can win it again
// later (a second Checker on the same registry would be refused as a
// duplicate, and the replica would lead without checking), and a follower
// does not export the stale gauges of its last term.
type termRegisterer struct {
	prometheus.Registerer
	mu         sync.Mutex
	collectors []prometheus.Collector
}

// Register implements prometheus.Registerer.
func (r *termRegisterer) Register(c prometheus.Collector) error {
	if err := r.Registerer.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	r.collectors = append(r.collectors, c)
	r.mu.Unlock()
	return nil
}

// MustRegister implements prometheus.Registerer.
func (r *termRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *termRegisterer) unregisterAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.collectors {
		r.Registerer.Unregister(c)
	}
	r.collectors = nil
}
