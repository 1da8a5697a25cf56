package l4

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"github.com/fulcrumlb/fulcrum/internal/testutil"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/dataplane/proxy"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
	"github.com/fulcrumlb/fulcrum/translator"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recordingFactory wraps the L4 factory and remembers its servers, so tests
// can look at them.
type recordingFactory struct {
	f       runtime.ServerFactory
	mu      sync.Mutex
	servers map[string]runtime.Server
}

func (l *recordingFactory) Protocols() []string {
	return []string{runtime.ProtoTCP, runtime.ProtoTLS, runtime.ProtoUDP}
}
func (l *recordingFactory) NewServer(li *runtime.Listener, s runtime.Socket) (runtime.Server, error) {
	srv, err := l.f.NewServer(li, s)
	if err == nil {
		l.mu.Lock()
		l.servers[li.Name] = srv
		l.mu.Unlock()
	}
	return srv, err
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is a real proxy built the way the standalone proxy builds it:
// YAML → api.Load → translator → proxy.Apply, with this package's factory.
type harness struct {
	t       *testing.T
	p       *proxy.Proxy
	reg     *prometheus.Registry
	log     *syncBuffer
	factory *factory
	late    *recordingFactory
	version int
}

func startProxy(t *testing.T, yaml string) *harness {
	t.Helper()
	h := &harness{t: t, reg: prometheus.NewRegistry(), log: &syncBuffer{}}
	logger := slog.New(slog.NewJSONHandler(h.log, nil))
	late := &recordingFactory{servers: map[string]runtime.Server{}}
	h.late = late
	p, err := proxy.New(proxy.Options{Logger: logger, Registerer: h.reg, CheckHealth: true,
		NewFactories: func(deps runtime.Deps, ups *upstream.Manager) ([]runtime.ServerFactory, error) {
			late.f = NewFactory(deps, ups)
			return []runtime.ServerFactory{late}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	h.p = p
	h.factory = late.f.(*factory)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	h.apply(yaml)
	return h
}

func (h *harness) apply(yaml string) {
	h.t.Helper()
	h.version++
	if err := h.p.Apply(fmt.Sprint(h.version), resources(h.t, yaml)); err != nil {
		h.t.Fatalf("apply: %v", err)
	}
}

func (h *harness) udpServer(t *testing.T, name string) *udpServer {
	t.Helper()
	h.late.mu.Lock()
	defer h.late.mu.Unlock()
	s, ok := h.late.servers[name].(*udpServer)
	if !ok {
		t.Fatalf("no udp server for %s", name)
	}
	return s
}

func resources(t *testing.T, yaml string) *runtime.Resources {
	t.Helper()
	l, errs := api.Load([]api.Input{{Name: "t.yaml", Data: []byte(yaml)}}, api.ValidateOptions{})
	if len(errs) > 0 {
		t.Fatalf("invalid test configuration:\n%v", errs)
	}
	res, err := translator.Translate(l.Config, translator.Options{ActiveHealthChecks: true, DefaultAddress: "127.0.0.1"})
	if err != nil {
		t.Fatalf("translate: %v", err)
	}
	return res
}

// metric returns the value of the series of name whose labels include
// every pair in labels.
func (h *harness) metric(name string, labels ...string) float64 {
	h.t.Helper()
	return testutil.SeriesSum(h.t, h.reg, name, labels...)
}

// freePort returns a port, free for both TCP and UDP, outside the
// ephemeral range (see testutil.FreePort).
func freePort(t *testing.T, _ string) int {
	t.Helper()
	return testutil.FreePort(t)
}

// backend is a real TCP server on 127.0.0.1:0 that can be killed.
type backend struct {
	name     string
	ln       net.Listener
	addr     string
	handle   func(b *backend, c net.Conn)
	accepted atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newBackend(t *testing.T, name string, handle func(b *backend, c net.Conn)) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveBackend(t, name, ln, handle)
}

func serveBackend(t *testing.T, name string, ln net.Listener, handle func(b *backend, c net.Conn)) *backend {
	b := &backend{name: name, ln: ln, addr: ln.Addr().String(), handle: handle, conns: map[net.Conn]bool{}}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			b.mu.Lock()
			b.conns[c] = true
			b.mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer func() { b.mu.Lock(); delete(b.conns, c); b.mu.Unlock(); c.Close() }()
				b.handle(b, c)
			}()
		}
	}()
	t.Cleanup(b.kill)
	return b
}

// kill closes the listener and every connection, like a crashed process.
func (b *backend) kill() {
	b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// helloEcho says its name on a line, then echoes until the client
// half-closes, then half-closes too.
func helloEcho(b *backend, c net.Conn) {
	if _, err := io.WriteString(c, b.name+"\n"); err != nil {
		return
	}
	_, _ = io.Copy(c, c)
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, c)
}

// dialHello connects through the proxy and returns the backend's name.
func dialHello(t *testing.T, addr string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	return dialHelloFrom(t, nil, addr)
}

func dialHelloFrom(t *testing.T, local net.Addr, addr string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: local}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		c.Close()
		t.Fatalf("no hello through %s: %v", addr, err)
	}
	return c, br, strings.TrimSpace(line)
}

// echoOnce checks that a connection still relays both ways.
func echoOnce(t *testing.T, c net.Conn, br *bufio.Reader, msg string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
	line, err := br.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != msg {
		t.Fatalf("echo: %q %v", line, err)
	}
}

// expectClosed waits until the proxy closes c.
func expectClosed(t *testing.T, c net.Conn, br io.Reader, within time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	if _, err := io.Copy(io.Discard, br); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection still open after %v", within)
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pool(name string, port int, proto, extra string, members ...*backend) string {
	var ms []string
	for _, m := range members {
		ms = append(ms, fmt.Sprintf("{address: %q}", m.addr))
	}
	return fmt.Sprintf(`apiVersion: fulcrum/v1
kind: Pool
metadata: {name: %s}
spec:
  frontend: {port: %d, protocol: %s%s}
  members: [%s]
%s---
`, name, port, proto, frontendExtra(extra), strings.Join(ms, ", "), poolExtra(extra))
}

// extra is "frontend-fields|pool-fields", either part optional.
func frontendExtra(extra string) string {
	fe, _, _ := strings.Cut(extra, "|")
	if fe == "" {
		return ""
	}
	return ", " + fe
}

func poolExtra(extra string) string {
	_, p, _ := strings.Cut(extra, "|")
	return p
}
