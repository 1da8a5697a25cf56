package l7

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestWebSocketSurvivesConfigChanges: 100 configuration changes to route
// B under load, while a WebSocket on route A stays open: no request
// fails and the WebSocket keeps echoing.
func TestWebSocketSurvivesConfigChanges(t *testing.T) {
	up := websocket.Upgrader{}
	ws := newTestBackend(t, "ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if c.WriteMessage(mt, msg) != nil {
				return
			}
		}
	})
	b1, b2 := newTestBackend(t, "b1", nil), newTestBackend(t, "b2", nil)
	port := freePort(t)
	cfg := func(i int) string {
		return poolYAML("ws", 0, "", ws.addr) + poolYAML("b1", 0, "", b1.addr) + poolYAML("b2", 0, "", b2.addr) +
			listenerYAML("pub", port, "") +
			routeYAML("a", "  listener: pub\n  match: {path: {prefix: /ws}}\n  backends: [{pool: ws}]") +
			routeYAML("b", fmt.Sprintf("  listener: pub\n  match: {path: {prefix: /b}}\n  backends: [{pool: b1, weight: %d}, {pool: b2, weight: %d}]\n  headers: {request: {set: {x-version: \"%d\"}}}", 1+i%3, 1+i%5, i))
	}
	e := newEnv(t, cfg(0))
	conn, _, err := websocket.DefaultDialer.Dial(fmt.Sprintf("ws://127.0.0.1:%d/ws", port), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echo := func(msg string) {
		t.Helper()
		if err := conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatalf("websocket write: %v", err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, got, err := conn.ReadMessage()
		if err != nil || string(got) != msg {
			t.Fatalf("websocket echo: %q %v", got, err)
		}
	}
	echo("before")
	stop := make(chan struct{})
	ok, failed, wait := load(t, fmt.Sprintf("http://127.0.0.1:%d/b", port), 4, stop)
	for i := 1; i <= 100; i++ {
		e.apply(cfg(i))
		if i%10 == 0 {
			echo(fmt.Sprintf("change %d", i))
		}
	}
	close(stop)
	wait()
	echo("after")
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Errorf("%d failed, %d ok requests during 100 changes", failed.Load(), ok.Load())
	}
	if st := e.f.Connections(); len(st) != 1 || st[0].Tunnels != 1 {
		t.Errorf("connection stats: %+v", st)
	}
}

// TestUpdateKeepsConnections: a kept-alive connection serves requests
// before and after a configuration change, and sees the new route.
func TestUpdateKeepsConnections(t *testing.T) {
	a, b := newTestBackend(t, "a", nil), newTestBackend(t, "b", nil)
	port := freePort(t)
	e := newEnv(t, poolYAML("a", 0, "", a.addr)+poolYAML("b", 0, "", b.addr)+listenerYAML("pub", port, "")+
		routeYAML("r", "  listener: pub\n  backends: [{pool: a}]"))
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	ask := func() string {
		t.Helper()
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Backend")
	}
	if got := ask(); got != "a" {
		t.Fatalf("before: %s", got)
	}
	e.apply(poolYAML("a", 0, "", a.addr) + poolYAML("b", 0, "", b.addr) + listenerYAML("pub", port, "") +
		routeYAML("r", "  listener: pub\n  backends: [{pool: b}]"))
	if got := ask(); got != "b" {
		t.Fatalf("after the change the same connection got %s, want b", got)
	}
}

// TestDrainOnRemoval: removing a listener lets the in-flight request
// finish, closes its idle connections, and refuses new connections.
func TestDrainOnRemoval(t *testing.T) {
	slow := newTestBackend(t, "slow", nil)
	slow.delay.Store(int64(400 * time.Millisecond))
	port, other := freePort(t), freePort(t)
	b := newTestBackend(t, "b", nil)
	e := newEnv(t, poolYAML("slow", port, "", slow.addr)+poolYAML("b", other, "", b.addr))
	idle, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	done := make(chan string, 1)
	go func() {
		c := client()
		defer closeClient(c)
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			done <- err.Error()
			return
		}
		resp.Body.Close()
		done <- fmt.Sprint(resp.StatusCode, " ", resp.Close)
	}()
	waitFor(t, "request in flight", func() bool { return slow.hits.Load() == 1 })
	e.apply(poolYAML("slow", 0, "", slow.addr) + poolYAML("b", other, "", b.addr))
	if got := <-done; got != "200 true" {
		t.Errorf("in-flight request: %q, want 200 with Connection: close", got)
	}
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); err == nil {
		t.Errorf("idle connection still open (read %d bytes)", n)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Error("removed listener still accepts connections")
	}
}

// TestDetachKeepsSocket: Detach stops accepting without closing the
// socket, so a new server can take it over; Drain ends every goroutine.
func TestDetachKeepsSocket(t *testing.T) {
	b := newTestBackend(t, "b", nil)
	port := freePort(t)
	e := newEnv(t, poolYAML("web", port, "", b.addr))
	_ = e
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l := e.p.Snapshot().Listeners["pool/web"]
	srv, err := e.f.NewServer(l, runtimeSocket(ln))
	if err != nil {
		t.Fatal(err)
	}
	srv.Detach()
	// The socket is still open and listening: a connection is queued, and
	// a plain Accept on the same socket takes it.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("socket closed by Detach: %v", err)
	}
	defer c.Close()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(2 * time.Second))
	got, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept after Detach: %v", err)
	}
	got.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	srv.Drain(ctx)
}

// TestPipelining: requests sent back to back on one connection are all
// answered, in order.
func TestPipelining(t *testing.T) {
	b := newTestBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.URL.Path)
	})
	port := freePort(t)
	newEnv(t, poolYAML("web", port, "", b.addr))
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var sb strings.Builder
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&sb, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	sb.WriteString("POST /5 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /6 HTTP/1.1\r\nHost: x\r\n\r\n")
	conn.Write([]byte(sb.String()))
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 0; i < 7; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		var body strings.Builder
		bufio.NewReader(resp.Body).WriteTo(&body)
		resp.Body.Close()
		if body.String() != fmt.Sprintf("/%d", i) {
			t.Errorf("response %d: %q", i, body.String())
		}
	}
}

// TestDrainHTTP2: removing a listener lets an in-flight HTTP/2 stream
// finish (GOAWAY, then close), and Drain returns.
func TestDrainHTTP2(t *testing.T) {
	slow := newTestBackend(t, "slow", nil)
	slow.delay.Store(int64(300 * time.Millisecond))
	port, other := freePort(t), freePort(t)
	b := newTestBackend(t, "b", nil)
	e := newEnv(t, poolYAML("slow", port, "", slow.addr)+poolYAML("b", other, "", b.addr))
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: p}
	defer tr.CloseIdleConnections()
	done := make(chan string, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			done <- err.Error()
			return
		}
		resp.Body.Close()
		done <- fmt.Sprint(resp.StatusCode, " ", resp.Proto)
	}()
	waitFor(t, "stream in flight", func() bool { return slow.hits.Load() == 1 })
	e.apply(poolYAML("slow", 0, "", slow.addr) + poolYAML("b", other, "", b.addr))
	if got := <-done; got != "200 HTTP/2.0" {
		t.Errorf("in-flight HTTP/2 request: %q", got)
	}
	waitFor(t, "drained", func() bool { return len(e.f.Connections()) == 1 })
}
