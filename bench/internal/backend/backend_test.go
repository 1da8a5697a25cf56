package backend

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/loadgen"
)

func TestHTTPAndWebSocket(t *testing.T) {
	srv := httptest.NewServer(HTTPHandler())
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	r, err := loadgen.RunHTTP(context.Background(), loadgen.HTTPOptions{Addr: addr, Conns: 2, Duration: 50 * time.Millisecond})
	if err != nil || r.OK == 0 || r.Failures() != 0 {
		t.Fatalf("HTTP: %d ok, %s, %v", r.OK, r.FailureSummary(), err)
	}
	ws, err := loadgen.HoldWebSockets("ws://"+addr+"/ws", 3, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	dropped, msgs, first := ws.Close()
	if dropped != 0 || msgs < 9 {
		t.Errorf("WebSockets: %d dropped, %d echoes, %v", dropped, msgs, first)
	}
}

func TestWebSocketDropIsCounted(t *testing.T) {
	srv := httptest.NewUnstartedServer(HTTPHandler())
	var mu sync.Mutex
	var conns []net.Conn
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateHijacked {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	ws, err := loadgen.HoldWebSockets("ws://"+srv.Listener.Addr().String()+"/ws", 2, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	time.Sleep(50 * time.Millisecond)
	if dropped, _, _ := ws.Close(); dropped != 2 {
		t.Errorf("%d of 2 closed WebSockets counted as dropped", dropped)
	}
}

func TestGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := GRPCServer()
	go func() { _ = s.Serve(ln) }()
	defer s.Stop()
	r, err := loadgen.RunGRPC(context.Background(), ln.Addr().String(), 2, 4, 100*time.Millisecond)
	if err != nil || r.OK == 0 || r.Failed != 0 {
		t.Errorf("gRPC: %d ok, %d failed, %v", r.OK, r.Failed, err)
	}
}

func TestL4(t *testing.T) {
	s, err := StartL4()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := loadgen.Bulk(s.BulkAddr(), 2, 1<<20); err != nil {
		t.Errorf("bulk: %v", err)
	}
	r, err := loadgen.TCPRR(s.RRAddr(), 2, 64, 50*time.Millisecond)
	if err != nil || r.Tx == 0 {
		t.Errorf("tcp rr: %d, %v", r.Tx, err)
	}
	u, err := loadgen.UDPRR(s.UDPAddr(), 2, 64, 50*time.Millisecond)
	if err != nil || u.Tx == 0 {
		t.Errorf("udp rr: %d, %v", u.Tx, err)
	}
	if !strings.HasPrefix(s.UDPAddr(), "127.0.0.1:") {
		t.Errorf("UDP member on %s", s.UDPAddr())
	}
}
