package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/testutil"
)

// TestCleanShutdown: SIGTERM stops a proxy and a control plane (with its
// embedded etcd) with exit 0 within a few seconds, and a clean stop logs
// no error: operators alert on ERROR lines.
func TestCleanShutdown(t *testing.T) {
	t.Parallel()
	b := testutil.StartBackend(t, "b")
	cp := startControl(t, cpOptions{VIPPool: "127.0.7.0/24"})
	cp.Apply(checkedPool(b))
	proxy := startFedProxy(t, "edge-stop", cp.XDS)
	proxy.WaitReady(30 * time.Second)
	eventually(t, 20*time.Second, "the member is checked", func() (bool, string) {
		m := cp.Pool("web").Member(b.Addr)
		return m.Health == "healthy", m.Health
	})
	for _, p := range []*testutil.Process{proxy.Proc, cp.Proc} {
		began := time.Now()
		p.Signal(syscall.SIGTERM)
		code, err := p.Wait(10 * time.Second)
		if err != nil || code != 0 {
			t.Fatalf("%s: SIGTERM should end it with exit 0 within 10s; got %d, %v\n%s", p.Name(), code, err, p.Tail(20))
		}
		t.Logf("%s stopped %v after SIGTERM", p.Name(), time.Since(began).Round(time.Millisecond))
		log := p.Stderr()
		i := strings.Index(log, `msg="shutting down`)
		if i < 0 {
			t.Errorf("%s: no \"shutting down\" line in its log:\n%s", p.Name(), p.Tail(20))
			continue
		}
		for _, line := range strings.Split(log[i:], "\n") {
			if strings.Contains(line, "level=ERROR") {
				t.Errorf("%s logged an error while stopping cleanly: %s", p.Name(), line)
			}
		}
	}
}
