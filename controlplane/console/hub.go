package console

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

// maxEventNames bounds the pool names in one change event: beyond it the
// event just says "everything changed".
const maxEventNames = 200

// view is one snapshot of the store, prepared for the pages: the pools'
// list rows computed once per change rather than once per request.
type view struct {
	rev  int64 // Fulcrum revision: moves with configuration changes
	cfg  *api.Config
	rows []poolRow // by name, as cfg.Pools
	idx  map[string]int
	// rowPrint fingerprints each pool's list row; fullPrint each object's
	// whole content, health counts included ("Kind/name").
	rowPrint  map[string]uint64
	fullPrint map[string]uint64
}

// pool returns a pool of the view, or nil.
func (v *view) pool(name string) *api.Pool {
	if i, ok := v.idx[name]; ok {
		return v.cfg.Pools[i]
	}
	return nil
}

// object returns an object of any kind, or nil.
func (v *view) object(kind, name string) api.Object {
	switch kind {
	case api.KindPool:
		if p := v.pool(name); p != nil {
			return p
		}
	case api.KindListener:
		if l := v.cfg.Listener(name); l != nil {
			return l
		}
	case api.KindRoute:
		for _, r := range v.cfg.Routes {
			if r.Metadata.Name == name {
				return r
			}
		}
	}
	return nil
}

func newView(snap *store.Snapshot) *view {
	v := &view{rev: snap.Revision, cfg: snap.Config, idx: make(map[string]int, len(snap.Config.Pools)),
		rowPrint: map[string]uint64{}, fullPrint: map[string]uint64{}}
	v.rows = make([]poolRow, len(snap.Config.Pools))
	for i, p := range snap.Config.Pools {
		v.rows[i] = rowOf(p)
		v.idx[p.Metadata.Name] = i
		v.rowPrint[p.Metadata.Name] = fingerprint(v.rows[i])
	}
	for _, o := range snap.Config.Objects() {
		v.fullPrint[api.Ref(o)] = fingerprint(o)
	}
	return v
}

func fingerprint(x any) uint64 {
	h := fnv.New64a()
	_ = json.NewEncoder(h).Encode(x)
	return h.Sum64()
}

// event tells the live-update streams what changed.
type event struct {
	// Pools whose list row changed, appeared or went away.
	Pools []string `json:"pools,omitempty"`
	// Detail lists pools with any change, health counts included.
	Detail []string `json:"detail,omitempty"`
	// Kinds with any change.
	Kinds []string `json:"kinds,omitempty"`
	// All replaces the lists when they would be too long.
	All bool  `json:"all,omitempty"`
	Rev int64 `json:"rev"`
}

func (e *event) empty() bool {
	return !e.All && len(e.Pools) == 0 && len(e.Detail) == 0 && len(e.Kinds) == 0
}

// merge folds a later event into e (for a stream that has not sent yet).
func (e *event) merge(o event) {
	e.Rev = max(e.Rev, o.Rev)
	e.All = e.All || o.All
	e.Pools = union(e.Pools, o.Pools)
	e.Detail = union(e.Detail, o.Detail)
	e.Kinds = union(e.Kinds, o.Kinds)
	if len(e.Pools) > maxEventNames || len(e.Detail) > maxEventNames {
		e.All, e.Pools, e.Detail = true, nil, nil
	}
}

func union(a, b []string) []string {
	for _, s := range b {
		if !slices.Contains(a, s) {
			a = append(a, s)
		}
	}
	return a
}

// diffViews says what changed from old to cur.
func diffViews(old, cur *view) event {
	ev := event{Rev: cur.rev}
	if old == nil {
		ev.All = true
		return ev
	}
	kinds := map[string]bool{}
	for _, m := range []struct{ a, b map[string]uint64 }{{old.fullPrint, cur.fullPrint}, {cur.fullPrint, old.fullPrint}} {
		for ref, h := range m.a {
			if m.b[ref] == h {
				continue
			}
			kind, name := splitRef(ref)
			kinds[kind] = true
			if kind == api.KindPool {
				ev.Detail = union(ev.Detail, []string{name})
			}
		}
	}
	for _, m := range []struct{ a, b map[string]uint64 }{{old.rowPrint, cur.rowPrint}, {cur.rowPrint, old.rowPrint}} {
		for name, h := range m.a {
			if m.b[name] != h {
				ev.Pools = union(ev.Pools, []string{name})
			}
		}
	}
	for k := range kinds {
		ev.Kinds = append(ev.Kinds, k)
	}
	sort.Strings(ev.Kinds)
	sort.Strings(ev.Pools)
	sort.Strings(ev.Detail)
	if len(ev.Pools) > maxEventNames || len(ev.Detail) > maxEventNames {
		ev.All, ev.Pools, ev.Detail = true, nil, nil
	}
	return ev
}

func splitRef(ref string) (kind, name string) {
	for i := 0; i < len(ref); i++ {
		if ref[i] == '/' {
			return ref[:i], ref[i+1:]
		}
	}
	return ref, ""
}

// subscriber is one live-update stream's mailbox: events coalesce while
// the stream is busy, so a slow browser never holds the hub up.
type subscriber struct {
	mu      sync.Mutex
	pending event
	change  bool
	metrics bool
	ready   chan struct{}
}

// take returns what arrived since the last take.
func (s *subscriber) take() (ev event, change, metrics bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, change, metrics = s.pending, s.change, s.metrics
	s.pending, s.change, s.metrics = event{}, false, false
	return ev, change, metrics
}

func (s *subscriber) post(ev *event) {
	s.mu.Lock()
	if ev != nil {
		s.pending.merge(*ev)
		s.change = true
	} else {
		s.metrics = true
	}
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// hub keeps the current view and tells subscribers what changed.
type hub struct {
	st  *store.Store
	log *slog.Logger

	mu      sync.Mutex
	cur     *view
	updated chan struct{} // closed (and replaced) whenever cur changes
	subs    map[*subscriber]struct{}
}

func newHub(st *store.Store, log *slog.Logger) *hub {
	return &hub{st: st, log: log, updated: make(chan struct{}), subs: map[*subscriber]struct{}{}}
}

// run follows the store until ctx ends or the store closes: every Watch
// notification re-reads the configuration; a failed read is retried.
func (h *hub) run(ctx context.Context) {
	changes := h.st.Watch(ctx)
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-changes:
			if !ok {
				return
			}
		case <-retry.C:
		}
		if err := h.refresh(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn("reading the configuration failed; retrying", "error", err)
			retry.Reset(time.Second)
		}
	}
}

func (h *hub) refresh(ctx context.Context) error {
	snap, err := h.st.Config(ctx)
	if err != nil {
		return err
	}
	v := newView(snap)
	h.mu.Lock()
	old := h.cur
	h.cur = v
	close(h.updated)
	h.updated = make(chan struct{})
	ev := diffViews(old, v)
	subs := make([]*subscriber, 0, len(h.subs))
	for s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	if !ev.empty() {
		for _, s := range subs {
			s.post(&ev)
		}
	}
	return nil
}

// publishMetrics tells every stream that new chart points exist.
func (h *hub) publishMetrics() {
	h.mu.Lock()
	subs := make([]*subscriber, 0, len(h.subs))
	for s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		s.post(nil)
	}
}

func (h *hub) subscribe() *subscriber {
	s := &subscriber{ready: make(chan struct{}, 1)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// waitFor returns the current view once it reflects revision rev (0: any
// view), or the newest view it has (possibly nil) when the wait is over.
func (h *hub) waitFor(ctx context.Context, rev int64, wait time.Duration) *view {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		h.mu.Lock()
		v, ch := h.cur, h.updated
		h.mu.Unlock()
		if v != nil && v.rev >= rev {
			return v
		}
		select {
		case <-ch:
		case <-t.C:
			return v
		case <-ctx.Done():
			return v
		}
	}
}
