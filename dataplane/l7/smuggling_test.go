package l7

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSmugglingRejected: ambiguous or malformed framing sent over raw TCP
// is answered with 400 (or the codec's status) and the connection closed;
// nothing reaches the backend, not even the request pipelined behind it.
func TestSmugglingRejected(t *testing.T) {
	b := newTestBackend(t, "b", nil)
	port := freePort(t)
	newEnv(t, poolYAML("web", port, "", b.addr))
	next := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	cases := []struct {
		name, raw string
		status    int
	}{
		{"CL+TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + next, 400},
		{"double CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello" + next, 400},
		{"differing CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 41\r\n\r\nhello" + next, 400},
		{"TE chunked, identity", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + next, 400},
		{"TE obfuscated", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + next, 400},
		{"TE with space before colon", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + next, 400},
		{"bare LF in chunk size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n" + next, 400},
		{"bare LF in head", "GET / HTTP/1.1\nHost: x\n\n" + next, 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n" + next, 400},
		{"NUL in header", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n" + next, 400},
		{"chunk size overflow", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nhello\r\n0\r\n\r\n" + next, 400},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + next, 400},
		{"Content_Length", "POST / HTTP/1.1\r\nHost: x\r\nContent_Length: 5\r\n\r\nhello" + next, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, closed := rawExchange(t, port, tc.raw)
			if status != tc.status || !closed {
				t.Errorf("status %d, closed %v; want %d and closed", status, closed, tc.status)
			}
		})
	}
	if n := b.hits.Load(); n != 0 {
		t.Errorf("the backend saw %d requests", n)
	}
}

// rawExchange sends raw bytes, reads one response, and reports whether the
// proxy then closed the connection.
func rawExchange(t *testing.T, port int, raw string) (int, bool) {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	return resp.StatusCode, err != nil && !strings.Contains(err.Error(), "timeout")
}

// TestEdgeLimits: oversized heads get 431, oversized bodies 413 (declared
// or chunked while streaming), a slow head 408; each closes the connection.
func TestEdgeLimits(t *testing.T) {
	b := newTestBackend(t, "b", nil)
	port := freePort(t)
	newEnv(t, poolYAML("web", 0, "", b.addr)+listenerYAML("pub", port,
		", limits: {headerTimeout: 300ms, maxHeaderBytes: 4Ki, maxHeaders: 20, maxRequestBodyBytes: 1Ki}")+
		routeYAML("r", "  listener: pub\n  backends: [{pool: web}]"))
	big := "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 5000) + "\r\n\r\n"
	if st, closed := rawExchange(t, port, big); st != 431 || !closed {
		t.Errorf("big head: %d closed=%v", st, closed)
	}
	many := "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-H: 1\r\n", 30) + "\r\n"
	if st, closed := rawExchange(t, port, many); st != 431 || !closed {
		t.Errorf("many headers: %d closed=%v", st, closed)
	}
	if st, closed := rawExchange(t, port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n"); st != 413 || !closed {
		t.Errorf("declared body: %d closed=%v", st, closed)
	}
	chunked := "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + strings.Repeat("a", 1024) + "\r\n400\r\n" + strings.Repeat("a", 1024) + "\r\n0\r\n\r\n"
	if st, closed := rawExchange(t, port, chunked); st != 413 || !closed {
		t.Errorf("chunked body: %d closed=%v", st, closed)
	}
	if st, closed := rawExchange(t, port, "GET / HTTP/1.1\r\nHost: x\r\n"); st != 408 || !closed {
		t.Errorf("slow head: %d closed=%v", st, closed)
	}
	// A body within the limit goes through.
	c := client()
	defer closeClient(c)
	resp, err := c.Post(fmt.Sprintf("http://127.0.0.1:%d/", port), "text/plain", strings.NewReader(strings.Repeat("a", 1000)))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("small body: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestConnectionLimits: the per-client connection cap is exact.
func TestConnectionLimits(t *testing.T) {
	b := newTestBackend(t, "b", nil)
	port := freePort(t)
	newEnv(t, poolYAML("web", 0, "", b.addr)+listenerYAML("pub", port, ", limits: {maxConnectionsPerClient: 2}")+
		routeYAML("r", "  listener: pub\n  backends: [{pool: web}]"))
	var conns []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i, c := range conns {
		c.SetDeadline(time.Now().Add(3 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if i < 2 && (err != nil || resp.StatusCode != 200) {
			t.Errorf("connection %d: %v", i, err)
		}
		if i == 2 && err == nil {
			t.Errorf("third connection from one client was served")
		}
	}
}
