package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// frontends are a contender's listening ports; backends the members'
// addresses, shared by every contender.
type frontends struct{ bulk, rr, udp int }

type backends struct{ bulk, rr, udp string }

// contender is one proxy under test.
type contender struct {
	name string
	fe   frontends
	udp  bool // serves UDP
	// start launches the proxy, pinned to cpu (-1: not pinned), and
	// returns it once it accepts connections.
	start func(dir string, cpu int) (*process, error)
}

// process is a launched proxy; Stop ends it and every child it forked.
type process struct {
	cmd *exec.Cmd
	log *os.File
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); p.log.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// launch starts argv in its own process group (so a stuck proxy and its
// workers can be killed together), pinned with taskset when cpu >= 0.
func launch(dir, name string, cpu int, env []string, argv ...string) (*process, error) {
	if cpu >= 0 {
		if ts, err := exec.LookPath("taskset"); err == nil {
			argv = append([]string{ts, "-c", strconv.Itoa(cpu)}, argv...)
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &process{cmd: cmd, log: logf}, nil
}

// waitListening waits until every TCP port accepts connections.
func waitListening(p *process, ports ...int) error {
	deadline := time.Now().Add(10 * time.Second)
	for _, port := range ports {
		for {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				p.stop()
				out, _ := os.ReadFile(p.log.Name())
				return fmt.Errorf("port %d not listening after 10s; its output:\n%s", port, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

func fulcrumContender(fe frontends, be backends) contender {
	return contender{name: "fulcrum", fe: fe, udp: true, start: func(dir string, cpu int) (*process, error) {
		cfg := filepath.Join(dir, "fulcrum.yaml")
		if err := os.WriteFile(cfg, []byte(fulcrumConfig(fe, be)), 0o600); err != nil {
			return nil, err
		}
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		p, err := launch(dir, "fulcrum", cpu, []string{childEnv + "=" + cfg, "GOMAXPROCS=1"}, self)
		if err != nil {
			return nil, err
		}
		return p, waitListening(p, fe.bulk, fe.rr)
	}}
}

// haproxyContender is HAProxy in mode tcp with one thread; with splice it
// uses kernel splicing where HAProxy judges it worth it (option
// splice-auto), which is off by default.
func haproxyContender(name, bin string, fe frontends, be backends, splice bool) contender {
	return contender{name: name, fe: fe, start: func(dir string, cpu int) (*process, error) {
		opt := ""
		if splice {
			opt = "  option splice-auto\n"
		}
		cfg := fmt.Sprintf(`global
  nbthread 1
  maxconn 4096
defaults
  mode tcp
%s  timeout connect 5s
  timeout client 1h
  timeout server 1h
listen bulk
  bind 127.0.0.1:%d
  server s1 %s
listen rr
  bind 127.0.0.1:%d
  server s1 %s
`, opt, fe.bulk, be.bulk, fe.rr, be.rr)
		path := filepath.Join(dir, name+".cfg")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		p, err := launch(dir, name, cpu, nil, bin, "-db", "-f", path)
		if err != nil {
			return nil, err
		}
		return p, waitListening(p, fe.bulk, fe.rr)
	}}
}

// nginxContender is nginx's stream module with one worker.
func nginxContender(bin, module string, fe frontends, be backends) contender {
	return contender{name: "nginx", fe: fe, udp: true, start: func(dir string, cpu int) (*process, error) {
		cfg := fmt.Sprintf(`load_module %s;
worker_processes 1;
daemon off;
pid %s/nginx.pid;
error_log %s/nginx-error.log warn;
events { worker_connections 4096; }
stream {
  server { listen 127.0.0.1:%d; proxy_pass %s; }
  server { listen 127.0.0.1:%d; proxy_pass %s; }
  server { listen 127.0.0.1:%d udp; proxy_pass %s; proxy_timeout 1h; }
}
`, module, dir, dir, fe.bulk, be.bulk, fe.rr, be.rr, fe.udp, be.udp)
		path := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		p, err := launch(dir, "nginx", cpu, nil, bin, "-p", dir, "-c", path)
		if err != nil {
			return nil, err
		}
		return p, waitListening(p, fe.bulk, fe.rr)
	}}
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

// nginxStreamModule is the dynamic stream module of Debian's nginx.
const nginxStreamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"

// cpuTime is the CPU time (user + system) of pid and its descendants,
// from /proc: nginx's master and worker count together.
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(s[i+1:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	total := time.Duration(utime+stime) * time.Second / clockTicks
	for _, child := range children(pid) {
		if d, err := cpuTime(child); err == nil {
			total += d
		}
	}
	return total, nil
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// firstLine runs a command and returns the first line of its output.
func firstLine(argv ...string) string {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return "unknown"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
