// Package proc starts, measures and stops the processes of a benchmark
// run: proxies, backends and load generators. Every process is started in
// a process group of its own and recorded, so that StopAll ends every one
// of them and their children — on a normal exit, a panic or a signal.
package proc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Options describe a process to start.
type Options struct {
	// Name labels the process in errors; its output goes to Dir/Name.log.
	Name string
	// Dir holds the log file.
	Dir string
	// Argv is the program and its arguments.
	Argv []string
	// Env is added to the harness's environment.
	Env []string
	// CPUs pins the process with taskset to a CPU list ("1", "0-1");
	// empty inherits the harness's affinity.
	CPUs string
}

// Process is a started process.
type Process struct {
	Name string
	// LogPath is the file receiving its standard output and error.
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

var (
	mu       sync.Mutex
	running  = map[*Process]bool{}
	shutdown bool
)

// ErrShutdown is returned by Start after StopAll(true).
var ErrShutdown = errors.New("proc: the harness is shutting down")

// Start launches a process in its own process group. The kernel kills it
// if the harness dies without stopping it (Pdeathsig); its own children
// (nginx and HAProxy workers) are reached through the group by Stop.
func Start(o Options) (*Process, error) {
	argv := o.Argv
	if o.CPUs != "" {
		if ts, err := exec.LookPath("taskset"); err == nil {
			argv = append([]string{ts, "-c", o.CPUs}, argv...)
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logPath := filepath.Join(o.Dir, o.Name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("proc: %s: %w", o.Name, err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("proc: %s: %w", o.Name, err)
	}
	p := &Process{Name: o.Name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	mu.Lock()
	running[p] = true
	closed := shutdown
	mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	if closed { // StopAll ran while this one was starting
		p.Stop(time.Second)
		return nil, ErrShutdown
	}
	return p, nil
}

// Wait waits for the process to exit by itself, up to timeout (then it
// is stopped and an error returned), and returns its exit error.
func (p *Process) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		forget(p)
		if p.err != nil {
			return fmt.Errorf("proc: %s: %w\n%s", p.Name, p.err, p.Log())
		}
		return nil
	case <-time.After(timeout):
		p.Stop(time.Second)
		return fmt.Errorf("proc: %s did not finish within %v", p.Name, timeout)
	}
}

// PID is the process id of the started program (taskset executes it in
// place, so it is the program's own).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process (not its group).
func (p *Process) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return fmt.Errorf("proc: %s has exited", p.Name)
	}
	return p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL to the whole process group and waits for the
// process to be reaped.
func (p *Process) Kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	forget(p)
}

// Stop asks the process group to end (SIGTERM), waits up to grace, then
// kills the group. It is safe to call more than once.
func (p *Process) Stop(grace time.Duration) {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
	}
	// The leader may be gone while workers of its group linger.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	forget(p)
}

func forget(p *Process) {
	mu.Lock()
	delete(running, p)
	mu.Unlock()
}

// Output returns everything the process has written so far.
func (p *Process) Output() string {
	data, _ := os.ReadFile(p.LogPath)
	return string(data)
}

// Log returns the tail of the process's output, for error messages.
func (p *Process) Log() string {
	data, _ := os.ReadFile(p.LogPath)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// StopAll stops every process still running; the harness calls it on
// every way out. With final set, later Starts fail (a signal arrived and
// the harness is unwinding).
func StopAll(final bool) {
	mu.Lock()
	shutdown = shutdown || final
	ps := make([]*Process, 0, len(running))
	for p := range running {
		ps = append(ps, p)
	}
	mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() { defer wg.Done(); p.Stop(2 * time.Second) }()
	}
	wg.Wait()
}

// WaitTCP waits until every address accepts TCP connections, the process
// exits, or timeout passes.
func (p *Process) WaitTCP(timeout time.Duration, addrs ...string) error {
	deadline := time.Now().Add(timeout)
	for _, a := range addrs {
		for {
			c, err := net.DialTimeout("tcp", a, 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if p.Exited() {
				return fmt.Errorf("proc: %s exited before listening on %s: %v\n%s", p.Name, a, p.err, p.Log())
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("proc: %s not listening on %s after %v\n%s", p.Name, a, timeout, p.Log())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// ErrBadStat is returned for a /proc/PID/stat line that cannot be parsed.
var ErrBadStat = errors.New("proc: malformed /proc stat")
