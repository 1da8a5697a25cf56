package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/proc"
)

// env is what every benchmark shares: the flags, the programs, the work
// directory and the CPUs to pin to.
type env struct {
	cfg  *config
	root string // the repository
	work string // configurations and logs
	bins map[string]string
	// self is this program, re-executed for the Go members and B8.
	self string
	// proxyCPU and loadCPU are -1 when nothing is pinned.
	proxyCPU, loadCPU int
	versions          map[string]string
	started           time.Time
	// b1Rates are B1's median requests/s per contender (B2's capacity).
	b1Rates map[string]float64

	mu      sync.Mutex
	loads   []float64 // 1-minute load averages sampled during the run
	ports   map[int]bool
	nameSeq int
}

// tool is a program the harness needs and the Debian package it comes in.
type tool struct{ name, pkg string }

var tools = []tool{
	{"nginx", "nginx-light"}, {"haproxy", "haproxy"}, {"caddy", "caddy"},
	{"wrk", "wrk"}, {"h2load", "nghttp2-client"}, {"taskset", "util-linux"},
}

// nginxStreamModule is the dynamic stream module of Debian's nginx (B5).
const nginxStreamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"

func setup(ctx context.Context, cfg *config) (*env, error) {
	e := &env{cfg: cfg, bins: map[string]string{}, versions: map[string]string{}, started: time.Now(),
		proxyCPU: -1, loadCPU: -1, ports: map[int]bool{}}
	var err error
	if e.root, err = repoRoot(); err != nil {
		return nil, err
	}
	if e.self, err = os.Executable(); err != nil {
		return nil, err
	}
	if err := e.findTools(); err != nil {
		return nil, err
	}
	if e.work, err = os.MkdirTemp("", "fulcrum-bench-"); err != nil {
		return nil, err
	}
	if err := e.buildFulcrum(ctx); err != nil {
		return nil, err
	}
	e.readVersions()
	if cfg.pin && goruntime.NumCPU() >= 2 {
		e.proxyCPU, e.loadCPU = 1, 0
		// The harness is the load generator: it runs on the load CPU,
		// with one P, as wrk -t1 does.
		goruntime.GOMAXPROCS(1)
		if err := exec.Command(e.bins["taskset"], "-a", "-p", "-c", "0", strconv.Itoa(os.Getpid())).Run(); err != nil {
			return nil, fmt.Errorf("pinning the harness to CPU 0: %w", err)
		}
	}
	go e.sampleLoad(ctx)
	return e, nil
}

func (e *env) cleanup() {
	if e.cfg.keepWorkDir {
		e.logf("work directory kept: %s", e.work)
		return
	}
	os.RemoveAll(e.work)
}

// logf prints progress to standard error.
func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(e.started).Seconds(), fmt.Sprintf(format, args...))
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run the harness from the Fulcrum repository")
	}
	return filepath.Dir(mod), nil
}

// findTools locates every program, installing the missing ones with
// apt-get when allowed and running as root.
func (e *env) findTools() error {
	var missing []string
	for _, t := range tools {
		if findBinary(t.name) == "" {
			missing = append(missing, t.pkg)
		}
	}
	if !fileExists(nginxStreamModule) {
		missing = append(missing, "libnginx-mod-stream")
	}
	if len(missing) > 0 {
		if !e.cfg.install || os.Getuid() != 0 {
			return fmt.Errorf("missing programs; install them with: apt-get install %s", strings.Join(missing, " "))
		}
		e.logf("installing %s", strings.Join(missing, " "))
		if out, err := exec.Command("apt-get", "update", "-qq").CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get update: %v\n%s", err, out)
		}
		cmd := exec.Command("apt-get", append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get install: %v\n%s", err, out)
		}
	}
	for _, t := range tools {
		if e.bins[t.name] = findBinary(t.name); e.bins[t.name] == "" {
			return fmt.Errorf("%s is not installed (apt-get install %s)", t.name, t.pkg)
		}
	}
	return nil
}

func (e *env) buildFulcrum(ctx context.Context) error {
	if e.cfg.fulcrumBin != "" {
		e.bins["fulcrum"] = e.cfg.fulcrumBin
		return nil
	}
	bin := filepath.Join(e.work, "fulcrum")
	version := gitVersion(e.root)
	e.logf("building fulcrum %s", version)
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags",
		"-X github.com/fulcrumlb/fulcrum/internal/version.Version="+version, "-o", bin, "./cmd/fulcrum")
	cmd.Dir = e.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building fulcrum: %v\n%s", err, out)
	}
	e.bins["fulcrum"] = bin
	return nil
}

func (e *env) readVersions() {
	e.versions["fulcrum"] = gitVersion(e.root) + " (" + goruntime.Version() + ")"
	e.versions["nginx"] = strings.TrimPrefix(firstLine(e.bins["nginx"], "-v"), "nginx version: ")
	e.versions["haproxy"] = firstLine(e.bins["haproxy"], "-v")
	e.versions["caddy"] = firstLine(e.bins["caddy"], "version")
	e.versions["wrk"] = firstLine(e.bins["wrk"], "-v")
	e.versions["h2load"] = firstLine(e.bins["h2load"], "--version")
}

// sampleLoad records the 1-minute load average every 10 s.
func (e *env) sampleLoad(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		if f := strings.Fields(proc.LoadAverage()); len(f) > 0 {
			if x, err := strconv.ParseFloat(f[0], 64); err == nil {
				e.mu.Lock()
				e.loads = append(e.loads, x)
				e.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// loadSummary describes the load averages seen during the run.
func (e *env) loadSummary() string {
	e.mu.Lock()
	xs := append([]float64(nil), e.loads...)
	e.mu.Unlock()
	if len(xs) == 0 {
		return "not sampled"
	}
	sort.Float64s(xs)
	return fmt.Sprintf("1-minute load average min %.2f, median %.2f, max %.2f over %d samples (every 10 s); at the end %s",
		xs[0], xs[len(xs)/2], xs[len(xs)-1], len(xs), proc.LoadAverage())
}

// freePort returns a loopback port that was free a moment ago and that
// this run has not handed out before.
func (e *env) freePort(network string) (int, error) {
	for range 100 {
		var port int
		if network == "udp" {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				return 0, err
			}
			port = pc.LocalAddr().(*net.UDPAddr).Port
			pc.Close()
		} else {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return 0, err
			}
			port = ln.Addr().(*net.TCPAddr).Port
			ln.Close()
		}
		e.mu.Lock()
		seen := e.ports[port]
		e.ports[port] = true
		e.mu.Unlock()
		if !seen {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free %s port", network)
}

// uniqueName returns prefix-N, unique in this run (log file names).
func (e *env) uniqueName(prefix string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nameSeq++
	return fmt.Sprintf("%s-%d", prefix, e.nameSeq)
}

// runTool runs a load tool pinned to the load CPU and returns its output.
func (e *env) runTool(ctx context.Context, timeout time.Duration, argv ...string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	p, err := proc.Start(proc.Options{Name: e.uniqueName(filepath.Base(argv[0])), Dir: e.work, Argv: argv, CPUs: cpuList(e.loadCPU)})
	if err != nil {
		return "", err
	}
	err = p.Wait(timeout)
	out, _ := os.ReadFile(p.LogPath)
	return string(out), err
}

// cpuList renders a CPU number for taskset; -1 (not pinned) is empty.
func cpuList(cpu int) string {
	if cpu < 0 {
		return ""
	}
	return strconv.Itoa(cpu)
}

// allCPUs undoes the harness's own pinning for a child that should use
// every CPU.
func (e *env) allCPUs() string {
	if e.loadCPU < 0 {
		return ""
	}
	return fmt.Sprintf("0-%d", goruntime.NumCPU()-1)
}

// findBinary looks a program up on PATH and in the sbin directories.
func findBinary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// firstLine runs a command and returns the first line of its output.
func firstLine(argv ...string) string {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return "unknown"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

func gitVersion(dir string) string {
	cmd := exec.Command("git", "describe", "--tags", "--always", "--dirty")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// machine describes the computer: CPU model, CPUs, kernel, memory.
func machine() string {
	model, mem := "unknown", ""
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(string(data)); len(f) >= 2 && f[0] == "MemTotal:" {
			if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
				mem = fmt.Sprintf(", %.1f GiB RAM", kb/(1<<20))
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs%s, Linux %s", model, goruntime.NumCPU(), mem, firstLine("uname", "-r"))
}
