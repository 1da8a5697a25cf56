package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSlimDependencies enforces architecture rule 6: the data plane does not
// import the control plane, so the slim binary builds without the etcd
// server, Kubernetes client libraries or ACME.
func TestSlimDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps returned %d packages; the check would prove nothing", len(deps))
	}
	forbidden := []string{
		"go.etcd.io/etcd/server", "go.etcd.io/etcd/client", "k8s.io/client-go", "github.com/caddyserver/certmagic",
		"github.com/fulcrumlb/fulcrum/controlplane",
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if strings.HasPrefix(d, f) {
				t.Errorf("fulcrum-proxy depends on %s", d)
			}
		}
	}
}
