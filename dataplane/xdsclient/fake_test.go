package xdsclient

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/fulcrumlb/fulcrum/internal/xdsproto"
	"github.com/fulcrumlb/fulcrum/translator"
)

// fakeADS is a scripted ADS server on a real gRPC socket: the test reads
// each request the client sends and decides each response, so that it can
// send types in any order and check every ACK and NACK.
type fakeADS struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	addr    string
	srv     *grpc.Server
	streams chan *fakeStream
}

type fakeStream struct {
	t     *testing.T
	reqs  chan *discoveryv3.DiscoveryRequest
	out   chan *discoveryv3.DiscoveryResponse
	close chan error // ends the stream with this error
	nonce int
}

func newFakeADS(t *testing.T) *fakeADS {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeADS{addr: lis.Addr().String(), srv: grpc.NewServer(), streams: make(chan *fakeStream, 4)}
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(f.srv, f)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = f.srv.Serve(lis) }()
	t.Cleanup(func() { f.srv.Stop(); wg.Wait() })
	return f
}

func (f *fakeADS) StreamAggregatedResources(st discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	fs := &fakeStream{reqs: make(chan *discoveryv3.DiscoveryRequest, 64), out: make(chan *discoveryv3.DiscoveryResponse, 64), close: make(chan error, 1)}
	f.streams <- fs
	errc := make(chan error, 1)
	go func() {
		for {
			req, err := st.Recv()
			if err != nil {
				errc <- err
				return
			}
			fs.reqs <- req
		}
	}()
	for {
		select {
		case resp := <-fs.out:
			if err := st.Send(resp); err != nil {
				return err
			}
		case err := <-fs.close:
			return err
		case err := <-errc:
			return err
		}
	}
}

// accept waits for the client's next stream.
func (f *fakeADS) accept(t *testing.T) *fakeStream {
	t.Helper()
	select {
	case s := <-f.streams:
		s.t = t
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not open an ADS stream")
		return nil
	}
}

// next returns the client's next request.
func (s *fakeStream) next() *discoveryv3.DiscoveryRequest {
	s.t.Helper()
	select {
	case r := <-s.reqs:
		return r
	case <-time.After(10 * time.Second):
		s.t.Fatal("no request from the client")
		return nil
	}
}

// expect returns the next request, which must be of kind k.
func (s *fakeStream) expect(k xdsproto.Kind) *discoveryv3.DiscoveryRequest {
	s.t.Helper()
	r := s.next()
	if r.GetTypeUrl() != k.TypeURL() {
		s.t.Fatalf("request for %s, want %s: %v", r.GetTypeUrl(), k, r)
	}
	return r
}

// quiet checks that the client sends nothing for a while.
func (s *fakeStream) quiet(d time.Duration) {
	s.t.Helper()
	select {
	case r := <-s.reqs:
		s.t.Fatalf("unexpected request: %v", r)
	case <-time.After(d):
	}
}

// respond sends the resources of kind k from res as version; it returns
// the nonce.
func (s *fakeStream) respond(k xdsproto.Kind, version string, res *translator.Resources, only ...string) string {
	s.t.Helper()
	s.nonce++
	resp := &discoveryv3.DiscoveryResponse{VersionInfo: version, TypeUrl: k.TypeURL(), Nonce: strconv.Itoa(s.nonce)}
	for _, m := range messages(k, res) {
		if len(only) > 0 && !contains(only, nameOf(m)) {
			continue
		}
		a, err := anypb.New(m)
		if err != nil {
			s.t.Fatal(err)
		}
		resp.Resources = append(resp.Resources, a)
	}
	s.out <- resp
	return resp.Nonce
}

// end closes the stream with an error, as a control plane that goes away.
func (s *fakeStream) end() { s.close <- errors.New("control plane going away") }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func messages(k xdsproto.Kind, res *translator.Resources) []proto.Message {
	var out []proto.Message
	switch k {
	case xdsproto.Listeners:
		for _, r := range res.Listeners {
			out = append(out, r)
		}
	case xdsproto.Routes:
		for _, r := range res.Routes {
			out = append(out, r)
		}
	case xdsproto.Clusters:
		for _, r := range res.Clusters {
			out = append(out, r)
		}
	case xdsproto.Endpoints:
		for _, r := range res.Endpoints {
			out = append(out, r)
		}
	}
	return out
}

// applyRecorder is an Apply func that records each call and can be told
// to fail.
type applyRecorder struct {
	mu    sync.Mutex
	calls []applyCall
	fail  func(version string, res *translator.Resources) error
	ch    chan applyCall
}

type applyCall struct {
	version string
	res     *translator.Resources
}

func newRecorder() *applyRecorder { return &applyRecorder{ch: make(chan applyCall, 64)} }

func (a *applyRecorder) apply(version string, res *translator.Resources) error {
	a.mu.Lock()
	fail := a.fail
	a.mu.Unlock()
	if fail != nil {
		if err := fail(version, res); err != nil {
			return err
		}
	}
	a.mu.Lock()
	a.calls = append(a.calls, applyCall{version, res})
	a.mu.Unlock()
	a.ch <- applyCall{version, res}
	return nil
}

func (a *applyRecorder) setFail(f func(string, *translator.Resources) error) {
	a.mu.Lock()
	a.fail = f
	a.mu.Unlock()
}

func (a *applyRecorder) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.calls)
}

// wait returns the next successful Apply.
func (a *applyRecorder) wait(t *testing.T) applyCall {
	t.Helper()
	select {
	case c := <-a.ch:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("Apply was not called")
		return applyCall{}
	}
}

// startClient runs a client against addr until the test ends.
func startClient(t *testing.T, addr string, rec *applyRecorder, tune func(*Options)) *Client {
	t.Helper()
	opts := Options{Address: addr, Node: "node-1", Zone: "zone-a", Build: "test-build", Apply: rec.apply,
		Backoff: Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}}
	if tune != nil {
		tune(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

func fakeAnys(t *testing.T, msgs []proto.Message) []*anypb.Any {
	t.Helper()
	var out []*anypb.Any
	for _, m := range msgs {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}
