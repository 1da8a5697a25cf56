// Package testutil holds helpers shared by Fulcrum's tests.
package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RequirePeers reports whether the environment demands that every external
// program a test needs be present (make test and CI set FULCRUM_REQUIRE_PEERS=1).
func RequirePeers() bool { return os.Getenv("FULCRUM_REQUIRE_PEERS") == "1" }

// RequireBinary returns the path of an external program a test needs. It
// searches PATH and then the sbin directories where Debian puts daemons. When
// the program is missing the test is skipped, unless RequirePeers is true, in
// which case it fails: CI must never pass by skipping the real peers.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	if RequirePeers() {
		t.Fatalf("%s is not installed; `make test` installs it (FULCRUM_REQUIRE_PEERS=1)", name)
	}
	t.Skipf("%s is not installed; skipping (run `make test` to install it)", name)
	return ""
}
