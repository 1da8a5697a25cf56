package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/fulcrumlb/fulcrum/bench/internal/stats"
)

// GRPCResult is what a unary gRPC run measured.
type GRPCResult struct {
	OK, Failed int64
	Latency    stats.Latencies
	Elapsed    time.Duration
	FirstErr   error
}

// RunGRPC calls the standard health service's Check (a small unary call
// every gRPC server can serve) in closed loop: conns HTTP/2 connections,
// concurrency calls in flight spread over them, for d.
func RunGRPC(ctx context.Context, addr string, conns, concurrency int, d time.Duration) (*GRPCResult, error) {
	clients := make([]healthpb.HealthClient, 0, conns)
	for range max(conns, 1) {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, fmt.Errorf("loadgen: grpc %s: %w", addr, err)
		}
		defer cc.Close()
		clients = append(clients, healthpb.NewHealthClient(cc))
	}
	// The run ends by the clock, not by a context deadline: a call's
	// context derived from the run's could expire a moment before the
	// run's own, and count as a failure a call the run cut short.
	end := time.Now().Add(d)
	res := &GRPCResult{}
	var ok, failed atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range max(concurrency, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := clients[i%len(clients)]
			var lat stats.Latencies
			var first error
			for ctx.Err() == nil && time.Now().Before(end) {
				t0 := time.Now()
				cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
				ccancel()
				if err != nil {
					if ctx.Err() != nil {
						break // the harness is stopping
					}
					failed.Add(1)
					if first == nil {
						first = err
					}
					continue
				}
				ok.Add(1)
				lat.Add(time.Since(t0))
			}
			mu.Lock()
			res.Latency.Merge(&lat)
			if res.FirstErr == nil {
				res.FirstErr = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.OK, res.Failed = ok.Load(), failed.Load()
	if res.OK == 0 {
		return res, fmt.Errorf("loadgen: no gRPC call succeeded: %v", res.FirstErr)
	}
	return res, nil
}
