// Package xdsclient is the data plane's ADS client. It keeps one
// state-of-the-world ADS stream to a control plane, subscribes to every
// listener and cluster and to the route configurations and endpoints they
// name, assembles a complete, consistent set of resources before handing
// it to Apply, and acknowledges exactly what Apply accepted. When the
// control plane is gone it changes nothing — the proxy keeps serving its
// last good configuration — and reconnects with jittered exponential
// backoff, resubscribing with the versions it runs; what arrives again
// unchanged is acknowledged, not applied again.
//
// It imports nothing of the control plane, so the slim proxy binary stays
// free of etcd. docs/xds-protocol.md describes the protocol both ends speak.
package xdsclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/fulcrumlb/fulcrum/internal/version"
	"github.com/fulcrumlb/fulcrum/internal/xdsproto"
	"github.com/fulcrumlb/fulcrum/translator"
)

// ApplyFunc makes the data plane serve a complete, consistent set of
// resources. An error rejects the set (a NACK carrying the error text) and
// must leave the running configuration as it was. (*proxy.Proxy).Apply is
// one.
type ApplyFunc func(version string, res *translator.Resources) error

// Options configure a Client.
type Options struct {
	// Address is the control plane's ADS address, host:port.
	Address string
	// Node is this data plane's node id; required.
	Node string
	// Zone is its locality zone, reported to the control plane.
	Zone string
	// Build is reported as the user agent version. Default: the build's
	// version (internal/version).
	Build string
	// Apply receives each complete set; required. It is called from one
	// goroutine at a time.
	Apply  ApplyFunc
	Logger *slog.Logger
	// Registerer receives the fulcrum_xds_client_* metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// TransportCredentials secure the stream; nil means plaintext.
	TransportCredentials credentials.TransportCredentials
	// DialOptions are added to the client's (after the defaults, so they win).
	DialOptions []grpc.DialOption
	// Backoff paces reconnections; zero fields take their defaults.
	Backoff Backoff
	// WarmingTimeout is how long an incomplete set (a listener whose route
	// configuration, or a cluster whose endpoints, have not arrived) may
	// wait before the client asks again for everything it lacks. Default 15s
	// (Envoy's initial_fetch_timeout): a loaded control plane may take seconds.
	WarmingTimeout time.Duration
	// RetryRejected is how often a rejected set is tried again while the
	// control plane sends nothing newer: a conflict on the host (a port
	// another process held) heals without a control-plane change. Default 30s.
	RetryRejected time.Duration
}

// maxResponseBytes bounds one ADS response; gRPC's default of 4 MiB is too
// small for large configurations.
const maxResponseBytes = 256 << 20

// Client is an ADS client. Run it once.
type Client struct {
	opts  Options
	log   *slog.Logger
	m     *metrics
	node  *corev3.Node
	kinds [xdsproto.NumKinds]kindState // owned by the Run goroutine

	mu     sync.Mutex
	status Status
}

// Status describes the client's link and the configuration in force.
type Status struct {
	// Connected is true while an ADS stream is open.
	Connected bool `json:"connected"`
	// Since is when the stream opened, or when the last one ended.
	Since time.Time `json:"since,omitzero"`
	// ControlPlane identifies the replica that sent the last response.
	ControlPlane string `json:"controlPlane,omitempty"`
	// Version labels the configuration in force (see Client.Run), "" before the first.
	Version string `json:"version,omitempty"`
	// AppliedAt is when it was applied.
	AppliedAt time.Time `json:"appliedAt,omitzero"`
	// Applied are the versions in force per resource type.
	Applied xdsproto.Versions `json:"applied"`
	// LastNack describes the last rejected update, or nil.
	LastNack *Nack `json:"lastNack,omitempty"`
	// LastError says why the last stream ended, "" if none has.
	LastError string `json:"lastError,omitempty"`
}

// Nack is an update the data plane rejected.
type Nack struct {
	Version string    `json:"version"`
	Error   string    `json:"error"`
	At      time.Time `json:"at"`
}

// New checks the options and returns a client that is not yet connected.
func New(opts Options) (*Client, error) {
	switch {
	case opts.Address == "":
		return nil, errors.New("xdsclient: no control-plane address")
	case opts.Node == "":
		return nil, errors.New("xdsclient: no node id")
	case opts.Apply == nil:
		return nil, errors.New("xdsclient: no Apply function")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Build == "" {
		opts.Build = version.Version
	}
	if opts.WarmingTimeout <= 0 {
		opts.WarmingTimeout = 15 * time.Second
	}
	if opts.RetryRejected <= 0 {
		opts.RetryRejected = 30 * time.Second
	}
	opts.Backoff = opts.Backoff.withDefaults()
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("xdsclient: %w", err)
	}
	return &Client{opts: opts, log: opts.Logger, m: m, node: xdsproto.NewNode(opts.Node, opts.Zone, opts.Build)}, nil
}

// Run connects, applies, acknowledges and reconnects until ctx ends; it
// returns nil then, or an error for invalid options. It never applies
// anything because the control plane is gone.
//
// The version passed to Apply labels the set: the configuration version
// in which one of its types changed last (Fulcrum's server numbers its
// snapshots in each version_info, see xdsproto.FormatVersion); with
// another server, the version of the newest response. The control plane
// tracks the exact per-type versions; the label is for logs, metrics and
// /config_dump.
func Run(ctx context.Context, opts Options) error {
	c, err := New(opts)
	if err != nil {
		return err
	}
	return c.Run(ctx)
}

// Run connects, applies, acknowledges and reconnects until ctx ends, like
// the package-level Run, for a client made with New. Call it once.
func (c *Client) Run(ctx context.Context) error {
	attempt := 0
	timer := stoppedTimer()
	defer timer.Stop()
	defer c.setLink(false, nil)
	for {
		start := time.Now()
		err := c.connect(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wasUp := c.Status().Connected || attempt == 0
		if time.Since(start) >= c.opts.Backoff.StableAfter {
			attempt = 0
		}
		delay := c.opts.Backoff.Delay(attempt, rand.Float64())
		attempt++
		c.setLink(false, err)
		// Once per outage at warning level: a fleet retrying every few
		// seconds must not flood the logs.
		level := slog.LevelDebug
		if wasUp {
			level = slog.LevelWarn
		}
		c.log.Log(ctx, level, "xdsclient: control plane unavailable; serving the last good configuration",
			"address", c.opts.Address, "error", err, "retry_in", delay.Round(time.Millisecond), "version", c.Status().Version)
		timer.Reset(delay)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
	}
}

// Status returns the link status and the configuration in force.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.status
	if st.LastNack != nil {
		n := *st.LastNack
		st.LastNack = &n
	}
	return st
}

// connect runs one ADS stream until it fails or ctx ends.
func (c *Client) connect(ctx context.Context) error {
	c.m.attempts.Inc()
	creds := c.opts.TransportCredentials
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	dopts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxResponseBytes)),
		// Pings detect a control plane that vanished without closing the
		// connection (a partition), so that the proxy reconnects elsewhere.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 20 * time.Second}),
		grpc.WithUserAgent(xdsproto.UserAgent + "/" + c.opts.Build),
	}, c.opts.DialOptions...)
	conn, err := grpc.NewClient(c.opts.Address, dopts...)
	if err != nil {
		return fmt.Errorf("xdsclient: %w", err)
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(sctx)
	if err != nil {
		return fmt.Errorf("xdsclient: opening the ADS stream: %w", err)
	}
	s := &session{c: c, stream: stream, kinds: &c.kinds}
	return s.run(sctx, cancel)
}

// setLink records the stream's state.
func (c *Client) setLink(up bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status.Connected != up {
		c.status.Since = time.Now()
	}
	c.status.Connected = up
	if up {
		c.m.connected.Set(1)
	} else {
		c.m.connected.Set(0)
	}
	if err != nil {
		c.status.LastError = err.Error()
	}
}

// setControlPlane records which replica sent the last response.
func (c *Client) setControlPlane(id string) {
	if id == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status.ControlPlane != id {
		c.log.Info("xdsclient: following control plane", "replica", id, "address", c.opts.Address)
	}
	c.status.ControlPlane = id
}

// applied records a configuration Apply accepted.
func (c *Client) applied(label string, v xdsproto.Versions) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status.Version, c.status.Applied, c.status.AppliedAt = label, v, time.Now()
	c.log.Info("xdsclient: configuration applied", "version", label,
		"listeners", v.Listeners, "routes", v.Routes, "clusters", v.Clusters, "endpoints", v.Endpoints)
}

// rejected records a configuration that was refused.
func (c *Client) rejected(label string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status.LastNack = &Nack{Version: label, Error: err.Error(), At: time.Now()}
	c.log.Error("xdsclient: configuration rejected; the running one stays", "version", label, "error", err)
}
