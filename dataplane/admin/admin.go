// Package admin serves a data plane's admin listener: Prometheus metrics,
// readiness, the configuration in force (secrets redacted) and the live
// state of every pool and member.
//
// It listens on loopback by default. A token, when configured, is required
// on every endpoint except /ready (load balancers and orchestrators probe
// readiness without credentials; it reveals nothing). A non-loopback
// address without a token is refused: the admin listener shows the whole
// configuration.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fulcrumlb/fulcrum/dataplane/proxy"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
	"github.com/fulcrumlb/fulcrum/translator"
)

// DefaultAddress is where the admin listener binds unless told otherwise.
const DefaultAddress = "127.0.0.1:9901"

// Options configure the admin server.
type Options struct {
	// Address to listen on; must be loopback unless Token is set.
	Address string
	// Token, when set, is required as "Authorization: Bearer TOKEN".
	Token  string
	Proxy  *proxy.Proxy
	Gather prometheus.Gatherer
	Logger *slog.Logger
}

// Server is a running admin listener.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	opts Options
}

// Listen binds the admin address and starts serving.
func Listen(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := checkAddress(opts.Address, opts.Token); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Address)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	s := &Server{ln: ln, opts: opts}
	s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Logger.Error("admin listener stopped", "error", err)
		}
	}()
	return s, nil
}

// checkAddress refuses to expose the admin listener beyond loopback
// without a token.
func checkAddress(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("admin: address %q: %w", addr, err)
	}
	if token != "" {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("admin: %s is not a loopback address: set an admin token to listen there", addr)
}

// Addr returns the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the admin listener.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", s.ready)
	mux.Handle("GET /metrics", s.auth(promhttp.HandlerFor(s.opts.Gather, promhttp.HandlerOpts{})))
	mux.Handle("GET /config_dump", s.auth(http.HandlerFunc(s.configDump)))
	mux.Handle("GET /clusters", s.auth(http.HandlerFunc(s.clusters)))
	mux.Handle("GET /{$}", s.auth(http.HandlerFunc(s.index)))
	// Profiles of the running proxy, for benchmarks and incidents.
	mux.Handle("GET /debug/pprof/", s.auth(http.HandlerFunc(pprof.Index)))
	mux.Handle("GET /debug/pprof/profile", s.auth(http.HandlerFunc(pprof.Profile)))
	mux.Handle("GET /debug/pprof/trace", s.auth(http.HandlerFunc(pprof.Trace)))
	return mux
}

func (s *Server) auth(h http.Handler) http.Handler {
	if s.opts.Token == "" {
		return h
	}
	want := []byte("Bearer " + s.opts.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fulcrum-admin"`)
			http.Error(w, "admin: a valid bearer token is required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintln(w, "fulcrum data plane admin\n\n/ready        readiness\n/metrics      Prometheus metrics\n/config_dump  configuration in force (secrets redacted)\n/clusters     pools and members: health, reasons, counters\n/debug/pprof/ Go profiles (CPU, heap, goroutines)")
}

// ready answers 200 once a configuration is in force, 503 before.
func (s *Server) ready(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Proxy.Snapshot() == nil {
		http.Error(w, "not ready: no configuration applied yet", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// configDump is the configuration in force as xDS JSON (secrets
// redacted), with the last rejected configuration and live member state.
func (s *Server) configDump(w http.ResponseWriter, _ *http.Request) {
	p := s.opts.Proxy
	out := struct {
		Version      string           `json:"version"`
		LastRejected *proxy.Rejection `json:"lastRejected,omitempty"`
		Resources    json.RawMessage  `json:"resources,omitempty"`
		Clusters     []ClusterState   `json:"clusters"`
	}{Version: p.Version(), LastRejected: p.LastRejection(), Clusters: clusterStates(p.Upstreams())}
	if res := p.Resources(); res != nil {
		js, err := res.JSON(translator.RenderOptions{Redact: true})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out.Resources = js
	}
	writeJSON(w, out)
}

func (s *Server) clusters(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, clusterStates(s.opts.Proxy.Upstreams()))
}

// ClusterState is a pool's live state for display.
type ClusterState struct {
	Name            string              `json:"name"`
	Algorithm       string              `json:"algorithm"`
	HealthCheckType string              `json:"healthCheck,omitempty"`
	Panic           bool                `json:"panic"`
	Stats           upstream.Stats      `json:"stats"`
	Members         []upstream.Snapshot `json:"members"`
}

func clusterStates(m *upstream.Manager) []ClusterState {
	now := time.Now()
	var out []ClusterState
	for _, c := range m.Clusters() {
		cfg := c.Config()
		cs := ClusterState{Name: c.Name(), Algorithm: cfg.Balancer.Algorithm, HealthCheckType: cfg.HealthCheckType, Panic: c.Panic(), Stats: c.Stats()}
		for _, lm := range c.Members() {
			cs.Members = append(cs.Members, lm.Snapshot(now))
		}
		out = append(out, cs)
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	// An encoding error can only be a write error: the client went away.
	_ = enc.Encode(v)
}
