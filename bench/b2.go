package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/loadgen"
	"github.com/fulcrumlb/fulcrum/bench/internal/stats"
)

// b2Level is one load level of B2: a share of the capacity, or 0 for one
// connection in closed loop.
type b2Level struct {
	name  string
	share float64
}

var b2Levels = []b2Level{{"c=1", 0}, {"50 %", 0.50}, {"80 %", 0.80}, {"95 %", 0.95}}

// b2Target is something B2 measures: a contender, or the member itself
// ("direct") as the baseline the proxies add to.
type b2Target struct {
	name string
	addr string
	in   *instance // nil for direct
}

// b2Sample is one run at one level.
type b2Sample struct {
	sum    stats.Summary
	rate   float64
	failed int64
	unsent int64   // due but never sent: every connection was busy
	cpuUs  float64 // the proxy's CPU µs per request (0 for direct)
}

// runB2 is B2: latency through each contender at 0 (one connection,
// closed loop), 50, 80 and 95 % of B1's capacity, offered at a constant
// rate by loadgen.RunHTTP, with the proxies pinned to one CPU.
func runB2(ctx context.Context, e *env) (*section, error) {
	s := newSection("b2", "latency at fixed request rates (open loop, no coordinated omission)")
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
	capacity, source, err := e.b2Capacity(ctx, ins)
	if err != nil {
		return s, err
	}
	targets := []b2Target{{"direct", be[0], nil}}
	for _, in := range ins {
		targets = append(targets, b2Target{in.name, in.addr(in.data.Port.HTTP), in})
	}
	for _, t := range targets {
		if _, err := loadgen.RunHTTP(ctx, loadgen.HTTPOptions{Addr: t.addr, Conns: e.cfg.conns, Duration: e.cfg.warmup}); err != nil {
			return s, fmt.Errorf("%s warm-up: %w", t.name, err)
		}
	}
	res := map[string]map[string][]b2Sample{}
	for round := range e.cfg.b2Rounds {
		for _, lv := range b2Levels {
			for _, t := range targets {
				smp, err := e.b2Run(ctx, t, lv, capacity)
				if err != nil {
					return s, fmt.Errorf("round %d, %s at %s: %w", round+1, t.name, lv.name, err)
				}
				e.logf("B2 round %d %-8s %-5s %7.0f req/s p50 %s p99 %s p99.9 %s µs, %d failed, %d unsent, %.1f CPU µs/req", round+1, t.name, lv.name,
					smp.rate, us(smp.sum.P50), us(smp.sum.P99), us(smp.sum.P999), smp.failed, smp.unsent, smp.cpuUs)
				if res[t.name] == nil {
					res[t.name] = map[string][]b2Sample{}
				}
				res[t.name][lv.name] = append(res[t.name][lv.name], smp)
			}
		}
	}
	s.printf("Load: the harness's open-loop generator (`bench/internal/loadgen`): request i is due at start + i/rate; a request that finds every connection busy "+
		"is timed from its due time, so a stall is charged to every request it delays. c=1 is one connection in closed loop; the other levels use %d connections "+
		"at a share of %.0f requests/s (%s). %d rounds of %s per level, contenders alternating; cells are medians over rounds of p50 / p99 / p99.9 in µs. "+
		"`direct` is the member without a proxy, the baseline the proxies add to.\n\n",
		e.cfg.conns, capacity, source, e.cfg.b2Rounds, e.cfg.b2Duration)
	writeB2Tables(s, targets, res, capacity, e.cfg.conns)
	return s, nil
}

// b2Capacity is the rate taken as 100 %: the flag, else the best peer's
// B1 requests/s, else a short wrk measurement of every contender.
func (e *env) b2Capacity(ctx context.Context, ins []*instance) (float64, string, error) {
	if e.cfg.b2Capacity > 0 {
		return e.cfg.b2Capacity, "-b2-capacity", nil
	}
	rates := e.b1Rates
	source := "the best peer's median req/s in B1"
	if rates == nil {
		rates = map[string]float64{}
		for _, in := range ins {
			smp, err := e.wrk(ctx, in, min(3*time.Second, e.cfg.duration))
			if err != nil {
				return 0, "", fmt.Errorf("%s capacity: %w", in.name, err)
			}
			rates[in.name] = smp.rps
		}
		source = "the best peer's req/s in a short wrk run, B1 not having run"
	}
	name, v, ok := stats.Best(rates, isPeer, false)
	if !ok {
		name, v, ok = stats.Best(rates, func(string) bool { return true }, false)
		source = "Fulcrum's B1 req/s (no peer ran)"
	}
	if !ok {
		return 0, "", fmt.Errorf("no capacity measured")
	}
	return v, fmt.Sprintf("%s, %s", source, name), nil
}

func (e *env) b2Run(ctx context.Context, t b2Target, lv b2Level, capacity float64) (b2Sample, error) {
	o := loadgen.HTTPOptions{Addr: t.addr, Conns: e.cfg.conns, Duration: e.cfg.b2Duration, Rate: lv.share * capacity}
	if lv.share == 0 {
		o.Conns = 1
	}
	var cpu0, cpu1 time.Duration
	var err error
	if t.in != nil {
		if cpu0, err = t.in.cpu(); err != nil {
			return b2Sample{}, err
		}
	}
	r, err := loadgen.RunHTTP(ctx, o)
	if err != nil {
		return b2Sample{}, err
	}
	// Requests left unsent mean the contender could not keep up (a
	// result); requests that failed mean something is broken.
	unsent := r.Failed[loadgen.Unsent]
	if f := r.Failures() - unsent; f*1000 > r.Sent {
		return b2Sample{}, fmt.Errorf("%d of %d requests failed (%s)", f, r.Sent, r.FailureSummary())
	}
	smp := b2Sample{sum: r.Latency.Summary(), rate: r.Rate(), failed: r.Failures() - unsent, unsent: unsent}
	if t.in != nil {
		if cpu1, err = t.in.cpu(); err != nil {
			return b2Sample{}, err
		}
		smp.cpuUs = float64(cpu1-cpu0) / float64(time.Microsecond) / float64(max(r.OK, 1))
	}
	return smp, nil
}

func writeB2Tables(s *section, targets []b2Target, res map[string]map[string][]b2Sample, capacity float64, conns int) {
	head := []string{"contender"}
	for _, lv := range b2Levels {
		label := lv.name
		if lv.share > 0 {
			label = fmt.Sprintf("%s (%.0f/s)", lv.name, lv.share*capacity)
		}
		head = append(head, label)
	}
	p99 := map[string]map[string]float64{}
	var rows, rates [][]string
	for _, t := range targets {
		row, rrow := []string{t.name}, []string{t.name}
		for _, lv := range b2Levels {
			var p50s, p99s, p999s, rs, cpu []float64
			var failed, unsent int64
			for _, x := range res[t.name][lv.name] {
				p50s = append(p50s, float64(x.sum.P50.Microseconds()))
				p99s = append(p99s, float64(x.sum.P99.Microseconds()))
				p999s = append(p999s, float64(x.sum.P999.Microseconds()))
				rs = append(rs, x.rate)
				cpu = append(cpu, x.cpuUs)
				failed += x.failed
				unsent += x.unsent
			}
			row = append(row, fmt.Sprintf("%s / %s / %s", num(stats.Median(p50s), 0), num(stats.Median(p99s), 0), num(stats.Median(p999s), 0)))
			cell := fmt.Sprintf("%s req/s", num(stats.Median(rs), 0))
			if t.in != nil {
				cell += fmt.Sprintf(", %s µs CPU/req", num(stats.Median(cpu), 1))
			}
			if failed > 0 {
				cell += fmt.Sprintf(", %d failed", failed)
			}
			if unsent > 0 {
				cell += fmt.Sprintf(", %d never sent (saturated)", unsent)
			}
			rrow = append(rrow, cell)
			if p99[lv.name] == nil {
				p99[lv.name] = map[string]float64{}
			}
			if t.name != "direct" {
				p99[lv.name][t.name] = stats.Median(p99s)
			}
		}
		rows, rates = append(rows, row), append(rates, rrow)
	}
	writeTable(&s.body, head, "lrrrr", rows)
	s.printf("\nAchieved rate and the proxy's CPU per request (medians); failed requests, and requests never sent because all %d connections "+
		"were still waiting when the run ended (the contender could not keep up), over all rounds:\n\n", conns)
	writeTable(&s.body, head, "lrrrr", rates)
	s.printf("\n")
	var parts []string
	for _, lv := range b2Levels {
		m := p99[lv.name]
		if name, v, ok := stats.Best(m, isPeer, true); ok {
			if _, ok := m["fulcrum"]; ok {
				parts = append(parts, fmt.Sprintf("%s %s (best peer: %s)", lv.name, ratio(stats.Ratio(m["fulcrum"], v)), name))
			}
		}
		s.compare(fmt.Sprintf("p99 latency µs at %s", lv.name), m, true, 0, "≤ 0.8×")
	}
	if len(parts) > 0 {
		s.printf("Fulcrum ÷ best peer, p99: %s\n", strings.Join(parts, "; "))
	}
}
