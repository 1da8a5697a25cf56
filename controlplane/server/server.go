// Package server assembles a control plane: the etcd store, the REST API
// and the web console on one listener, the xDS server that pushes every
// change to the data planes, and the leader-elected health checks.
//
// The flow of one change: the API writes to the store; the store's watch
// wakes the push loop, which reads one consistent configuration (with
// allocations and health), translates it and publishes it as the xDS
// snapshot whose version is the etcd revision — so versions never go
// backwards, whichever replica serves a data plane.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fulcrumlb/fulcrum/controlplane/apiserver"
	"github.com/fulcrumlb/fulcrum/controlplane/console"
	"github.com/fulcrumlb/fulcrum/controlplane/healthsvc"
	"github.com/fulcrumlb/fulcrum/controlplane/ipam"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
	"github.com/fulcrumlb/fulcrum/controlplane/xds"
	"github.com/fulcrumlb/fulcrum/translator"
)

// Default listen addresses: loopback only, as every Fulcrum default.
const (
	DefaultAPIAddress = "127.0.0.1:7700"
	DefaultXDSAddress = "127.0.0.1:7701"
)

// Options configure a control plane.
type Options struct {
	// DataDir holds the embedded etcd; ignored with Etcd.
	DataDir string
	// Etcd lists the endpoints of an external cluster.
	Etcd []string
	// APIAddress serves the REST API and the console; XDSAddress serves ADS.
	APIAddress, XDSAddress string
	// TLSCertFile and TLSKeyFile, when set, make the API listener HTTPS.
	TLSCertFile, TLSKeyFile string
	// IPAM are the VIP and port pools for frontends left unallocated.
	IPAM ipam.Options
	// Replica names this control plane among its peers (default: host name
	// and process id).
	Replica string
	// MetricsTargets are data planes' admin listeners whose metrics feed
	// the console's live charts.
	MetricsTargets []string
	Logger         *slog.Logger
	// Registry receives every control-plane metric and is served at
	// /metrics on the API listener (with a viewer token).
	Registry *prometheus.Registry
}

// Server is a running control plane.
type Server struct {
	opt    Options
	log    *slog.Logger
	st     *store.Store
	xds    *xds.Server
	api    *apiserver.Server
	http   *http.Server
	apiLn  net.Listener
	xdsLn  net.Listener
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// BootstrapToken is the admin token created at first start, empty
	// when tokens already existed. It is shown once and never stored.
	BootstrapToken string
}

// Start opens the store, binds the listeners and starts every loop. On
// error everything started is stopped again.
func Start(ctx context.Context, opt Options) (s *Server, err error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Registry == nil {
		opt.Registry = prometheus.NewRegistry()
	}
	if opt.Replica == "" {
		host, _ := os.Hostname()
		opt.Replica = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	s = &Server{opt: opt, log: opt.Logger}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err = s.openStore(ctx); err != nil {
		return nil, err
	}
	if err = s.startXDS(runCtx); err != nil {
		return nil, err
	}
	if err = s.startAPI(runCtx); err != nil {
		return nil, err
	}
	hs := healthsvc.New(healthsvc.Options{Store: s.st, Logger: s.log, Registerer: opt.Registry, Replica: opt.Replica})
	s.goRun(func() { _ = hs.Run(runCtx) })
	s.goRun(func() { s.pushLoop(runCtx) })
	return s, nil
}

func (s *Server) goRun(f func()) {
	s.wg.Add(1)
	go func() { defer s.wg.Done(); f() }()
}

func (s *Server) openStore(ctx context.Context) error {
	var err error
	s.st, err = store.Open(ctx, store.Options{DataDir: s.opt.DataDir, Endpoints: s.opt.Etcd, IPAM: s.opt.IPAM, Logger: s.log})
	if err != nil {
		return err
	}
	token, created, err := apiserver.Bootstrap(ctx, s.st)
	if err != nil {
		return err
	}
	if created {
		s.BootstrapToken = token
	}
	return nil
}

func (s *Server) startXDS(ctx context.Context) error {
	sink, err := newEtcdSink(ctx, s.st, s.log)
	if err != nil {
		return err
	}
	s.xds, err = xds.NewServer(xds.Options{Logger: s.log, Registerer: s.opt.Registry, Replica: s.opt.Replica, Sink: sink})
	if err != nil {
		return err
	}
	if s.xdsLn, err = net.Listen("tcp", orDefault(s.opt.XDSAddress, DefaultXDSAddress)); err != nil {
		return fmt.Errorf("xds listener: %w", err)
	}
	ln := s.xdsLn
	s.goRun(func() {
		if err := s.xds.Serve(ln); err != nil {
			s.log.Error("xds server stopped", "error", err)
		}
	})
	return nil
}

// startAPI serves the REST API, /metrics and the console on one listener;
// ctx bounds the console's background work (watch, scrapes, live streams).
func (s *Server) startAPI(ctx context.Context) error {
	var err error
	s.api, err = apiserver.New(apiserver.Options{Store: s.st, Logger: s.log, Registerer: s.opt.Registry, Proxies: s.proxies})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", s.api)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("GET /metrics", s.api.Auth().Middleware("viewer")(promhttp.HandlerFor(s.opt.Registry, promhttp.HandlerOpts{})))
	ui, err := console.New(ctx, console.Options{Store: s.st, API: s.api, Logger: s.log, Registerer: s.opt.Registry,
		MetricsTargets: s.opt.MetricsTargets})
	if err != nil {
		return err
	}
	mux.Handle("/", ui)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	if s.apiLn, err = net.Listen("tcp", orDefault(s.opt.APIAddress, DefaultAPIAddress)); err != nil {
		return fmt.Errorf("api listener: %w", err)
	}
	ln := s.apiLn
	if s.opt.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.opt.TLSCertFile, s.opt.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("api tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	s.goRun(func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("api server stopped", "error", err)
		}
	})
	return nil
}

// pushLoop publishes the stored configuration as the xDS snapshot, again
// after every change.
func (s *Server) pushLoop(ctx context.Context) {
	changes := s.st.Watch(ctx)
	last := int64(-1)
	for {
		if rev, err := s.push(ctx, last); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Error("configuration not pushed", "error", err)
		} else {
			last = rev
		}
		select {
		case <-ctx.Done():
			return
		case _, ok := <-changes:
			if !ok {
				return
			}
		}
	}
}

func (s *Server) push(ctx context.Context, last int64) (int64, error) {
	snap, err := s.st.Config(ctx)
	if err != nil {
		return last, err
	}
	if snap.EtcdRevision == last {
		return last, nil
	}
	res, err := translator.Translate(snap.Config, translator.Options{})
	if err != nil {
		return last, err
	}
	version := strconv.FormatInt(snap.EtcdRevision, 10)
	if err := s.xds.SetResources(version, res); err != nil {
		return last, err
	}
	s.log.Debug("configuration pushed", "version", version)
	return snap.EtcdRevision, nil
}

// Store returns the store.
func (s *Server) Store() *store.Store { return s.st }

// API returns the REST API server (for the console's auth).
func (s *Server) API() *apiserver.Server { return s.api }

// XDS returns the xDS server.
func (s *Server) XDS() *xds.Server { return s.xds }

// APIAddress returns the bound API address.
func (s *Server) APIAddress() string { return s.apiLn.Addr().String() }

// XDSAddress returns the bound xDS address.
func (s *Server) XDSAddress() string { return s.xdsLn.Addr().String() }

// Close stops every loop and listener, then the store. The loops stop
// first: the console's live streams end with them, so the API listener's
// shutdown does not wait for open browser tabs.
func (s *Server) Close() {
	s.cancel()
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.http.Shutdown(ctx)
		cancel()
	}
	if s.xds != nil {
		s.xds.Stop()
	}
	s.wg.Wait()
	if s.st != nil {
		_ = s.st.Close()
	}
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
