package health

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The load test runs 10,000 TCP targets at a 1s interval for a few seconds.
// Set FULCRUM_HEALTH_LOAD to a duration (e.g. 60s) for a longer run, and
// FULCRUM_HEALTH_LOAD_WORKERS to change MaxConcurrency (default 256):
//
//	FULCRUM_HEALTH_LOAD=60s go test -run TestLoad10k -v ./health/
const (
	loadTargets   = 10000
	loadListeners = 50
	loadWorkers   = DefaultMaxConcurrency
	helperEnv     = "FULCRUM_HEALTH_LISTENER_HELPER"
)

// TestLoad10k checks 10,000 distinct targets (50 loopback listeners × 200
// configurations) at a 1s interval and reports the Checker's CPU share and
// goroutines. The listeners run in a child process so that the CPU figure
// is the Checker's own.
func TestLoad10k(t *testing.T) {
	measure, workers := loadSettings(t)
	ports, child := startListenerHelper(t)
	var targets []Target
	for i := range loadTargets {
		cfg := Config{Type: TypeTCP, Interval: time.Second, Timeout: time.Second,
			Rise: 1 + (i/loadListeners)%20, Fall: 1 + (i/loadListeners/20)%10}
		addr := net.JoinHostPort("127.0.0.1", ports[i%loadListeners])
		targets = append(targets, Target{Address: addr, Config: cfg})
	}
	baseline := runtime.NumGoroutine()
	reg := prometheus.NewRegistry()
	c := startChecker(t, Options{MaxConcurrency: workers, Registerer: reg})
	// A subscriber that never drains must not slow probing down, and its
	// queue must stay bounded by the number of targets.
	stalled := c.Subscribe()
	defer stalled.Close()
	keys, err := c.Set("load", targets)
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[Key]bool{}
	for _, k := range keys {
		distinct[k] = true
	}
	if len(distinct) != loadTargets || c.Len() != loadTargets {
		t.Fatalf("%d distinct keys, %d targets; want %d", len(distinct), c.Len(), loadTargets)
	}

	// Warm up for one interval: the first probes are spread over it.
	var peak, peakWorkers int
	samplePeaks(t, reg, 1500*time.Millisecond, &peak, &peakWorkers)
	probes0, cpu0, child0, wall0 := probeCount(t, reg), processCPU(), childCPU(child), time.Now()
	samplePeaks(t, reg, measure, &peak, &peakWorkers)
	probes1, cpu1, child1, wall1 := probeCount(t, reg), processCPU(), childCPU(child), time.Now()
	wall := wall1.Sub(wall0)

	logLoad(t, c, reg, workers, wall, probes1-probes0)
	t.Logf("checker CPU share=%.1f%% of one core (utime+stime %v over %v); listener process %.1f%%",
		100*(cpu1-cpu0).Seconds()/wall.Seconds(), (cpu1 - cpu0).Round(time.Millisecond),
		wall.Round(time.Millisecond), 100*(child1-child0).Seconds()/wall.Seconds())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("goroutines: baseline=%d peak=%d (peak-baseline=%d), peak workers=%d; heap in use %.1f MiB",
		baseline, peak, peak-baseline, peakWorkers, float64(ms.HeapInuse)/(1<<20))

	stalled.mu.Lock()
	queued := len(stalled.pending)
	stalled.mu.Unlock()
	if queued > loadTargets {
		t.Errorf("stalled subscriber holds %d events for %d targets", queued, loadTargets)
	}
	// One scheduler, at most MaxConcurrency workers, each with at most one
	// helper goroutine of the net package while it dials (it watches the
	// context), plus the short-lived goroutines of the test itself.
	if ceiling := baseline + 2*workers + 20; peak > ceiling {
		t.Errorf("peak goroutines %d above the ceiling %d", peak, ceiling)
	}
	if peakWorkers > workers {
		t.Errorf("peak workers %d above MaxConcurrency %d", peakWorkers, workers)
	}
}

// loadSettings reads the measuring window and MaxConcurrency from the
// environment.
func loadSettings(t *testing.T) (time.Duration, int) {
	measure := 3 * time.Second
	if v := os.Getenv("FULCRUM_HEALTH_LOAD"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("FULCRUM_HEALTH_LOAD: %v", err)
		}
		measure = d
	}
	workers := loadWorkers
	if v := os.Getenv("FULCRUM_HEALTH_LOAD_WORKERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("FULCRUM_HEALTH_LOAD_WORKERS=%q: want a positive number", v)
		}
		workers = n
	}
	return measure, workers
}

// logLoad reports the run's settings, probe rate, health and lag.
func logLoad(t *testing.T, c *Checker, reg *prometheus.Registry, workers int, wall time.Duration, probes uint64) {
	var healthy, failures uint64
	reasons := map[string]int{}
	for _, st := range c.States() {
		if st.Healthy() {
			healthy++
		}
		failures += st.TotalFailures
		if st.LastError != "" {
			reasons[st.LastError]++
		}
	}
	loadavg, _ := os.ReadFile("/proc/loadavg")
	t.Logf("targets=%d interval=1s workers<=%d GOMAXPROCS=%d race=%v window=%v loadavg=%s",
		loadTargets, workers, runtime.GOMAXPROCS(0), raceEnabled, wall.Round(time.Millisecond),
		strings.Join(strings.Fields(string(loadavg))[:3], " "))
	t.Logf("probes/s=%.0f healthy=%d failures=%d mean-lag=%v",
		float64(probes)/wall.Seconds(), healthy, failures, meanLag(t, reg).Round(time.Microsecond))
	if len(reasons) > 0 {
		t.Logf("last errors of failing targets: %v", reasons)
	}
}

// samplePeaks sleeps for d, sampling every 50ms the goroutine count and the
// worker gauge, and raises the peaks to the highest values seen.
func samplePeaks(t *testing.T, reg prometheus.Gatherer, d time.Duration, goroutines, workers *int) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		*goroutines = max(*goroutines, runtime.NumGoroutine())
		*workers = max(*workers, int(gauge(t, reg, "fulcrum_health_workers")))
		time.Sleep(50 * time.Millisecond)
	}
}

func probeCount(t *testing.T, reg prometheus.Gatherer) uint64 {
	var n float64
	for _, r := range []string{resultSuccess, resultFailure, resultTimeout} {
		n += counter(t, reg, "fulcrum_health_probes_total", "type", "tcp", "result", r)
	}
	return uint64(n)
}

// meanLag is the mean of fulcrum_health_schedule_lag_seconds: how late
// probes started compared with their due time.
func meanLag(t *testing.T, reg *prometheus.Registry) time.Duration {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "fulcrum_health_schedule_lag_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() == 0 {
			return 0
		}
		return time.Duration(h.GetSampleSum() / float64(h.GetSampleCount()) * float64(time.Second))
	}
	return 0
}

// processCPU returns this process's user plus system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU reads utime+stime of a child from /proc (in USER_HZ=100 ticks).
func childCPU(cmd *exec.Cmd) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// startListenerHelper runs this test binary as a child that listens on
// loadListeners loopback ports and returns the ports. The child exits when
// its stdin closes, which the cleanup does.
func startListenerHelper(t *testing.T) ([]string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadListenerHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+strconv.Itoa(loadListeners))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if ports, ok := strings.CutPrefix(sc.Text(), "ports: "); ok {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return strings.Split(ports, ","), cmd
		}
	}
	t.Fatalf("listener helper printed no ports: %v", sc.Err())
	return nil, nil
}

// TestLoadListenerHelper is the child process of TestLoad10k, not a test.
func TestLoadListenerHelper(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv(helperEnv))
	if err != nil {
		t.Skip("runs only as TestLoad10k's listener process")
	}
	var wg sync.WaitGroup
	var ls []net.Listener
	var ports []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		_, port, _ := net.SplitHostPort(l.Addr().String())
		ports = append(ports, port)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				// Wait for the checker's close (a reset), then close: a
				// server that resets first can race the client's connect
				// and fail it with ECONNRESET, which no real server does.
				go func() {
					_, _ = c.Read(make([]byte, 1))
					c.Close()
				}()
			}
		}()
	}
	fmt.Printf("ports: %s\n", strings.Join(ports, ","))
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, l := range ls {
		l.Close()
	}
	wg.Wait()
}
