package testutil

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// EtcdCluster is a cluster of Debian's etcd processes started by a test:
// each member has its own data directory in t.TempDir() and listens on
// loopback ports. The cluster is killed by the test's cleanup.
type EtcdCluster struct {
	Members []*EtcdMember
}

// EtcdMember is one etcd process of an EtcdCluster.
type EtcdMember struct {
	Name      string
	ClientURL string
	PeerURL   string

	t    testing.TB
	bin  string
	args []string
	log  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartEtcdCluster starts an n-member etcd cluster and waits until every
// member reports itself healthy. It skips the test when etcd is not
// installed (fails under FULCRUM_REQUIRE_PEERS=1). extraArgs are added to
// every member's command line, e.g. "--heartbeat-interval=50",
// "--election-timeout=500" for fast failover.
func StartEtcdCluster(t testing.TB, n int, extraArgs ...string) *EtcdCluster {
	t.Helper()
	bin := RequireBinary(t, "etcd")
	dir := t.TempDir()
	c := &EtcdCluster{}
	var initial []string
	for i := range n {
		m := &EtcdMember{
			Name:      "m" + strconv.Itoa(i),
			ClientURL: "http://127.0.0.1:" + strconv.Itoa(FreePort(t)),
			PeerURL:   "http://127.0.0.1:" + strconv.Itoa(FreePort(t)),
			t:         t,
			bin:       bin,
			log:       filepath.Join(dir, fmt.Sprintf("m%d.log", i)),
		}
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	for _, m := range c.Members {
		m.args = append([]string{
			"--name=" + m.Name,
			"--data-dir=" + filepath.Join(dir, m.Name),
			"--listen-client-urls=" + m.ClientURL,
			"--advertise-client-urls=" + m.ClientURL,
			"--listen-peer-urls=" + m.PeerURL,
			"--initial-advertise-peer-urls=" + m.PeerURL,
			"--initial-cluster=" + strings.Join(initial, ","),
			"--initial-cluster-state=new",
			"--initial-cluster-token=fulcrum-test",
			"--logger=zap",
			"--log-outputs=stderr",
			"--log-level=warn",
		}, extraArgs...)
		m.Start()
	}
	t.Cleanup(func() {
		for _, m := range c.Members {
			m.Kill()
		}
	})
	for _, m := range c.Members {
		m.WaitHealthy(30 * time.Second)
	}
	return c
}

// Endpoints returns every member's client URL.
func (c *EtcdCluster) Endpoints() []string {
	out := make([]string, len(c.Members))
	for i, m := range c.Members {
		out[i] = m.ClientURL
	}
	return out
}

// Start starts the member (again, after Kill) on its data directory.
func (m *EtcdMember) Start() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return
	}
	logf, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		m.t.Fatalf("etcd %s log: %v", m.Name, err)
	}
	cmd := exec.Command(m.bin, m.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// ETCD_* variables in the test's environment would override the flags.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		m.t.Fatalf("starting etcd %s: %v", m.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	m.cmd, m.exited = cmd, exited
}

// Kill stops the member with SIGKILL, as a crash would, and waits for the
// process to be gone. Killing a stopped member does nothing.
func (m *EtcdMember) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.exited
	m.cmd = nil
}

// Running reports whether the member's process is running.
func (m *EtcdMember) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd != nil
}

// WaitHealthy waits until the member's /health endpoint says it has a
// leader and serves, failing the test after timeout.
func (m *EtcdMember) WaitHealthy(timeout time.Duration) {
	m.t.Helper()
	// No keep-alive: an idle connection's goroutines would outlive the
	// check and trip goleak in the calling package.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		resp, err := client.Get(m.ClientURL + "/health")
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"health":"true"`) {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.t.Fatalf("etcd %s not healthy after %v (%s); log:\n%s", m.Name, timeout, last, m.Log())
}

// Log returns the member's log so far, for failure messages.
func (m *EtcdMember) Log() string {
	data, err := os.ReadFile(m.log)
	if err != nil {
		return err.Error()
	}
	return string(data)
}
