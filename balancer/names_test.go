package balancer

import (
	"slices"
	"testing"

	"github.com/fulcrumlb/fulcrum/api"
)

// TestAlgorithmsMatchResourceModel ties the two lists of algorithm names
// together. The balancer keeps its own (it depends on no other Fulcrum
// package), the resource model validates spec.algorithm against its own;
// a name one accepts and the other does not would pass validation and
// then fail in every data plane.
func TestAlgorithmsMatchResourceModel(t *testing.T) {
	ours, model := slices.Sorted(slices.Values(Algorithms())), slices.Sorted(slices.Values(api.Algorithms))
	if !slices.Equal(ours, model) {
		t.Fatalf("balancer.Algorithms() = %v, api.Algorithms = %v", ours, model)
	}
	for _, name := range api.Algorithms {
		p := mustNew(t, Config{Algorithm: name, Members: pool(3)}, nil)
		p.Close()
	}
}
