package balancer

import (
	"math/bits"
	"math/rand/v2"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// HashString returns the 64-bit hash that hash-based algorithms (source_hash, ring_hash,
// maglev) expect in PickInfo.Hash: XXH64 with seed 0. Every Fulcrum process (proxy,
// sidecar, client library) computes the same value for the same input, so the same
// source IP, header or cookie lands on the same member everywhere. It allocates nothing.
func HashString(s string) uint64 { return xxhash.Sum64String(s) }

// HashBytes is HashString for a byte slice (for example the 4 or 16 bytes of a source IP).
func HashBytes(b []byte) uint64 { return xxhash.Sum64(b) }

// mix64 is the SplitMix64 finalizer: a cheap bijection that spreads every input bit over
// the output. It derives independent-looking values from one hash (Maglev offset and skip)
// and turns a counter into a random stream.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// reduce maps a uniform 64-bit value onto [0, n) with one multiplication (Lemire's
// "fastrange"), avoiding a division on the pick path.
func reduce(x uint64, n int) int {
	hi, _ := bits.Mul64(x, uint64(n))
	return int(hi)
}

// golden is the SplitMix64 increment (2^64 / φ).
const golden = 0x9e3779b97f4a7c15

// rng is a lock-free random source. Unseeded it uses the runtime's per-thread ChaCha8
// generator (no shared state, so no contention between cores). Seeded it is a SplitMix64
// stream over one atomic counter: reproducible for single-goroutine tests and
// simulations, still race-free when shared.
type rng struct {
	state  atomic.Uint64
	seeded bool
}

func newRNG(seed uint64) *rng {
	r := &rng{seeded: seed != 0}
	r.state.Store(seed)
	return r
}

func (r *rng) uint64() uint64 {
	if !r.seeded {
		return rand.Uint64()
	}
	return mix64(r.state.Add(golden))
}

// intn returns a value in [0, n); n must be > 0.
func (r *rng) intn(n int) int { return reduce(r.uint64(), n) }
