package l7

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/dataplane/l7/http1"
)

// rawBackend is a minimal keep-alive HTTP/1.1 backend: it answers every
// request head with a fixed 200, so benchmarks measure the proxy.
func rawBackend(tb testing.TB) string { return namedRawBackend(tb, "raw") }

// namedRawBackend is rawBackend naming itself in X-Backend.
func namedRawBackend(tb testing.TB, name string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Backend: " + name + "\r\nContent-Length: 2\r\n\r\nok")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 16<<10)
				n := 0
				for {
					m, err := c.Read(buf[n:])
					if err != nil {
						return
					}
					n += m
					for {
						i := bytes.Index(buf[:n], []byte("\r\n\r\n"))
						if i < 0 {
							break
						}
						if _, err := c.Write(resp); err != nil {
							return
						}
						n = copy(buf, buf[i+4:n])
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// rawClient sends one GET and reads one response over a kept-alive
// connection.
type rawClient struct {
	c    net.Conn
	req  []byte
	buf  []byte
	resp http1.Response
}

func newRawClient(tb testing.TB, addr, host string) *rawClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	return &rawClient{c: c, req: []byte("GET /bench HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: bench\r\n\r\n"), buf: make([]byte, 16<<10)}
}

func (r *rawClient) do() (int, error) {
	if _, err := r.c.Write(r.req); err != nil {
		return 0, err
	}
	n := 0
	for {
		m, err := r.c.Read(r.buf[n:])
		if err != nil {
			return 0, err
		}
		n += m
		hl, err := http1.ParseResponse(r.buf[:n], &r.resp, http1.MethodGet, nil)
		if err == http1.ErrNeedMore {
			continue
		}
		if err != nil {
			return 0, err
		}
		if int64(n-hl) >= r.resp.ContentLength {
			return r.resp.Status, nil
		}
	}
}

// BenchmarkProxyH1 is the whole HTTP/1.1 fast path over loopback: client →
// proxy → minimal backend → proxy → client, one keep-alive connection.
func BenchmarkProxyH1(b *testing.B) {
	be := rawBackend(b)
	port := freePort(b)
	e := newBenchEnv(b, benchYAML(port, be))
	defer e.stop()
	c := newRawClient(b, fmt.Sprintf("127.0.0.1:%d", port), "bench.example")
	defer c.c.Close()
	for range 100 {
		if st, err := c.do(); err != nil || st != 200 {
			b.Fatal(st, err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if st, err := c.do(); err != nil || st != 200 {
			b.Fatal(st, err)
		}
	}
}

// benchYAML is one pool with an http frontend whose connections are never
// closed for their request count (the default closes after 10,000).
func benchYAML(port int, members ...string) string {
	y := poolYAML("web", port, "", members...)
	return strings.Replace(y, "protocol: http}", "protocol: http, limits: {maxRequestsPerConnection: 1000000000}}", 1)
}

// TestFastPathAllocatesNothing: in steady state a proxied HTTP/1.1
// exchange allocates nothing anywhere in the process (client, proxy and
// backend of this test included).
func TestFastPathAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	be := rawBackend(t)
	port := freePort(t)
	newEnv(t, benchYAML(port, be))
	c := newRawClient(t, fmt.Sprintf("127.0.0.1:%d", port), "x")
	defer c.c.Close()
	for range 200 {
		if st, err := c.do(); err != nil || st != 200 {
			t.Fatal(st, err)
		}
	}
	n := testing.AllocsPerRun(500, func() {
		if st, err := c.do(); err != nil || st != 200 {
			t.Fatal(st, err)
		}
	})
	if n > 0.05 {
		t.Errorf("%.2f allocations per proxied request", n)
	}
}
