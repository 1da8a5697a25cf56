package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/testutil"
)

// outagePool is the pool of TestControlPlaneOutage: an allocated frontend
// (on the test's own VIP pool) and a health-checked set of members.
func outagePool(members ...*testutil.Backend) string {
	y := `apiVersion: fulcrum/v1
kind: Pool
metadata: {name: web}
spec:
  frontend: {protocol: http}
  healthCheck: {type: http, path: /healthz, interval: 1s, timeout: 500ms}
  members:
`
	for _, m := range members {
		y += fmt.Sprintf("  - {address: %q}\n", m.Addr)
	}
	return y
}

// TestControlPlaneOutage is T2 for one control plane: under constant load
// through two proxies, the control plane (with its embedded etcd) is
// SIGKILLed and kept down (30 s; 5 s with -short; FULCRUM_E2E_OUTAGE sets
// it). No request fails, the proxies keep their configuration version, and
// once the control plane is back a change reaches both proxies within 10 s.
func TestControlPlaneOutage(t *testing.T) {
	t.Parallel()
	outage := 30 * time.Second
	if testing.Short() {
		outage = 5 * time.Second
	}
	outage = envDuration(t, "FULCRUM_E2E_OUTAGE", outage)
	b1, b2, b3 := testutil.StartBackend(t, "b1"), testutil.StartBackend(t, "b2"), testutil.StartBackend(t, "b3")
	cp := startControl(t, cpOptions{DataDir: filepath.Join(t.TempDir(), "data"), VIPPool: "127.0.2.0/24"})
	cp.Apply(outagePool(b1, b2))
	p := cp.Pool("web")
	front := fmt.Sprintf("%s:%d", p.Status.Address, p.Status.Port)
	proxies := []*dataPlane{startFedProxy(t, "edge-a", cp.XDS), startFedProxy(t, "edge-b", cp.XDS)}
	proxies = servingProxies(t, cp, proxies, front, b1, b2)
	requests := func(d *dataPlane) uint64 {
		var n uint64
		for _, b := range []*testutil.Backend{b1, b2, b3} {
			_, _, r, _ := d.MustConfigDump().Member("web", b.Addr)
			n += r
		}
		return n
	}
	var servedBefore []uint64
	var versions []string
	for _, d := range proxies {
		servedBefore = append(servedBefore, requests(d))
		versions = append(versions, d.MustConfigDump().Version)
	}

	load := testutil.StartLoad(t, testutil.LoadOptions{URL: "http://" + front + "/", Rate: 200, NewConnections: true, Key: bodyKey})
	time.Sleep(2 * time.Second)

	// The outage.
	cp.Proc.Kill()
	t.Logf("control plane SIGKILLed; down for %v under %d req/s", outage, 200)
	holdOutage(t, proxies, versions, outage)
	if r := load.Result(); r.Failed != 0 {
		t.Errorf("requests failed during the outage: %s", r)
	}

	// The control plane returns (same data); a change reaches both proxies.
	restarted := time.Now()
	cp.Restart()
	back := time.Now()
	cp.Apply(outagePool(b1, b2, b3))
	eventually(t, 30*time.Second, "every proxy runs the change made after the restart", func() (bool, string) {
		views := cp.Proxies()
		var state []string
		done := true
		for _, d := range proxies {
			v := views[d.Node]
			cd, err := d.ConfigDump()
			state = append(state, fmt.Sprintf("%s: connected %v, acked %q, config %q, has b3 %v, %v", d.Node, v.Connected, v.AckedVersion, cd.Version, cd.HasMember("web", b3.Addr), err))
			done = done && err == nil && cd.HasMember("web", b3.Addr) && v.Connected && atLeast(v.AckedVersion, cd.Version)
		}
		return done, strings.Join(state, "; ")
	})
	sinceRestart, sinceBack := time.Since(restarted), time.Since(back)
	t.Logf("every proxy on the new configuration %v after the restart (%v after the API answered)",
		sinceRestart.Round(time.Millisecond), sinceBack.Round(time.Millisecond))
	if sinceBack > 10*time.Second {
		t.Errorf("the proxies caught up %v after the control plane's API answered again; want ≤ 10s", sinceBack.Round(time.Millisecond))
	}
	hits3 := b3.Hits()
	eventually(t, 15*time.Second, "the new member gets traffic", func() (bool, string) {
		return b3.Hits() > hits3+20, fmt.Sprintf("b3 answered %d requests", b3.Hits()-hits3)
	})

	res := load.Stop()
	t.Logf("load: %s", res)
	if res.Failed != 0 || res.OK < int(outage.Seconds())*200*8/10 {
		t.Errorf("no request may fail across the outage and the restart: %s", res)
	}
	for i, d := range proxies {
		n := requests(d) - servedBefore[i]
		t.Logf("%s served %d requests of the load", d.Node, n)
		if n == 0 {
			t.Errorf("%s served no request of the load", d.Node)
		}
	}
}

// servingProxies waits until every proxy runs the pool with both members
// healthy. Both must serve the frontend: two data planes on one host share
// its port (SO_REUSEPORT), as they would on separate hosts. One that cannot
// bind it says so in its NACK: the test fails, and goes on with the
// proxies that serve (returned).
func servingProxies(t *testing.T, cp *controlPlane, proxies []*dataPlane, front string, b1, b2 *testutil.Backend) []*dataPlane {
	t.Helper()
	refused := map[string]string{}
	eventually(t, 30*time.Second, "both proxies run the configuration with both members healthy", func() (bool, string) {
		views := cp.Proxies()
		var state []string
		done := true
		for _, d := range proxies {
			v := views[d.Node]
			if strings.Contains(v.NackError, "address already in use") {
				refused[d.Node] = v.NackError
				continue
			}
			cd, err := d.ConfigDump()
			_, h1, _, _ := cd.Member("web", b1.Addr)
			_, h2, _, _ := cd.Member("web", b2.Addr)
			state = append(state, fmt.Sprintf("%s: connected %v, acked %q, nack %q, config %q, b1 %s, b2 %s, %v",
				d.Node, v.Connected, v.AckedVersion, v.NackError, cd.Version, h1, h2, err))
			done = done && err == nil && h1 == "healthy" && h2 == "healthy" && v.AckedVersion != ""
		}
		return done, strings.Join(state, "; ")
	})
	for node, nack := range refused {
		t.Errorf("two proxies on one host cannot serve the same frontend %s: %s refused the configuration (%s); "+
			"the data plane binds frontends without SO_REUSEPORT. The outage is tested through the other proxy only.", front, node, nack)
		for i, d := range proxies {
			if d.Node == node {
				proxies = append(proxies[:i:i], proxies[i+1:]...)
				break
			}
		}
	}
	if len(proxies) == 0 {
		t.FailNow()
	}
	return proxies
}

// holdOutage checks every second, for the outage's length, that every
// proxy stays ready and keeps its configuration version.
func holdOutage(t *testing.T, proxies []*dataPlane, versions []string, outage time.Duration) {
	t.Helper()
	for end := time.Now().Add(outage); time.Now().Before(end); time.Sleep(time.Second) {
		for i, d := range proxies {
			cd, err := d.ConfigDump()
			if err != nil || cd.Version != versions[i] {
				t.Fatalf("during the outage %s should keep version %s; got %q (%v)\n%s", d.Node, versions[i], cd.Version, err, d.tail())
			}
			if code, _, err := fetch("http://" + d.Admin + "/ready"); code != http.StatusOK {
				t.Fatalf("during the outage %s should stay ready; /ready: %d %v", d.Node, code, err)
			}
		}
	}
}

// atLeast reports whether the version a control plane says a proxy
// acknowledged is the one it runs or a later one (versions are etcd
// revisions).
func atLeast(acked, running string) bool {
	a, err1 := strconv.ParseInt(acked, 10, 64)
	r, err2 := strconv.ParseInt(running, 10, 64)
	return err1 == nil && err2 == nil && a >= r
}
