// Command bench is Fulcrum's benchmark harness: it runs Fulcrum and its
// peers — nginx, HAProxy and Caddy, each with one worker and configured as
// its documentation recommends — side by side in front of the same
// members on 127.0.0.1, alternates them, and writes a results table with
// medians and ratios to the best peer (docs/benchmarks.md).
//
//	go run ./bench                 # the full set (make bench), tens of minutes
//	go run ./bench -smoke          # every benchmark for a moment (make bench-smoke)
//	go run ./bench -only b1,b2 -rounds 7 -duration 15s
//
// Benchmarks: B1 HTTP/1.1 keep-alive CPU per request; B2 latency at fixed
// rates; B4 HTTP/2 and unary gRPC; B5 L4 TCP and UDP; B7 configuration
// changes under load with WebSockets; B8 control-plane propagation to
// simulated data planes; B9 a member killed under load.
//
// Every process it starts is stopped on the way out (also on a panic,
// SIGINT or SIGTERM, and when -timeout passes); it listens on 127.0.0.1
// only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/proc"
)

// allBenchmarks is the order in which benchmarks run and are reported.
var allBenchmarks = []string{"b1", "b2", "b4", "b5", "b7", "b8", "b9"}

// config holds the flags.
type config struct {
	only        []string
	contenders  []string
	rounds      int
	duration    time.Duration
	warmup      time.Duration
	conns       int
	b2Duration  time.Duration
	b2Rounds    int
	b2Capacity  float64
	b5Rounds    int
	b5BulkMiB   int64
	b5Duration  time.Duration
	b7Changes   int
	b7Interval  time.Duration
	b7Sockets   int
	b7Rate      float64
	b8Nodes     int
	b8Changes   int
	b9Rate      float64
	b9Before    time.Duration
	b9After     time.Duration
	pin         bool
	out         string
	fulcrumBin  string
	install     bool
	timeout     time.Duration
	smoke       bool
	keepWorkDir bool
}

func parseFlags(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	only := fs.String("only", strings.Join(allBenchmarks, ","), "benchmarks to run, comma-separated")
	contenders := fs.String("contenders", "fulcrum,nginx,haproxy,caddy", "contenders of the HTTP benchmarks, in the order they alternate")
	fs.IntVar(&c.rounds, "rounds", 5, "B1 and B4: rounds; each runs every contender once, in turn")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "B1 and B4: length of each run")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "warm-up of each contender before measuring")
	fs.IntVar(&c.conns, "conns", 64, "B1 and B2: client connections")
	fs.DurationVar(&c.b2Duration, "b2-duration", 8*time.Second, "B2: length of each run")
	fs.IntVar(&c.b2Rounds, "b2-rounds", 3, "B2: rounds")
	fs.Float64Var(&c.b2Capacity, "b2-capacity", 0, "B2: requests/s taken as 100 % (0: the best peer's B1 req/s, measured if B1 did not run)")
	fs.IntVar(&c.b5Rounds, "b5-rounds", 3, "B5: rounds")
	fs.Int64Var(&c.b5BulkMiB, "b5-bulk-mib", 1024, "B5: MiB sent on each of the 4 bulk connections")
	fs.DurationVar(&c.b5Duration, "b5-duration", 5*time.Second, "B5: length of each request/response run")
	fs.IntVar(&c.b7Changes, "b7-changes", 100, "B7: configuration changes")
	fs.DurationVar(&c.b7Interval, "b7-interval", 200*time.Millisecond, "B7: time between changes (at least until the previous one is served)")
	fs.IntVar(&c.b7Sockets, "b7-websockets", 20, "B7: WebSockets held open")
	fs.Float64Var(&c.b7Rate, "b7-rate", 1000, "B7: requests/s on kept-alive connections (plus a fifth of it on new connections)")
	fs.IntVar(&c.b8Nodes, "b8-nodes", 1000, "B8: simulated data planes")
	fs.IntVar(&c.b8Changes, "b8-changes", 20, "B8: configuration changes")
	fs.Float64Var(&c.b9Rate, "b9-rate", 1000, "B9: requests/s")
	fs.DurationVar(&c.b9Before, "b9-before", 4*time.Second, "B9: load before the member is killed")
	fs.DurationVar(&c.b9After, "b9-after", 14*time.Second, "B9: load after the member is killed")
	fs.BoolVar(&c.pin, "pin", true, "pin proxies to CPU 1 and load generators and members to CPU 0 (needs 2 CPUs)")
	fs.StringVar(&c.out, "out", "bench/results", "directory of the results file (empty: print only)")
	fs.StringVar(&c.fulcrumBin, "fulcrum", "", "a prebuilt fulcrum binary (default: go build ./cmd/fulcrum)")
	fs.BoolVar(&c.install, "install", true, "install missing peers with apt-get when running as root")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Hour, "bound on the whole run; everything is stopped when it passes")
	fs.BoolVar(&c.smoke, "smoke", false, "run every benchmark for a moment with every contender: checks the harness, not the speed")
	fs.BoolVar(&c.keepWorkDir, "keep", false, "keep the work directory (configurations and logs)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c.only = splitList(*only)
	for _, b := range c.only {
		if !slices.Contains(allBenchmarks, b) {
			return nil, fmt.Errorf("-only: unknown benchmark %q (have %s)", b, strings.Join(allBenchmarks, ","))
		}
	}
	c.contenders = splitList(*contenders)
	for _, n := range c.contenders {
		if !slices.Contains([]string{"fulcrum", "nginx", "haproxy", "caddy"}, n) {
			return nil, fmt.Errorf("-contenders: unknown contender %q", n)
		}
	}
	if c.smoke {
		c.applySmoke(fs)
	}
	return c, nil
}

// applySmoke shortens every benchmark to a moment, for flags not given.
func (c *config) applySmoke(fs *flag.FlagSet) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	def := func(name string, apply func()) {
		if !set[name] {
			apply()
		}
	}
	def("rounds", func() { c.rounds = 1 })
	def("duration", func() { c.duration = time.Second })
	def("warmup", func() { c.warmup = 200 * time.Millisecond })
	def("b2-duration", func() { c.b2Duration = 500 * time.Millisecond })
	def("b2-rounds", func() { c.b2Rounds = 1 })
	def("b5-rounds", func() { c.b5Rounds = 1 })
	def("b5-bulk-mib", func() { c.b5BulkMiB = 16 })
	def("b5-duration", func() { c.b5Duration = 500 * time.Millisecond })
	def("b7-changes", func() { c.b7Changes = 5 })
	def("b7-interval", func() { c.b7Interval = 100 * time.Millisecond })
	def("b7-websockets", func() { c.b7Sockets = 4 })
	def("b7-rate", func() { c.b7Rate = 200 })
	def("b8-nodes", func() { c.b8Nodes = 20 })
	def("b8-changes", func() { c.b8Changes = 4 })
	def("b9-rate", func() { c.b9Rate = 200 })
	def("b9-before", func() { c.b9Before = time.Second })
	def("b9-after", func() { c.b9After = 2 * time.Second })
	def("out", func() { c.out = "" })
	def("timeout", func() { c.timeout = 5 * time.Minute })
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func main() {
	if handled, err := runChild(); handled {
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run sets up the environment, runs the benchmarks and reports. Every
// process is stopped before it returns, whatever happens.
func run(cfg *config) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	// Unblock whatever waits on a child when the run is interrupted.
	go func() {
		<-ctx.Done()
		proc.StopAll(true)
	}()
	defer func() {
		if r := recover(); r != nil {
			proc.StopAll(true)
			panic(r)
		}
		proc.StopAll(true)
	}()
	e, err := setup(ctx, cfg)
	if err != nil {
		return err
	}
	defer e.cleanup()
	rep := newReport(e)
	var failed []string
	for _, b := range allBenchmarks {
		if !slices.Contains(cfg.only, b) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		e.logf("=== %s", strings.ToUpper(b))
		sec, err := runBenchmark(ctx, e, b)
		if err != nil {
			failed = append(failed, b)
			e.logf("%s failed: %v", strings.ToUpper(b), err)
			sec.err = err
		}
		rep.add(sec)
		rep.checkpoint()
	}
	if err := rep.finish(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", context.Cause(ctx))
	}
	if len(failed) > 0 {
		return fmt.Errorf("benchmarks failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

func runBenchmark(ctx context.Context, e *env, name string) (sec *section, err error) {
	defer func() {
		if sec == nil {
			sec = newSection(name, "")
		}
	}()
	switch name {
	case "b1":
		return runB1(ctx, e)
	case "b2":
		return runB2(ctx, e)
	case "b4":
		return runB4(ctx, e)
	case "b5":
		return runB5(ctx, e)
	case "b7":
		return runB7(ctx, e)
	case "b8":
		return runB8(ctx, e)
	case "b9":
		return runB9(ctx, e)
	}
	return nil, fmt.Errorf("unknown benchmark %q", name)
}
