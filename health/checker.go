package health

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxConcurrency is the worker-pool size when Options.MaxConcurrency
// is zero. Workers are started on demand, so an idle Checker holds few.
const DefaultMaxConcurrency = 256

// maxConcurrencyLimit keeps MaxConcurrency sane; each probe in flight holds
// a socket, and the process's file-descriptor limit is usually far lower.
const maxConcurrencyLimit = 1 << 16

// Options configures a Checker.
type Options struct {
	// Logger receives status changes (Info) and failed probes (Debug).
	// Nil discards.
	Logger *slog.Logger
	// Registerer receives the fulcrum_health_* metrics. Nil registers
	// nothing.
	Registerer prometheus.Registerer
	// MaxConcurrency bounds the probes in flight, and so the worker
	// goroutines and the sockets the Checker holds. Size it to the probe
	// rate times the probe duration; failing probes that run into their
	// timeout dominate (docs/health.md). Default 256.
	MaxConcurrency int
}

// Checker probes targets and keeps their health state. Its methods are safe
// for concurrent use. Targets may be added before or while Run runs.
type Checker struct {
	log        *slog.Logger
	m          *metrics
	maxWorkers int
	workerIdle time.Duration
	salt       []byte
	wake       chan struct{}

	mu      sync.Mutex
	running bool
	targets map[Key]*target
	byOwner map[string]map[Key]struct{}
	byAddr  map[string]map[Key]struct{}
	queue   timerHeap
	subs    map[*Subscription]struct{}
}

// target is one registered target. Fields below state are guarded by
// Checker.mu; cfg, prober, key and addr never change.
type target struct {
	key    Key
	addr   string
	cfg    Config
	prober prober

	state   State
	owners  map[string]struct{}
	next    time.Time // when the next probe is due
	index   int       // position in the heap; -1 while a worker has it
	removed bool      // the last owner left; drop the result
}

// New returns a Checker. It starts nothing: call Run.
func New(opts Options) (*Checker, error) {
	if opts.MaxConcurrency < 0 || opts.MaxConcurrency > maxConcurrencyLimit {
		return nil, fmt.Errorf("health: MaxConcurrency must be between 0 (default) and %d, got %d",
			maxConcurrencyLimit, opts.MaxConcurrency)
	}
	if opts.MaxConcurrency == 0 {
		opts.MaxConcurrency = DefaultMaxConcurrency
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	salt := make([]byte, 32)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails on Linux (Go 1.24+)
	return &Checker{
		log:        log,
		m:          m,
		maxWorkers: opts.MaxConcurrency,
		workerIdle: workerIdle,
		salt:       salt,
		wake:       make(chan struct{}, 1),
		targets:    make(map[Key]*target),
		byOwner:    make(map[string]map[Key]struct{}),
		byAddr:     make(map[string]map[Key]struct{}),
		subs:       make(map[*Subscription]struct{}),
	}, nil
}

// Key returns the key a target is (or would be) registered under. Two
// targets get the same key when their addresses and effective
// configurations (after defaults) are equal.
func (c *Checker) Key(t Target) (Key, error) {
	if err := t.Validate(); err != nil {
		return "", err
	}
	return c.key(t.Address, t.Config.WithDefaults()), nil
}

// key derives the key from the address and a fingerprint of the defaulted
// configuration. Secrets enter the fingerprint only through an HMAC keyed
// with a per-Checker salt, so a key in a log or a status page reveals
// nothing that a dictionary attack could use.
func (c *Checker) key(addr string, cfg Config) Key {
	if cfg.MySQL != nil && cfg.MySQL.Password != "" {
		m := *cfg.MySQL
		mac := hmac.New(sha256.New, c.salt)
		mac.Write([]byte(m.Password))
		m.Password = hex.EncodeToString(mac.Sum(nil))
		cfg.MySQL = &m
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		// Config holds only strings, numbers, bools, slices and maps.
		panic("health: cannot encode config: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return Key(addr + "/" + string(cfg.Type) + "/" + hex.EncodeToString(sum[:8]))
}

// Add registers t for owner and returns its key. Adding a target the owner
// already has is a no-op; adding one another owner has shares its probes.
func (c *Checker) Add(owner string, t Target) (Key, error) {
	if err := joinProblems("health: target "+t.Address+": ", t.problems()); err != nil {
		return "", err
	}
	cfg := t.Config.WithDefaults()
	k := c.key(t.Address, cfg)
	c.mu.Lock()
	defer c.mu.Unlock()
	var p prober
	if c.targets[k] == nil {
		var err error
		if p, err = newProber(cfg, t.Address); err != nil {
			return "", fmt.Errorf("health: target %s: %w", t.Address, err)
		}
	}
	c.addLocked(owner, k, t, cfg, p, 1, time.Now())
	return k, nil
}

// Remove unregisters the target with key k for owner and reports whether the
// owner had it. Probing stops when the last owner removes a target.
func (c *Checker) Remove(owner string, k Key) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.removeLocked(owner, k)
}

// Set makes targets the complete list of owner's targets: targets the owner
// had and that are not in the list are removed, new ones are added, and the
// ones it keeps go on with their state. It returns the keys in the order of
// targets. When any target is invalid nothing changes and the error lists
// every problem. Set(owner, nil) removes all of owner's targets.
func (c *Checker) Set(owner string, targets []Target) ([]Key, error) {
	keys := make([]Key, len(targets))
	cfgs := make([]Config, len(targets))
	var problems []string
	for i, t := range targets {
		if ps := t.problems(); len(ps) > 0 {
			for _, p := range ps {
				problems = append(problems, fmt.Sprintf("targets[%d] (%s): %s", i, t.Address, p))
			}
			continue
		}
		cfgs[i] = t.Config.WithDefaults()
		keys[i] = c.key(t.Address, cfgs[i])
	}
	if err := joinProblems("health: ", problems); err != nil {
		return nil, err
	}
	want := make(map[Key]struct{}, len(keys))
	for _, k := range keys {
		want[k] = struct{}{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Build the probers of new targets before changing anything, so that a
	// failure leaves the owner's old list intact.
	probers := make(map[Key]prober)
	for i, k := range keys {
		if c.targets[k] != nil || probers[k] != nil {
			continue
		}
		p, err := newProber(cfgs[i], targets[i].Address)
		if err != nil {
			return nil, fmt.Errorf("health: targets[%d] (%s): %w", i, targets[i].Address, err)
		}
		probers[k] = p
	}
	now := time.Now()
	for i, t := range targets {
		c.addLocked(owner, keys[i], t, cfgs[i], probers[keys[i]], len(probers), now)
	}
	for k := range c.byOwner[owner] {
		if _, ok := want[k]; !ok {
			c.removeLocked(owner, k)
		}
	}
	return keys, nil
}

// addLocked registers key k for owner. p is the prober for a target that is
// not registered yet (nil otherwise); batch is the number of targets added
// together, which widens the spread of their first probes.
func (c *Checker) addLocked(owner string, k Key, t Target, cfg Config, p prober, batch int, now time.Time) {
	tg := c.targets[k]
	if tg == nil {
		tg = &target{key: k, addr: t.Address, cfg: cfg, prober: p, owners: map[string]struct{}{}, index: -1}
		tg.state = State{Key: k, Address: t.Address, Type: cfg.Type, Status: t.Initial}
		c.targets[k] = tg
		addIndex(c.byAddr, t.Address, k)
		c.m.targets.WithLabelValues(t.Initial.String()).Inc()
		tg.next = now.Add(firstDelay(cfg, batch))
		c.pushLocked(tg)
	}
	if _, ok := tg.owners[owner]; !ok {
		tg.owners[owner] = struct{}{}
		addIndex(c.byOwner, owner, k)
	}
}

func (c *Checker) removeLocked(owner string, k Key) bool {
	tg := c.targets[k]
	if tg == nil {
		return false
	}
	if _, ok := tg.owners[owner]; !ok {
		return false
	}
	delete(tg.owners, owner)
	dropIndex(c.byOwner, owner, k)
	if len(tg.owners) > 0 {
		return true
	}
	tg.removed = true
	if tg.index >= 0 {
		c.queue.remove(tg)
	}
	delete(c.targets, k)
	dropIndex(c.byAddr, tg.addr, k)
	c.m.targets.WithLabelValues(tg.state.Status.String()).Dec()
	st := c.snapshotLocked(tg)
	c.publishLocked(Event{Key: k, From: st.Status, To: StatusUnknown, State: st, Removed: true})
	return true
}

func addIndex(idx map[string]map[Key]struct{}, name string, k Key) {
	set := idx[name]
	if set == nil {
		set = make(map[Key]struct{})
		idx[name] = set
	}
	set[k] = struct{}{}
}

func dropIndex(idx map[string]map[Key]struct{}, name string, k Key) {
	if set := idx[name]; set != nil {
		delete(set, k)
		if len(set) == 0 {
			delete(idx, name)
		}
	}
}

// State returns the state of the target with key k.
func (c *Checker) State(k Key) (State, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tg := c.targets[k]
	if tg == nil {
		return State{}, false
	}
	return c.snapshotLocked(tg), true
}

// StatesByAddress returns the states of every target at addr (one per
// distinct configuration), sorted by key.
func (c *Checker) StatesByAddress(addr string) []State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.statesLocked(c.byAddr[addr])
}

// StatesByOwner returns the states of owner's targets, sorted by key.
func (c *Checker) StatesByOwner(owner string) []State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.statesLocked(c.byOwner[owner])
}

// States returns the state of every target, sorted by key.
func (c *Checker) States() []State {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]State, 0, len(c.targets))
	for _, tg := range c.targets {
		out = append(out, c.snapshotLocked(tg))
	}
	slices.SortFunc(out, func(a, b State) int { return cmpKey(a.Key, b.Key) })
	return out
}

func (c *Checker) statesLocked(keys map[Key]struct{}) []State {
	out := make([]State, 0, len(keys))
	for _, k := range slices.SortedFunc(maps.Keys(keys), cmpKey) {
		out = append(out, c.snapshotLocked(c.targets[k]))
	}
	return out
}

func cmpKey(a, b Key) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Len returns the number of distinct targets being checked.
func (c *Checker) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.targets)
}

func (c *Checker) snapshotLocked(tg *target) State {
	st := tg.state
	st.Owners = slices.Sorted(maps.Keys(tg.owners))
	return st
}

func (c *Checker) publishLocked(ev Event) {
	for s := range c.subs {
		s.push(ev)
	}
}
