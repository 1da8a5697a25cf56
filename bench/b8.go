package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/bench/internal/proc"
	"github.com/fulcrumlb/fulcrum/bench/internal/stats"
	"github.com/fulcrumlb/fulcrum/controlplane/xds"
	"github.com/fulcrumlb/fulcrum/dataplane/xdsclient"
	"github.com/fulcrumlb/fulcrum/translator"
)

// b8Result is what the B8 child reports, durations in nanoseconds.
type b8Result struct {
	Nodes, Changes, GOMAXPROCS int
	Connect                    time.Duration // all nodes on the first version
	All, Endpoints, NewPool    b8Quantiles
}

// b8Quantiles are quantiles of set → ACK times.
type b8Quantiles struct{ P50, P99, Max time.Duration }

// runB8 is B8: the time from a configuration change on the xDS server
// (controlplane/xds) to its acknowledgement by every one of many data
// planes (dataplane/xdsclient), run in a child process with both CPUs —
// the method of controlplane/xds's TestPropagation, at B8's scale.
func runB8(ctx context.Context, e *env) (*section, error) {
	s := newSection("b8", "control-plane propagation to simulated data planes (Fulcrum only)")
	p, err := proc.Start(proc.Options{Name: "b8", Dir: e.work, CPUs: e.allCPUs(), Argv: []string{e.self},
		Env: []string{childEnv + "=b8 " + strconv.Itoa(e.cfg.b8Nodes) + " " + strconv.Itoa(e.cfg.b8Changes), "GOMAXPROCS=" + strconv.Itoa(goruntime.NumCPU())}})
	if err != nil {
		return s, err
	}
	if err := p.Wait(10 * time.Minute); err != nil {
		return s, err
	}
	out := p.Output()
	var r b8Result
	// The JSON result is the last line; log lines may precede it.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return s, fmt.Errorf("b8 child output: %w\n%s", err, out)
	}
	e.logf("B8 %d data planes: set → ACK p50 %s ms, p99 %s ms, max %s ms", r.Nodes, ms(r.All.P50), ms(r.All.P99), ms(r.All.Max))
	s.printf("One process (GOMAXPROCS=%d, not pinned) runs the ADS server of `controlplane/xds` and %d `dataplane/xdsclient` clients on 127.0.0.1, "+
		"each a separate gRPC connection whose Apply accepts at once (no proxy behind it: this measures the control plane and the xDS path, not "+
		"listener start-up). The configuration is 20 pools with http frontends and 3 members each; %d changes alternate between moving one "+
		"member (endpoints only) and adding a pool with its own frontend (all four resource types). Time is from `SetResources` to each client's "+
		"ACK of the whole snapshot; the REST apply and etcd write before it are not included. nginx, HAProxy and Caddy have no equivalent "+
		"(each is configured by its own file), so there is no peer column. All %d clients were on the first version %s ms after they started.\n\n",
		r.GOMAXPROCS, r.Nodes, r.Changes, r.Nodes, ms(r.Connect))
	rows := [][]string{
		{"every change", ms(r.All.P50), ms(r.All.P99), ms(r.All.Max)},
		{"endpoint-only changes", ms(r.Endpoints.P50), ms(r.Endpoints.P99), ms(r.Endpoints.Max)},
		{"new pool (all types)", ms(r.NewPool.P50), ms(r.NewPool.P99), ms(r.NewPool.Max)},
	}
	writeTable(&s.body, []string{"changes", "p50 ms", "p99 ms", "max ms"}, "lrrr", rows)
	s.summary = append(s.summary, summaryRow{bench: "B8", metric: fmt.Sprintf("set → ACK p99, %d data planes", r.Nodes),
		fulcrum: ms(r.All.P99) + " ms", best: "no equivalent", ratio: "—", target: "≤ 1 s"})
	return s, nil
}

// b8Child runs the propagation measurement and writes one JSON line.
func b8Child(nodes, changes int, w io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	srv, err := xds.NewServer(xds.Options{Replica: "bench"})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	res, err := b8Config(0)
	if err != nil {
		return err
	}
	if err := srv.SetResources("v0", res); err != nil {
		return err
	}
	names, stop, err := b8Clients(ctx, lis.Addr().String(), nodes)
	defer stop()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := srv.WaitForVersion(ctx, "v0", names...); err != nil {
		return fmt.Errorf("b8: first version: %w", err)
	}
	r := b8Result{Nodes: nodes, Changes: changes, GOMAXPROCS: goruntime.GOMAXPROCS(0), Connect: time.Since(start)}
	var all, eds, full stats.Latencies
	for c := 1; c <= changes; c++ {
		res, err := b8Config(c)
		if err != nil {
			return err
		}
		version := "v" + strconv.Itoa(c)
		set := time.Now()
		if err := srv.SetResources(version, res); err != nil {
			return err
		}
		if err := srv.WaitForVersion(ctx, version, names...); err != nil {
			return fmt.Errorf("b8: change %d: %w", c, err)
		}
		for _, p := range srv.Proxies() {
			d := p.VersionAt.Sub(set)
			all.Add(d)
			if c%2 == 0 {
				eds.Add(d)
			} else {
				full.Add(d)
			}
		}
	}
	q := func(l *stats.Latencies) b8Quantiles {
		return b8Quantiles{l.Quantile(0.5), l.Quantile(0.99), l.Quantile(1)}
	}
	r.All, r.Endpoints, r.NewPool = q(&all), q(&eds), q(&full)
	return json.NewEncoder(w).Encode(r)
}

// b8Clients starts n ADS clients; stop ends them all.
func b8Clients(ctx context.Context, addr string, n int) ([]string, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stop := func() { cancel(); wg.Wait() }
	accept := func(string, *translator.Resources) error { return nil }
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("node-%04d", i)
		c, err := xdsclient.New(xdsclient.Options{Address: addr, Node: names[i], Zone: fmt.Sprintf("zone-%d", i%3),
			Build: "bench", Apply: accept, Backoff: xdsclient.Backoff{Initial: 50 * time.Millisecond, Max: time.Second}})
		if err != nil {
			return nil, stop, err
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Run(ctx) }()
	}
	return names, stop, nil
}

// b8Config is the configuration after change c, as in TestPropagation: 20
// pools with http frontends and 3 members; an even change moves one member
// of one pool, an odd change adds a pool with its own frontend.
func b8Config(c int) (*translator.Resources, error) {
	var b bytes.Buffer
	pool := func(name string, port int, members ...string) {
		fmt.Fprintf(&b, "apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: %s}\nspec:\n  frontend: {port: %d, protocol: http}\n  members:\n", name, port)
		for _, m := range members {
			fmt.Fprintf(&b, "  - {address: %q}\n", m)
		}
		b.WriteString("---\n")
	}
	for p := range 20 {
		last := 30
		if c%2 == 0 && c > 0 && p == (c/2)%20 {
			last = 30 + c
		}
		pool(fmt.Sprintf("pool-%02d", p), 20000+p, fmt.Sprintf("10.0.%d.10:80", p), fmt.Sprintf("10.0.%d.20:80", p), fmt.Sprintf("10.0.%d.%d:80", p, last))
	}
	for x := 1; x <= c; x += 2 {
		pool(fmt.Sprintf("extra-%02d", x), 21000+x, fmt.Sprintf("10.1.%d.10:80", x))
	}
	l, errs := api.Load([]api.Input{{Name: "b8.yaml", Data: b.Bytes()}}, api.ValidateOptions{})
	if len(errs) > 0 {
		return nil, fmt.Errorf("b8 configuration: %v", errs)
	}
	return translator.Translate(l.Config, translator.Options{DefaultAddress: "127.0.0.1"})
}
