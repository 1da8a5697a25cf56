package api

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const kubeService = `apiVersion: v1
kind: Service
metadata:
  name: shop
  namespace: default
  uid: 7d1e
  creationTimestamp: 2026-01-02T03:04:05Z
spec:
  type: NodePort
  clusterIP: 10.96.0.10
  sessionAffinity: None
  ports:
  - {name: http, port: 80, nodePort: 30080, targetPort: http, protocol: TCP}
`

const kubeEndpoints = `apiVersion: v1
kind: Endpoints
metadata:
  name: shop
  annotations: {healthCheckType: http, healthCheckPath: /ready}
subsets:
- addresses: [{ip: 10.0.0.1}, {ip: 10.0.0.2, nodeName: n2}]
  notReadyAddresses: [{ip: 10.0.0.3}]
  ports: [{name: http, port: 8080, protocol: TCP}]
`

func TestKubernetesPairBecomesPool(t *testing.T) {
	l := mustLoad(t, kubeService+"---\n"+kubeEndpoints)
	if len(l.Config.Pools) != 1 {
		t.Fatalf("got %d pools", len(l.Config.Pools))
	}
	p := l.Config.Pools[0]
	if p.Metadata.Name != "shop" {
		t.Errorf("name = %q", p.Metadata.Name)
	}
	if fe := p.Spec.Frontend; fe.Port != 30080 || fe.Protocol != ProtocolTCP || fe.Address != "" {
		t.Errorf("frontend = %+v; want nodePort 30080, tcp, address to allocate", fe)
	}
	var addrs []string
	for _, m := range p.Spec.Members {
		addrs = append(addrs, m.Address)
	}
	if want := []string{"10.0.0.1:8080", "10.0.0.2:8080"}; !cmp.Equal(addrs, want) {
		t.Errorf("members = %v; want %v (not-ready addresses left out)", addrs, want)
	}
	if hc := p.Spec.HealthCheck; hc.Type != CheckHTTP || hc.Path != "/ready" {
		t.Errorf("health check = %+v", hc)
	}
}

func TestKubernetesMultiPort(t *testing.T) {
	svc := strings.Replace(kubeService, "  - {name: http, port: 80, nodePort: 30080, targetPort: http, protocol: TCP}\n",
		"  - {name: http, port: 80}\n  - {name: dns, port: 53, protocol: UDP}\n", 1)
	eps := strings.Replace(kubeEndpoints, "ports: [{name: http, port: 8080, protocol: TCP}]",
		"ports: [{name: http, port: 8080}, {name: dns, port: 5353, protocol: UDP}]", 1)
	l := mustLoad(t, svc+"---\n"+eps)
	if len(l.Config.Pools) != 2 {
		t.Fatalf("got %d pools", len(l.Config.Pools))
	}
	dns := l.Config.Pool("shop-dns")
	if dns == nil || dns.Spec.Frontend.Protocol != ProtocolUDP || dns.Spec.Members[0].Address != "10.0.0.1:5353" {
		t.Errorf("shop-dns = %+v", dns)
	}
}

func TestKubernetesMissingHalf(t *testing.T) {
	_, errs := load(t, kubeService)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `Service/shop: Endpoints "shop" is missing`) {
		t.Errorf("service alone: %v", errs)
	}
	_, errs = load(t, kubeEndpoints)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `Endpoints/shop: Service "shop" is missing`) {
		t.Errorf("endpoints alone: %v", errs)
	}
}

func TestKubernetesBadAnnotation(t *testing.T) {
	_, errs := load(t, kubeService+"---\n"+strings.Replace(kubeEndpoints, "healthCheckType: http", "healthCheckType: icmp", 1))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `Endpoints/shop: metadata.annotations.healthCheckType: "icmp" is not a health-check type`) {
		t.Errorf("got %v", errs)
	}
}

func TestKubernetesTypeErrorsStillChecked(t *testing.T) {
	// Unknown Kubernetes fields are fine, wrong types of the fields Fulcrum reads are not.
	_, errs := load(t, strings.Replace(kubeService, "port: 80,", "port: eighty,", 1)+"---\n"+kubeEndpoints)
	if len(errs) == 0 || !strings.Contains(errs.Error(), "spec.ports[0].port: must be an integer") {
		t.Errorf("got %v", errs)
	}
}
