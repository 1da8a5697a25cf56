package ipam

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func small() Options {
	return Options{VIPs: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/30")}, Ports: PortRange{First: 100, Last: 102}}
}

func mustPlan(t *testing.T, opts Options, prev map[string]Allocation, wants ...Want) map[string]Allocation {
	t.Helper()
	out, errs := Plan(opts, prev, wants)
	if errs != nil {
		t.Fatalf("Plan: %v", errs)
	}
	return out
}

func TestDefaults(t *testing.T) {
	o := Options{}.WithDefaults()
	if o.VIPs[0].String() != "127.0.1.0/24" || o.Ports != (PortRange{30000, 32767}) {
		t.Fatalf("defaults = %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Options{Ports: PortRange{5, 4}}).Validate(); err == nil {
		t.Fatal("reversed range accepted")
	}
	if TransportOf("udp") != UDP || TransportOf("https") != TCP {
		t.Fatal("TransportOf")
	}
}

func TestDedicatedVIPsAndLowestPorts(t *testing.T) {
	out := mustPlan(t, Options{}, nil,
		Want{Owner: "Pool/b", Transport: TCP},
		Want{Owner: "Pool/a", Transport: TCP},
		Want{Owner: "Listener/c", Port: 443, Transport: TCP},
	)
	want := map[string]Allocation{
		"Listener/c": {Owner: "Listener/c", Address: "127.0.1.1", Port: 443, Transport: TCP, AddressAllocated: true},
		"Pool/a":     {Owner: "Pool/a", Address: "127.0.1.2", Port: 30000, Transport: TCP, AddressAllocated: true, PortAllocated: true},
		"Pool/b":     {Owner: "Pool/b", Address: "127.0.1.3", Port: 30000, Transport: TCP, AddressAllocated: true, PortAllocated: true},
	}
	if d := cmp.Diff(want, out); d != "" {
		t.Fatalf("allocations (-want +got):\n%s", d)
	}
}

func TestExplicitClaimsAreRecordedAndAvoided(t *testing.T) {
	out := mustPlan(t, Options{}, nil,
		Want{Owner: "Pool/a", Address: "127.0.1.1", Port: 30000, Transport: TCP},
		Want{Owner: "Pool/b", Address: "127.0.1.1", Transport: TCP},
		Want{Owner: "Pool/c", Address: "127.0.1.1", Transport: UDP},
		Want{Owner: "Pool/d", Transport: TCP},
	)
	if a := out["Pool/a"]; a.AddressAllocated || a.PortAllocated {
		t.Errorf("explicit claim marked allocated: %+v", a)
	}
	if p := out["Pool/b"].Port; p != 30001 {
		t.Errorf("Pool/b port = %d, want 30001 (30000 is taken explicitly)", p)
	}
	if p := out["Pool/c"].Port; p != 30000 {
		t.Errorf("Pool/c (udp) port = %d, want 30000: udp is its own space", p)
	}
	if a := out["Pool/d"].Address; a != "127.0.1.2" {
		t.Errorf("Pool/d address = %s, want the first unused VIP 127.0.1.2", a)
	}
}

func TestWildcardBlocksEveryAddress(t *testing.T) {
	out := mustPlan(t, Options{}, nil,
		Want{Owner: "Listener/any", Address: "0.0.0.0", Port: 30000, Transport: TCP},
		Want{Owner: "Pool/a", Transport: TCP},
	)
	if p := out["Pool/a"].Port; p != 30001 {
		t.Fatalf("port = %d, want 30001: 0.0.0.0:30000 covers every IPv4 address", p)
	}
	_, errs := Plan(Options{}, out, []Want{
		{Owner: "Listener/any", Address: "0.0.0.0", Port: 30000, Transport: TCP},
		{Owner: "Pool/a", Transport: TCP},
		{Owner: "Pool/b", Path: "spec", Address: "127.0.1.1", Port: 30001, Transport: TCP},
	})
	if len(errs) != 1 || errs[0].Ref != "Pool/b" || errs[0].Path != "spec.port" {
		t.Fatalf("errors = %v", errs)
	}
}

func TestIncumbentKeepsItsAllocation(t *testing.T) {
	prev := mustPlan(t, Options{}, nil, Want{Owner: "Pool/a", Path: "spec.frontend", Transport: TCP})
	// A newcomer explicitly asking for Pool/a's allocated address and port
	// is refused; Pool/a is not moved.
	_, errs := Plan(Options{}, prev, []Want{
		{Owner: "Pool/a", Path: "spec.frontend", Transport: TCP},
		{Owner: "Pool/0", Path: "spec.frontend", Address: "127.0.1.1", Port: 30000, Transport: TCP},
	})
	if len(errs) != 1 || errs[0].Ref != "Pool/0" || errs[0].Path != "spec.frontend.port" ||
		!strings.Contains(errs[0].Reason, "already allocated to Pool/a") {
		t.Fatalf("errors = %v", errs)
	}
	// Re-planning keeps everything where it was.
	again := mustPlan(t, Options{}, prev, Want{Owner: "Pool/a", Transport: TCP}, Want{Owner: "Pool/b", Transport: TCP})
	if again["Pool/a"] != prev["Pool/a"] {
		t.Fatalf("Pool/a moved: %+v -> %+v", prev["Pool/a"], again["Pool/a"])
	}
	// Pinning the allocated values explicitly keeps them, now as explicit.
	pinned := mustPlan(t, Options{}, prev, Want{Owner: "Pool/a", Address: "127.0.1.1", Port: 30000, Transport: TCP})
	if a := pinned["Pool/a"]; a.AddressAllocated || a.PortAllocated || a.Port != 30000 {
		t.Fatalf("pinned = %+v", a)
	}
}

func TestTransportChangeKeepsVIP(t *testing.T) {
	prev := mustPlan(t, Options{}, nil, Want{Owner: "Pool/x", Transport: TCP}, Want{Owner: "Pool/a", Transport: TCP})
	out := mustPlan(t, Options{}, prev, Want{Owner: "Pool/x", Transport: UDP}, Want{Owner: "Pool/a", Transport: TCP})
	if out["Pool/x"].Address != prev["Pool/x"].Address || out["Pool/x"].Transport != UDP {
		t.Fatalf("Pool/x moved from %+v to %+v", prev["Pool/x"], out["Pool/x"])
	}
}

func TestReleaseAndReuse(t *testing.T) {
	prev := mustPlan(t, small(), nil, Want{Owner: "Pool/a", Transport: TCP}, Want{Owner: "Pool/b", Transport: TCP})
	out := mustPlan(t, small(), prev, Want{Owner: "Pool/b", Transport: TCP}, Want{Owner: "Pool/c", Transport: TCP})
	if _, ok := out["Pool/a"]; ok {
		t.Fatal("Pool/a not released")
	}
	if out["Pool/c"] != (Allocation{Owner: "Pool/c", Address: prev["Pool/a"].Address, Port: 100, Transport: TCP,
		AddressAllocated: true, PortAllocated: true}) {
		t.Fatalf("Pool/c = %+v, want Pool/a's old VIP", out["Pool/c"])
	}
}

func TestSharingAndExhaustion(t *testing.T) {
	// 10.9.0.0/30 has two usable VIPs (.1, .2) and three ports: six slots.
	var wants []Want
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		wants = append(wants, Want{Owner: "Pool/" + n, Path: "spec.frontend", Transport: TCP})
	}
	out := mustPlan(t, small(), nil, wants...)
	seen := map[string]bool{}
	for _, a := range out {
		k := fmt.Sprintf("%s:%d", a.Address, a.Port)
		if seen[k] || (a.Address != "10.9.0.1" && a.Address != "10.9.0.2") {
			t.Fatalf("bad or duplicate allocation %+v", a)
		}
		seen[k] = true
	}
	_, errs := Plan(small(), out, append(wants, Want{Owner: "Pool/g", Path: "spec.frontend", Transport: TCP}))
	if len(errs) != 1 || errs[0].Ref != "Pool/g" || errs[0].Path != "spec.frontend.address" {
		t.Fatalf("exhaustion errors = %v", errs)
	}
	_, errs = Plan(small(), nil, []Want{{Owner: "Pool/h", Path: "spec", Address: "10.0.0.1", Transport: TCP},
		{Owner: "Pool/i", Path: "spec", Address: "10.0.0.1", Transport: TCP},
		{Owner: "Pool/j", Path: "spec", Address: "10.0.0.1", Transport: TCP},
		{Owner: "Pool/k", Path: "spec", Address: "10.0.0.1", Transport: TCP}})
	if len(errs) != 1 || errs[0].Ref != "Pool/k" || errs[0].Path != "spec.port" {
		t.Fatalf("port exhaustion errors = %v", errs)
	}
}

func TestIPv6PoolAndHugePrefix(t *testing.T) {
	opts := Options{VIPs: []netip.Prefix{netip.MustParsePrefix("fd00::/8")}, Ports: DefaultPorts}
	out := mustPlan(t, opts, nil, Want{Owner: "Pool/a", Transport: TCP}, Want{Owner: "Pool/b", Transport: TCP})
	if out["Pool/a"].Address != "fd00::" || out["Pool/b"].Address != "fd00::1" {
		t.Fatalf("IPv6 allocations = %+v", out)
	}
}
