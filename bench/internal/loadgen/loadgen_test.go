package loadgen

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestReadResponse(t *testing.T) {
	cases := []struct {
		name, in string
		want     Response
		rest     string // what must remain unread
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Config: 7\r\n\r\nokNEXT", Response{Status: 200, Header: "7"}, "NEXT"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n3;x=y\r\nabc\r\n0\r\nTrailer: 1\r\n\r\nNEXT", Response{Status: 200}, "NEXT"},
		{"close", "HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", Response{Status: 502, Close: true}, ""},
		{"until close", "HTTP/1.1 200 OK\r\n\r\nbody", Response{Status: 200, Close: true}, ""},
		{"interim", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nNEXT", Response{Status: 204}, "NEXT"},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", Response{Status: 200, Close: true}, ""},
		{"http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", Response{Status: 200}, ""},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 1\n\nxNEXT", Response{Status: 200}, "NEXT"},
	}
	for _, c := range cases {
		br := bufio.NewReader(strings.NewReader(c.in))
		got, err := ReadResponse(br, "x-config")
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
		if rest, _ := io.ReadAll(br); string(rest) != c.rest {
			t.Errorf("%s: left %q, want %q", c.name, rest, c.rest)
		}
	}
	for _, bad := range []string{"", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok", "SSH-2.0\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"} {
		if _, err := ReadResponse(bufio.NewReader(strings.NewReader(bad)), ""); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// TestOpenLoopChargesStalls checks the absence of coordinated omission:
// one 500 ms stall of a one-connection server at 200 requests/s delays
// every request due during it, and each is charged from its due time.
// The rate leaves 5 ms per request, so that a machine slowed by the race
// detector and parallel test packages still works off the backlog.
func TestOpenLoopChargesStalls(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) == 40 {
			time.Sleep(500 * time.Millisecond)
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	r, err := RunHTTP(context.Background(), HTTPOptions{Addr: srv.Listener.Addr().String(), Conns: 1, Rate: 200, Duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// The one connection must work off the stall's backlog before the run
	// ends; on a busy machine it may leave a few requests unsent, which
	// the generator must then report rather than drop silently.
	if other := r.Failures() - r.Failed[Unsent]; other != 0 || r.Due() != 400 || r.Failed[Unsent] > 20 {
		t.Errorf("sent %d of %d due, failed %s", r.Sent, r.Due(), r.FailureSummary())
	}
	// About 100 of the 400 requests were due during the stall, and the
	// first 40 of them waited at least 300 ms. A closed-loop measurement
	// would show one slow request.
	if p90 := r.Latency.Quantile(0.9); p90 < 200*time.Millisecond {
		t.Errorf("p90 %v: the requests delayed by the stall were not charged for it", p90)
	}
	if p50 := r.Latency.Quantile(0.5); p50 > 100*time.Millisecond {
		t.Errorf("p50 %v: requests after the stall still counted as late", p50)
	}
}

func TestClosedLoopAndFresh(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	r, err := RunHTTP(context.Background(), HTTPOptions{Addr: addr, Conns: 2, Duration: 100 * time.Millisecond})
	if err != nil || r.OK < 10 || r.Failures() != 0 {
		t.Errorf("closed loop: %d ok, %s, %v", r.OK, r.FailureSummary(), err)
	}
	r, err = RunHTTP(context.Background(), HTTPOptions{Addr: addr, Conns: 2, Rate: 200, Duration: 100 * time.Millisecond, Fresh: true})
	if err != nil || r.OK < 15 || r.Failures() != 0 {
		t.Errorf("fresh: %d ok, %s, %v", r.OK, r.FailureSummary(), err)
	}
}

func TestRefusedAndProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r, _ := RunHTTP(context.Background(), HTTPOptions{Addr: addr, Conns: 1, Rate: 100, Duration: 50 * time.Millisecond})
	if r.Failed[Refused] == 0 || r.OK != 0 {
		t.Errorf("closed port: %s", r.FailureSummary())
	}
	if _, kind, err := Probe(addr, "", time.Second); err == nil || kind != Refused {
		t.Errorf("Probe of a closed port: %v %v", kind, err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Config", "3")
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()
	resp, kind, err := Probe(srv.Listener.Addr().String(), "x-config", time.Second)
	if kind != BadStatus || resp.Header != "3" || err == nil {
		t.Errorf("Probe: %+v %v %v", resp, kind, err)
	}
}

// idleCloser answers one request per connection, then closes it after
// 10 ms without saying so: the idle close every reloading proxy does.
func idleCloser(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						break
					}
				}
				_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
				time.Sleep(10 * time.Millisecond)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestCheckIdleReconnects(t *testing.T) {
	addr := idleCloser(t)
	o := HTTPOptions{Addr: addr, Conns: 1, Rate: 50, Duration: 200 * time.Millisecond}
	r, err := RunHTTP(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed[ReusedClosed] == 0 {
		t.Errorf("without CheckIdle the closed connections were not noticed: %s", r.FailureSummary())
	}
	o.CheckIdle = true
	if r, err = RunHTTP(context.Background(), o); err != nil || r.Failures() != 0 {
		t.Errorf("with CheckIdle: %s, %v", r.FailureSummary(), err)
	}
}

func TestWebSocketsAndGRPCFail(t *testing.T) {
	if _, err := HoldWebSockets("ws://127.0.0.1:1/ws", 1, time.Second); err == nil {
		t.Error("HoldWebSockets to a closed port succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := RunGRPC(ctx, "127.0.0.1:1", 1, 1, 100*time.Millisecond); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("RunGRPC to a closed port: %v", err)
	}
}

// TestStalledServerEndsOnTime: a server that never answers does not hold
// an open-loop run beyond its end plus the request timeout, and the
// requests it kept from being sent are counted.
func TestStalledServerEndsOnTime(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it, answer nothing
		}
	}()
	start := time.Now()
	r, err := RunHTTP(context.Background(), HTTPOptions{Addr: ln.Addr().String(), Conns: 2, Rate: 1000,
		Duration: 200 * time.Millisecond, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the run took %v", d)
	}
	if r.Failed[Timeout] != 2 || r.Failed[Unsent] < 190 || r.OK != 0 {
		t.Errorf("failures: %s", r.FailureSummary())
	}
}
