package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/testutil"
)

// checkedPool is a pool without frontend (so that proxies on one host do
// not compete for a port) whose members the control plane checks.
func checkedPool(members ...*testutil.Backend) string {
	y := `apiVersion: fulcrum/v1
kind: Pool
metadata: {name: web}
spec:
  healthCheck: {type: http, path: /healthz, interval: 1s, timeout: 500ms}
  members:
`
	for _, m := range members {
		y += fmt.Sprintf("  - {address: %q}\n", m.Addr)
	}
	return y
}

// startEtcd starts one Debian etcd member (skipped without the binary,
// failed under FULCRUM_REQUIRE_PEERS=1).
func startEtcd(t *testing.T) *testutil.EtcdMember {
	t.Helper()
	return testutil.StartEtcdCluster(t, 1, "--heartbeat-interval=50", "--election-timeout=500").Members[0]
}

var healthTargetsRe = regexp.MustCompile(`(?m)^fulcrum_health_targets\{status="[a-z]+"\} ([0-9.e+]+)$`)

// healthTargets reads the control plane's fulcrum_health_targets series
// from /metrics on its API listener (viewer token). A replica's checker
// registers them when it wins the health leadership, so a replica that
// has never led exports none; the leader's add up to the targets it
// checks.
func (cp *controlPlane) healthTargets() (total float64, present bool, err error) {
	req, _ := http.NewRequest(http.MethodGet, cp.Server+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+cp.Token)
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode != http.StatusOK {
		return 0, false, fmt.Errorf("/metrics: %d %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if m := healthTargetsRe.FindStringSubmatch(sc.Text()); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			total += v
			present = true
		}
	}
	return total, present, nil
}

// lastCheck returns when the store says a member was last checked.
func lastCheck(m memberStatus) time.Time {
	t, _ := time.Parse(time.RFC3339, m.LastCheck)
	return t
}

// TestTwoReplicas runs two control planes on one etcd, a proxy on each:
// the proxies converge on the same configuration version with the same
// content, exactly one replica runs the health checks, and when it is
// SIGKILLed the other one takes over and sees a backend die.
func TestTwoReplicas(t *testing.T) {
	t.Parallel()
	etcd := startEtcd(t)
	m1, m2 := testutil.StartBackend(t, "m1"), testutil.StartBackend(t, "m2")
	a := startControl(t, cpOptions{Name: "cp-a", Etcd: etcd.ClientURL, Replica: "cp-a", VIPPool: "127.0.5.0/24"})
	b := startControl(t, cpOptions{Name: "cp-b", Etcd: etcd.ClientURL, Replica: "cp-b", VIPPool: "127.0.5.0/24", Token: a.Token})
	pa, pb := startFedProxy(t, "edge-a", a.XDS), startFedProxy(t, "edge-b", b.XDS)
	a.Apply(checkedPool(m1, m2))

	// Consistent snapshots: the same version means the same resources.
	eventually(t, 30*time.Second, "both proxies on the same version, same content, both members healthy", func() (bool, string) {
		ca, errA := pa.ConfigDump()
		cb, errB := pb.ConfigDump()
		_, h1, _, _ := ca.Member("web", m1.Addr)
		_, h2, _, _ := cb.Member("web", m2.Addr)
		same := errA == nil && errB == nil && ca.Version != "" && ca.Version == cb.Version && bytes.Equal(ca.Resources, cb.Resources)
		return same && h1 == "healthy" && h2 == "healthy", fmt.Sprintf("edge-a %q (%v), edge-b %q (%v), same resources %v, m1 on edge-a %s, m2 on edge-b %s",
			ca.Version, errA, cb.Version, errB, bytes.Equal(ca.Resources, cb.Resources), h1, h2)
	})
	for _, cp := range []*controlPlane{a, b} {
		eventually(t, 20*time.Second, cp.name+" lists both proxies", func() (bool, string) {
			v := cp.Proxies()
			ok := v["edge-a"].Connected && v["edge-a"].ControlPlane == "cp-a" && v["edge-b"].Connected && v["edge-b"].ControlPlane == "cp-b"
			return ok, fmt.Sprintf("%+v", v)
		})
	}

	// Exactly one replica checks: the other exports no checker metrics.
	var leader, follower *controlPlane
	eventually(t, 20*time.Second, "exactly one replica runs the health checks", func() (bool, string) {
		ta, okA, errA := a.healthTargets()
		tb, okB, errB := b.healthTargets()
		state := fmt.Sprintf("cp-a targets %v (exported %v, %v), cp-b targets %v (exported %v, %v)", ta, okA, errA, tb, okB, errB)
		switch {
		case ta == 2 && !okB:
			leader, follower = a, b
		case tb == 2 && !okA:
			leader, follower = b, a
		default:
			return false, state
		}
		return true, state
	})
	if !strings.Contains(leader.Proc.Stderr(), `msg="leading health checks" component=health replica=`+leader.name) ||
		strings.Contains(follower.Proc.Stderr(), `msg="leading health checks"`) {
		t.Errorf("the logs should agree that %s leads and %s does not", leader.name, follower.name)
	}
	t.Logf("%s leads the health checks", leader.name)
	survivor := map[*controlPlane]*dataPlane{a: pa, b: pb}[follower]

	// SIGKILL the leader: the other replica takes over.
	leader.Proc.Kill()
	killed := time.Now()
	took := eventually(t, 30*time.Second, follower.name+" checks the members after the leader's death", func() (bool, string) {
		n, _, err := follower.healthTargets()
		p := follower.Pool("web")
		c1, c2 := lastCheck(p.Member(m1.Addr)), lastCheck(p.Member(m2.Addr))
		return n == 2 && c1.After(killed) && c2.After(killed), fmt.Sprintf("targets %v (%v), last checks %v, %v", n, err, c1, c2)
	})
	t.Logf("%s took over the health checks %v after the leader was killed", follower.name, took.Round(time.Millisecond))
	if took > 15*time.Second {
		t.Errorf("the take-over took %v; want about 10s (5s lease + 5s flush)", took.Round(time.Millisecond))
	}
	if !strings.Contains(follower.Proc.Stderr(), `msg="leading health checks" component=health replica=`+follower.name) {
		t.Errorf("%s should log that it leads the health checks", follower.name)
	}

	m2.Close()
	eventually(t, 20*time.Second, "the new leader sees the stopped backend unhealthy, and so does its proxy", func() (bool, string) {
		out := follower.Must("describe", "pool", "web")
		row := tableRow(out, m2.Addr)
		_, h, _, _ := survivor.MustConfigDump().Member("web", m2.Addr)
		return len(row) > 9 && row[4] == "unhealthy" && h == "unhealthy", fmt.Sprintf("proxy: %s; describe:\n%s", h, out)
	})
}

// TestHealthChecksResumeAfterEtcdOutage is T2 for the health checks: etcd
// is SIGKILLed for longer than the health leader's lease (5 s) and
// restarted; the control plane, which lost its leadership with the lease,
// must win it again and check: a backend stopped afterwards is seen
// unhealthy.
func TestHealthChecksResumeAfterEtcdOutage(t *testing.T) {
	t.Parallel()
	etcd := startEtcd(t)
	m1, m2 := testutil.StartBackend(t, "m1"), testutil.StartBackend(t, "m2")
	cp := startControl(t, cpOptions{Etcd: etcd.ClientURL, Replica: "cp-solo", VIPPool: "127.0.6.0/24"})
	cp.Apply(checkedPool(m1, m2))
	eventually(t, 20*time.Second, "both members healthy", func() (bool, string) {
		p := cp.Pool("web")
		return p.Member(m1.Addr).Health == "healthy" && p.Member(m2.Addr).Health == "healthy", fmt.Sprintf("%+v", p.Status.Members)
	})

	etcd.Kill()
	time.Sleep(8 * time.Second)
	etcd.Start()
	etcd.WaitHealthy(30 * time.Second)
	eventually(t, 30*time.Second, "the control plane's API works again", func() (bool, string) {
		r := cp.CLI("get", "pools")
		return r.Code == 0, r.String()
	})
	restored := time.Now()

	m2.Close()
	eventually(t, 30*time.Second, "a backend stopped after the etcd outage is seen unhealthy", func() (bool, string) {
		p := cp.Pool("web")
		c := lastCheck(p.Member(m1.Addr))
		return p.Member(m2.Addr).Health == "unhealthy", fmt.Sprintf("members %+v; last check of m1 %v (etcd back at %v); control plane log:\n%s",
			p.Status.Members, c, restored.UTC().Format(time.RFC3339), cp.Proc.Tail(8))
	})
}
