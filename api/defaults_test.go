package api

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// TestDefaultsRoundTrip checks that the defaulted objects, printed as YAML
// (what `fulcrum validate -o yaml` shows), load back to the same objects:
// defaults are visible, and nothing the output shows is rejected.
func TestDefaultsRoundTrip(t *testing.T) {
	input := pool("web", "  frontend: {port: 8080, protocol: https, tls: {certificates: [{certFile: a.pem, keyFile: a.key}]}}\n  algorithm: ring_hash\n  healthCheck: {type: http}\n  stickySession: {cookie: S}\n  rateLimit: {requestsPerSecond: 2.5}\n") +
		pool("db", "  frontend: {port: 3306, protocol: tcp}\n  algorithm: maglev\n  healthCheck: {type: mysql, user: probe}\n") +
		pool("dns", "  frontend: {port: 53, protocol: udp}\n") +
		listenerHTTP + route("  backends: [{pool: web}]\n  redirect: null\n")
	first := mustLoad(t, input)
	var out strings.Builder
	for _, o := range first.Config.Objects() {
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString("---\n")
		out.Write(b)
	}
	second := mustLoad(t, out.String())
	if diff := cmp.Diff(first.Config.Objects(), second.Config.Objects()); diff != "" {
		t.Errorf("defaults do not round-trip (-first +second):\n%s", diff)
	}
	again := first.Config.DeepCopy()
	SetDefaults(again)
	if diff := cmp.Diff(first.Config.Objects(), again.Objects()); diff != "" {
		t.Errorf("SetDefaults is not idempotent:\n%s", diff)
	}
	p := first.Config.Pool("web")
	if p.Spec.RateLimit.Burst != 3 || p.Spec.RingHash.MinRingSize != DefaultMinRingSize || p.Spec.HashOn != "source_ip" {
		t.Errorf("pool defaults: %+v", p.Spec)
	}
	if first.Config.Pool("dns").Spec.Upstream != nil {
		t.Error("a UDP pool got an HTTP upstream")
	}
	if first.Config.Pool("db").Spec.Frontend.Limits.HeaderTimeout != 0 {
		t.Error("a TCP frontend got HTTP limits")
	}
}

func TestRedact(t *testing.T) {
	l := mustLoad(t, pool("db", "  healthCheck: {type: mysql, user: probe, password: s3cret}\n"))
	p := Redact(l.Config.Pools[0]).(*Pool)
	if p.Spec.HealthCheck.Password != Redacted {
		t.Errorf("password = %q", p.Spec.HealthCheck.Password)
	}
	if l.Config.Pools[0].Spec.HealthCheck.Password != "s3cret" {
		t.Error("Redact changed the original")
	}
}

func TestDurationFormat(t *testing.T) {
	for d, want := range map[Duration]string{Seconds(60): "1m", Seconds(3600): "1h", Seconds(5400): "1h30m", Seconds(0.25): "250ms", Seconds(90): "1m30s"} {
		if got := d.String(); got != want {
			t.Errorf("%v: got %q want %q", float64(d), got, want)
		}
	}
}
