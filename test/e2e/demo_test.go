package e2e

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The demo's fixed addresses (internal/cli/servecmd/demo.go).
const demoURL = "http://127.0.0.1:8080/"

var demoMembers = []string{"127.0.0.1:9081", "127.0.0.1:9082", "127.0.0.1:9083"}

// demoBackendRe finds the backend's address in a demo answer:
// "hello from demo-1 (127.0.0.1:9081), you asked for /".
var demoBackendRe = regexp.MustCompile(`^hello from demo-\d \((127\.0\.0\.1:\d+)\)`)

// TestServeDemo is the README's first command, end to end: `fulcrum serve
// --demo`, traffic through the demo pool, the client commands, a drain, its
// history and rollback, a clean stop and a restart on the same data.
//
// It binds the demo's fixed ports, so it does not run in parallel.
func TestServeDemo(t *testing.T) {
	for _, a := range append([]string{"127.0.0.1:8080"}, demoMembers...) {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("the demo needs %s, which is in use by another process: %v", a, err)
		}
		ln.Close()
	}
	admin := addr(t)
	cp := startControl(t, cpOptions{Name: "serve", Serve: true, Admin: admin, Extra: []string{"--demo", "--node", "demo-node"}})
	cp.Proc.WaitStdout(regexp.MustCompile(`Demo pool: curl http://127\.0\.0\.1:8080/`), 10*time.Second)
	local := &dataPlane{t: t, Node: "demo-node", Admin: admin}
	local.WaitReady(30 * time.Second)
	waitDemoHealthy(t, cp, local)

	seen := demoSpread(t, 60)
	t.Logf("60 requests: %v", seen)
	for _, m := range demoMembers {
		if seen[m] == 0 {
			t.Errorf("60 requests through %s never reached %s: %v", demoURL, m, seen)
		}
	}

	out := cp.Must("get", "pools")
	if row := tableRow(out, "demo"); len(row) < 6 || row[1] != "http" || row[2] != "127.0.0.1:8080" || row[4] != "3" || row[5] != "3" {
		t.Errorf("get pools: want demo, http 127.0.0.1:8080, 3 members, 3 healthy; got row %q in\n%s", row, out)
	}
	out = cp.Must("describe", "pool", "demo")
	for _, m := range demoMembers {
		if row := tableRow(out, m); len(row) < 5 || row[1] != "enabled" || row[4] != "healthy" {
			t.Errorf("describe pool demo: member %s should be enabled and healthy; row %q in\n%s", m, row, out)
		}
	}

	demoDrainAndRollback(t, cp, local)

	// SIGTERM: a clean exit, quickly.
	began := time.Now()
	cp.Proc.Signal(syscall.SIGTERM)
	code, err := cp.Proc.Wait(10 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("SIGTERM: want exit 0 within 10s; got code %d, %v\n%s", code, err, cp.Proc.Tail(30))
	}
	t.Logf("fulcrum serve stopped %v after SIGTERM", time.Since(began).Round(time.Millisecond))

	// Restart on the same data: no new token, the old one works, the pool
	// is as we left it and serves.
	cp.Restart()
	cp.Proc.WaitStdout(regexp.MustCompile(`Demo pool: curl`), 10*time.Second)
	local.WaitReady(30 * time.Second)
	if p := cp.Pool("demo"); p.Metadata.Revision != 3 || p.Metadata.UpdatedBy != "admin" {
		t.Errorf("after the restart, pool demo should be at revision 3 by admin; got %d by %q", p.Metadata.Revision, p.Metadata.UpdatedBy)
	}
	waitDemoHealthy(t, cp, local)
	if seen = demoSpread(t, 60); len(seen) != 3 {
		t.Errorf("after the restart, 60 requests should reach the three demo backends: %v", seen)
	}
}

// demoDrainAndRollback drains 127.0.0.1:9081 (then no new request reaches
// it), finds the drain in the history under the admin token's name, and
// rolls the pool back to revision 1 (then it gets traffic again).
func demoDrainAndRollback(t *testing.T, cp *controlPlane, local *dataPlane) {
	t.Helper()
	out := cp.Must("member", "drain", "demo", "127.0.0.1:9081")
	if !strings.Contains(out, "+    state: drain") || !strings.Contains(out, "revision 2: 1 updated") {
		t.Errorf("member drain: want the diff and revision 2; got\n%s", out)
	}
	eventually(t, 15*time.Second, "the data plane drains 127.0.0.1:9081", func() (bool, string) {
		state, _, _, _ := local.MustConfigDump().Member("demo", "127.0.0.1:9081")
		return state == "draining", "state " + state
	})
	_, _, before, _ := local.MustConfigDump().Member("demo", "127.0.0.1:9081")
	seen := demoSpread(t, 60)
	_, _, after, _ := local.MustConfigDump().Member("demo", "127.0.0.1:9081")
	t.Logf("after the drain: %v", seen)
	if seen["127.0.0.1:9081"] != 0 || after != before {
		t.Errorf("after the drain, 60 requests: by backend %v, and the drained member's request count went %d → %d; want none", seen, before, after)
	}
	if seen["127.0.0.1:9082"] == 0 || seen["127.0.0.1:9083"] == 0 {
		t.Errorf("after the drain, 60 requests should reach both other members: %v", seen)
	}

	out = cp.Must("history")
	if row := tableRow(out, "2"); len(row) < 4 || row[2] != "admin" || row[3] != "member-state" {
		t.Errorf("history: revision 2 should be the drain by admin (the bootstrap token's name); row %q in\n%s", row, out)
	}

	// Roll back to revision 1: the member is enabled again and gets traffic.
	out = cp.Must("rollback", "Pool/demo", "--to", "1")
	if !strings.Contains(out, "+    state: enabled") || !strings.Contains(out, "revision 3: 1 updated") {
		t.Errorf("rollback --to 1: want the diff and revision 3; got\n%s", out)
	}
	eventually(t, 15*time.Second, "the data plane enables 127.0.0.1:9081 again", func() (bool, string) {
		state, _, _, _ := local.MustConfigDump().Member("demo", "127.0.0.1:9081")
		return state == "enabled", "state " + state
	})
	if seen = demoSpread(t, 60); seen["127.0.0.1:9081"] == 0 {
		t.Errorf("after the rollback, 60 requests never reached 127.0.0.1:9081: %v", seen)
	}
	out = cp.Must("history", "Pool/demo")
	if row := tableRow(out, "3"); len(row) < 6 || row[2] != "admin" || row[3] != "rollback" || row[5] != "1" {
		t.Errorf("history Pool/demo: revision 3 should be admin's rollback to 1; row %q in\n%s", row, out)
	}
}

// waitDemoHealthy waits until the control plane and the data plane both
// see the three demo members healthy.
func waitDemoHealthy(t *testing.T, cp *controlPlane, local *dataPlane) {
	t.Helper()
	eventually(t, 30*time.Second, "the three demo members healthy in the store and the data plane", func() (bool, string) {
		p := cp.Pool("demo")
		cd := local.MustConfigDump()
		var state []string
		ok := true
		for _, m := range demoMembers {
			_, h, _, _ := cd.Member("demo", m)
			st := p.Member(m).Health
			state = append(state, fmt.Sprintf("%s store=%s proxy=%s", m, st, h))
			ok = ok && st == "healthy" && h == "healthy"
		}
		return ok, strings.Join(state, "; ")
	})
}

// demoSpread sends n requests through the demo pool and counts them by the
// backend that answered.
func demoSpread(t *testing.T, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for body, count := range spread(t, demoURL, n) {
		m := demoBackendRe.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("unexpected answer through the demo pool: %q", body)
		}
		out[m[1]] += count
	}
	return out
}

// tableRow returns the fields of the first line of a table whose first
// field is key, or nil.
func tableRow(table, key string) []string {
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == key {
			return f
		}
	}
	return nil
}
