package xds

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"

	"github.com/fulcrumlb/fulcrum/internal/xdsproto"
)

// cacheSnapshot publishes the propagation configuration after change c.
func cacheSnapshot(t *testing.T, prev *snapInfo, c int) (*snapInfo, *published) {
	t.Helper()
	info, pub, err := buildSnapshot(prev, fmt.Sprintf("v%d", c), propagationConfig(t, c))
	if err != nil || info == nil {
		t.Fatalf("snapshot %d: %v", c, err)
	}
	return info, pub
}

// watchFor opens a watch as go-control-plane's ADS loop does, with a
// subscription that remembers what an earlier response returned.
func watchFor(t *testing.T, c *sharedCache, kind xdsproto.Kind, version string, names []string, returned map[string]string) (chan cachev3.Response, func()) {
	t.Helper()
	req := &discoveryv3.DiscoveryRequest{TypeUrl: kind.TypeURL(), VersionInfo: version, ResourceNames: names}
	sub := streamv3.NewSotwSubscription(names, true)
	sub.SetReturnedResources(returned)
	ch := make(chan cachev3.Response, 8)
	cancel, err := c.CreateWatch(req, &sub, ch)
	if err != nil {
		t.Fatal(err)
	}
	return ch, cancel
}

func received(ch chan cachev3.Response) cachev3.Response {
	select {
	case r := <-ch:
		return r
	default:
		return nil
	}
}

func names(t *testing.T, r cachev3.Response) []string {
	t.Helper()
	var out []string
	for n := range r.GetReturnedResources() {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// TestCacheRules: the answering rules of go-control-plane's ADS snapshot
// cache, kept by the shared cache.
func TestCacheRules(t *testing.T) {
	c := newSharedCache(context.Background())
	// Before the first snapshot every request waits.
	cds, _ := watchFor(t, c, xdsproto.Clusters, "", nil, nil)
	if r := received(cds); r != nil {
		t.Fatalf("answered before any snapshot: %v", r)
	}
	info1, pub1 := cacheSnapshot(t, nil, 0)
	c.SetSnapshot(pub1)
	r := received(cds)
	if r == nil || r.GetResponseVersion() != info1.kinds[xdsproto.Clusters].version || len(names(t, r)) != 20 {
		t.Fatalf("waiting wildcard watch: %v", r)
	}
	edsNames := names(t, r) // EDS names are the cluster names here
	edsVersion := info1.kinds[xdsproto.Endpoints].version

	// A request that names only some of the endpoint sets is held (ADS
	// consistency); one that names them all is answered at once.
	partial, _ := watchFor(t, c, xdsproto.Endpoints, "", edsNames[:5], nil)
	if r := received(partial); r != nil {
		t.Errorf("a request for 5 of 20 endpoint sets was answered")
	}
	full, _ := watchFor(t, c, xdsproto.Endpoints, "", edsNames, nil)
	r = received(full)
	if r == nil || len(names(t, r)) != 20 {
		t.Fatalf("full EDS request: %v", r)
	}
	returned := r.GetReturnedResources()

	// An ACK of the version in force waits; so does the held request
	// when a snapshot leaves endpoints unchanged.
	acked, cancelAcked := watchFor(t, c, xdsproto.Endpoints, edsVersion, edsNames, returned)
	info2, pub2 := cacheSnapshot(t, info1, 1) // a new pool: new endpoint set too
	_, pub3 := cacheSnapshot(t, info2, 2)     // moves a member
	if r := received(acked); r != nil {
		t.Fatalf("an ACK of the version in force was answered: %v", r)
	}
	// The cancelled watch gets nothing, even from the snapshot that
	// changes what it asked for.
	cancelAcked()
	c.SetSnapshot(pub2)
	if r := received(acked); r != nil {
		t.Errorf("a cancelled watch was answered: %v", r)
	}
	// After snapshot 2 (a new endpoint set) the 20-name request is not a
	// superset any more: it waits until the client asks for all 21.
	stale, _ := watchFor(t, c, xdsproto.Endpoints, edsVersion, edsNames, returned)
	if r := received(stale); r != nil {
		t.Errorf("a request missing the new endpoint set was answered: %v", r)
	}
	all21 := append(slices.Clone(edsNames), "extra-01")
	fresh, _ := watchFor(t, c, xdsproto.Endpoints, edsVersion, all21, returned)
	r = received(fresh)
	if r == nil || len(names(t, r)) != 21 || r.GetReturnedResources()["extra-01"] == "" {
		t.Fatalf("request for all 21 endpoint sets: %v", r)
	}
	// A version-equal request that subscribes to a name never sent is
	// answered at once.
	newName, _ := watchFor(t, c, xdsproto.Endpoints, r.GetResponseVersion(), all21, returned)
	if r := received(newName); r == nil {
		t.Error("a request adding a subscribed name was not answered")
	}
	// A watch held for the current version is answered by the next
	// snapshot that changes its type.
	waiting, _ := watchFor(t, c, xdsproto.Endpoints, r.GetResponseVersion(), all21, r.GetReturnedResources())
	if r := received(waiting); r != nil {
		t.Fatalf("answered early: %v", r)
	}
	c.SetSnapshot(pub3)
	if r := received(waiting); r == nil {
		t.Error("the next endpoint change did not answer the held watch")
	}
	// A snapshot may take a watch out of the registry just before the
	// stream cancels it; the delivery that follows must not reach the
	// stream, which has already moved on to its next request.
	w := &watch{kind: xdsproto.Endpoints, out: make(chan cachev3.Response, 1)}
	c.cancel(w)
	w.deliver(context.Background(), r)
	if len(w.out) != 0 {
		t.Error("a delivery after cancel reached the stream")
	}
	// Types Fulcrum does not serve are never answered.
	other := make(chan cachev3.Response, 1)
	if _, err := c.CreateWatch(&discoveryv3.DiscoveryRequest{TypeUrl: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"}, nil, other); err != nil || received(other) != nil {
		t.Errorf("a secret request: %v", err)
	}
}

// TestCacheResponsesShareResources: every answer from one snapshot carries
// the same serialized resources, in a message of its own.
func TestCacheResponsesShareResources(t *testing.T) {
	c := newSharedCache(context.Background())
	_, pub := cacheSnapshot(t, nil, 0)
	c.SetSnapshot(pub)
	a, _ := watchFor(t, c, xdsproto.Listeners, "", nil, nil)
	b, _ := watchFor(t, c, xdsproto.Listeners, "", nil, nil)
	ma, _ := received(a).GetDiscoveryResponse()
	mb, _ := received(b).GetDiscoveryResponse()
	if ma == mb || len(ma.Resources) != 20 || ma.Resources[0] != mb.Resources[0] {
		t.Fatalf("responses: %p %p, %d resources", ma, mb, len(ma.Resources))
	}
	if ma.TypeUrl != xdsproto.Listeners.TypeURL() || ma.Resources[0].TypeUrl != xdsproto.Listeners.TypeURL() {
		t.Errorf("type URLs %s / %s", ma.TypeUrl, ma.Resources[0].TypeUrl)
	}
}

// TestCacheConcurrentWatches races watches, cancels and snapshots (run
// with -race): every watch not cancelled is answered exactly once, by the
// first snapshot after its version, and a cancelled one at most once.
func TestCacheConcurrentWatches(t *testing.T) {
	c := newSharedCache(context.Background())
	info, pub := cacheSnapshot(t, nil, 0)
	c.SetSnapshot(pub)
	first, known := info.kinds[xdsproto.Clusters].version, pub.kinds[xdsproto.Clusters].returned
	type opened struct {
		ch        chan cachev3.Response
		cancelled bool
	}
	var mu sync.Mutex
	var all []opened
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				ch, cancel := watchFor(t, c, xdsproto.Clusters, first, nil, known)
				o := opened{ch: ch, cancelled: (g+i)%3 == 0}
				if o.cancelled {
					cancel()
				}
				mu.Lock()
				all = append(all, o)
				mu.Unlock()
			}
		}()
	}
	// Odd changes add a cluster, even ones only move endpoints; the
	// last change that touches clusters answers every watch still open.
	for ch := 1; ch <= 21; ch++ {
		info, pub = cacheSnapshot(t, info, ch)
		c.SetSnapshot(pub)
	}
	wg.Wait()
	for i, o := range all {
		n := len(o.ch)
		if n > 1 || (n == 0 && !o.cancelled) {
			t.Fatalf("watch %d (cancelled %v): %d answers", i, o.cancelled, n)
		}
		if n == 1 && (<-o.ch).GetResponseVersion() == first {
			t.Fatalf("watch %d answered with the version it had", i)
		}
	}
}
