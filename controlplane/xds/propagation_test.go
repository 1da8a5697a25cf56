package xds

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/testutil/xdstest"
	"github.com/fulcrumlb/fulcrum/translator"
)

// The propagation test runs 100 data planes in CI; B8 (1,000 data planes,
// p99 ≤ 1 s) is the same test with flags:
//
//	go test ./controlplane/xds -run TestPropagation -count=1 -v -args -xds.nodes=1000 -xds.p99=1s
var (
	propNodes   = flag.Int("xds.nodes", 100, "TestPropagation: simulated data planes")
	propChanges = flag.Int("xds.changes", 20, "TestPropagation: configuration changes")
	propP99     = flag.Duration("xds.p99", 10*time.Second, "TestPropagation: fail if the p99 of set→ACK exceeds this")
)

// propagationConfig is the configuration after change c: 20 pools with
// http frontends and 3 members each. An even change moves one member of
// one pool (endpoints only); an odd change adds a pool with its own http
// frontend (all four types, and new route and endpoint names that each
// client must request).
func propagationConfig(t testing.TB, c int) *translator.Resources {
	var b strings.Builder
	for p := range 20 {
		last := 30
		if c%2 == 0 && c > 0 && p == (c/2)%20 {
			last = 30 + c
		}
		b.WriteString(xdstest.Pool(fmt.Sprintf("pool-%02d", p), "http", 20000+p,
			fmt.Sprintf("10.0.%d.10:80", p), fmt.Sprintf("10.0.%d.20:80", p), fmt.Sprintf("10.0.%d.%d:80", p, last)))
	}
	for x := 1; x <= c; x += 2 {
		b.WriteString(xdstest.Pool(fmt.Sprintf("extra-%02d", x), "http", 21000+x, fmt.Sprintf("10.1.%d.10:80", x)))
	}
	return xdstest.Resources(t, b.String())
}

// TestPropagation measures, over many changes, the time from SetResources
// to each data plane's acknowledgement of the whole snapshot (B8), with
// real gRPC clients on loopback and an Apply that accepts at once.
func TestPropagation(t *testing.T) {
	n, changes := *propNodes, *propChanges
	if testing.Short() {
		n, changes = 20, 6
	}
	srv, addr := startServer(t, Options{}, "")
	if err := srv.SetResources("v0", propagationConfig(t, 0)); err != nil {
		t.Fatal(err)
	}
	nodes := make([]string, n)
	accept := func(string, *translator.Resources) error { return nil }
	for i := range nodes {
		nodes[i] = fmt.Sprintf("node-%04d", i)
		startClient(t, addr, nodes[i], fmt.Sprintf("zone-%d", i%3), accept, nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := srv.WaitForVersion(ctx, "v0", nodes...); err != nil {
		t.Fatal(err)
	}
	var all, eds, full []time.Duration
	for c := 1; c <= changes; c++ {
		res := propagationConfig(t, c)
		version := fmt.Sprintf("v%d", c)
		set := time.Now()
		if err := srv.SetResources(version, res); err != nil {
			t.Fatal(err)
		}
		if err := srv.WaitForVersion(ctx, version, nodes...); err != nil {
			t.Fatal(err)
		}
		for _, p := range srv.Proxies() {
			d := p.VersionAt.Sub(set)
			all = append(all, d)
			if c%2 == 0 {
				eds = append(eds, d)
			} else {
				full = append(full, d)
			}
		}
	}
	p50, p99, max := percentiles(all)
	t.Logf("B8 propagation, %d data planes, %d changes, GOMAXPROCS=%d: set→ACK p50 %v, p99 %v, max %v",
		n, changes, runtime.GOMAXPROCS(0), p50, p99, max)
	e50, e99, _ := percentiles(eds)
	f50, f99, _ := percentiles(full)
	t.Logf("  endpoint-only changes: p50 %v, p99 %v; new pool (all four types): p50 %v, p99 %v", e50, e99, f50, f99)
	if p99 > *propP99 {
		t.Errorf("p99 %v exceeds %v", p99, *propP99)
	}
}

func percentiles(d []time.Duration) (p50, p99, max time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) time.Duration { return s[int(q*float64(len(s)-1))].Round(100 * time.Microsecond) }
	return at(0.50), at(0.99), s[len(s)-1].Round(100 * time.Microsecond)
}
