// Package proxy is the data-plane process core: it applies configurations
// (xDS resources) by building a runtime snapshot beside the running one,
// updating the live upstream clusters, and reconciling listeners — keeping
// sockets whose address is unchanged, opening new ones before old ones are
// drained — and it runs health checking and outlier detection.
//
// The standalone proxy (`fulcrum proxy -f`) and the proxy fed by a control
// plane use it the same way: call Apply with each new set of resources.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
	"github.com/fulcrumlb/fulcrum/health"
)

// Options configure a Proxy.
type Options struct {
	Logger *slog.Logger
	// Registerer receives every data-plane metric; nil registers nothing.
	Registerer prometheus.Registerer
	// CheckHealth makes the proxy probe members itself, as the standalone
	// proxy does; a proxy fed by a control plane takes health from EDS.
	CheckHealth bool
	// NewFactories builds the servers of the listener protocols (L7 and
	// L4) once the proxy's live upstreams exist. Servers pick members from
	// ups and log and register metrics through deps.
	NewFactories func(deps runtime.Deps, ups *upstream.Manager) ([]runtime.ServerFactory, error)
	// Factories are prebuilt factories, served in addition (tests).
	Factories []runtime.ServerFactory
}

// Proxy applies configurations and owns sockets, servers and upstreams.
type Proxy struct {
	log       *slog.Logger
	upstreams *upstream.Manager
	checker   *health.Checker
	factories map[string]runtime.ServerFactory
	metrics   *metrics

	snap atomic.Pointer[runtime.Snapshot]
	res  atomic.Pointer[runtime.Resources]
	// rejected is the last configuration that was refused, with why.
	rejected atomic.Pointer[Rejection]

	mu       sync.Mutex // serialises Apply and Shutdown
	sockets  map[string]*socketEntry
	draining sync.WaitGroup
	closed   bool
}

// socketEntry is one bound socket and the server currently borrowing it.
type socketEntry struct {
	sock     runtime.Socket
	server   runtime.Server
	factory  runtime.ServerFactory
	listener string
}

// New returns a proxy with no configuration.
func New(opts Options) (*Proxy, error) {
	p := &Proxy{log: opts.Logger, factories: map[string]runtime.ServerFactory{}, sockets: map[string]*socketEntry{}}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if opts.CheckHealth {
		if p.checker, err = health.New(health.Options{Logger: p.log, Registerer: opts.Registerer}); err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
	}
	p.upstreams, err = upstream.NewManager(upstream.Options{Logger: p.log, Registerer: opts.Registerer, Checker: p.checker})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	if p.metrics, err = newMetrics(opts.Registerer); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	factories := opts.Factories
	if opts.NewFactories != nil {
		deps := runtime.Deps{Logger: p.log, Registerer: opts.Registerer, Version: p.Version}
		more, err := opts.NewFactories(deps, p.upstreams)
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		factories = append(factories, more...)
	}
	for _, f := range factories {
		for _, proto := range f.Protocols() {
			p.factories[proto] = f
		}
	}
	return p, nil
}

// Upstreams returns the live clusters.
func (p *Proxy) Upstreams() *upstream.Manager { return p.upstreams }

// Checker returns the health checker, or nil when the proxy does not probe.
func (p *Proxy) Checker() *health.Checker { return p.checker }

// Snapshot returns the configuration in force, or nil before the first Apply.
func (p *Proxy) Snapshot() *runtime.Snapshot { return p.snap.Load() }

// Resources returns the xDS resources in force, or nil before the first Apply.
func (p *Proxy) Resources() *runtime.Resources { return p.res.Load() }

// Rejection records a configuration the proxy refused (a NACK).
type Rejection struct {
	Version string    `json:"version"`
	Error   string    `json:"error"`
	At      time.Time `json:"at"`
}

// LastRejection returns the most recent refused configuration, or nil.
func (p *Proxy) LastRejection() *Rejection { return p.rejected.Load() }

// Version returns the version of the configuration in force.
func (p *Proxy) Version() string {
	if s := p.snap.Load(); s != nil {
		return s.Version
	}
	return ""
}

// Run runs health checking and outlier detection until ctx is done, then
// drains every listener (bounded by each listener's drain timeout).
func (p *Proxy) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if p.checker != nil {
		wg.Add(1)
		go func() { defer wg.Done(); p.checker.Run(ctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); p.upstreams.Run(ctx) }()
	<-ctx.Done()
	wg.Wait()
	p.Shutdown(context.Background())
	return nil
}

// Apply makes the proxy serve res. The whole configuration is checked and
// every new socket bound before anything changes: a rejected configuration
// leaves the running one untouched, and the error names what is wrong.
func (p *Proxy) Apply(version string, res *runtime.Resources) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("proxy: shut down")
	}
	snap, err := runtime.Build(version, res)
	if err == nil {
		err = p.checkFactories(snap)
	}
	if err != nil {
		return p.reject(version, err)
	}
	fresh, err := p.bindNew(snap)
	if err != nil {
		return p.reject(version, err)
	}
	if err := p.upstreams.Update(snap.Clusters); err != nil {
		closeSockets(fresh)
		return p.reject(version, err)
	}
	errs := p.reconcile(snap, fresh)
	p.snap.Store(snap)
	p.res.Store(res)
	p.metrics.applied(len(errs) == 0)
	p.metrics.version(version)
	p.log.Info("configuration applied", "version", version, "listeners", len(snap.Listeners), "clusters", len(snap.Clusters))
	return errors.Join(errs...)
}

// Reject records a configuration refused before it reached Apply (by the
// file loader's validation, say), so /config_dump shows it like any NACK.
func (p *Proxy) Reject(version string, err error) {
	p.rejected.Store(&Rejection{Version: version, Error: err.Error(), At: time.Now()})
	p.metrics.applied(false)
}

// reject records and returns a refused configuration; nothing has changed.
func (p *Proxy) reject(version string, err error) error {
	err = fmt.Errorf("proxy: configuration %s rejected: %w", version, err)
	p.rejected.Store(&Rejection{Version: version, Error: err.Error(), At: time.Now()})
	p.metrics.applied(false)
	return err
}

func (p *Proxy) checkFactories(snap *runtime.Snapshot) error {
	var errs []error
	for _, name := range snap.ListenerNames {
		if proto := snap.Listeners[name].Protocol; p.factories[proto] == nil {
			errs = append(errs, fmt.Errorf("listener %s: this data plane does not serve %s", name, proto))
		}
	}
	return errors.Join(errs...)
}

// bindNew binds the sockets the snapshot needs and the proxy does not hold.
func (p *Proxy) bindNew(snap *runtime.Snapshot) (map[string]runtime.Socket, error) {
	fresh := map[string]runtime.Socket{}
	for _, name := range snap.ListenerNames {
		l := snap.Listeners[name]
		key := l.SocketKey()
		if _, ok := p.sockets[key]; ok {
			continue
		}
		sock, err := bind(l)
		if err != nil {
			closeSockets(fresh)
			return nil, fmt.Errorf("listener %s: %w", name, err)
		}
		fresh[key] = sock
	}
	return fresh, nil
}

// listenConfig binds frontends with SO_REUSEPORT (where the system has
// it): several data planes on one host, or a new binary taking over from
// the old one, serve the same frontend, and the kernel spreads new
// connections and UDP flows across them. Only sockets of the same user
// that all set the option can share a port, so a port held by another
// program still fails to bind.
var listenConfig = net.ListenConfig{Control: reusePort}

func bind(l *runtime.Listener) (runtime.Socket, error) {
	addr := l.Address.String()
	if l.Protocol == runtime.ProtoUDP {
		pc, err := listenConfig.ListenPacket(context.Background(), "udp", addr)
		return runtime.Socket{Packet: pc}, err
	}
	ln, err := listenConfig.Listen(context.Background(), "tcp", addr)
	return runtime.Socket{Stream: ln}, err
}

func closeSockets(socks map[string]runtime.Socket) {
	for _, s := range socks {
		closeSocket(s)
	}
}

func closeSocket(s runtime.Socket) {
	if s.Stream != nil {
		s.Stream.Close()
	}
	if s.Packet != nil {
		s.Packet.Close()
	}
}

// reconcile makes the servers match snap. A socket whose listener keeps its
// protocol family gets an Update; one whose listener changed family is
// handed from the old server to a new one without being closed; sockets no
// listener needs are closed after their server detaches, and old servers
// drain in the background.
func (p *Proxy) reconcile(snap *runtime.Snapshot, fresh map[string]runtime.Socket) []error {
	var errs []error
	want := map[string]bool{}
	for _, name := range snap.ListenerNames {
		l := snap.Listeners[name]
		key := l.SocketKey()
		want[key] = true
		f := p.factories[l.Protocol]
		e := p.sockets[key]
		if e != nil && e.factory == f {
			e.server.Update(l)
			e.listener = name
			continue
		}
		sock := fresh[key]
		if e != nil {
			e.server.Detach()
			p.drain(e.server, l.Limits.DrainTimeout)
			sock = e.sock
		}
		srv, err := f.NewServer(l, sock)
		if err != nil {
			errs = append(errs, fmt.Errorf("listener %s: %w", name, err))
			closeSocket(sock)
			delete(p.sockets, key)
			continue
		}
		p.sockets[key] = &socketEntry{sock: sock, server: srv, factory: f, listener: name}
	}
	old := p.snap.Load()
	for key, e := range p.sockets {
		if want[key] {
			continue
		}
		e.server.Detach()
		closeSocket(e.sock)
		timeout := 30 * time.Second
		if old != nil && old.Listeners[e.listener] != nil {
			timeout = old.Listeners[e.listener].Limits.DrainTimeout
		}
		p.drain(e.server, timeout)
		delete(p.sockets, key)
	}
	return errs
}

// drain lets a detached server finish its connections in the background.
func (p *Proxy) drain(s runtime.Server, timeout time.Duration) {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	p.draining.Add(1)
	go func() {
		defer p.draining.Done()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		s.Drain(ctx)
	}()
}

// Shutdown stops every listener and waits until their connections have
// finished or ctx is done (each listener is also bounded by its own drain
// timeout).
func (p *Proxy) Shutdown(ctx context.Context) {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		for key, e := range p.sockets {
			e.server.Detach()
			closeSocket(e.sock)
			timeout := 30 * time.Second
			if s := p.snap.Load(); s != nil && s.Listeners[e.listener] != nil {
				timeout = s.Listeners[e.listener].Limits.DrainTimeout
			}
			p.drain(e.server, timeout)
			delete(p.sockets, key)
		}
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.draining.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	if err := p.upstreams.Update(nil); err != nil {
		p.log.Error("proxy: releasing upstreams", "error", err)
	}
}
