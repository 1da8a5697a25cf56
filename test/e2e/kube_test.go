package e2e

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/testutil"
)

// kubeObjects is a Service and its Endpoints as `kubectl get -o yaml`
// prints them (fields Fulcrum does not read included): a NodePort Service
// (Kubernetes allocated its nodePort, 31080) and one subset per backend.
func kubeObjects(backends ...*testutil.Backend) string {
	y := `apiVersion: v1
kind: Service
metadata:
  name: shop
  namespace: default
  uid: 9c1f0b7e-3a51-4a44-9d1e-5c0e9d6f2a10
  resourceVersion: "48213"
  creationTimestamp: "2026-05-01T10:00:00Z"
  labels: {app: shop}
spec:
  type: NodePort
  clusterIP: 10.96.41.7
  clusterIPs: [10.96.41.7]
  selector: {app: shop}
  sessionAffinity: None
  externalTrafficPolicy: Cluster
  ports:
  - {name: http, protocol: TCP, appProtocol: http, port: 80, targetPort: 8080, nodePort: 31080}
status:
  loadBalancer: {}
---
apiVersion: v1
kind: Endpoints
metadata:
  name: shop
  namespace: default
  annotations: {healthCheckType: http, healthCheckPath: /healthz}
  labels: {app: shop}
subsets:
`
	for _, b := range backends {
		_, port, _ := strings.Cut(b.Addr, ":")
		y += fmt.Sprintf("- addresses: [{ip: 127.0.0.1, nodeName: node-1}]\n  ports: [{name: http, port: %s, protocol: TCP}]\n", port)
	}
	return y
}

// TestKubernetesServiceEndpoints: a Kubernetes Service + Endpoints pair,
// applied with the CLI, becomes a pool on a VIP of the default VIP pool
// (127.0.1.0/24) with the Service's node port (31080, in 30000-32767),
// checked the way the Endpoints' annotation says; traffic through the VIP
// reaches only the endpoints that pass the check.
func TestKubernetesServiceEndpoints(t *testing.T) {
	t.Parallel()
	// The only test on the default VIP pool: the others use pools of their own.
	cp := startControl(t, cpOptions{})
	proxy := startFedProxy(t, "edge-k8s", cp.XDS)
	ok1, ok2, sick := testutil.StartBackend(t, "ok1"), testutil.StartBackend(t, "ok2"), testutil.StartBackend(t, "sick")
	sick.SetHealth(http.StatusInternalServerError)

	out := cp.Apply(kubeObjects(ok1, ok2, sick))
	if !strings.Contains(out, "Pool/shop created") {
		t.Fatalf("apply of Service + Endpoints: want Pool/shop created; got\n%s", out)
	}
	p := cp.Pool("shop")
	vip, err := netip.ParseAddr(p.Status.Address)
	if err != nil || !netip.MustParsePrefix("127.0.1.0/24").Contains(vip) || p.Status.Port != 31080 {
		t.Fatalf("pool shop: want a VIP from 127.0.1.0/24 and the node port 31080; got %q port %d", p.Status.Address, p.Status.Port)
	}
	front := fmt.Sprintf("%s:%d", vip, p.Status.Port)
	if row := tableRow(cp.Must("get", "pools"), "shop"); len(row) < 5 || row[1] != "http" || row[2] != front || row[4] != "3" {
		t.Errorf("get pools: want shop, http %s, 3 members; got %q", front, row)
	}

	// The control plane's checks: two healthy, one unhealthy with a reason.
	eventually(t, 30*time.Second, "describe shows the health of every endpoint", func() (bool, string) {
		out := cp.Must("describe", "pool", "shop")
		r1, r2, r3 := tableRow(out, ok1.Addr), tableRow(out, ok2.Addr), tableRow(out, sick.Addr)
		done := len(r1) > 9 && len(r2) > 9 && len(r3) > 9 && r1[4] == "healthy" && r2[4] == "healthy" && r3[4] == "unhealthy"
		return done, out
	})
	out = cp.Must("describe", "pool", "shop")
	t.Logf("describe pool shop:\n%s", out)
	for _, want := range []string{"Frontend:      http " + front, "Health check:  http GET /healthz"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe pool shop: want %q in\n%s", want, out)
		}
	}
	if reason := cp.Pool("shop").Member(sick.Addr).Reason; !strings.Contains(reason, "500") {
		t.Errorf("the unhealthy endpoint's reason should name the status 500; got %q\n%s", reason, out)
	}
	if !strings.Contains(out, "500") {
		t.Errorf("describe should show the unhealthy endpoint's reason:\n%s", out)
	}

	// The data plane: serves the VIP once it has the health, and never
	// sends a request to the unhealthy endpoint.
	proxy.WaitReady(30 * time.Second)
	eventually(t, 30*time.Second, "the data plane has the control plane's health", func() (bool, string) {
		cd := proxy.MustConfigDump()
		_, h1, _, _ := cd.Member("shop", ok1.Addr)
		_, h2, _, _ := cd.Member("shop", ok2.Addr)
		_, h3, _, _ := cd.Member("shop", sick.Addr)
		return h1 == "healthy" && h2 == "healthy" && h3 == "unhealthy", fmt.Sprintf("ok1 %s, ok2 %s, sick %s", h1, h2, h3)
	})
	before := [3]int64{ok1.Hits(), ok2.Hits(), sick.Hits()}
	got := spread(t, "http://"+front+"/", 60)
	t.Logf("60 requests through %s: %v", front, got)
	if sick.Hits() != before[2] || got["sick"] != 0 {
		t.Errorf("the unhealthy endpoint got %d requests; want 0", sick.Hits()-before[2])
	}
	if ok1.Hits()-before[0] == 0 || ok2.Hits()-before[1] == 0 || got["ok1"]+got["ok2"] != 60 {
		t.Errorf("both healthy endpoints should share the 60 requests: %v", got)
	}
}
