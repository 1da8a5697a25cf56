package xdsclient

import (
	"errors"
	"strings"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/fulcrumlb/fulcrum/internal/testutil/xdstest"
	"github.com/fulcrumlb/fulcrum/internal/xdsproto"
	"github.com/fulcrumlb/fulcrum/translator"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// web is one pool with an http frontend: a listener, its route
// configuration, a cluster and its endpoints.
func web(t *testing.T, members ...string) *translator.Resources {
	if len(members) == 0 {
		members = []string{"127.0.0.1:9"}
	}
	return xdstest.Resources(t, xdstest.Pool("web", "http", 18080, members...))
}

// bootstrap answers a fresh stream with all of res as version and
// consumes the client's subscriptions and ACKs.
func bootstrap(t *testing.T, fs *fakeStream, rec *applyRecorder, version string, res *translator.Resources) {
	t.Helper()
	fs.expect(xdsproto.Clusters)
	fs.expect(xdsproto.Listeners)
	fs.respond(xdsproto.Clusters, version, res)
	fs.expect(xdsproto.Endpoints)
	fs.respond(xdsproto.Listeners, version, res)
	fs.expect(xdsproto.Routes)
	fs.respond(xdsproto.Endpoints, version, res)
	fs.respond(xdsproto.Routes, version, res)
	if got := rec.wait(t); got.version != version {
		t.Fatalf("applied %q, want %q", got.version, version)
	}
	for range 4 {
		if r := fs.next(); r.GetVersionInfo() != version || r.GetErrorDetail() != nil {
			t.Fatalf("bootstrap: want an ACK of %s, got %v", version, r)
		}
	}
}

// TestAssemblyWaitsForEveryReference: a listener is applied only once its
// route configuration has arrived, a cluster only with its endpoints; the
// set is applied once and every type is acknowledged with its version.
func TestAssemblyWaitsForEveryReference(t *testing.T) {
	f := newFakeADS(t)
	rec := newRecorder()
	startClient(t, f.addr, rec, nil)
	fs := f.accept(t)
	res := web(t)

	first := fs.expect(xdsproto.Clusters)
	n := first.GetNode()
	if n.GetId() != "node-1" || n.GetLocality().GetZone() != "zone-a" || n.GetUserAgentName() != "fulcrum" || n.GetUserAgentVersion() != "test-build" {
		t.Errorf("node: %v", n)
	}
	if first.GetVersionInfo() != "" || len(first.GetResourceNames()) != 0 {
		t.Errorf("first cluster request is not a fresh wildcard: %v", first)
	}
	if r := fs.expect(xdsproto.Listeners); len(r.GetResourceNames()) != 0 || r.GetNode() != nil {
		t.Errorf("listener request: %v", r)
	}
	nonces := map[xdsproto.Kind]string{}
	nonces[xdsproto.Clusters] = fs.respond(xdsproto.Clusters, "1", res)
	if r := fs.expect(xdsproto.Endpoints); strings.Join(r.GetResourceNames(), ",") != "web" {
		t.Errorf("endpoint subscription: %v", r.GetResourceNames())
	}
	nonces[xdsproto.Listeners] = fs.respond(xdsproto.Listeners, "1", res)
	if r := fs.expect(xdsproto.Routes); strings.Join(r.GetResourceNames(), ",") != "pool/web" {
		t.Errorf("route subscription: %v", r.GetResourceNames())
	}
	nonces[xdsproto.Endpoints] = fs.respond(xdsproto.Endpoints, "1", res)
	fs.quiet(200 * time.Millisecond) // no ACK: the route configuration is missing
	if rec.count() != 0 {
		t.Fatal("a listener was applied before its route configuration arrived")
	}
	nonces[xdsproto.Routes] = fs.respond(xdsproto.Routes, "1", res)
	got := rec.wait(t)
	if got.version != "1" || !sameResources(got.res, res) {
		t.Errorf("applied %s: %v", got.version, got.res)
	}
	acked := map[xdsproto.Kind]bool{}
	for range 4 {
		r := fs.next()
		k, _ := xdsproto.KindOf(r.GetTypeUrl())
		if r.GetVersionInfo() != "1" || r.GetResponseNonce() != nonces[k] || r.GetErrorDetail() != nil {
			t.Errorf("ACK of %s: %v", k, r)
		}
		acked[k] = true
	}
	if len(acked) != 4 {
		t.Errorf("acknowledged %v", acked)
	}
	if rec.count() != 1 {
		t.Errorf("Apply called %d times, want once", rec.count())
	}
}

func sameResources(a, b *translator.Resources) bool {
	eq := func(x, y []proto.Message) bool {
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
	return eq(messages(xdsproto.Listeners, a), messages(xdsproto.Listeners, b)) &&
		eq(messages(xdsproto.Routes, a), messages(xdsproto.Routes, b)) &&
		eq(messages(xdsproto.Clusters, a), messages(xdsproto.Clusters, b)) &&
		eq(messages(xdsproto.Endpoints, a), messages(xdsproto.Endpoints, b))
}

// TestNackKeepsRunningVersion: a set Apply refuses is NACKed with the error
// text and the version in force; the next set is acknowledged, including
// the types that were refused with it.
func TestNackKeepsRunningVersion(t *testing.T) {
	f := newFakeADS(t)
	rec := newRecorder()
	c := startClient(t, f.addr, rec, nil)
	fs := f.accept(t)
	bootstrap(t, fs, rec, "1", web(t))

	v2 := xdstest.Resources(t, xdstest.Pool("web", "http", 18080, "127.0.0.1:9")+xdstest.Pool("api", "tcp", 18081, "127.0.0.1:10"))
	rec.setFail(func(v string, _ *translator.Resources) error {
		if v == "2" {
			return errors.New("listener pool/api: bind: address already in use")
		}
		return nil
	})
	cn := fs.respond(xdsproto.Clusters, "2", v2)
	if r := fs.expect(xdsproto.Endpoints); strings.Join(r.GetResourceNames(), ",") != "api,web" || r.GetVersionInfo() != "1" {
		t.Errorf("endpoint subscription after a new cluster: %v", r)
	}
	ln := fs.respond(xdsproto.Listeners, "2", v2)
	en := fs.respond(xdsproto.Endpoints, "2", v2)
	want := map[string]string{xdsproto.ClusterType: cn, xdsproto.ListenerType: ln, xdsproto.EndpointType: en}
	for range 3 {
		r := fs.next()
		if r.GetErrorDetail() == nil || !strings.Contains(r.GetErrorDetail().GetMessage(), "address already in use") {
			t.Fatalf("want a NACK with the error text, got %v", r)
		}
		if r.GetVersionInfo() != "1" || r.GetResponseNonce() != want[r.GetTypeUrl()] {
			t.Errorf("NACK must carry the version in force and the refused nonce: %v", r)
		}
	}
	st := c.Status()
	if st.Version != "1" || st.LastNack == nil || st.LastNack.Version != "2" || rec.count() != 1 {
		t.Errorf("after a NACK: status %+v, %d applies", st, rec.count())
	}

	// The server fixes the listener: only listeners change.
	rec.setFail(nil)
	ln3 := fs.respond(xdsproto.Listeners, "3", v2)
	if got := rec.wait(t); got.version != "3" || len(got.res.Clusters) != 2 || len(got.res.Endpoints) != 2 {
		t.Fatalf("fixed set: %s %v", got.version, got.res)
	}
	acks := map[string]*discoveryv3.DiscoveryRequest{}
	for range 3 {
		r := fs.next()
		acks[r.GetTypeUrl()] = r
	}
	if r := acks[xdsproto.ListenerType]; r.GetVersionInfo() != "3" || r.GetResponseNonce() != ln3 {
		t.Errorf("listener ACK: %v", r)
	}
	for _, k := range []xdsproto.Kind{xdsproto.Clusters, xdsproto.Endpoints} {
		if r := acks[k.TypeURL()]; r.GetVersionInfo() != "2" || r.GetErrorDetail() != nil {
			t.Errorf("%s refused before and applied now must be ACKed at 2: %v", k, r)
		}
	}
}

// TestRefusedListenerDoesNotBlockEndpoints: while a listener update stays
// refused (a port this host cannot bind), endpoint updates are applied on
// top of the listeners in force.
func TestRefusedListenerDoesNotBlockEndpoints(t *testing.T) {
	f := newFakeADS(t)
	rec := newRecorder()
	startClient(t, f.addr, rec, nil)
	fs := f.accept(t)
	bootstrap(t, fs, rec, "1", web(t))

	moved := xdstest.Resources(t, xdstest.Pool("web", "http", 18090, "127.0.0.1:9"))
	rec.setFail(func(_ string, res *translator.Resources) error {
		if res.Listeners[0].GetAddress().GetSocketAddress().GetPortValue() == 18090 {
			return errors.New("bind 127.0.0.1:18090: address already in use")
		}
		return nil
	})
	fs.respond(xdsproto.Listeners, "2", moved)
	if r := fs.expect(xdsproto.Listeners); r.GetErrorDetail() == nil {
		t.Fatalf("want a NACK: %v", r)
	}
	more := web(t, "127.0.0.1:9", "127.0.0.1:10")
	en := fs.respond(xdsproto.Endpoints, "3", more)
	got := rec.wait(t)
	if port := got.res.Listeners[0].GetAddress().GetSocketAddress().GetPortValue(); port != 18080 || len(got.res.Endpoints[0].GetEndpoints()[0].GetLbEndpoints()) != 2 {
		t.Errorf("want the old listener with the new endpoints: port %d, %v", port, got.res.Endpoints)
	}
	if r := fs.expect(xdsproto.Endpoints); r.GetVersionInfo() != "3" || r.GetResponseNonce() != en || r.GetErrorDetail() != nil {
		t.Errorf("endpoint ACK: %v", r)
	}
	fs.quiet(100 * time.Millisecond) // the listener is not acknowledged
}

// TestStaleListenerPassedBack: when the server has moved on while the
// client waited for a listener's routes (the routes response lacks one),
// the held listener response is answered without an ACK and the newer
// listeners are applied.
func TestStaleListenerPassedBack(t *testing.T) {
	f := newFakeADS(t)
	rec := newRecorder()
	startClient(t, f.addr, rec, nil)
	fs := f.accept(t)
	v1 := web(t)
	bootstrap(t, fs, rec, "1", v1)

	v2 := xdstest.Resources(t, xdstest.Pool("web", "http", 18080, "127.0.0.1:9")+xdstest.Pool("x", "http", 18081, "127.0.0.1:10"))
	ln := fs.respond(xdsproto.Listeners, "2", v2)
	if r := fs.expect(xdsproto.Routes); strings.Join(r.GetResourceNames(), ",") != "pool/web,pool/x" {
		t.Fatalf("route subscription: %v", r)
	}
	fs.respond(xdsproto.Routes, "3", v1) // snapshot 3 removed x again
	r := fs.expect(xdsproto.Listeners)
	if r.GetVersionInfo() != "1" || r.GetResponseNonce() != ln || r.GetErrorDetail() != nil {
		t.Fatalf("want the stale listeners passed back (version 1, no error): %v", r)
	}
	fs.respond(xdsproto.Listeners, "3", v1)
	if got := rec.wait(t); got.version != "3" || len(got.res.Listeners) != 1 {
		t.Errorf("applied %s %v", got.version, got.res.Listeners)
	}
	seen := map[string]string{}
	for len(seen) < 2 {
		r := fs.next()
		if r.GetVersionInfo() == "3" {
			seen[r.GetTypeUrl()] = r.GetVersionInfo()
		}
	}
}

// TestIncompleteSetAskedAgain: a set that stays incomplete for the warming
// timeout makes the client request what it lacks again.
func TestIncompleteSetAskedAgain(t *testing.T) {
	f := newFakeADS(t)
	rec := newRecorder()
	startClient(t, f.addr, rec, func(o *Options) { o.WarmingTimeout = 150 * time.Millisecond })
	fs := f.accept(t)
	res := web(t)
	fs.expect(xdsproto.Clusters)
	fs.expect(xdsproto.Listeners)
	fs.respond(xdsproto.Clusters, "1", res)
	fs.expect(xdsproto.Endpoints)
	fs.respond(xdsproto.Listeners, "1", res)
	fs.expect(xdsproto.Routes)
	fs.respond(xdsproto.Endpoints, "1", res)
	sawRoutes := false
	deadline := time.Now().Add(5 * time.Second)
	for !sawRoutes && time.Now().Before(deadline) {
		r := fs.next()
		sawRoutes = r.GetTypeUrl() == xdsproto.RouteType && strings.Join(r.GetResourceNames(), ",") == "pool/web"
	}
	if !sawRoutes {
		t.Fatal("the missing route configuration was not requested again")
	}
	if rec.count() != 0 {
		t.Error("an incomplete set was applied")
	}
}

// TestUndecodableResponseRefused: a response that does not decode is
// NACKed at once.
func TestUndecodableResponseRefused(t *testing.T) {
	f := newFakeADS(t)
	rec := newRecorder()
	startClient(t, f.addr, rec, nil)
	fs := f.accept(t)
	fs.expect(xdsproto.Clusters)
	fs.expect(xdsproto.Listeners)
	fs.out <- &discoveryv3.DiscoveryResponse{VersionInfo: "1", TypeUrl: xdsproto.ClusterType, Nonce: "n1",
		Resources: fakeAnys(t, messages(xdsproto.Listeners, web(t)))}
	r := fs.expect(xdsproto.Clusters)
	if r.GetErrorDetail() == nil || !strings.Contains(r.GetErrorDetail().GetMessage(), "in a clusters response") || r.GetResponseNonce() != "n1" {
		t.Errorf("want a NACK: %v", r)
	}
}

// TestRejectedSetRetried: a refused set is tried again while nothing newer
// arrives, and acknowledged once it applies.
func TestRejectedSetRetried(t *testing.T) {
	f := newFakeADS(t)
	rec := newRecorder()
	startClient(t, f.addr, rec, func(o *Options) { o.RetryRejected = 100 * time.Millisecond })
	fs := f.accept(t)
	bootstrap(t, fs, rec, "1", web(t))
	failures := 0
	rec.setFail(func(string, *translator.Resources) error {
		if failures < 2 {
			failures++
			return errors.New("port busy")
		}
		return nil
	})
	ln := fs.respond(xdsproto.Listeners, "2", xdstest.Resources(t, xdstest.Pool("web", "http", 18090, "127.0.0.1:9")))
	if r := fs.expect(xdsproto.Listeners); r.GetErrorDetail() == nil {
		t.Fatalf("want a NACK: %v", r)
	}
	if got := rec.wait(t); got.version != "2" {
		t.Errorf("retried %s", got.version)
	}
	if r := fs.expect(xdsproto.Listeners); r.GetVersionInfo() != "2" || r.GetResponseNonce() != ln || r.GetErrorDetail() != nil {
		t.Errorf("want an ACK after the retry: %v", r)
	}
}

// TestReconnectKeepsConfiguration: when the stream ends nothing is applied;
// the client reconnects and resubscribes with the versions in force.
func TestReconnectKeepsConfiguration(t *testing.T) {
	f := newFakeADS(t)
	rec := newRecorder()
	c := startClient(t, f.addr, rec, nil)
	fs := f.accept(t)
	bootstrap(t, fs, rec, "1", web(t))
	fs.end()
	fs2 := f.accept(t)
	want := map[xdsproto.Kind]string{xdsproto.Clusters: "", xdsproto.Listeners: "", xdsproto.Endpoints: "web", xdsproto.Routes: "pool/web"}
	for i := range 4 {
		r := fs2.next()
		k, _ := xdsproto.KindOf(r.GetTypeUrl())
		if i == 0 && r.GetNode().GetId() != "node-1" {
			t.Error("the first request of a new stream carries no node")
		}
		if r.GetVersionInfo() != "1" || r.GetResponseNonce() != "" || strings.Join(r.GetResourceNames(), ",") != want[k] {
			t.Errorf("resubscription of %s: %v", k, r)
		}
	}
	if rec.count() != 1 || c.Status().Version != "1" || c.Status().LastError == "" {
		t.Errorf("after a reconnection: %d applies, status %+v", rec.count(), c.Status())
	}
}

// TestReconnectBacksOff: a control plane that ends every stream at once is
// retried with growing, jittered, capped delays.
func TestReconnectBacksOff(t *testing.T) {
	f := newFakeADS(t)
	rec := newRecorder()
	startClient(t, f.addr, rec, func(o *Options) { o.Backoff = Backoff{Initial: 40 * time.Millisecond, Max: 160 * time.Millisecond} })
	var at []time.Time
	for range 6 {
		fs := f.accept(t)
		at = append(at, time.Now())
		fs.end()
	}
	ceilings := []time.Duration{40, 80, 160, 160, 160}
	for i, c := range ceilings {
		gap := at[i+1].Sub(at[i])
		// Half the ceiling at least; the upper margin absorbs a loaded VM.
		if lo, hi := c*time.Millisecond/2, c*time.Millisecond+500*time.Millisecond; gap < lo || gap > hi {
			t.Errorf("retry %d after %v, want within [%v, %v]", i, gap, lo, hi)
		}
	}
}

func TestBackoffSequence(t *testing.T) {
	b := Backoff{}
	wantCeil := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i, w := range wantCeil {
		if got := b.Delay(i, 0); got != w {
			t.Errorf("attempt %d: ceiling %v, want %v", i, got, w)
		}
		if got := b.Delay(i, 0.999999); got < w/2 || got > w/2+time.Millisecond {
			t.Errorf("attempt %d: floor %v, want %v", i, got, w/2)
		}
	}
	if got := b.Delay(1000, 0); got != 8*time.Second {
		t.Errorf("attempt 1000: %v, want the cap", got)
	}
	capped := Backoff{Max: 30 * time.Second}
	if got := capped.Delay(20, 0); got != 30*time.Second {
		t.Errorf("a 30 s cap: %v", got)
	}
	// Jitter spreads a fleet: delays drawn for the same attempt differ.
	seen := map[time.Duration]bool{}
	for i := range 100 {
		seen[b.Delay(3, float64(i)/100)] = true
	}
	if len(seen) < 90 {
		t.Errorf("jitter produced only %d distinct delays of 100", len(seen))
	}
}

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	f := newFakeADS(t)
	rec := newRecorder()
	startClient(t, f.addr, rec, func(o *Options) { o.Registerer = reg })
	fs := f.accept(t)
	bootstrap(t, fs, rec, "1", web(t))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) < 3 {
		t.Errorf("only %d metric families", len(mfs))
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestOptionsRequired(t *testing.T) {
	for _, o := range []Options{{Node: "n", Apply: newRecorder().apply}, {Address: "a:1", Apply: newRecorder().apply}, {Address: "a:1", Node: "n"}} {
		if _, err := New(o); err == nil {
			t.Errorf("accepted %+v", o)
		}
	}
}
