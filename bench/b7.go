package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/loadgen"
	"github.com/fulcrumlb/fulcrum/bench/internal/stats"
)

// b7Result is one contender's run of B7.
type b7Result struct {
	applied       int
	applyLatency  stats.Latencies // from the reload command to the new X-Config served
	kept, fresh   *loadgen.HTTPResult
	probeFailed   [loadgen.NumKinds]int64 // by loadgen.Kind
	wsOpened      int
	wsDropped     int64
	wsMessages    int64
	wsFirstErr    error
	reloadErrors  int
	firstReloadEr error
}

// b7Contenders maps the contenders to B7's: HAProxy twice, without and
// with the listening sockets passed to the new worker (-x).
func b7Contenders(names []string) []string {
	var out []string
	for _, n := range names {
		if n == "haproxy" {
			out = append(out, "haproxy", "haproxy-x")
		} else {
			out = append(out, n)
		}
	}
	return out
}

// runB7 is B7: a stream of configuration changes under constant load on
// kept-alive and new connections, with WebSockets held open; it counts
// failed requests, refused connections and WebSockets dropped.
func runB7(ctx context.Context, e *env) (*section, error) {
	s := newSection("b7", "configuration changes under load, WebSockets held open")
	var addrs []string
	for range 2 {
		addr, p, err := e.goMember("http")
		if err != nil {
			return s, err
		}
		defer p.Stop(time.Second)
		addrs = append(addrs, addr)
	}
	names := b7Contenders(e.cfg.contenders)
	res := map[string]*b7Result{}
	for _, n := range names {
		r, err := e.b7One(ctx, n, addrs)
		if err != nil {
			return s, fmt.Errorf("%s: %w", n, err)
		}
		res[n] = r
		e.logf("B7 %-9s %d/%d changes applied (p50 %s ms), requests failed %d (%s), new connections failed %d (%s), WebSockets dropped %d/%d",
			n, r.applied, e.cfg.b7Changes, ms(r.applyLatency.Quantile(0.5)), r.kept.Failures(), r.kept.FailureSummary(),
			r.fresh.Failures(), r.fresh.FailureSummary(), r.wsDropped, r.wsOpened)
	}
	writeB7(s, e, names, res)
	return s, nil
}

// b7One runs the change sequence against one contender.
func (e *env) b7One(ctx context.Context, name string, addrs []string) (*b7Result, error) {
	in, err := e.startContender(name, "reload", members{HTTP: addrs}, true)
	if err != nil {
		return nil, err
	}
	defer in.stop()
	r := &b7Result{}
	addr := in.addr(in.data.Port.HTTP)
	if err := waitConfig(ctx, addr, 0, 10*time.Second, nil); err != nil {
		return nil, err
	}
	ws, err := loadgen.HoldWebSockets("ws://"+addr+"/ws", e.cfg.b7Sockets, 100*time.Millisecond)
	if err != nil {
		return nil, err
	}
	r.wsOpened = ws.Opened
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	run := func(dst **loadgen.HTTPResult, o loadgen.HTTPOptions) {
		defer wg.Done()
		res, err := loadgen.RunHTTP(loadCtx, o)
		if err != nil && res == nil {
			res = &loadgen.HTTPResult{}
		}
		*dst = res
	}
	long := time.Duration(e.cfg.b7Changes)*(e.cfg.b7Interval+time.Second) + time.Minute
	wg.Add(2)
	go run(&r.kept, loadgen.HTTPOptions{Addr: addr, Conns: 16, Rate: e.cfg.b7Rate, Duration: long, CheckIdle: true})
	go run(&r.fresh, loadgen.HTTPOptions{Addr: addr, Conns: 8, Rate: e.cfg.b7Rate / 5, Duration: long, Fresh: true})
	time.Sleep(500 * time.Millisecond) // the load is flowing before the first change
	for i := 1; i <= e.cfg.b7Changes && ctx.Err() == nil; i++ {
		t0 := time.Now()
		if err := in.reload(ctx, i); err != nil {
			r.reloadErrors++
			if r.firstReloadEr == nil {
				r.firstReloadEr = err
			}
			continue
		}
		if err := waitConfig(ctx, addr, i, 15*time.Second, &r.probeFailed); err != nil {
			stopLoad()
			wg.Wait()
			ws.Close()
			return nil, fmt.Errorf("change %d: %w", i, err)
		}
		r.applied++
		r.applyLatency.Add(time.Since(t0))
		if in.kind == "haproxy" {
			time.Sleep(haproxySettle)
		}
		time.Sleep(time.Until(t0.Add(e.cfg.b7Interval)))
	}
	time.Sleep(time.Second) // requests in flight at the last change complete
	stopLoad()
	wg.Wait()
	r.wsDropped, r.wsMessages, r.wsFirstErr = ws.Close()
	if in.p.Exited() {
		return nil, fmt.Errorf("exited during the changes:\n%s", in.p.Log())
	}
	return r, ctx.Err()
}

// waitConfig polls addr with new connections until responses carry
// X-Config: n, counting failed probes by kind in failed (if not nil).
func waitConfig(ctx context.Context, addr string, n int, timeout time.Duration, failed *[loadgen.NumKinds]int64) error {
	want := strconv.Itoa(n)
	deadline := time.Now().Add(timeout)
	var last string
	for ctx.Err() == nil {
		resp, kind, err := loadgen.Probe(addr, "x-config", 2*time.Second)
		switch {
		case err != nil:
			last = err.Error()
			if failed != nil {
				failed[kind]++
			}
		case resp.Header == want:
			return nil
		default:
			last = "X-Config: " + resp.Header
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("configuration %d not served after %v (last: %s)", n, timeout, last)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return ctx.Err()
}

func writeB7(s *section, e *env, names []string, res map[string]*b7Result) {
	s.printf("Each contender in turn (alone on the machine): %d changes, one every %v at the earliest and never before the previous one is served "+
		"(a new X-Config response header, checked with new connections every 2 ms). Meanwhile: %.0f requests/s on 16 kept-alive connections "+
		"(a connection the server closed while idle is noticed with a non-blocking peek and reopened without a failure, as HTTP clients do), "+
		"%.0f requests/s each on a new connection, and %d WebSockets echoing a message every 100 ms. Changes: Fulcrum rewrites its file then SIGHUP; "+
		"nginx `nginx -s reload`; HAProxy master-worker (`-W`) with SIGUSR2 (`haproxy-x`: plus `expose-fd listeners` on the stats socket, so the master "+
		"hands the listening sockets to the new worker, `-x`; the next SIGUSR2 waits for the master's `Loading success.` and 100 ms more, "+
		"because HAProxy 2.6 loses a SIGUSR2 sent while it finishes a reload); Caddy POST /load of the new Caddyfile to its admin API (what `caddy reload` does).\n\n",
		e.cfg.b7Changes, e.cfg.b7Interval, e.cfg.b7Rate, e.cfg.b7Rate/5, e.cfg.b7Sockets)
	var rows [][]string
	for _, n := range names {
		r := res[n]
		probes := int64(0)
		for _, x := range r.probeFailed {
			probes += x
		}
		reloads := fmt.Sprintf("%d/%d", r.applied, e.cfg.b7Changes)
		if r.reloadErrors > 0 {
			reloads += fmt.Sprintf(" (%d reload errors: %s)", r.reloadErrors, oneLine(r.firstReloadEr.Error()))
		}
		ws := fmt.Sprintf("%d of %d", r.wsDropped, r.wsOpened)
		if r.wsFirstErr != nil {
			ws += " (" + oneLine(r.wsFirstErr.Error()) + ")"
		}
		rows = append(rows, []string{n, reloads, ms(r.applyLatency.Quantile(0.5)) + " / " + ms(r.applyLatency.Quantile(1)),
			fmt.Sprintf("%d of %d (%s)", r.kept.Failures(), r.kept.Due(), r.kept.FailureSummary()),
			fmt.Sprintf("%d of %d (%s)", r.fresh.Failures(), r.fresh.Due(), r.fresh.FailureSummary()),
			strconv.FormatInt(r.fresh.Failed[loadgen.Refused]+r.probeFailed[loadgen.Refused], 10),
			strconv.FormatInt(probes, 10), ws})
	}
	writeTable(&s.body, []string{"contender", "changes applied", "change → served p50 / max ms", "kept-alive requests failed",
		"new-connection requests failed", "connections refused", "failed probes", "WebSockets dropped"}, "lrrrrrrr", rows)
	s.printf("\n`reused-closed` counts requests written to a kept-alive connection that the server closed before answering (a race that clients retry for idempotent requests); " +
		"`refused` counts connections refused; both count as failures here.\n")
	b7Summary(s, names, res)
}

// b7Summary adds the summary rows: failures and drops (target 0).
func b7Summary(s *section, names []string, res map[string]*b7Result) {
	if res["fulcrum"] == nil {
		return
	}
	failures := func(r *b7Result) int64 {
		n := r.kept.Failures() + r.fresh.Failures()
		for _, x := range r.probeFailed {
			n += x
		}
		return n
	}
	peers := func(f func(*b7Result) int64) string {
		var parts []string
		for _, n := range names {
			if n != "fulcrum" {
				parts = append(parts, fmt.Sprintf("%s %d", n, f(res[n])))
			}
		}
		return strings.Join(parts, ", ")
	}
	dropped := func(r *b7Result) int64 { return r.wsDropped }
	s.summary = append(s.summary,
		summaryRow{bench: "B7", metric: "failed requests + refused connections", fulcrum: strconv.FormatInt(failures(res["fulcrum"]), 10), best: peers(failures), ratio: "—", target: "0"},
		summaryRow{bench: "B7", metric: "WebSockets dropped", fulcrum: strconv.FormatInt(res["fulcrum"].wsDropped, 10), best: peers(dropped), ratio: "—", target: "0"})
}
