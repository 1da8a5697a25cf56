package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/loadgen"
	"github.com/fulcrumlb/fulcrum/bench/internal/parse"
)

// B4's loads: h2load's clients and streams per client, and the gRPC
// client's connections and calls in flight.
const (
	h2Clients   = 16
	h2Streams   = 16
	grpcConns   = 4
	grpcInFight = 64
)

// runB4 is B4: cleartext HTTP/2 downstream (h2load -m16) to HTTP/1.1
// members, and unary gRPC end to end over h2c; CPU per request.
func runB4(ctx context.Context, e *env) (*section, error) {
	s := newSection("b4", "HTTP/2 (h2load) and unary gRPC, CPU per request")
	be, mp, err := e.nginxMembers(2)
	if err != nil {
		return s, err
	}
	defer mp.Stop(time.Second)
	gaddr, gp, err := e.goMember("grpc")
	if err != nil {
		return s, err
	}
	defer gp.Stop(time.Second)
	ins, err := e.startAll(e.cfg.contenders, "h2grpc", members{HTTP: be, GRPC: gaddr}, false)
	if err != nil {
		return s, err
	}
	defer stopAll(ins)
	for _, in := range ins {
		if _, err := e.h2load(ctx, in, 0); err != nil {
			return s, fmt.Errorf("%s h2 warm-up: %w", in.name, err)
		}
		if _, err := e.grpcRun(ctx, in, e.cfg.warmup); err != nil {
			return s, fmt.Errorf("%s gRPC warm-up: %w", in.name, err)
		}
	}
	h2, grpc := map[string][]cpuSample{}, map[string][]cpuSample{}
	for round := range e.cfg.rounds {
		for _, in := range ins {
			smp, err := e.h2load(ctx, in, e.cfg.duration)
			if err != nil {
				return s, fmt.Errorf("round %d, %s, h2load: %w", round+1, in.name, err)
			}
			h2[in.name] = append(h2[in.name], smp)
			g, err := e.grpcRun(ctx, in, e.cfg.duration)
			if err != nil {
				return s, fmt.Errorf("round %d, %s, gRPC: %w", round+1, in.name, err)
			}
			grpc[in.name] = append(grpc[in.name], g)
			e.logf("B4 round %d %-8s h2 %6.2f µs/req %8.0f req/s | gRPC %6.2f µs/call %7.0f calls/s", round+1, in.name, smp.cpuUs, smp.rps, g.cpuUs, g.rps)
		}
	}
	s.printf("### HTTP/2 downstream, HTTP/1.1 upstream\n\nLoad: `h2load -t1 -c%d -m%d -D %d` (cleartext HTTP/2 with prior knowledge), members: one nginx (`return 200`) on 2 ports, round robin. "+
		"h2load reports no latency percentiles: the latency column is its mean time per request.\n\n", h2Clients, h2Streams, int(e.cfg.duration.Seconds()))
	med := writeCPUTable(s, e.cfg.contenders, h2, "req/s", true)
	s.compare("HTTP/2 CPU µs/request", med.cpu, true, 2, "≤ 1.0×")
	s.printf("\n### Unary gRPC\n\nLoad: grpc-go calling `grpc.health.v1.Health/Check` in closed loop, %d connections, %d calls in flight, %v per run; member: grpc-go health server over h2c "+
		"(one process); every contender speaks h2c both ways.\n\n", grpcConns, grpcInFight, e.cfg.duration)
	med = writeCPUTable(s, e.cfg.contenders, grpc, "calls/s", false)
	s.compare("gRPC CPU µs/call", med.cpu, true, 2, "≤ 1.0×")
	return s, nil
}

// h2load runs h2load for d against a contender's HTTP/2 port; d = 0 is
// the warm-up, a fixed count of requests (a timed run ends early for a
// proxy slow to open its first upstream connections).
func (e *env) h2load(ctx context.Context, in *instance, d time.Duration) (cpuSample, error) {
	var smp cpuSample
	length := []string{"-n", "5000"}
	if d > 0 {
		length = []string{"-D", strconv.Itoa(max(int(d.Round(time.Second)/time.Second), 1))}
	}
	cpu0, err := in.cpu()
	if err != nil {
		return smp, err
	}
	argv := append([]string{e.bins["h2load"], "-t1", "-c" + strconv.Itoa(h2Clients), "-m" + strconv.Itoa(h2Streams)}, length...)
	out, err := e.runTool(ctx, d+30*time.Second, append(argv, "http://"+in.addr(in.data.Port.H2)+"/")...)
	if err != nil {
		return smp, err
	}
	cpu1, err := in.cpu()
	if err != nil {
		return smp, err
	}
	h, err := parse.ParseH2load(out)
	if err != nil {
		return smp, fmt.Errorf("%w\n%s", err, out)
	}
	smp.errs = h.Failed + h.Errored
	if h.Succeeded == 0 || smp.errs*100 > h.Succeeded {
		return smp, fmt.Errorf("%d succeeded, %d failed:\n%s", h.Succeeded, smp.errs, out)
	}
	smp.cpuUs = float64(cpu1-cpu0) / float64(time.Microsecond) / float64(h.Succeeded+smp.errs)
	smp.rps, smp.p50 = h.PerSecond, h.MeanRequest
	return smp, nil
}

// grpcRun runs the unary gRPC load for d against a contender.
func (e *env) grpcRun(ctx context.Context, in *instance, d time.Duration) (cpuSample, error) {
	var smp cpuSample
	cpu0, err := in.cpu()
	if err != nil {
		return smp, err
	}
	r, err := loadgen.RunGRPC(ctx, in.addr(in.data.Port.GRPC), grpcConns, grpcInFight, d)
	if err != nil {
		return smp, err
	}
	cpu1, err := in.cpu()
	if err != nil {
		return smp, err
	}
	if r.Failed*100 > r.OK {
		return smp, fmt.Errorf("%d calls failed, %d succeeded: %v", r.Failed, r.OK, r.FirstErr)
	}
	calls := r.OK + r.Failed
	smp.cpuUs = float64(cpu1-cpu0) / float64(time.Microsecond) / float64(calls)
	smp.rps = float64(r.OK) / r.Elapsed.Seconds()
	smp.p50, smp.p99, smp.errs = r.Latency.Quantile(0.5), r.Latency.Quantile(0.99), r.Failed
	return smp, nil
}
