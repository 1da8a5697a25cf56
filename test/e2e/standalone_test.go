package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/testutil"
)

// standalonePool is a pool with its own frontend, for `fulcrum proxy -f`.
func standalonePool(frontend string, members ...string) string {
	host, port, _ := strings.Cut(frontend, ":")
	y := fmt.Sprintf(`apiVersion: fulcrum/v1
kind: Pool
metadata: {name: web}
spec:
  frontend: {address: %s, port: %s, protocol: http}
  members:
`, host, port)
	for _, m := range members {
		y += fmt.Sprintf("  - {address: %q}\n", m)
	}
	return y
}

// writeAtomically replaces a file the way editors and config managers do.
func writeAtomically(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestStandaloneProxyReload is the README's tour of `fulcrum proxy -f`: a
// watched file is edited under constant load (a new member is served, no
// request fails, the process is the same), an invalid edit is refused with
// its field path while the proxy keeps serving, and SIGHUP reloads a proxy
// that does not watch its files.
func TestStandaloneProxyReload(t *testing.T) {
	t.Parallel()
	a, b, c := testutil.StartBackend(t, "a"), testutil.StartBackend(t, "b"), testutil.StartBackend(t, "c")
	dir := t.TempDir()

	// The watching proxy (default interval, 1s).
	front := addr(t)
	file := filepath.Join(dir, "web.yaml")
	writeAtomically(t, file, standalonePool(front, a.Addr))
	w := startProxy(t, "proxy-watch", "-f", file)
	w.WaitReady(20 * time.Second)
	url := "http://" + front + "/"
	if got := spread(t, url, 20); got["a"] != 20 {
		t.Fatalf("before any edit, 20 requests should all reach a: %v", got)
	}
	load := testutil.StartLoad(t, testutil.LoadOptions{URL: url, Rate: 100, Key: bodyKey})
	v1 := w.MustConfigDump().Version

	writeAtomically(t, file, standalonePool(front, a.Addr, b.Addr))
	took := eventually(t, 15*time.Second, "the watcher applies the new member", func() (bool, string) {
		cd := w.MustConfigDump()
		return cd.HasMember("web", b.Addr), "version " + cd.Version
	})
	t.Logf("edit applied %v after the write", took.Round(time.Millisecond))
	v2 := w.MustConfigDump().Version
	if v2 == v1 {
		t.Errorf("the version should change with the configuration: still %s", v2)
	}
	hitsB := b.Hits()
	eventually(t, 10*time.Second, "the new member gets traffic", func() (bool, string) {
		return b.Hits() > hitsB+10, fmt.Sprintf("b answered %d requests", b.Hits()-hitsB)
	})

	// An invalid edit: refused with its path, the running version stays.
	writeAtomically(t, file, standalonePool(front, a.Addr, b.Addr, "127.0.0.1:70000"))
	eventually(t, 15*time.Second, "the invalid edit is refused and shown in /config_dump", func() (bool, string) {
		cd := w.MustConfigDump()
		if cd.LastRejected == nil {
			return false, "no lastRejected"
		}
		return true, ""
	})
	cd := w.MustConfigDump()
	if !strings.Contains(cd.LastRejected.Error, "spec.members[2].address") || cd.Version != v2 {
		t.Errorf("want lastRejected naming spec.members[2].address and version %s in force; got version %s, lastRejected %+v", v2, cd.Version, *cd.LastRejected)
	}
	if !strings.Contains(w.Proc.Stderr(), "spec.members[2].address") {
		t.Errorf("the proxy should log the error with its path; stderr:\n%s", w.Proc.Tail(10))
	}
	hitsA, hitsB := a.Hits(), b.Hits()
	time.Sleep(time.Second)
	if a.Hits() == hitsA || b.Hits() == hitsB {
		t.Errorf("after the invalid edit both members should keep serving: a +%d, b +%d in 1s", a.Hits()-hitsA, b.Hits()-hitsB)
	}
	res := load.Stop()
	t.Logf("load through the reloads: %s", res)
	if res.Failed != 0 || res.OK == 0 {
		t.Errorf("no request may fail while the file is edited: %s", res)
	}
	if !w.Proc.Running() {
		t.Fatalf("the watching proxy exited: %s", w.Proc.Tail(20))
	}

	// A proxy that does not watch (--watch-interval 0) reloads on SIGHUP.
	front2 := addr(t)
	file2 := filepath.Join(dir, "hup.yaml")
	writeAtomically(t, file2, standalonePool(front2, a.Addr))
	h := startProxy(t, "proxy-hup", "-f", file2, "--watch-interval", "0")
	h.WaitReady(20 * time.Second)
	writeAtomically(t, file2, standalonePool(front2, a.Addr, c.Addr))
	time.Sleep(2 * time.Second)
	if h.MustConfigDump().HasMember("web", c.Addr) {
		t.Fatalf("with --watch-interval 0 the edit must wait for SIGHUP, but it was applied")
	}
	h.Proc.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "SIGHUP applies the edit", func() (bool, string) {
		cd := h.MustConfigDump()
		return cd.HasMember("web", c.Addr), "version " + cd.Version
	})
	if got := spread(t, "http://"+front2+"/", 40); got["a"] == 0 || got["c"] == 0 || got["a"]+got["c"] != 40 {
		t.Errorf("after SIGHUP, 40 requests should reach a and c: %v", got)
	}
}
