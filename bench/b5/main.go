// Command b5 is benchmark B5: Fulcrum's L4 proxy side by side with
// HAProxy (mode tcp, nbthread 1) and nginx's stream module
// (worker_processes 1) in front of the same members on loopback. It
// alternates the contenders (A B C A B C …) and prints a markdown table of
// medians: CPU per GB relayed in bulk, and CPU per request/response
// transaction over TCP and UDP, measured as the proxy process's
// utime+stime from /proc.
//
//	go run ./bench/b5 -rounds 3
//
// Every process it starts is stopped before it exits; it uses 127.0.0.1
// only, and its run time is bounded by the flags (about rounds ×
// contenders × (bulk + 2 × duration)).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

type options struct {
	rounds     int
	bulkConns  int
	bulkBytes  int64
	rrConns    int
	rrSize     int
	duration   time.Duration
	udpClients int
	contenders string
	pin        bool
	proxyCPU   int
	loadCPU    int
	warmup     time.Duration
}

func main() {
	if cfg := os.Getenv(childEnv); cfg != "" {
		if err := serveFulcrum(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "b5 fulcrum:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	var bulkMiB int64
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every contender once, in turn")
	flag.IntVar(&o.bulkConns, "bulk-conns", 4, "connections of the bulk transfer")
	flag.Int64Var(&bulkMiB, "bulk-mib", 1024, "MiB sent on each bulk connection")
	flag.IntVar(&o.rrConns, "rr-conns", 64, "connections (and UDP clients) of the request/response runs")
	flag.IntVar(&o.rrSize, "rr-size", 64, "bytes of each request and response")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each request/response run")
	flag.StringVar(&o.contenders, "contenders", "fulcrum,haproxy,haproxy-splice,nginx", "contenders, in the order they alternate")
	flag.BoolVar(&o.pin, "pin", true, "pin proxies to one CPU and the load to another (when there are two)")
	flag.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "request/response warm-up before measuring")
	flag.Parse()
	o.bulkBytes = bulkMiB << 20
	o.udpClients = o.rrConns
	o.proxyCPU, o.loadCPU = -1, -1
	if o.pin && goruntime.NumCPU() >= 2 {
		o.proxyCPU, o.loadCPU = 1, 0
	}
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "b5:", err)
		os.Exit(1)
	}
}

// sample is one contender's figures in one round.
type sample struct {
	bulkMsPerGB, bulkGBps float64
	rrUsPerTx, rrTxps     float64
	rrP50, rrP99          float64 // µs
	udpUsPerTx, udpTxps   float64
	udpLost               int64
	hasUDP                bool
	bulkCPU, rrCPU        time.Duration
	udpCPU, bulkElapsed   time.Duration
	rrElapsed, udpElapsed time.Duration
	bulkGB                float64
	rrTx, udpTx           int64
}

func run(o options, w io.Writer) error {
	srv, err := startServers()
	if err != nil {
		return err
	}
	defer srv.close()
	dir, err := os.MkdirTemp("", "b5-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cs, versions, err := contenders(o, srv.addrs())
	if err != nil {
		return err
	}
	if o.loadCPU >= 0 {
		pinSelf(o.loadCPU)
	}
	results := map[string][]sample{}
	for round := range o.rounds {
		for _, c := range cs {
			s, err := measure(c, o, dir)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round+1, c.name, err)
			}
			fmt.Fprintf(os.Stderr, "round %d %-15s bulk %7.1f ms/GB %5.2f GB/s | tcp rr %6.2f µs/tx %8.0f tx/s | udp %6.2f µs/tx\n",
				round+1, c.name, s.bulkMsPerGB, s.bulkGBps, s.rrUsPerTx, s.rrTxps, s.udpUsPerTx)
			results[c.name] = append(results[c.name], s)
		}
	}
	printTable(w, o, cs, versions, results)
	return nil
}

// contenders builds the requested contenders with their own ports.
func contenders(o options, be backends) ([]contender, map[string]string, error) {
	versions := map[string]string{"go": goruntime.Version(), "fulcrum": gitVersion()}
	var out []contender
	for _, name := range strings.Split(o.contenders, ",") {
		fe, err := freeFrontends()
		if err != nil {
			return nil, nil, err
		}
		switch name = strings.TrimSpace(name); name {
		case "fulcrum":
			out = append(out, fulcrumContender(fe, be))
		case "haproxy", "haproxy-splice":
			bin := findBinary("haproxy")
			if bin == "" {
				return nil, nil, fmt.Errorf("%s: haproxy is not installed (apt-get install haproxy)", name)
			}
			versions["haproxy"] = firstLine(bin, "-v")
			out = append(out, haproxyContender(name, bin, fe, be, name == "haproxy-splice"))
		case "nginx":
			bin := findBinary("nginx")
			if bin == "" || !fileExists(nginxStreamModule) {
				return nil, nil, fmt.Errorf("nginx: needs nginx and its stream module (apt-get install nginx-light libnginx-mod-stream)")
			}
			versions["nginx"] = firstLine(bin, "-v")
			out = append(out, nginxContender(bin, nginxStreamModule, fe, be))
		default:
			return nil, nil, fmt.Errorf("unknown contender %q", name)
		}
	}
	return out, versions, nil
}

// measure starts a contender, runs the three loads and stops it.
func measure(c contender, o options, dir string) (s sample, err error) {
	p, err := c.start(dir, o.proxyCPU)
	if err != nil {
		return s, err
	}
	defer p.stop()
	if o.warmup > 0 {
		if _, err := rrLoad(c.fe.rr, o.rrConns, o.rrSize, o.warmup); err != nil {
			return s, fmt.Errorf("warm-up: %w", err)
		}
	}
	cpu0, _ := cpuTime(p.pid())
	t0 := time.Now()
	if err := bulkLoad(c.fe.bulk, o.bulkConns, o.bulkBytes); err != nil {
		return s, err
	}
	s.bulkElapsed = time.Since(t0)
	cpu1, _ := cpuTime(p.pid())
	s.bulkCPU = cpu1 - cpu0
	s.bulkGB = float64(int64(o.bulkConns)*o.bulkBytes) / 1e9
	s.bulkMsPerGB = s.bulkCPU.Seconds() * 1000 / s.bulkGB
	s.bulkGBps = s.bulkGB / s.bulkElapsed.Seconds()

	t0 = time.Now()
	rr, err := rrLoad(c.fe.rr, o.rrConns, o.rrSize, o.duration)
	if err != nil {
		return s, fmt.Errorf("tcp rr: %w", err)
	}
	s.rrElapsed = time.Since(t0)
	cpu2, _ := cpuTime(p.pid())
	s.rrCPU, s.rrTx = cpu2-cpu1, rr.tx
	s.rrUsPerTx = float64(s.rrCPU.Microseconds()) / float64(max(rr.tx, 1))
	s.rrTxps = float64(rr.tx) / s.rrElapsed.Seconds()
	s.rrP50, s.rrP99 = float64(rr.p50.Microseconds()), float64(rr.p99.Microseconds())
	if !c.udp {
		return s, nil
	}
	t0 = time.Now()
	u, err := udpLoad(c.fe.udp, o.udpClients, o.rrSize, o.duration)
	if err != nil {
		return s, fmt.Errorf("udp: %w", err)
	}
	s.udpElapsed = time.Since(t0)
	cpu3, _ := cpuTime(p.pid())
	s.hasUDP, s.udpCPU, s.udpTx, s.udpLost = true, cpu3-cpu2, u.tx, u.lost
	s.udpUsPerTx = float64(s.udpCPU.Microseconds()) / float64(max(u.tx, 1))
	s.udpTxps = float64(u.tx) / s.udpElapsed.Seconds()
	return s, nil
}

func freeFrontends() (frontends, error) {
	var fe frontends
	var err error
	if fe.bulk, err = freePort("tcp"); err != nil {
		return fe, err
	}
	if fe.rr, err = freePort("tcp"); err != nil {
		return fe, err
	}
	fe.udp, err = freePort("udp")
	return fe, err
}

// pinSelf pins every thread of this process (the load generator and the
// members) to cpu, away from the proxy's.
func pinSelf(cpu int) {
	goruntime.GOMAXPROCS(1)
	if ts, err := exec.LookPath("taskset"); err == nil {
		_ = exec.Command(ts, "-a", "-p", "-c", strconv.Itoa(cpu), strconv.Itoa(os.Getpid())).Run()
	}
}

func gitVersion() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
