package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/loadgen"
	"github.com/fulcrumlb/fulcrum/bench/internal/parse"
)

// b9Poll is how often the attempts at the killed member are read.
const b9Poll = 25 * time.Millisecond

// b9Quiet is the silence that ends the burst of attempts at the killed
// member: the first such gap is when "no request reaches it".
const b9Quiet = time.Second

// b9Result is one contender's run of B9.
type b9Result struct {
	load *loadgen.HTTPResult
	// observed is false when the contender exposes no per-member count.
	observed bool
	// detect is the time from the kill to the last attempt at the dead
	// member before the first quiet second; -1 if attempts never stopped.
	detect time.Duration
	// burst and later count the attempts at the dead member before and
	// after that quiet second (later ones: re-probes with live traffic).
	burst, later int64
	// firstFailure and lastFailure are the failed requests' times after
	// the kill.
	firstFailure, lastFailure time.Duration
}

// sample is a reading of the attempts counter.
type sample struct {
	at time.Time
	n  int64
}

// runB9 is B9: a member SIGKILLed under constant load; how long each
// contender keeps sending requests to it and how many requests fail.
func runB9(ctx context.Context, e *env) (*section, error) {
	s := newSection("b9", "a member killed under load")
	res := map[string]*b9Result{}
	for _, n := range e.cfg.contenders {
		r, err := e.b9One(ctx, n)
		if err != nil {
			return s, fmt.Errorf("%s: %w", n, err)
		}
		res[n] = r
		e.logf("B9 %-8s detection %s, attempts at the dead member %d (+%d later), failed %d of %d (%s), p99 %s ms, max %s ms",
			n, b9Detect(r), r.burst, r.later, r.load.Failures(), r.load.Due(), r.load.FailureSummary(),
			ms(r.load.Latency.Quantile(0.99)), ms(r.load.Latency.Quantile(1)))
	}
	writeB9(s, e, res)
	return s, nil
}

// b9One runs the kill against one contender with fresh members.
func (e *env) b9One(ctx context.Context, name string) (*b9Result, error) {
	var addrs []string
	var victim interface{ Kill() }
	for i := range 2 {
		addr, p, err := e.goMember("http")
		if err != nil {
			return nil, err
		}
		defer p.Stop(time.Second)
		if i == 0 {
			victim = p
		}
		addrs = append(addrs, addr)
	}
	in, err := e.startContender(name, "failover", members{HTTP: addrs}, false)
	if err != nil {
		return nil, err
	}
	defer in.stop()
	count := e.attemptCounter(in, addrs[0])
	r := &b9Result{observed: count != nil, detect: -1}
	time.Sleep(500 * time.Millisecond) // health checks start
	var series []sample
	obsCtx, stopObs := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if count != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			series = observe(obsCtx, count)
		}()
	}
	var killAt time.Time
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-time.After(e.cfg.b9Before):
			killAt = time.Now()
			victim.Kill()
		case <-ctx.Done():
		}
	}()
	r.load, err = loadgen.RunHTTP(ctx, loadgen.HTTPOptions{Addr: in.addr(in.data.Port.HTTP), Conns: 16, Rate: e.cfg.b9Rate,
		Duration: e.cfg.b9Before + e.cfg.b9After, CheckIdle: true})
	stopObs()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if killAt.IsZero() {
		return nil, ctx.Err()
	}
	r.detect, r.burst, r.later = analyseAttempts(series, killAt, b9Quiet)
	for _, t := range r.load.FailedAt {
		if d := t.Sub(killAt); r.firstFailure == 0 || d < r.firstFailure {
			r.firstFailure = d
		}
		if d := t.Sub(killAt); d > r.lastFailure {
			r.lastFailure = d
		}
	}
	return r, nil
}

// observe reads count every b9Poll until ctx ends.
func observe(ctx context.Context, count func() (int64, error)) []sample {
	var out []sample
	t := time.NewTicker(b9Poll)
	defer t.Stop()
	for {
		if n, err := count(); err == nil {
			out = append(out, sample{time.Now(), n})
		}
		select {
		case <-ctx.Done():
			return out
		case <-t.C:
		}
	}
}

// analyseAttempts finds, after the kill, the last increase of the counter
// before the first gap of quiet without one. It returns that time since
// the kill (-1 if the increases never paused for quiet), and the
// attempts before and after the gap.
func analyseAttempts(series []sample, killAt time.Time, quiet time.Duration) (time.Duration, int64, int64) {
	var base int64 = -1
	var lastInc time.Time
	var prev int64
	detect := time.Duration(-1)
	var burst int64
	for _, s := range series {
		if s.at.Before(killAt) {
			base, prev = s.n, s.n
			continue
		}
		if base < 0 { // no reading before the kill
			base, prev = s.n, s.n
			continue
		}
		if detect < 0 && !lastInc.IsZero() && s.at.Sub(lastInc) >= quiet {
			detect, burst = lastInc.Sub(killAt), prev-base
		}
		if detect < 0 && lastInc.IsZero() && s.at.Sub(killAt) >= quiet && s.n == base {
			detect = 0 // nothing ever reached it after the kill
		}
		if s.n > prev {
			lastInc = s.at
		}
		prev = s.n
	}
	if base < 0 {
		return -1, 0, 0
	}
	if detect < 0 {
		return -1, prev - base, 0
	}
	return detect, burst, prev - base - burst
}

// attemptCounter returns a function reading how many requests the
// contender has sent to member (in any state), from its own accounting:
// Fulcrum's fulcrum_http_upstream_requests_total, HAProxy's per-server
// sessions (stot: every attempt, also those redispatched after a failed
// connection) on its stats socket,
// nginx's error log lines naming the member. Caddy exposes none (nil).
func (e *env) attemptCounter(in *instance, member string) func() (int64, error) {
	switch in.kind {
	case "fulcrum":
		url := "http://" + in.adminAddr() + "/metrics"
		return func() (int64, error) {
			resp, err := http.Get(url)
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return 0, err
			}
			return int64(parse.PromSum(string(body), "fulcrum_http_upstream_requests_total", map[string]string{"member": member})), nil
		}
	case "haproxy":
		sock := filepath.Join(in.data.Dir, "admin.sock")
		return func() (int64, error) {
			servers, err := haproxyStat(sock)
			if err != nil {
				return 0, err
			}
			for _, s := range servers {
				if s.Name == "s0" {
					return s.Stot, nil
				}
			}
			return 0, fmt.Errorf("no server s0")
		}
	case "nginx":
		logPath := filepath.Join(in.data.Dir, "error.log")
		needle := `upstream: "http://` + member + `/`
		return func() (int64, error) {
			return countLines(logPath, needle)
		}
	}
	return nil
}

func haproxyStat(sock string) ([]parse.HAProxyServer, error) {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("show stat\n")); err != nil {
		return nil, err
	}
	out, err := io.ReadAll(c)
	if err != nil {
		return nil, err
	}
	return parse.ParseHAProxyStat(string(out))
}

func countLines(path, needle string) (int64, error) {
	f, err := openFile(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), needle) {
			n++
		}
	}
	return n, sc.Err()
}

func b9Detect(r *b9Result) string {
	switch {
	case !r.observed:
		return "not observable"
	case r.detect < 0:
		return "never (attempts continued)"
	}
	return ms(r.detect) + " ms"
}

func openFile(path string) (io.ReadCloser, error) { return os.Open(path) }

// b9Setups describe each contender's detection and retry settings.
var b9Setups = map[string]string{
	"fulcrum": "http check every 2s, fall 3, 1s re-check after a failure; outlier ejection after 5 consecutive errors; 2 retries on connect-failure and reset",
	"nginx":   "passive only: max_fails=1, fail_timeout=10s (defaults); proxy_next_upstream error timeout",
	"haproxy": "active check (TCP) inter 2s, fall 3, rise 2 (defaults); retries 3, option redispatch, retry-on conn-failure empty-response response-timeout",
	"caddy":   "none by default (no passive or active checks); lb_try_duration 5s (retry another upstream every 250 ms)",
}

func writeB9(s *section, e *env, res map[string]*b9Result) {
	s.printf("Each contender in turn, with two fresh Go members (one process each): %.0f requests/s (open loop, 16 kept-alive connections) for %v, "+
		"then one member is SIGKILLed and the load goes on for %v. \"Until no request reaches it\" is the time from the kill to the last attempt the "+
		"proxy made at the dead member before %v without any, read every %v from the proxy's own accounting (Fulcrum: "+
		"`fulcrum_http_upstream_requests_total` of the member; HAProxy: the server's `stot`, which counts every attempt including those redispatched, on its stats socket; nginx: error-log lines "+
		"naming the member; Caddy exposes no per-upstream count). Attempts after that quiet second are re-probes with live traffic. "+
		"Every peer has its default detection settings and its documented retry setup. Failed requests include those left unsent because all 16 "+
		"connections were still waiting for slow answers when the run ended (`unsent`); latency counts from each request's due time.\n\n",
		e.cfg.b9Rate, e.cfg.b9Before, e.cfg.b9After, b9Quiet, b9Poll)
	var rows [][]string
	for _, n := range e.cfg.contenders {
		r := res[n]
		attempts, fails := "n/a", "—"
		if r.observed {
			attempts = fmt.Sprintf("%d / %d", r.burst, r.later)
		}
		if r.load.Failures() > 0 {
			fails = fmt.Sprintf("%s – %s", ms(r.firstFailure), ms(r.lastFailure))
		}
		rows = append(rows, []string{n, b9Setups[n], b9Detect(r), attempts,
			fmt.Sprintf("%d of %d (%s)", r.load.Failures(), r.load.Due(), r.load.FailureSummary()), fails,
			ms(r.load.Latency.Quantile(0.99)) + " / " + ms(r.load.Latency.Quantile(1))})
	}
	writeTable(&s.body, []string{"contender", "detection and retries", "until no request reaches it", "attempts at the dead member: burst / later",
		"failed requests", "failures, ms after the kill", "p99 / max latency ms"}, "llrrrrr", rows)
	f := res["fulcrum"]
	if f == nil {
		return
	}
	var peers []string
	for _, n := range e.cfg.contenders {
		if n != "fulcrum" {
			peers = append(peers, fmt.Sprintf("%s %s", n, b9Detect(res[n])))
		}
	}
	s.summary = append(s.summary, summaryRow{bench: "B9", metric: "time until no request reaches the killed member",
		fulcrum: b9Detect(f), best: strings.Join(peers, ", "), ratio: "—", target: "≤ 1/3 of the peers' default detection"})
	peers = peers[:0]
	for _, n := range e.cfg.contenders {
		if n != "fulcrum" {
			peers = append(peers, fmt.Sprintf("%s %d", n, res[n].load.Failures()))
		}
	}
	s.summary = append(s.summary, summaryRow{bench: "B9", metric: "failed requests (GET, retries on)",
		fulcrum: fmt.Sprintf("%d", f.load.Failures()), best: strings.Join(peers, ", "), ratio: "—", target: "0"})
}
