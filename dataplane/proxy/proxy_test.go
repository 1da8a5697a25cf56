package proxy

import (
	"context"
	"fmt"
	"github.com/fulcrumlb/fulcrum/internal/testutil"
	"net"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
	"github.com/fulcrumlb/fulcrum/translator"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeServer records what the proxy asks of it and accepts nothing.
type fakeServer struct {
	f        *fakeFactory
	proto    string
	sock     runtime.Socket
	updates  int
	detached bool
	drained  bool
}

func (s *fakeServer) Update(*runtime.Listener)  { s.updates++ }
func (s *fakeServer) Detach()                   { s.detached = true }
func (s *fakeServer) Drain(ctx context.Context) { s.f.mu.Lock(); s.drained = true; s.f.mu.Unlock() }

type fakeFactory struct {
	protos  []string
	mu      sync.Mutex
	servers []*fakeServer
}

func (f *fakeFactory) Protocols() []string { return f.protos }
func (f *fakeFactory) NewServer(l *runtime.Listener, sock runtime.Socket) (runtime.Server, error) {
	s := &fakeServer{f: f, proto: l.Protocol, sock: sock}
	f.mu.Lock()
	f.servers = append(f.servers, s)
	f.mu.Unlock()
	return s, nil
}

func resources(t *testing.T, yaml string) *runtime.Resources {
	t.Helper()
	l, errs := api.Load([]api.Input{{Name: "t.yaml", Data: []byte(yaml)}}, api.ValidateOptions{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	res, err := translator.Translate(l.Config, translator.Options{DefaultAddress: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func freePort(t *testing.T) int {
	t.Helper()
	return testutil.FreePort(t)
}

func poolYAML(name, proto string, port int) string {
	return fmt.Sprintf("apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: %s}\nspec:\n  frontend: {port: %d, protocol: %s}\n  members: [{address: \"127.0.0.1:9\"}]\n---\n", name, port, proto)
}

func TestReconcile(t *testing.T) {
	l7 := &fakeFactory{protos: []string{"http", "https", "grpc"}}
	l4 := &fakeFactory{protos: []string{"tcp", "tls", "udp"}}
	// Real factories need the proxy's live upstreams: NewFactories gets them.
	p, err := New(Options{NewFactories: func(deps runtime.Deps, ups *upstream.Manager) ([]runtime.ServerFactory, error) {
		if ups == nil || deps.Version == nil {
			t.Error("factories built without upstreams or version")
		}
		return []runtime.ServerFactory{l7, l4}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	a, b := freePort(t), freePort(t)
	if err := p.Apply("1", resources(t, poolYAML("a", "http", a)+poolYAML("b", "tcp", b))); err != nil {
		t.Fatal(err)
	}
	if len(l7.servers) != 1 || len(l4.servers) != 1 {
		t.Fatalf("servers: l7 %d l4 %d", len(l7.servers), len(l4.servers))
	}
	httpA := l7.servers[0]
	sockA := httpA.sock.Stream

	// Same sockets, same protocols: servers are updated in place.
	if err := p.Apply("2", resources(t, poolYAML("a", "http", a)+poolYAML("b", "tcp", b))); err != nil {
		t.Fatal(err)
	}
	if httpA.updates != 1 || len(l7.servers) != 1 {
		t.Errorf("unchanged listener not updated in place: %d updates, %d servers", httpA.updates, len(l7.servers))
	}

	// a switches from http to tcp on the same port: the socket is handed
	// over, not reopened; b is removed: its socket closes and it drains.
	if err := p.Apply("3", resources(t, poolYAML("a", "tcp", a))); err != nil {
		t.Fatal(err)
	}
	if !httpA.detached || len(l4.servers) != 2 || l4.servers[1].sock.Stream != sockA {
		t.Errorf("protocol change: detached=%v, new tcp server on the same socket=%v", httpA.detached, len(l4.servers) == 2 && l4.servers[1].sock.Stream == sockA)
	}
	if !l4.servers[0].detached {
		t.Error("removed listener not detached")
	}
	if _, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b)); err == nil {
		t.Error("removed listener's socket still accepts")
	}

	// A configuration naming a port someone else holds is rejected whole.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	c := busy.Addr().(*net.TCPAddr).Port
	err = p.Apply("4", resources(t, poolYAML("a", "http", a)+poolYAML("c", "http", c)))
	if err == nil {
		t.Fatal("bind conflict accepted")
	}
	if p.Version() != "3" || len(l7.servers) != 1 {
		t.Errorf("a rejected configuration changed the proxy: version %s, %d l7 servers", p.Version(), len(l7.servers))
	}
	if p.Upstreams().Cluster("c") != nil {
		t.Error("rejected configuration's cluster was added")
	}
	p.Shutdown(context.Background())
	for _, s := range append(l7.servers, l4.servers...) {
		if !s.drained {
			t.Errorf("%s server not drained at shutdown", s.proto)
		}
	}
}

func TestUnservedProtocolRejected(t *testing.T) {
	p, err := New(Options{Factories: []runtime.ServerFactory{&fakeFactory{protos: []string{"http"}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	err = p.Apply("1", resources(t, poolYAML("u", "udp", freePort(t))))
	if err == nil || p.Snapshot() != nil {
		t.Errorf("udp listener accepted by an http-only proxy: %v", err)
	}
}
