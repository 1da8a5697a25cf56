// Package xds is the control plane's ADS server: it publishes one
// consistent, immutable snapshot of xDS resources (translator.Resources) to
// every data plane over a state-of-the-world ADS stream, and tracks per node
// what it acknowledged and what it rejected.
//
// The xDS state machine is go-control-plane's (pkg/server/v3 with an
// ordered ADS stream) over this package's cache, which shares one
// snapshot, serialized once, among all nodes; this package adds
// per-type versions that change only when a type's content changes, the
// snapshot consistency check, ACK/NACK tracking, a sink for sharing proxy
// status between replicas, and metrics. docs/xds-protocol.md describes the
// protocol as both ends speak it.
package xds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	gcplog "github.com/envoyproxy/go-control-plane/pkg/log"
	sotwv3 "github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/fulcrumlb/fulcrum/internal/xdsproto"
	"github.com/fulcrumlb/fulcrum/translator"
)

// Options configure a Server.
type Options struct {
	Logger *slog.Logger
	// Registerer receives the fulcrum_xds_* metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Replica identifies this control-plane replica in proxy status and in
	// every response's control_plane.identifier. Default: the host name.
	Replica string
	// Sink, if set, receives proxy status changes (see StatusSink).
	Sink StatusSink
	// SinkInterval debounces the sink and paces the expiry of disconnected
	// nodes. Default 1s.
	SinkInterval time.Duration
	// Retention is how long a disconnected node stays in Proxies (and in
	// the sink). Default 1h.
	Retention time.Duration
	// ServerOptions are added to the gRPC server's (transport credentials,
	// for TLS). The server already sets keepalive parameters that match
	// the client's pings.
	ServerOptions []grpc.ServerOption
	// StopTimeout bounds the graceful part of Stop. Default 5s.
	StopTimeout time.Duration
}

// Server is an ADS server. Create it with NewServer, publish with
// SetResources (before or after Serve), and always call Stop.
type Server struct {
	opts    Options
	log     *slog.Logger
	m       *metrics
	tracker *tracker
	cache   *sharedCache
	grpc    *grpc.Server

	ctx    context.Context // go-control-plane's: cancelling it ends every stream
	cancel context.CancelFunc

	setMu    sync.Mutex // serialises SetResources
	stopOnce sync.Once
	stop     chan struct{}
	loopDone chan struct{}
}

// NewServer returns a server with no snapshot: nodes that connect wait
// until the first SetResources.
func NewServer(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Replica == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("xds: replica name: %w", err)
		}
		opts.Replica = host
	}
	if opts.SinkInterval <= 0 {
		opts.SinkInterval = time.Second
	}
	if opts.Retention <= 0 {
		opts.Retention = time.Hour
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 5 * time.Second
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("xds: %w", err)
	}
	s := &Server{opts: opts, log: opts.Logger, m: m, tracker: newTracker(opts.Replica, m),
		stop: make(chan struct{}), loopDone: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	glog := cacheLogger(opts.Logger)
	s.cache = newSharedCache(s.ctx)
	callbacks := serverv3.CallbackFuncs{
		StreamOpenFunc:   s.tracker.streamOpen,
		StreamClosedFunc: s.tracker.streamClosed,
		StreamRequestFunc: func(id int64, req *discoveryv3.DiscoveryRequest) error {
			return s.tracker.request(id, req)
		},
		StreamResponseFunc: func(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
			s.tracker.response(id, resp)
		},
		DeltaStreamOpenFunc: func(context.Context, int64, string) error {
			return errors.New("xds: delta xDS is not served; use state-of-the-world ADS")
		},
	}
	// Ordered ADS sends responses in the cache's order (clusters,
	// endpoints, listeners, routes) on one channel per stream, as Envoy
	// expects; the default multiplexes types in random order.
	xds := serverv3.NewServer(s.ctx, s.cache, callbacks, sotwv3.WithOrderedADS(), sotwv3.WithLogger(glog))
	sopts := append([]grpc.ServerOption{
		// Clients ping every 30 s on an idle stream; the default policy
		// (5 min) would answer with GOAWAY "too_many_pings".
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		// The server pings too, so a vanished proxy is seen as
		// disconnected within a minute, not when TCP gives up.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 20 * time.Second}),
	}, opts.ServerOptions...)
	s.grpc = grpc.NewServer(sopts...)
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(s.grpc, xds)
	go s.loop(s.stop, s.loopDone)
	return s, nil
}

// Serve accepts ADS streams on lis until Stop. It returns nil after Stop.
func (s *Server) Serve(lis net.Listener) error {
	if err := s.grpc.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("xds: %w", err)
	}
	return nil
}

// Stop ends every ADS stream (data planes keep their configuration and
// reconnect, to another replica or to this one restarted), waits for the
// stream handlers to return (at most Options.StopTimeout, then closes
// connections), publishes the final statuses to the sink, and returns.
// The server cannot be restarted: create a new one.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		// go-control-plane streams end when its context does; without
		// this GracefulStop would wait forever for streams that never end.
		s.cancel()
		done := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(done) }()
		t := time.NewTimer(s.opts.StopTimeout)
		select {
		case <-done:
		case <-t.C:
			s.grpc.Stop()
			<-done
		}
		t.Stop()
		close(s.stop)
		<-s.loopDone
	})
}

// SetResources publishes res as version to every node, connected now or
// later. The snapshot must be consistent: every route configuration a
// listener loads over RDS and every endpoint set an EDS cluster loads
// exists, and nothing else; otherwise nothing changes and the error says
// what is wrong. Each resource type keeps its previous version while its
// content is unchanged, so data planes receive only the types that
// changed. Versions must not be reused for different content (an etcd
// revision is a good version). res must not be modified afterwards.
func (s *Server) SetResources(version string, res *translator.Resources) error {
	s.setMu.Lock()
	defer s.setMu.Unlock()
	if s.ctx.Err() != nil {
		return errors.New("xds: server stopped")
	}
	info, pub, err := buildSnapshot(s.tracker.current(), version, res)
	if err != nil || info == nil {
		return err
	}
	// Record the snapshot before pushing it, so that an ACK racing with
	// the push is compared with the new snapshot.
	s.tracker.setSnapshot(info)
	s.cache.SetSnapshot(pub)
	s.m.snapshots.Inc()
	s.log.Info("xds: snapshot published", "version", version,
		"listeners", info.kinds[xdsproto.Listeners].count, "routes", info.kinds[xdsproto.Routes].count,
		"clusters", info.kinds[xdsproto.Clusters].count, "endpoints", info.kinds[xdsproto.Endpoints].count)
	return nil
}

// Version returns the version of the snapshot in force, or "".
func (s *Server) Version() string {
	if c := s.tracker.current(); c != nil {
		return c.version
	}
	return ""
}

// Proxies returns every node seen by this replica within the retention,
// sorted by node id.
func (s *Server) Proxies() []ProxyStatus { return s.tracker.proxies() }

// WaitForVersion blocks until every named node has acknowledged version (or
// a later snapshot) in full, or ctx ends. With no nodes named it waits for
// every node connected at the time of each check. The error of a timeout
// names the nodes still behind.
func (s *Server) WaitForVersion(ctx context.Context, version string, nodes ...string) error {
	return s.tracker.waitFor(ctx, version, nodes)
}

// Changed returns a channel that is closed at the next notable change of
// proxy status — a node connects or disconnects, reaches a version or
// refuses one, a snapshot is published, a node is forgotten — so that a
// watcher (the console, a test) reads Proxies then and calls Changed
// again. Per-type progress between versions does not close it.
func (s *Server) Changed() <-chan struct{} {
	s.tracker.mu.Lock()
	defer s.tracker.mu.Unlock()
	return s.tracker.changed
}

// cacheLogger maps go-control-plane's logs to slog. Its warnings include
// routine ADS events (a request that does not yet name every resource is
// held until the client asks again), so they are logged at debug level.
func cacheLogger(l *slog.Logger) gcplog.Logger {
	debug := func(format string, args ...any) {
		if l.Enabled(context.Background(), slog.LevelDebug) {
			l.Debug("xds: " + fmt.Sprintf(format, args...))
		}
	}
	return gcplog.LoggerFuncs{
		DebugFunc: debug, InfoFunc: debug, WarnFunc: debug,
		ErrorFunc: func(format string, args ...any) { l.Warn("xds: " + fmt.Sprintf(format, args...)) },
	}
}
