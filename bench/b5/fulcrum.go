package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	goruntime "runtime"
	"syscall"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/dataplane/l4"
	"github.com/fulcrumlb/fulcrum/dataplane/proxy"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
	"github.com/fulcrumlb/fulcrum/translator"
)

// childEnv names the configuration file when this binary runs as the
// Fulcrum contender: the benchmark re-executes itself so that the proxy
// is a process of its own whose CPU time /proc can tell apart.
const childEnv = "B5_FULCRUM_CONFIG"

// serveFulcrum runs the standalone L4 proxy path (YAML → api → translator
// → proxy.Apply) with one P, prints "ready" and serves until SIGTERM.
func serveFulcrum(path string) error {
	goruntime.GOMAXPROCS(1)
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	l, errs := api.Load([]api.Input{{Name: path, Data: data}}, api.ValidateOptions{})
	if len(errs) > 0 {
		return fmt.Errorf("%v", errs)
	}
	res, err := translator.Translate(l.Config, translator.Options{ActiveHealthChecks: true, DefaultAddress: "127.0.0.1"})
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := proxy.New(proxy.Options{Logger: logger, CheckHealth: true,
		NewFactories: func(deps runtime.Deps, ups *upstream.Manager) ([]runtime.ServerFactory, error) {
			return []runtime.ServerFactory{l4.NewFactory(deps, ups)}, nil
		}})
	if err != nil {
		return err
	}
	if err := p.Apply("b5", res); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	fmt.Println("ready")
	return p.Run(ctx)
}

func fulcrumConfig(fe frontends, be backends) string {
	return fmt.Sprintf(`apiVersion: fulcrum/v1
kind: Pool
metadata: {name: bulk}
spec:
  frontend: {port: %d, protocol: tcp}
  members: [{address: %q}]
---
apiVersion: fulcrum/v1
kind: Pool
metadata: {name: rr}
spec:
  frontend: {port: %d, protocol: tcp}
  members: [{address: %q}]
---
apiVersion: fulcrum/v1
kind: Pool
metadata: {name: udp}
spec:
  frontend: {port: %d, protocol: udp}
  members: [{address: %q}]
`, fe.bulk, be.bulk, fe.rr, be.rr, fe.udp, be.udp)
}
