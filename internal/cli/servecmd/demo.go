package servecmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

// The demo: three backends on fixed loopback ports (so that the stored demo
// pool stays valid across restarts) and a pool in front of them.
const (
	demoFrontend = "127.0.0.1:8080"
	demoPoolName = "demo"
)

var demoMembers = []string{"127.0.0.1:9081", "127.0.0.1:9082", "127.0.0.1:9083"}

func demoPool() string {
	y := `apiVersion: fulcrum/v1
kind: Pool
metadata:
  name: demo
  labels: {demo: "true"}
  annotations: {description: "Created by fulcrum serve --demo: three local backends behind 127.0.0.1:8080."}
spec:
  frontend: {address: 127.0.0.1, port: 8080, protocol: http}
  algorithm: least_request
  healthCheck: {type: http, path: /healthz, interval: 1s, timeout: 500ms, rise: 2, fall: 2}
  members:
`
	for _, m := range demoMembers {
		y += fmt.Sprintf("  - {address: %q}\n", m)
	}
	return y
}

type demoBackends struct {
	servers []*http.Server
	wg      sync.WaitGroup
}

// startDemo starts the backends and creates the demo pool unless it
// exists (an operator may have changed it since: it is theirs now).
func startDemo(ctx context.Context, st *store.Store) (*demoBackends, error) {
	d := &demoBackends{}
	for i, addr := range demoMembers {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("demo backend %s: %w (is another fulcrum serve --demo running?)", addr, err)
		}
		name := fmt.Sprintf("demo-%d", i+1)
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from %s (%s), you asked for %s\n", name, addr, r.URL.Path)
		})
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		d.servers = append(d.servers, srv)
		d.wg.Add(1)
		go func() { defer d.wg.Done(); _ = srv.Serve(ln) }()
	}
	if _, err := st.Get(ctx, api.KindPool, demoPoolName); err == nil {
		return d, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		d.Close()
		return nil, err
	}
	loaded, list := api.Load([]api.Input{{Name: "demo", Data: []byte(demoPool())}}, api.ValidateOptions{})
	if len(list) > 0 {
		d.Close()
		return nil, list
	}
	if _, err := st.Apply(ctx, store.ApplyRequest{Objects: loaded.Objects, Actor: "fulcrum serve --demo"}); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Close stops the backends.
func (d *demoBackends) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, s := range d.servers {
		_ = s.Shutdown(ctx)
	}
	d.wg.Wait()
}
