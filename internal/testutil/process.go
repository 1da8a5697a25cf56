package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ProcessOptions describe a program a test runs as a real process.
type ProcessOptions struct {
	// Name identifies the process in failure messages ("control", "proxy-a").
	Name string
	// Path is the program; Args its arguments (without the program name).
	Path string
	Args []string
	// Env is added to the test's environment, after the variables listed in
	// DropEnv are removed from it.
	Env     []string
	DropEnv []string
	// Dir is the working directory (default: the test's).
	Dir string
	// StopTimeout bounds a graceful stop before SIGQUIT (for a goroutine
	// dump) and then SIGKILL. Default 10s.
	StopTimeout time.Duration
}

// Process is a program started by a test. Its standard output and error
// are kept in memory (the newest MaxOutput bytes of each), so that a test
// can parse what it prints and show its last lines when something fails.
// The process runs in a process group of its own; the test's cleanup stops
// the whole group (SIGTERM, then SIGKILL after StopTimeout), logs the last
// lines of stderr if the test failed, and fails the test if stderr shows a
// panic, a fatal error or a data race.
type Process struct {
	opt    ProcessOptions
	t      testing.TB
	cmd    *exec.Cmd
	stdout *tailBuffer
	stderr *tailBuffer
	exited chan struct{}

	mu       sync.Mutex
	state    *os.ProcessState
	quitSent bool
}

// MaxOutput is how much of each output stream a Process keeps.
const MaxOutput = 4 << 20

// StartProcess starts the program and registers its cleanup.
func StartProcess(t testing.TB, opt ProcessOptions) *Process {
	t.Helper()
	if opt.StopTimeout <= 0 {
		opt.StopTimeout = 10 * time.Second
	}
	if opt.Name == "" {
		opt.Name = opt.Path
	}
	p := &Process{opt: opt, t: t, stdout: &tailBuffer{max: MaxOutput}, stderr: &tailBuffer{max: MaxOutput}, exited: make(chan struct{})}
	cmd := exec.Command(opt.Path, opt.Args...)
	cmd.Dir = opt.Dir
	cmd.Env = Environ(opt.DropEnv, opt.Env...)
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s (%s %s): %v", opt.Name, opt.Path, strings.Join(opt.Args, " "), err)
	}
	p.cmd = cmd
	go func() {
		_ = cmd.Wait()
		p.mu.Lock()
		p.state = cmd.ProcessState
		p.mu.Unlock()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if p.Running() {
			if _, err := p.Stop(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		if t.Failed() {
			t.Logf("%s (pid %d): last lines of stderr:\n%s", opt.Name, p.Pid(), p.Tail(40))
		}
		p.CheckNoPanic(t)
	})
	return p
}

// Environ returns the test's environment without the named variables, plus
// extra. Later entries of extra win (exec uses the last value of a key).
func Environ(drop []string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, d := range drop {
			if name == d {
				keep = false
				break
			}
		}
		if keep {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// Name returns the process's name.
func (p *Process) Name() string { return p.opt.Name }

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Running reports whether the process has not exited yet.
func (p *Process) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// ExitCode returns the exit code, -1 while running or when killed by a signal.
func (p *Process) ExitCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == nil {
		return -1
	}
	return p.state.ExitCode()
}

// Signal sends sig to the process (not its group).
func (p *Process) Signal(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL to the process group, as a crash would, and waits
// until the process is gone.
func (p *Process) Kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// Wait waits up to timeout for the process to exit and returns its exit
// code, or an error if it is still running.
func (p *Process) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.exited:
		return p.ExitCode(), nil
	case <-time.After(timeout):
		return -1, fmt.Errorf("%s (pid %d) still running after %v", p.opt.Name, p.Pid(), timeout)
	}
}

// Stop asks the process to stop with SIGTERM and waits StopTimeout. A
// process still running then gets SIGQUIT (Go programs print every
// goroutine's stack, kept in Stderr for the failure message) and, 2 s
// later, SIGKILL for its whole group. It returns the exit code and an error
// if the process did not stop in time.
func (p *Process) Stop() (int, error) {
	if !p.Running() {
		return p.ExitCode(), nil
	}
	p.Signal(syscall.SIGTERM)
	code, err := p.Wait(p.opt.StopTimeout)
	if err == nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // children, if any
		return code, nil
	}
	p.mu.Lock()
	p.quitSent = true
	p.mu.Unlock()
	p.Signal(syscall.SIGQUIT)
	if _, qerr := p.Wait(2 * time.Second); qerr != nil {
		p.Kill()
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	return p.ExitCode(), fmt.Errorf("%s (pid %d) did not exit within %v of SIGTERM; stacks:\n%s",
		p.opt.Name, p.Pid(), p.opt.StopTimeout, p.Tail(200))
}

// Stdout returns what the process wrote to standard output so far.
func (p *Process) Stdout() string { return p.stdout.String() }

// Stderr returns what the process wrote to standard error so far.
func (p *Process) Stderr() string { return p.stderr.String() }

// Tail returns the last n lines of standard error.
func (p *Process) Tail(n int) string { return lastLines(p.stderr.String(), n) }

// WaitStdout waits until standard output matches re and returns the
// submatches of the first match, failing the test after timeout.
func (p *Process) WaitStdout(re *regexp.Regexp, timeout time.Duration) []string {
	p.t.Helper()
	return p.wait("stdout", p.Stdout, re, timeout)
}

// WaitStderr is WaitStdout for standard error (where Fulcrum logs).
func (p *Process) WaitStderr(re *regexp.Regexp, timeout time.Duration) []string {
	p.t.Helper()
	return p.wait("stderr", p.Stderr, re, timeout)
}

func (p *Process) wait(stream string, read func() string, re *regexp.Regexp, timeout time.Duration) []string {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(read()); m != nil {
			return m
		}
		if !p.Running() {
			p.t.Fatalf("%s exited (code %d) before its %s matched %q; stdout:\n%s\nstderr:\n%s", p.opt.Name, p.ExitCode(), stream, re, p.Stdout(), p.Tail(40))
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: %s did not match %q within %v; stdout:\n%s\nstderr:\n%s", p.opt.Name, stream, re, timeout, p.Stdout(), p.Tail(40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// panicMarkers are the signs of a crash in a Go program's stderr.
var panicMarkers = regexp.MustCompile(`(?m)^(panic: |fatal error: |WARNING: DATA RACE|SIGSEGV|unexpected fault address)`)

// CheckNoPanic fails the test if the process's stderr shows a panic, a
// fatal error or a data race (a stack dump asked for with SIGQUIT by Stop
// is not one).
func (p *Process) CheckNoPanic(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	quit := p.quitSent
	p.mu.Unlock()
	out := p.stderr.String()
	if quit {
		if i := strings.Index(out, "SIGQUIT: quit"); i >= 0 {
			out = out[:i]
		}
	}
	if excerpt := PanicIn(out); excerpt != "" {
		t.Errorf("%s (pid %d) crashed or raced; stderr around it:\n%s", p.opt.Name, p.Pid(), excerpt)
	}
	if p.stderr.Dropped() > 0 {
		t.Logf("%s: stderr was larger than %d bytes; only the tail was checked for panics", p.opt.Name, MaxOutput)
	}
}

// PanicIn returns the part of a Go program's output around the first sign
// of a panic, a fatal error or a data race, or "" if there is none.
func PanicIn(out string) string {
	loc := panicMarkers.FindStringIndex(out)
	if loc == nil {
		return ""
	}
	return out[max(0, loc[0]-2000):min(len(out), loc[0]+6000)]
}

func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tailBuffer is a goroutine-safe writer keeping the newest max bytes.
type tailBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	max     int
	dropped int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
		b.dropped += over
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Dropped returns how many bytes were discarded from the head.
func (b *tailBuffer) Dropped() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}
