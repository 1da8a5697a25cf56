package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/parse"
	"github.com/fulcrumlb/fulcrum/bench/internal/stats"
)

// cpuSample is one contender's figures in one run of a closed-loop load.
type cpuSample struct {
	cpuUs    float64 // CPU µs per request
	rps      float64
	p50, p99 time.Duration
	errs     int64
}

// runB1 is B1: HTTP/1.1 keep-alive through each contender, wrk -t1
// -c64, round robin over two nginx members; CPU per request from /proc.
func runB1(ctx context.Context, e *env) (*section, error) {
	s := newSection("b1", "HTTP/1.1 keep-alive proxy, round robin over 2 members")
	be, mp, err := e.nginxMembers(2)
	if err != nil {
		return s, err
	}
	defer mp.Stop(time.Second)
	ins, err := e.startAll(e.cfg.contenders, "http", members{HTTP: be}, false)
	if err != nil {
		return s, err
	}
	defer stopAll(ins)
	for _, in := range ins {
		if _, err := e.wrk(ctx, in, e.cfg.warmup); err != nil {
			return s, fmt.Errorf("%s warm-up: %w", in.name, err)
		}
	}
	res := map[string][]cpuSample{}
	for round := range e.cfg.rounds {
		for _, in := range ins {
			smp, err := e.wrk(ctx, in, e.cfg.duration)
			if err != nil {
				return s, fmt.Errorf("round %d, %s: %w", round+1, in.name, err)
			}
			e.logf("B1 round %d %-8s %6.2f µs/req %8.0f req/s p50 %s p99 %s µs", round+1, in.name, smp.cpuUs, smp.rps, us(smp.p50), us(smp.p99))
			res[in.name] = append(res[in.name], smp)
		}
	}
	s.printf("Load: `wrk -t1 -c%d -d%s --latency` (closed loop), %d rounds of every contender in turn; members: one nginx (`return 200`, keep-alive) on 2 ports. "+
		"Latency percentiles are wrk's (closed loop: see B2 for latency at fixed rates).\n\n", e.cfg.conns, wrkDuration(e.cfg.duration), e.cfg.rounds)
	med := writeCPUTable(s, e.cfg.contenders, res, "req/s", false)
	e.b1Rates = med.rps
	s.compare("HTTP/1.1 CPU µs/request", med.cpu, true, 2, "≤ 1.0×")
	s.compare("HTTP/1.1 requests/s", med.rps, false, 0, "≥ 1.1×")
	return s, nil
}

// wrkDuration renders d for wrk, which counts whole seconds.
func wrkDuration(d time.Duration) string {
	return strconv.Itoa(max(int(d.Round(time.Second)/time.Second), 1)) + "s"
}

// wrk runs wrk against a contender's HTTP port and measures its CPU.
func (e *env) wrk(ctx context.Context, in *instance, d time.Duration) (cpuSample, error) {
	var smp cpuSample
	cpu0, err := in.cpu()
	if err != nil {
		return smp, err
	}
	out, err := e.runTool(ctx, d+30*time.Second, e.bins["wrk"], "-t1", "-c"+strconv.Itoa(e.cfg.conns), "-d"+wrkDuration(d),
		"--latency", "http://"+in.addr(in.data.Port.HTTP)+"/")
	if err != nil {
		return smp, err
	}
	cpu1, err := in.cpu()
	if err != nil {
		return smp, err
	}
	w, err := parse.ParseWrk(out)
	if err != nil {
		return smp, fmt.Errorf("%w\n%s", err, out)
	}
	smp.errs = w.Non2xx3xx + w.SocketErrs
	if w.Requests == 0 || smp.errs*100 > w.Requests {
		return smp, fmt.Errorf("%d of %d requests failed:\n%s", smp.errs, w.Requests, out)
	}
	smp.cpuUs = float64(cpu1-cpu0) / float64(time.Microsecond) / float64(w.Requests)
	smp.rps, smp.p50, smp.p99 = w.PerSecond, w.P50, w.P99
	return smp, nil
}

// medians are the per-contender medians of a CPU table.
type medians struct{ cpu, rps map[string]float64 }

// writeCPUTable writes the medians of every contender's rounds, the
// ratios to the best peer, and every round's CPU figure.
// With meanOnly the latency column holds the tool's mean (kept in p50).
func writeCPUTable(s *section, names []string, res map[string][]cpuSample, rateName string, meanOnly bool) medians {
	m := medians{cpu: map[string]float64{}, rps: map[string]float64{}}
	var rows [][]string
	for _, n := range names {
		var cpu, rps, p50, p99 []float64
		var errs int64
		for _, x := range res[n] {
			cpu = append(cpu, x.cpuUs)
			rps = append(rps, x.rps)
			p50 = append(p50, float64(x.p50.Microseconds()))
			p99 = append(p99, float64(x.p99.Microseconds()))
			errs += x.errs
		}
		m.cpu[n], m.rps[n] = stats.Median(cpu), stats.Median(rps)
		lo, hi := stats.MinMax(cpu)
		lat := num(stats.Median(p50), 0) + " / " + num(stats.Median(p99), 0)
		if meanOnly {
			lat = num(stats.Median(p50), 0)
		}
		rows = append(rows, []string{n, num(m.cpu[n], 2), fmt.Sprintf("%s–%s", num(lo, 2), num(hi, 2)), num(m.rps[n], 0),
			lat, strconv.FormatInt(errs, 10)})
	}
	latHead := "p50 / p99 µs"
	if meanOnly {
		latHead = "mean latency µs"
	}
	writeTable(&s.body, []string{"contender", "CPU µs/request", "range over rounds", rateName, latHead, "errors"}, "lrrrrr", rows)
	s.printf("\n")
	writeRatios(s, m)
	s.printf("\nEvery round, CPU µs/request:\n\n")
	for _, n := range names {
		var parts []string
		for _, x := range res[n] {
			parts = append(parts, num(x.cpuUs, 2))
		}
		s.printf("- %s: %s\n", n, strings.Join(parts, ", "))
	}
	return m
}

func writeRatios(s *section, m medians) {
	if _, ok := m.cpu["fulcrum"]; !ok {
		return
	}
	if name, v, ok := stats.Best(m.cpu, isPeer, true); ok {
		s.printf("Fulcrum ÷ best peer: CPU/request %s (best peer: %s)", ratio(stats.Ratio(m.cpu["fulcrum"], v)), name)
	}
	if name, v, ok := stats.Best(m.rps, isPeer, false); ok {
		s.printf("; rate %s (best peer: %s)", ratio(stats.Ratio(m.rps["fulcrum"], v)), name)
	}
	s.printf("\n")
}
