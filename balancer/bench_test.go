package balancer

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the process's user+system CPU time. On a shared VM, wall-clock ns/op
// swings with neighbours' load; CPU time per op does not (much), so every benchmark
// reports both (see benchmarks.md, "How to measure honestly here").
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureCPU resets the benchmark timer and reports cpu-ns/op when the benchmark ends.
func measureCPU(b *testing.B) {
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	b.Cleanup(func() {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	})
}

// benchConfigs returns one config per algorithm (plus bounded-load ring_hash) over n
// members with weights 1..4, so weighted algorithms take their weighted paths.
func benchConfigs(n int) []Config {
	ms := pool(n)
	for i := range ms {
		ms[i].Weight = uint32(1 + i%4)
	}
	var out []Config
	for _, alg := range Algorithms() {
		out = append(out, Config{Algorithm: alg, Members: ms})
	}
	return append(out, Config{Algorithm: RingHash, Members: ms, BoundedLoadFactor: 1.25})
}

func benchName(cfg Config) string {
	if cfg.BoundedLoadFactor > 0 {
		return cfg.Algorithm + "_bounded"
	}
	return cfg.Algorithm
}

// BenchmarkPick measures one Pick plus its Done on one goroutine, for every algorithm
// at 10, 100 and 1,000 members. Hash algorithms get a different hash every time.
func BenchmarkPick(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		for _, cfg := range benchConfigs(n) {
			b.Run(fmt.Sprintf("%s/%d", benchName(cfg), n), func(b *testing.B) {
				p := mustNew(b, cfg, nil)
				defer p.Close()
				res := Result{Latency: time.Millisecond, Status: 200}
				measureCPU(b)
				for i := 0; i < b.N; i++ {
					pk, err := p.Pick(PickInfo{Hash: hashKey(i), HasHash: true})
					if err != nil {
						b.Fatal(err)
					}
					pk.Done(res)
				}
			})
		}
	}
}

// BenchmarkPickParallel is BenchmarkPick at 100 members from GOMAXPROCS goroutines
// sharing one picker, as a proxy's workers do: it shows the cost of shared counters.
// ns/op is wall time per pick across all goroutines; cpu-ns/op is CPU per pick.
func BenchmarkPickParallel(b *testing.B) {
	for _, cfg := range benchConfigs(100) {
		b.Run(benchName(cfg), func(b *testing.B) {
			p := mustNew(b, cfg, nil)
			defer p.Close()
			res := Result{Latency: time.Millisecond, Status: 200}
			measureCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					pk, err := p.Pick(PickInfo{Hash: hashKey(i), HasHash: true})
					if err != nil {
						b.Error(err)
						return
					}
					pk.Done(res)
				}
			})
		})
	}
}

// BenchmarkPickRetry measures a retry: Pick with two members already tried.
func BenchmarkPickRetry(b *testing.B) {
	for _, cfg := range benchConfigs(100) {
		b.Run(benchName(cfg), func(b *testing.B) {
			p := mustNew(b, cfg, nil)
			defer p.Close()
			var info PickInfo
			info.Tried.AddAddress(addr(1))
			info.Tried.AddAddress(addr(2))
			measureCPU(b)
			for i := 0; i < b.N; i++ {
				info.Hash, info.HasHash = hashKey(i), true
				pk, err := p.Pick(info)
				if err != nil {
					b.Fatal(err)
				}
				pk.Done(Result{})
			}
		})
	}
}

// BenchmarkLookup measures sticky-session affinity: Lookup by address plus Done.
func BenchmarkLookup(b *testing.B) {
	p := mustNew(b, Config{Algorithm: RoundRobin, Members: pool(1000)}, nil)
	defer p.Close()
	a := addr(500)
	measureCPU(b)
	for i := 0; i < b.N; i++ {
		pk, ok := p.Lookup(a)
		if !ok {
			b.Fatal("not found")
		}
		pk.Done(Result{})
	}
}

// BenchmarkMaglevTable measures building the raw Maglev table (B6 target: ≤ 2 ms for
// 1,000 members at M = 65537).
func BenchmarkMaglevTable(b *testing.B) {
	for _, tc := range []struct{ n, m int }{{10, 65537}, {100, 65537}, {1000, 65537}, {1000, 655373}} {
		b.Run(fmt.Sprintf("members=%d/M=%d", tc.n, tc.m), func(b *testing.B) {
			ms := pool(tc.n)
			measureCPU(b)
			for i := 0; i < b.N; i++ {
				if _, err := MaglevTable(ms, tc.m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNew measures a full picker rebuild at 1,000 members for every algorithm.
func BenchmarkNew(b *testing.B) {
	reg := mustRegistry(b, RegistryOptions{})
	for _, cfg := range benchConfigs(1000) {
		b.Run(benchName(cfg), func(b *testing.B) {
			measureCPU(b)
			for i := 0; i < b.N; i++ {
				p := mustNew(b, cfg, reg)
				p.Close()
			}
		})
	}
}

// BenchmarkHashString measures the affinity hash of an IPv6-sized string.
func BenchmarkHashString(b *testing.B) {
	s := "2001:db8:85a3::8a2e:370:7334"
	measureCPU(b)
	var x uint64
	for i := 0; i < b.N; i++ {
		x += HashString(s)
	}
	_ = x
}
