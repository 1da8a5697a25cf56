package l4

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// ppBackend parses the PROXY header Fulcrum sends and reports what it
// saw, then the first data line.
func ppBackend(b *backend, c net.Conn) {
	br := bufio.NewReader(c)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	hdr, err := proxyproto.Read(br)
	if err != nil {
		fmt.Fprintf(c, "no header: %v\n", err)
		return
	}
	fmt.Fprintf(c, "v%d %s\n", hdr.Version, hdr.SourceAddr)
	line, _ := br.ReadString('\n')
	fmt.Fprintf(c, "data %s\n", strings.TrimSpace(line))
}

// ppExchange connects from local, sends prefix then "hello\n", and
// returns the two lines the member answered.
func ppExchange(t *testing.T, local net.IP, addr string, prefix func(net.Conn)) (string, string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: local}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if prefix != nil {
		prefix(c)
	}
	io.WriteString(c, "hello\n")
	br := bufio.NewReader(c)
	l1, _ := br.ReadString('\n')
	l2, _ := br.ReadString('\n')
	return strings.TrimSpace(l1), strings.TrimSpace(l2)
}

func v1Header(c net.Conn) { io.WriteString(c, "PROXY TCP4 203.0.113.7 198.51.100.1 4242 443\r\n") }

func v2Header(c net.Conn) {
	h := proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 5353},
		&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 443})
	_, _ = h.WriteTo(c)
}

// TestProxyProtocol: members get the true client address in a PROXY v1 or
// v2 header; a header from a trusted peer replaces the peer's address,
// one from an untrusted peer is not parsed and reaches the member as data.
func TestProxyProtocol(t *testing.T) {
	be := newBackend(t, "pp", ppBackend)
	p2, p1 := freePort(t, "tcp"), freePort(t, "tcp")
	trusted := "proxyProtocol: {trustedCIDRs: [127.0.0.2/32]}, limits: {idleTimeout: 1s}"
	h := startProxy(t, pool("v2", p2, "tcp", trusted+"|  upstream: {proxyProtocol: v2}\n", be)+
		pool("v1", p1, "tcp", trusted+"|  upstream: {proxyProtocol: v1}\n", be))
	a2, a1 := fmt.Sprintf("127.0.0.1:%d", p2), fmt.Sprintf("127.0.0.1:%d", p1)
	direct, peer := net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2)

	hdr, data := ppExchange(t, direct, a2, nil)
	if !strings.HasPrefix(hdr, "v2 127.0.0.1:") || data != "data hello" {
		t.Errorf("v2, direct client: %q / %q", hdr, data)
	}
	hdr, _ = ppExchange(t, direct, a1, nil)
	if !strings.HasPrefix(hdr, "v1 127.0.0.1:") {
		t.Errorf("v1, direct client: %q", hdr)
	}
	hdr, data = ppExchange(t, peer, a2, v1Header)
	if hdr != "v2 203.0.113.7:4242" || data != "data hello" {
		t.Errorf("trusted v1 header: %q / %q", hdr, data)
	}
	hdr, data = ppExchange(t, peer, a1, v2Header)
	if hdr != "v1 [2001:db8::7]:5353" || data != "data hello" {
		t.Errorf("trusted v2 header: %q / %q", hdr, data)
	}
	hdr, data = ppExchange(t, direct, a2, v1Header)
	if !strings.HasPrefix(hdr, "v2 127.0.0.1:") || data != "data PROXY TCP4 203.0.113.7 198.51.100.1 4242 443" {
		t.Errorf("untrusted header must pass as data: %q / %q", hdr, data)
	}

	// A trusted peer must send a header: without one, or silent, it is
	// closed (the silent one at the handshake timeout, here the 1s idle).
	hdr, _ = ppExchange(t, peer, a2, nil)
	if hdr != "" {
		t.Errorf("trusted peer without a header reached the member: %q", hdr)
	}
	c, err := net.DialTCP("tcp", &net.TCPAddr{IP: peer}, &net.TCPAddr{IP: direct, Port: p2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	expectClosed(t, c, c, 5*time.Second)
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("silent trusted peer closed after %v", d)
	}
	if n := h.metric("fulcrum_l4_rejected_total", "reason", reasonProxyProtocol); n != 2 {
		t.Errorf("rejected for proxy_protocol: %v, want 2", n)
	}
}

// TestTrustedClientAddressUsedForLimits: the per-client limit counts the
// address from a trusted PROXY header, not the peer's.
func TestTrustedClientAddressUsedForLimits(t *testing.T) {
	be := newBackend(t, "be", helloEcho)
	port := freePort(t, "tcp")
	startProxy(t, pool("lim", port, "tcp", "proxyProtocol: {trustedCIDRs: [127.0.0.0/8]}, limits: {maxConnectionsPerClient: 1}", be))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	open := func(src string) (net.Conn, string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "PROXY TCP4 %s 198.51.100.1 1000 443\r\n", src)
		line, _ := bufio.NewReader(c).ReadString('\n')
		return c, strings.TrimSpace(line)
	}
	c1, l1 := open("203.0.113.1")
	defer c1.Close()
	c2, l2 := open("203.0.113.2")
	defer c2.Close()
	c3, l3 := open("203.0.113.1")
	defer c3.Close()
	if l1 != "be" || l2 != "be" || l3 != "" {
		t.Errorf("per-client limit by header address: %q %q %q (want be, be, closed)", l1, l2, l3)
	}
}
