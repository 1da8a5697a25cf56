package l7

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
)

// Options configure a Factory.
type Options struct {
	// Deps are shared with the proxy: logger, metrics registry, version.
	Deps runtime.Deps
	// Upstreams are the proxy's live clusters (required).
	Upstreams *upstream.Manager
	// AccessLog receives access log records of listeners that enable
	// them; nil means Deps.Logger. Give it a slog.JSONHandler for JSON lines.
	AccessLog *slog.Logger
	// StickyKey keys the HMAC that turns member addresses into sticky
	// cookie values. Proxies that share clients should share the key;
	// nil means a random key per process (cookies then bind to members
	// only through this process).
	StickyKey []byte
	// MaxMirrorsInFlight bounds concurrent mirrored requests per server;
	// copies beyond it are dropped. 0 means 64.
	MaxMirrorsInFlight int
}

// Factory starts L7 servers for http, https and grpc listeners. One
// factory serves a whole proxy; its servers share metrics, rate-limit
// state and upstream connection pools.
type Factory struct {
	log       *slog.Logger
	accessLog *slog.Logger
	metrics   *metrics
	ups       *upstream.Manager
	stickyKey []byte
	maxMirror int
	limiters  limiterRegistry
	// clusterLimiters caches the limiter of each pool with a rate limit
	// (pool name → *clusterLimiter).
	clusterLimiters sync.Map
	// stickies caches each pool's compiled sticky cookie (name → *clusterSticky).
	stickies sync.Map
	// poolKey identifies this factory's attachments on members.
	poolKey *int

	mu      sync.Mutex
	servers map[*Server]bool
	// reqSeq and reqPrefix generate x-request-id values cheaply.
	reqSeq    atomic.Uint64
	reqPrefix [8]byte
}

// NewFactory returns a factory for the http, https and grpc protocols that
// picks members from ups, the proxy's live clusters.
func NewFactory(deps runtime.Deps, ups *upstream.Manager) (*Factory, error) {
	return NewFactoryWithOptions(Options{Deps: deps, Upstreams: ups})
}

// NewFactoryWithOptions is NewFactory with every option.
func NewFactoryWithOptions(opts Options) (*Factory, error) {
	f := &Factory{log: opts.Deps.Logger, accessLog: opts.AccessLog, stickyKey: opts.StickyKey,
		maxMirror: opts.MaxMirrorsInFlight, servers: map[*Server]bool{}, poolKey: new(int)}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.accessLog == nil {
		f.accessLog = f.log
	}
	if f.maxMirror <= 0 {
		f.maxMirror = 64
	}
	if f.stickyKey == nil {
		f.stickyKey = make([]byte, 32)
		rand.Read(f.stickyKey)
	}
	rand.Read(f.reqPrefix[:])
	var err error
	if f.metrics, err = newMetrics(opts.Deps.Registerer); err != nil {
		return nil, err
	}
	if opts.Upstreams == nil {
		return nil, fmt.Errorf("l7: a factory needs the proxy's upstreams (see proxy.Options.NewFactories)")
	}
	f.ups = opts.Upstreams
	return f, nil
}

// Protocols implements runtime.ServerFactory.
func (f *Factory) Protocols() []string {
	return []string{runtime.ProtoHTTP, runtime.ProtoHTTPS, runtime.ProtoGRPC}
}

// NewServer implements runtime.ServerFactory: it starts serving l on sock.
func (f *Factory) NewServer(l *runtime.Listener, sock runtime.Socket) (runtime.Server, error) {
	if sock.Stream == nil {
		return nil, fmt.Errorf("l7: listener %s: needs a stream socket", l.Name)
	}
	cfg, err := f.compile(l)
	if err != nil {
		return nil, err
	}
	s := newServer(f, cfg, sock.Stream)
	f.mu.Lock()
	f.servers[s] = true
	f.mu.Unlock()
	s.start()
	return s, nil
}

func (f *Factory) forget(s *Server) {
	f.mu.Lock()
	delete(f.servers, s)
	f.mu.Unlock()
}

// ConnectionStats are a server's live connection counts.
type ConnectionStats struct {
	Listener string `json:"listener"`
	Address  string `json:"address"`
	// HTTP1 counts HTTP/1.1 connections (Idle of them wait for a request).
	HTTP1 int64 `json:"http1"`
	Idle  int64 `json:"idle"`
	// HTTP2 counts HTTP/2 connections, Tunnels upgraded connections.
	HTTP2    int64 `json:"http2"`
	Tunnels  int64 `json:"tunnels"`
	Detached bool  `json:"detached"`
}

// Connections lists every live server's connection counts, by listener.
func (f *Factory) Connections() []ConnectionStats {
	f.mu.Lock()
	var out []ConnectionStats
	for s := range f.servers {
		out = append(out, s.stats())
	}
	f.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Listener < out[j].Listener })
	return out
}

// sweepLimiters drops limiters that no live configuration uses.
func (f *Factory) sweepLimiters() {
	keep := map[*limiter]bool{}
	f.mu.Lock()
	for s := range f.servers {
		for _, r := range s.cfg.Load().all {
			if r.limiter != nil {
				keep[r.limiter] = true
			}
		}
	}
	f.mu.Unlock()
	f.limiters.sweep(keep, time.Now().Add(-10*time.Minute))
}

// clusterLimiter returns the limiter of a cluster's own rate limit.
func (f *Factory) clusterLimiter(cfg *runtime.Cluster) *limiter {
	if cfg.RateLimit == nil {
		return nil
	}
	if e, ok := f.clusterLimiters.Load(cfg.Name); ok && e.(*clusterLimiter).cfg == cfg {
		return e.(*clusterLimiter).l
	}
	l := f.limiters.get("pool/"+cfg.Name, cfg.RateLimit)
	f.clusterLimiters.Store(cfg.Name, &clusterLimiter{cfg: cfg, l: l})
	return l
}

// clusterLimiter caches the limiter for one cluster configuration; keyed
// by pool name so the cache holds one entry per pool.
type clusterLimiter struct {
	cfg *runtime.Cluster
	l   *limiter
}
