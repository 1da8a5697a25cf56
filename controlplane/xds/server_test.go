package xds

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/fulcrumlb/fulcrum/internal/testutil/xdstest"
	"github.com/fulcrumlb/fulcrum/internal/xdsproto"
	"github.com/fulcrumlb/fulcrum/translator"
)

func webResources(t *testing.T) *translator.Resources {
	return xdstest.Resources(t, xdstest.Pool("web", "http", 18080, "127.0.0.1:9"))
}

// TestSnapshotConsistency: a snapshot whose listener names a route
// configuration that is not there, or whose cluster has no endpoints, or
// that carries an unreferenced one, is refused and nothing changes.
func TestSnapshotConsistency(t *testing.T) {
	s, err := NewServer(Options{Replica: "r"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if err := s.SetResources("v1", webResources(t)); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(r *translator.Resources){
		"route configuration missing": func(r *translator.Resources) { r.Routes = nil },
		"endpoints missing":           func(r *translator.Resources) { r.Endpoints = nil },
		"unreferenced endpoints":      func(r *translator.Resources) { r.Clusters = nil },
		"duplicate cluster":           func(r *translator.Resources) { r.Clusters = append(r.Clusters, r.Clusters[0]) },
	}
	for name, mutate := range cases {
		r := webResources(t)
		mutate(r)
		if err := s.SetResources("v2-"+name, r); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if s.Version() != "v1" {
		t.Errorf("a refused snapshot changed the version to %q", s.Version())
	}
	if err := s.SetResources("", webResources(t)); err == nil {
		t.Error("empty version accepted")
	}
}

// TestTypeVersions: a type keeps its version while its content is
// unchanged; a version cannot be reused for other content, and publishing
// the same version and content again is a no-op.
func TestTypeVersions(t *testing.T) {
	s, err := NewServer(Options{Replica: "r"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if err := s.SetResources("v1", webResources(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetResources("v1", webResources(t)); err != nil {
		t.Errorf("republishing v1 unchanged: %v", err)
	}
	more := xdstest.Resources(t, xdstest.Pool("web", "http", 18080, "127.0.0.1:9", "127.0.0.1:10"))
	if err := s.SetResources("v1", more); err == nil || !strings.Contains(err.Error(), "different resources") {
		t.Errorf("v1 reused for other content: %v", err)
	}
	if err := s.SetResources("v2", more); err != nil {
		t.Fatal(err)
	}
	got := s.tracker.current()
	for k, want := range map[xdsproto.Kind]string{xdsproto.Listeners: "v1@1", xdsproto.Routes: "v1@1", xdsproto.Clusters: "v1@1", xdsproto.Endpoints: "v2@2"} {
		if got.kinds[k].version != want {
			t.Errorf("%s version %q, want %q", k, got.kinds[k].version, want)
		}
	}
	if got.seq != 2 {
		t.Errorf("seq %d", got.seq)
	}
}

// fakeSink records what the server publishes; block makes Put wait.
type fakeSink struct {
	mu      sync.Mutex
	puts    map[string]ProxyStatus
	deletes []string
	block   chan struct{}
}

func (f *fakeSink) PutProxyStatus(ctx context.Context, st ProxyStatus) error {
	f.mu.Lock()
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts[st.Node] = st
	return nil
}

func (f *fakeSink) DeleteProxyStatus(_ context.Context, node, replica string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes = append(f.deletes, node+"@"+replica)
	return nil
}

func (f *fakeSink) get(node string) (ProxyStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.puts[node]
	return st, ok
}

// TestStatusSink: the sink receives each node's status (connected,
// version), then its disconnection, then forgets it after the retention;
// a sink that blocks never holds up configuration.
func TestStatusSink(t *testing.T) {
	sink := &fakeSink{puts: map[string]ProxyStatus{}}
	srv, addr := startServer(t, Options{Replica: "cp-1", Sink: sink, SinkInterval: 20 * time.Millisecond, Retention: 300 * time.Millisecond}, "")
	_, stop := startClient(t, addr, "node-a", "z", (&recorder{}).apply, nil)
	if err := srv.SetResources("v1", webResources(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, "v1", "node-a")
	eventually(t, "the sink to see v1", func() bool {
		st, ok := sink.get("node-a")
		return ok && st.Connected && st.Version == "v1" && st.Replica == "cp-1" && st.Zone == "z"
	})

	// A sink that hangs delays status, not configuration.
	block := make(chan struct{})
	sink.mu.Lock()
	sink.block = block
	sink.mu.Unlock()
	if err := srv.SetResources("v2", xdstest.Resources(t, xdstest.Pool("web", "http", 18080, "127.0.0.1:10"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, "v2", "node-a")
	close(block)
	sink.mu.Lock()
	sink.block = nil
	sink.mu.Unlock()

	stop()
	eventually(t, "the sink to see the disconnection", func() bool { st, _ := sink.get("node-a"); return !st.Connected })
	eventually(t, "the node to be forgotten", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return len(sink.deletes) == 1 && sink.deletes[0] == "node-a@cp-1"
	})
	if len(srv.Proxies()) != 0 {
		t.Errorf("forgotten node still listed: %+v", srv.Proxies())
	}
}

func TestWaitForVersion(t *testing.T) {
	srv, addr := startServer(t, Options{}, "")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv.WaitForVersion(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "never published") {
		t.Errorf("unknown version: %v", err)
	}
	if err := srv.SetResources("v1", webResources(t)); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitForVersion(ctx, "v1", "ghost"); err == nil || !strings.Contains(err.Error(), "ghost") {
		t.Errorf("a node that never connects: %v", err)
	}
	startClient(t, addr, "node-a", "", (&recorder{}).apply, nil)
	waitFor(t, srv, "v1") // every connected node
	if err := srv.SetResources("v2", xdstest.Resources(t, xdstest.Pool("web", "http", 18080, "127.0.0.1:10"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, "v2", "node-a")
	waitFor(t, srv, "v1", "node-a") // a later version satisfies an earlier one
}

// TestStreamRules: a stream must name its node, and delta xDS is refused.
func TestStreamRules(t *testing.T) {
	_, addr := startServer(t, Options{}, "")
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	st, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: xdsproto.ClusterType, Node: &corev3.Node{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err == nil || !strings.Contains(err.Error(), "node id") {
		t.Errorf("stream without a node id: %v", err)
	}
	d, err := ads.DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Recv(); err == nil || !strings.Contains(err.Error(), "delta") {
		t.Errorf("delta stream: %v", err)
	}
}

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	srv, addr := startServer(t, Options{Registerer: reg}, "")
	startClient(t, addr, "node-a", "", (&recorder{}).apply, nil)
	if err := srv.SetResources("v1", webResources(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, "v1", "node-a")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"fulcrum_xds_connected_proxies", "fulcrum_xds_pushes_total", "fulcrum_xds_acks_total", "fulcrum_xds_snapshots_total", "fulcrum_xds_propagation_seconds"} {
		if !names[want] {
			t.Errorf("metric %s missing", want)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
