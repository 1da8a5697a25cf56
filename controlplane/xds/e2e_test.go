package xds

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/fulcrumlb/fulcrum/dataplane/xdsclient"
	"github.com/fulcrumlb/fulcrum/internal/testutil/xdstest"
	"github.com/fulcrumlb/fulcrum/internal/xdsproto"
	"github.com/fulcrumlb/fulcrum/translator"
)

// TestApplyAndAck: a snapshot reaches a real proxy connected before it and
// a node that connects after it; both acknowledge it and Proxies shows
// node, zone, replica, build and the versions acknowledged.
func TestApplyAndAck(t *testing.T) {
	srv, addr := startServer(t, Options{Replica: "cp-1"}, "")
	p := newProxy(t)
	startClient(t, addr, "node-a", "zone-1", p.Apply, nil)
	eventually(t, "node-a connected", func() bool { st, ok := proxyStatus(srv, "node-a"); return ok && st.Connected })

	port := xdstest.FreePort(t)
	if err := srv.SetResources("v1", xdstest.Resources(t, xdstest.Pool("web", "http", port, "127.0.0.1:9"))); err != nil {
		t.Fatal(err)
	}
	late := &recorder{}
	startClient(t, addr, "node-b", "", late.apply, nil)
	waitFor(t, srv, "v1", "node-a", "node-b")

	if p.Version() != "v1" {
		t.Errorf("proxy runs %q", p.Version())
	}
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Errorf("the proxy did not bind its listener: %v", err)
	} else {
		conn.Close()
	}
	ps := srv.Proxies()
	if len(ps) != 2 || ps[0].Node != "node-a" || ps[1].Node != "node-b" {
		t.Fatalf("proxies: %+v", ps)
	}
	a := ps[0]
	want := xdsproto.Versions{Listeners: "v1", Routes: "v1", Clusters: "v1", Endpoints: "v1"}
	if a.Zone != "zone-1" || !a.Connected || a.Replica != "cp-1" || a.Build != "test-build" || a.Version != "v1" ||
		a.Acked != want || a.ConnectedSince.IsZero() || a.VersionAt.IsZero() || a.LastNack != nil || a.Address == "" {
		t.Errorf("node-a status: %+v", a)
	}
	if n, c := late.last(); n != 1 || c.version != "v1" {
		t.Errorf("late node applied %d times, last %q", n, c.version)
	}
}

// TestNackVisibleAndFixed: a configuration the proxy refuses (its port is
// taken on this host) is NACKed with the error text, visible in Proxies;
// the proxy keeps the previous version; a fixed configuration is ACKed.
func TestNackVisibleAndFixed(t *testing.T) {
	srv, addr := startServer(t, Options{}, "")
	p := newProxy(t)
	startClient(t, addr, "node-a", "", p.Apply, nil)
	web := xdstest.Pool("web", "http", xdstest.FreePort(t), "127.0.0.1:9")
	if err := srv.SetResources("v1", xdstest.Resources(t, web)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, "v1", "node-a")

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	bad := web + xdstest.Pool("api", "tcp", busy.Addr().(*net.TCPAddr).Port, "127.0.0.1:10")
	if err := srv.SetResources("v2", xdstest.Resources(t, bad)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a NACK", func() bool { st, _ := proxyStatus(srv, "node-a"); return st.LastNack != nil })
	st, _ := proxyStatus(srv, "node-a")
	if st.LastNack.Version != "v2" || !strings.Contains(st.LastNack.Error, "address already in use") || st.Version != "v1" {
		t.Errorf("after a NACK: version %q, nack %+v", st.Version, st.LastNack)
	}
	if p.Version() != "v1" || p.Upstreams().Cluster("api") != nil {
		t.Errorf("the refused configuration changed the proxy: version %q", p.Version())
	}
	// A NACK is not answered by sending the refused version again (the
	// server waits for a newer one), so the count stays put.
	time.Sleep(300 * time.Millisecond)
	nacks := 0.0
	for _, k := range []string{"listeners", "routes", "clusters", "endpoints"} {
		nacks += counterValue(srv.m.nacks.WithLabelValues(k))
	}
	if nacks != 3 {
		t.Errorf("%v NACKs, want one per changed type (clusters, endpoints, listeners)", nacks)
	}

	fixed := web + xdstest.Pool("api", "tcp", xdstest.FreePort(t), "127.0.0.1:10")
	if err := srv.SetResources("v3", xdstest.Resources(t, fixed)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, "v3", "node-a")
	if p.Version() != "v3" || p.Upstreams().Cluster("api") == nil {
		t.Errorf("fixed configuration not applied: %q", p.Version())
	}
	st, _ = proxyStatus(srv, "node-a")
	if st.Acked.Clusters != "v2" || st.Acked.Listeners != "v3" {
		t.Errorf("per-type versions after the fix: %+v", st.Acked)
	}
}

// TestControlPlaneRestart: while the control plane is stopped the proxy
// keeps its configuration and nothing is applied; a new control plane on
// the same address is followed within seconds, and the client's
// resubscription with the versions it runs lets the server send only the
// type that changed.
func TestControlPlaneRestart(t *testing.T) {
	srv, addr := startServer(t, Options{}, "")
	p := newProxy(t)
	var applies atomic.Int32
	apply := func(v string, res *translator.Resources) error { applies.Add(1); return p.Apply(v, res) }
	c, _ := startClient(t, addr, "node-a", "", apply, func(o *xdsclient.Options) { o.Backoff = xdsclient.Backoff{} })
	port := xdstest.FreePort(t)
	v1 := xdstest.Pool("web", "http", port, "127.0.0.1:9")
	if err := srv.SetResources("v1", xdstest.Resources(t, v1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, "v1", "node-a")
	before := applies.Load()

	srv.Stop()
	eventually(t, "the client to notice", func() bool { return !c.Status().Connected })
	time.Sleep(1500 * time.Millisecond) // down for a while: several retries fail
	if applies.Load() != before || p.Version() != "v1" {
		t.Fatalf("the proxy changed while the control plane was gone: %d applies, version %q", applies.Load()-before, p.Version())
	}
	if conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		t.Errorf("the proxy stopped serving its listener: %v", err)
	} else {
		conn.Close()
	}

	// The new control plane publishes v1 and then v2, which changes only
	// endpoints. go-control-plane sends every type on a new stream (it
	// tracks what it sent per stream); the client resubscribed with the
	// versions it runs, sees listeners, routes and clusters arrive at those
	// versions, and applies only the endpoint change.
	srv2, _ := startServer(t, Options{}, addr)
	if err := srv2.SetResources("v1", xdstest.Resources(t, v1)); err != nil {
		t.Fatal(err)
	}
	if err := srv2.SetResources("v2", xdstest.Resources(t, xdstest.Pool("web", "http", port, "127.0.0.1:9", "127.0.0.1:10"))); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, srv2, "v2", "node-a")
	took := time.Since(start)
	t.Logf("converged %v after the control plane came back", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("took %v to catch up (T2 wants ≤ 10 s)", took)
	}
	if p.Version() != "v2" || applies.Load() != before+1 {
		t.Errorf("after the reconnection the proxy runs %q after %d applies (want v2 after one)", p.Version(), applies.Load()-before)
	}
	// The client records its status just after it ACKs, so the server may
	// have seen the ACK a moment before Status shows it.
	eventually(t, "the client's status to show v2", func() bool { return c.Status().Version == "v2" })
	if st := c.Status(); !st.Connected || st.Applied.Listeners != "v1" || st.Applied.Endpoints != "v2" {
		t.Errorf("client status: %+v", st)
	}
}

// TestPartialUpdates: each change sends only the types it changes and the
// proxy receives the rest unchanged; a new listener is applied only with
// its route configuration.
func TestPartialUpdates(t *testing.T) {
	srv, addr := startServer(t, Options{}, "")
	rec := &recorder{}
	startClient(t, addr, "node-a", "", rec.apply, nil)
	main := xdstest.Listener("main", 18080) + xdstest.Route("r1", "main", "/", "web")
	pools := xdstest.Pool("web", "", 0, "127.0.0.1:9") + xdstest.Pool("api", "", 0, "127.0.0.1:10")
	steps := []struct {
		name, yaml string
		pushed     []string // types sent
	}{
		{"initial", main + pools, []string{"clusters", "endpoints", "listeners", "routes"}},
		{"endpoint added", main + xdstest.Pool("web", "", 0, "127.0.0.1:9") + xdstest.Pool("api", "", 0, "127.0.0.1:10", "127.0.0.1:11"), []string{"endpoints"}},
		{"route added", main + xdstest.Route("r2", "main", "/api", "api") + xdstest.Pool("web", "", 0, "127.0.0.1:9") + xdstest.Pool("api", "", 0, "127.0.0.1:10", "127.0.0.1:11"), []string{"routes"}},
		{"cluster added", main + xdstest.Route("r2", "main", "/api", "api") + xdstest.Pool("web", "", 0, "127.0.0.1:9") + xdstest.Pool("api", "", 0, "127.0.0.1:10", "127.0.0.1:11") + xdstest.Pool("extra", "", 0, "127.0.0.1:12"), []string{"clusters", "endpoints"}},
		{"listener added", main + xdstest.Route("r2", "main", "/api", "api") + xdstest.Pool("web", "", 0, "127.0.0.1:9") + xdstest.Pool("api", "", 0, "127.0.0.1:10", "127.0.0.1:11") + xdstest.Pool("extra", "", 0, "127.0.0.1:12") + xdstest.Listener("second", 18081) + xdstest.Route("r3", "second", "/", "extra"), []string{"listeners", "routes"}},
	}
	var prev *translator.Resources
	for i, step := range steps {
		before := pushCounts(srv)
		applied, _ := rec.last()
		res := xdstest.Resources(t, step.yaml)
		version := fmt.Sprintf("v%d", i+1)
		if err := srv.SetResources(version, res); err != nil {
			t.Fatal(err)
		}
		waitFor(t, srv, version, "node-a")
		after := pushCounts(srv)
		var pushed []string
		for _, k := range []string{"clusters", "endpoints", "listeners", "routes"} {
			if after[k] > before[k] {
				pushed = append(pushed, k)
			}
		}
		if strings.Join(pushed, ",") != strings.Join(step.pushed, ",") {
			t.Errorf("%s: sent %v, want %v", step.name, pushed, step.pushed)
		}
		n, got := rec.last()
		if n != applied+1 || got.version != version {
			t.Errorf("%s: %d applies (want one), last %q", step.name, n-applied, got.version)
		}
		if !sameLists(got.res, res) {
			t.Errorf("%s: the proxy did not receive the complete new set", step.name)
		}
		if prev != nil {
			for _, k := range []string{"clusters", "endpoints", "listeners", "routes"} {
				if !strings.Contains(strings.Join(step.pushed, ","), k) && !sameKind(k, got.res, prev) {
					t.Errorf("%s: %s changed though not sent", step.name, k)
				}
			}
		}
		prev = got.res
	}
}

func pushCounts(s *Server) map[string]float64 {
	out := map[string]float64{}
	for _, k := range []string{"clusters", "endpoints", "listeners", "routes"} {
		out[k] = counterValue(s.m.pushes.WithLabelValues(k))
	}
	return out
}

func sameLists(a, b *translator.Resources) bool {
	for _, k := range []string{"clusters", "endpoints", "listeners", "routes"} {
		if !sameKind(k, a, b) {
			return false
		}
	}
	return true
}

func sameKind(kind string, a, b *translator.Resources) bool {
	x, y := list(kind, a), list(kind, b)
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if !proto.Equal(x[i], y[i]) {
			return false
		}
	}
	return true
}

func list(kind string, r *translator.Resources) []proto.Message {
	var out []proto.Message
	switch kind {
	case "listeners":
		for _, x := range r.Listeners {
			out = append(out, x)
		}
	case "routes":
		for _, x := range r.Routes {
			out = append(out, x)
		}
	case "clusters":
		for _, x := range r.Clusters {
			out = append(out, x)
		}
	default:
		for _, x := range r.Endpoints {
			out = append(out, x)
		}
	}
	return out
}

// TestStopEndsStreams: Stop returns promptly with clients connected, and
// the status shows them disconnected.
func TestStopEndsStreams(t *testing.T) {
	srv, addr := startServer(t, Options{StopTimeout: 2 * time.Second}, "")
	startClient(t, addr, "node-a", "", (&recorder{}).apply, nil)
	eventually(t, "node-a connected", func() bool { st, ok := proxyStatus(srv, "node-a"); return ok && st.Connected })
	start := time.Now()
	srv.Stop()
	if took := time.Since(start); took > time.Second {
		t.Errorf("Stop took %v with a stream open", took)
	}
	if st, _ := proxyStatus(srv, "node-a"); st.Connected || st.DisconnectedAt.IsZero() {
		t.Errorf("after Stop: %+v", st)
	}
	if err := srv.SetResources("v1", nil); err == nil {
		t.Error("SetResources after Stop succeeded")
	}
}

// counterValue reads a counter (prometheus/testutil would need a module
// that go.mod does not list).
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
