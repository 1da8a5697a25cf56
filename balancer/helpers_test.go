package balancer

import (
	"fmt"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// addr returns a distinct member address.
func addr(i int) string { return fmt.Sprintf("10.%d.%d.%d:8080", i>>16&255, i>>8&255, i&255) }

// pool returns n enabled members of equal weight 1.
func pool(n int) []Member {
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{Address: addr(i), Weight: 1}
	}
	return ms
}

// weighted returns members with the given weights.
func weighted(ws ...uint32) []Member {
	ms := pool(len(ws))
	for i, w := range ws {
		ms[i].Weight = w
	}
	return ms
}

func mustNew(t testing.TB, cfg Config, reg *Registry) Picker {
	t.Helper()
	p, err := New(cfg, reg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.Algorithm, err)
	}
	return p
}

func mustRegistry(t testing.TB, opts RegistryOptions) *Registry {
	t.Helper()
	r, err := NewRegistry(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pickN picks n times (calling Done at once) and returns the count per member index.
func pickN(t testing.TB, p Picker, n int, info PickInfo) []int {
	t.Helper()
	counts := make([]int, len(p.Members()))
	for range n {
		pk, err := p.Pick(info)
		if err != nil {
			t.Fatalf("%s: Pick: %v", p.Algorithm(), err)
		}
		counts[pk.Index]++
		pk.Done(Result{})
	}
	return counts
}

// hashKey returns the hash of the i-th synthetic request key.
func hashKey(i int) uint64 { return mix64(uint64(i) + 0x1234567) }

// ownerOf returns the address a hash algorithm maps h to.
func ownerOf(t testing.TB, p Picker, h uint64) string {
	t.Helper()
	pk, err := p.Pick(PickInfo{Hash: h, HasHash: true})
	if err != nil {
		t.Fatal(err)
	}
	pk.Done(Result{})
	return pk.Member.Address
}
