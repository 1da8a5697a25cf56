package console

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fulcrumlb/fulcrum/controlplane/healthsvc"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
	"github.com/fulcrumlb/fulcrum/dataplane/admin"
	"github.com/fulcrumlb/fulcrum/dataplane/factories"
	"github.com/fulcrumlb/fulcrum/dataplane/proxy"
	"github.com/fulcrumlb/fulcrum/translator"
)

// dataPlane is a real Fulcrum data plane (the L7 and L4 proxies) in the
// test process, with its admin listener serving /metrics, fed from the
// store the way the control plane's xDS server would feed it: each Watch
// notification is translated and applied, member health included.
type dataPlane struct {
	p     *proxy.Proxy
	admin *admin.Server
}

func startDataPlane(t *testing.T) *dataPlane {
	t.Helper()
	reg := prometheus.NewRegistry()
	p, err := proxy.New(proxy.Options{Registerer: reg, NewFactories: factories.All})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	adm, err := admin.Listen(admin.Options{Address: "127.0.0.1:0", Proxy: p, Gather: reg})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = adm.Close()
		cancel()
		<-done
	})
	return &dataPlane{p: p, admin: adm}
}

// follow applies the store's configuration to the data plane until the
// test ends.
func (d *dataPlane) follow(t *testing.T, st *store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range st.Watch(ctx) {
			snap, err := st.Config(ctx)
			if err != nil {
				continue
			}
			res, err := translator.Translate(snap.Config, translator.Options{})
			if err != nil {
				continue // a frontend not allocated yet: the next change brings it
			}
			_ = d.p.Apply(strconv.FormatInt(snap.EtcdRevision, 10), res)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// startHealth runs a health-check replica (leader-elected, as in the
// control plane) that writes member health to the store.
func startHealth(t *testing.T, st *store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	svc := healthsvc.New(healthsvc.Options{Store: st, Replica: "cp-test", FlushInterval: time.Second, SessionTTL: 5 * time.Second})
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// backend is a real HTTP server on loopback with a health endpoint.
type backend struct {
	srv  *httptest.Server
	once sync.Once
}

func startBackend(t *testing.T, name string) *backend {
	b := &backend{srv: httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			_, _ = io.WriteString(w, "ok\n")
			return
		}
		time.Sleep(2 * time.Millisecond) // a latency the p99 chart can show
		_, _ = io.WriteString(w, "hello from "+name+"\n")
	}))}
	t.Cleanup(b.stop)
	return b
}

func (b *backend) addr() string { return b.srv.Listener.Addr().String() }

// stop kills the backend: the listener closes and open connections are cut.
func (b *backend) stop() {
	b.once.Do(func() {
		b.srv.CloseClientConnections()
		b.srv.Close()
	})
}

// traffic sends requests to a frontend until the test ends, a few dozen a
// second, so that the charts have something to show.
func traffic(t *testing.T, url string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	tr := &http.Transport{}
	hc := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	go func() {
		defer close(done)
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if resp, err := hc.Do(req); err == nil { // the frontend may not be bound yet
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		tr.CloseIdleConnections()
	})
}
