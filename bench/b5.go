package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/backend"
	"github.com/fulcrumlb/fulcrum/bench/internal/loadgen"
	"github.com/fulcrumlb/fulcrum/bench/internal/stats"
)

// B5's fixed load shape (bench/b5's defaults): bulk connections, and
// connections (or UDP clients) and message size of request/response.
const (
	b5BulkConns = 4
	b5RRConns   = 64
	b5RRSize    = 64
)

// b5Sample is one contender's figures in one round.
type b5Sample struct {
	bulkMsPerGB, bulkGBps float64
	rrUsPerTx, rrTxps     float64
	rrP50, rrP99          time.Duration
	udpUsPerTx, udpTxps   float64
	hasUDP                bool
}

// b5Contenders maps the HTTP contenders to the L4 ones: HAProxy also runs
// with splice-auto; Caddy (Debian's has no layer4 app) sits out.
func b5Contenders(names []string) []string {
	var out []string
	for _, n := range names {
		switch n {
		case "caddy":
		case "haproxy":
			out = append(out, "haproxy", "haproxy-splice")
		default:
			out = append(out, n)
		}
	}
	return out
}

// runB5 is B5 (formerly bench/b5): Fulcrum's L4 proxy against HAProxy
// (mode tcp) and nginx's stream module in front of the same members:
// CPU per GB relayed in bulk, CPU per TCP and UDP request/response.
func runB5(ctx context.Context, e *env) (*section, error) {
	s := newSection("b5", "L4 proxy: TCP bulk, TCP and UDP request/response")
	srv, err := backend.StartL4()
	if err != nil {
		return s, err
	}
	defer srv.Close()
	names := b5Contenders(e.cfg.contenders)
	be := members{Bulk: srv.BulkAddr(), RR: srv.RRAddr(), UDP: srv.UDPAddr()}
	ins, err := e.startAll(names, "l4", be, false)
	if err != nil {
		return s, err
	}
	defer stopAll(ins)
	res := map[string][]b5Sample{}
	for round := range e.cfg.b5Rounds {
		for _, in := range ins {
			smp, err := e.b5Measure(ctx, in)
			if err != nil {
				return s, fmt.Errorf("round %d, %s: %w", round+1, in.name, err)
			}
			e.logf("B5 round %d %-15s bulk %7.1f ms/GB %5.2f GB/s | tcp rr %6.2f µs/tx %8.0f tx/s | udp %6.2f µs/tx",
				round+1, in.name, smp.bulkMsPerGB, smp.bulkGBps, smp.rrUsPerTx, smp.rrTxps, smp.udpUsPerTx)
			res[in.name] = append(res[in.name], smp)
		}
	}
	s.printf("Load (the method of bench/b5, now here): bulk %d connections × %d MiB to a discard member; TCP request/response %d connections × %d-byte ping-pong for %v; "+
		"UDP the same with %d client sockets; members and load run inside the harness. %d rounds, contenders alternating. "+
		"HAProxy 2.6 has no UDP proxy; Debian's Caddy has no L4 proxy (the layer4 app is a plugin).\n\n",
		b5BulkConns, e.cfg.b5BulkMiB, b5RRConns, b5RRSize, e.cfg.b5Duration, b5RRConns, e.cfg.b5Rounds)
	writeB5Table(s, names, res)
	return s, nil
}

// b5Measure runs the three loads against a running contender.
func (e *env) b5Measure(ctx context.Context, in *instance) (s b5Sample, err error) {
	if err := ctx.Err(); err != nil {
		return s, err
	}
	rr, udp, bulk := in.addr(in.data.Port.RR), in.addr(in.data.Port.UDP), in.addr(in.data.Port.Bulk)
	if _, err := loadgen.TCPRR(rr, b5RRConns, b5RRSize, min(500*time.Millisecond, e.cfg.warmup)); err != nil {
		return s, fmt.Errorf("warm-up: %w", err)
	}
	cpu0, err := in.cpu()
	if err != nil {
		return s, err
	}
	t0 := time.Now()
	perConn := e.cfg.b5BulkMiB << 20
	if err := loadgen.Bulk(bulk, b5BulkConns, perConn); err != nil {
		return s, fmt.Errorf("bulk: %w", err)
	}
	elapsed := time.Since(t0)
	cpu1, err := in.cpu()
	if err != nil {
		return s, err
	}
	gb := float64(b5BulkConns*perConn) / 1e9
	s.bulkMsPerGB = (cpu1 - cpu0).Seconds() * 1000 / gb
	s.bulkGBps = gb / elapsed.Seconds()

	r, err := loadgen.TCPRR(rr, b5RRConns, b5RRSize, e.cfg.b5Duration)
	if err != nil {
		return s, fmt.Errorf("tcp rr: %w", err)
	}
	cpu2, err := in.cpu()
	if err != nil {
		return s, err
	}
	s.rrUsPerTx = float64((cpu2 - cpu1).Microseconds()) / float64(max(r.Tx, 1))
	s.rrTxps = float64(r.Tx) / r.Elapsed.Seconds()
	s.rrP50, s.rrP99 = r.Latency.Quantile(0.5), r.Latency.Quantile(0.99)
	if in.kind == "haproxy" {
		return s, nil
	}
	u, err := loadgen.UDPRR(udp, b5RRConns, b5RRSize, e.cfg.b5Duration)
	if err != nil {
		return s, fmt.Errorf("udp: %w", err)
	}
	cpu3, err := in.cpu()
	if err != nil {
		return s, err
	}
	s.hasUDP = true
	s.udpUsPerTx = float64((cpu3 - cpu2).Microseconds()) / float64(max(u.Tx, 1))
	s.udpTxps = float64(u.Tx) / u.Elapsed.Seconds()
	return s, nil
}

func writeB5Table(s *section, names []string, res map[string][]b5Sample) {
	med := func(name string, f func(b5Sample) float64) float64 {
		var xs []float64
		for _, x := range res[name] {
			xs = append(xs, f(x))
		}
		return stats.Median(xs)
	}
	metrics := []struct {
		name string
		f    func(b5Sample) float64
		udp  bool
	}{
		{"bulk CPU ms/GB", func(x b5Sample) float64 { return x.bulkMsPerGB }, false},
		{"TCP rr CPU µs/tx", func(x b5Sample) float64 { return x.rrUsPerTx }, false},
		{"UDP CPU µs/tx", func(x b5Sample) float64 { return x.udpUsPerTx }, true},
	}
	var rows [][]string
	for _, n := range names {
		udp, udpRate := "n/a", "n/a"
		if len(res[n]) > 0 && res[n][0].hasUDP {
			udp = num(med(n, metrics[2].f), 2)
			udpRate = num(med(n, func(x b5Sample) float64 { return x.udpTxps }), 0)
		}
		rows = append(rows, []string{n, num(med(n, metrics[0].f), 0), num(med(n, func(x b5Sample) float64 { return x.bulkGBps }), 2),
			num(med(n, metrics[1].f), 2), num(med(n, func(x b5Sample) float64 { return x.rrTxps }), 0),
			num(med(n, func(x b5Sample) float64 { return float64(x.rrP50.Microseconds()) }), 0) + " / " +
				num(med(n, func(x b5Sample) float64 { return float64(x.rrP99.Microseconds()) }), 0), udp, udpRate})
	}
	writeTable(&s.body, []string{"contender", "bulk CPU ms/GB", "bulk GB/s", "TCP rr CPU µs/tx", "TCP rr tx/s", "TCP rr p50 / p99 µs", "UDP CPU µs/tx", "UDP tx/s"}, "lrrrrrrr", rows)
	var parts []string
	for i, m := range metrics {
		values := map[string]float64{}
		for _, n := range names {
			if !m.udp || (len(res[n]) > 0 && res[n][0].hasUDP) {
				values[n] = med(n, m.f)
			}
		}
		if name, v, ok := stats.Best(values, isPeer, true); ok && values["fulcrum"] > 0 {
			parts = append(parts, fmt.Sprintf("%s %s (best peer: %s)", m.name, ratio(stats.Ratio(values["fulcrum"], v)), name))
		}
		s.compare(m.name, values, true, []int{0, 2, 2}[i], "≤ 1.0×")
	}
	if len(parts) > 0 {
		s.printf("\nFulcrum ÷ best peer: %s\n", strings.Join(parts, "; "))
	}
	s.printf("\nEvery round (bulk ms/GB, TCP rr µs/tx, UDP µs/tx):\n\n")
	for _, n := range names {
		var parts []string
		for _, x := range res[n] {
			parts = append(parts, fmt.Sprintf("%.0f / %.2f / %s", x.bulkMsPerGB, x.rrUsPerTx, map[bool]string{true: num(x.udpUsPerTx, 2), false: "n/a"}[x.hasUDP]))
		}
		s.printf("- %s: %s\n", n, strings.Join(parts, "; "))
	}
}
