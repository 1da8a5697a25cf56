package l4

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// patternWriter writes a deterministic stream: 1 MiB blocks of random
// bytes, each stamped with its index, so loss, duplication or reordering
// changes the digest.
func writePattern(w io.Writer, size int64) (string, error) {
	block := make([]byte, 1<<20)
	r := rand.New(rand.NewChaCha8([32]byte{1}))
	for i := range block {
		block[i] = byte(r.Uint32())
	}
	h := sha256.New()
	for i := int64(0); size > 0; i++ {
		binary.LittleEndian.PutUint64(block, uint64(i))
		n := min(size, int64(len(block)))
		h.Write(block[:n])
		if _, err := w.Write(block[:n]); err != nil {
			return "", err
		}
		size -= n
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func rssBytes(t *testing.T) int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm")
	}
	f := strings.Fields(string(data))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// TestBulkTransferIntactSpliced sends 1 GiB up and 1 GiB down through the
// proxy (64 MiB each under -race), with a half-close in between: the
// member hashes the upload, sees end of stream only after the client's
// CloseWrite, answers with the digest, then streams its own GiB. The
// relay must splice (no byte through user space) and stay in bounded
// memory.
func TestBulkTransferIntactSpliced(t *testing.T) {
	size := int64(1 << 30)
	if raceEnabled {
		size = 64 << 20
	}
	be := newBackend(t, "sink", func(b *backend, c net.Conn) {
		h := sha256.New()
		n, err := io.Copy(h, c)
		if err != nil {
			return
		}
		fmt.Fprintf(c, "%d %x\n", n, h.Sum(nil))
		sum, err := writePattern(c, size)
		if err != nil {
			return
		}
		fmt.Fprintf(c, "%s\n", sum)
		_ = c.(*net.TCPConn).CloseWrite()
	})
	port := freePort(t, "tcp")
	h := startProxy(t, pool("bulk", port, "tcp", "", be))
	goruntime.GC()
	rss0 := rssBytes(t)

	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
	sent, err := writePattern(c, size)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(c, 64<<10)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("no reply after half-close: %v", err)
	}
	if want := fmt.Sprintf("%d %s\n", size, sent); line != want {
		t.Fatalf("member received %q, want %q", line, want)
	}
	hd := sha256.New()
	if _, err := io.CopyN(hd, br, size); err != nil {
		t.Fatalf("download: %v", err)
	}
	tail, err := br.ReadString('\n')
	if err != nil || strings.TrimSpace(tail) != hex.EncodeToString(hd.Sum(nil)) {
		t.Fatalf("download digest: got %x, member sent %q (%v)", hd.Sum(nil), tail, err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the member's half-close: %v, want EOF", err)
	}
	growth := rssBytes(t) - rss0
	t.Logf("moved %d MiB each way; RSS growth %d KiB", size>>20, growth>>10)
	if growth > 64<<20 {
		t.Errorf("RSS grew by %d MiB while relaying %d MiB: the relay buffers", growth>>20, size>>20)
	}
	c.Close()
	waitFor(t, 5*time.Second, "connection end", func() bool {
		return h.metric("fulcrum_l4_connections_active") == 0
	})
	// Small reads are copied (cheaper than a pipe for a few bytes); once a
	// read fills the 16 KiB buffer the direction splices.
	spliced := h.metric("fulcrum_l4_copied_bytes_total", "mode", "splice")
	copied := h.metric("fulcrum_l4_copied_bytes_total", "mode", "buffer")
	if want := float64(2*size) + float64(len(line)+len(tail)); spliced+copied != want {
		t.Errorf("relayed %v+%v bytes, want %v", spliced, copied, want)
	}
	if copied > 1<<20 {
		t.Errorf("%v of %v bytes went through user space", copied, spliced+copied)
	}
	t.Logf("spliced %.0f bytes, copied %.0f", spliced, copied)
	if in := h.metric("fulcrum_l4_bytes_total", "pool", "bulk", "direction", "in"); in != float64(size) {
		t.Errorf("bytes in = %v, want %d", in, size)
	}
}

func TestConnectionLimits(t *testing.T) {
	be := newBackend(t, "be", helloEcho)
	pl, pc, pp := freePort(t, "tcp"), freePort(t, "tcp"), freePort(t, "tcp")
	h := startProxy(t, pool("lst", pl, "tcp", "limits: {maxConnections: 2}", be)+
		pool("cli", pc, "tcp", "limits: {maxConnectionsPerClient: 1}", be)+
		pool("pl", pp, "tcp", "|  circuitBreaker: {maxConnections: 1}\n", be))
	addr := func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }
	refused := func(a string, local net.Addr) {
		t.Helper()
		d := net.Dialer{LocalAddr: local}
		c, err := d.Dial("tcp", a)
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, _ := c.Read(make([]byte, 1)); n != 0 {
			t.Errorf("%s: a connection over the limit reached the member", a)
		}
	}
	c1, _, _ := dialHello(t, addr(pl))
	defer c1.Close()
	c2, _, _ := dialHello(t, addr(pl))
	defer c2.Close()
	refused(addr(pl), nil)

	d1, _, _ := dialHello(t, addr(pc))
	defer d1.Close()
	refused(addr(pc), nil)
	other := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
	d2, br, _ := dialHelloFrom(t, other, addr(pc))
	defer d2.Close()
	echoOnce(t, d2, br, "another client address has its own allowance")

	e1, _, _ := dialHello(t, addr(pp))
	defer e1.Close()
	refused(addr(pp), nil)

	for _, r := range [][2]string{{"pool/lst", reasonListenerLimit}, {"pool/cli", reasonClientLimit}, {"pool/pl", reasonPoolLimit}} {
		if n := h.metric("fulcrum_l4_rejected_total", "listener", r[0], "reason", r[1]); n != 1 {
			t.Errorf("%s rejected for %s: %v, want 1", r[0], r[1], n)
		}
	}
	// A freed slot is usable again.
	c1.Close()
	waitFor(t, 5*time.Second, "slot release", func() bool {
		return h.metric("fulcrum_l4_connections_active", "listener", "pool/lst") == 1
	})
	c3, _, _ := dialHello(t, addr(pl))
	c3.Close()
}

func TestIdleTimeout(t *testing.T) {
	be := newBackend(t, "be", helloEcho)
	port := freePort(t, "tcp")
	// Generous margins: a loaded CI machine under -race can stall a
	// goroutine for a few hundred milliseconds.
	startProxy(t, pool("idle", port, "tcp", "limits: {idleTimeout: 1s}", be))
	a := fmt.Sprintf("127.0.0.1:%d", port)
	quiet, qbr, _ := dialHello(t, a)
	defer quiet.Close()
	busy, bbr, _ := dialHello(t, a)
	defer busy.Close()
	start := time.Now()
	for time.Since(start) < 2500*time.Millisecond {
		echoOnce(t, busy, bbr, "still here")
		time.Sleep(150 * time.Millisecond)
	}
	echoOnce(t, busy, bbr, "an active connection outlives the idle timeout")
	expectClosed(t, quiet, qbr, 3*time.Second)
}

// TestUpdateKeepsConnections: configuration changes, including removing
// the member of an open connection from a pool without a drain timeout,
// never close it; new connections follow the new configuration.
func TestUpdateKeepsConnections(t *testing.T) {
	a := newBackend(t, "a", helloEcho)
	b := newBackend(t, "b", helloEcho)
	port, other := freePort(t, "tcp"), freePort(t, "tcp")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	h := startProxy(t, pool("p", port, "tcp", "", a))
	c, br, name := dialHello(t, addr)
	defer c.Close()
	if name != "a" {
		t.Fatalf("went to %s", name)
	}
	h.apply(pool("p", port, "tcp", "limits: {idleTimeout: 1h}|  algorithm: least_conn\n", a, b) + pool("q", other, "tcp", "", b))
	echoOnce(t, c, br, "after adding a member and a pool")
	h.apply(pool("p", port, "tcp", "", b))
	echoOnce(t, c, br, "after removing its member")
	for range 5 {
		n, _, name := dialHello(t, addr)
		n.Close()
		if name != "b" {
			t.Fatalf("new connection went to removed member %s", name)
		}
	}
	echoOnce(t, c, br, "still")
}

// TestDrainDeadline: with timeouts.drain, connections to a member that is
// removed or put in drain state are closed at the deadline, not before.
func TestDrainDeadline(t *testing.T) {
	a := newBackend(t, "a", helloEcho)
	b := newBackend(t, "b", helloEcho)
	port := freePort(t, "tcp")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	drain := "|  timeouts: {drain: 1s}\n"
	h := startProxy(t, pool("p", port, "tcp", drain, a))
	c, br, _ := dialHello(t, addr)
	defer c.Close()
	h.apply(pool("p", port, "tcp", drain, b))
	start := time.Now()
	echoOnce(t, c, br, "before the deadline")
	expectClosed(t, c, br, 5*time.Second)
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("closed after %v, before the 1s drain deadline", d)
	}

	// An operator drain (state: drain) behaves the same.
	h.apply(pool("p", port, "tcp", drain, a))
	c2, br2, name := dialHello(t, addr)
	defer c2.Close()
	if name != "a" {
		t.Fatalf("went to %s", name)
	}
	h.apply(fmt.Sprintf(`apiVersion: fulcrum/v1
kind: Pool
metadata: {name: p}
spec:
  frontend: {port: %d, protocol: tcp}
  members: [{address: %q, state: drain}, {address: %q}]
  timeouts: {drain: 1s}
`, port, a.addr, b.addr))
	echoOnce(t, c2, br2, "draining member keeps its connection for now")
	n, _, name := dialHello(t, addr)
	n.Close()
	if name != "b" {
		t.Errorf("new connection went to draining member %s", name)
	}
	expectClosed(t, c2, br2, 5*time.Second)
}

// TestListenerRemovedDrains: a removed listener stops accepting at once
// and closes what remains at its drain timeout.
func TestListenerRemovedDrains(t *testing.T) {
	a := newBackend(t, "a", helloEcho)
	port, keep := freePort(t, "tcp"), freePort(t, "tcp")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	h := startProxy(t, pool("gone", port, "tcp", "limits: {drainTimeout: 1s}", a)+pool("keep", keep, "tcp", "", a))
	c, br, _ := dialHello(t, addr)
	defer c.Close()
	h.apply(pool("keep", keep, "tcp", "", a))
	if n, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		n.Close()
		t.Error("a removed listener still accepts")
	}
	echoOnce(t, c, br, "drain period")
	expectClosed(t, c, br, 5*time.Second)
}

// TestLeastConnCountsConnections: least_conn sees open connections, since
// the pick stays outstanding until the connection closes.
func TestLeastConnCountsConnections(t *testing.T) {
	a := newBackend(t, "a", helloEcho)
	b := newBackend(t, "b", helloEcho)
	port := freePort(t, "tcp")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	h := startProxy(t, pool("lc", port, "tcp", "|  algorithm: least_conn\n", a, b))
	conns := map[string][]net.Conn{}
	for range 4 {
		c, _, name := dialHello(t, addr)
		defer c.Close()
		conns[name] = append(conns[name], c)
	}
	if len(conns["a"]) != 2 || len(conns["b"]) != 2 {
		t.Fatalf("4 connections spread %d/%d", len(conns["a"]), len(conns["b"]))
	}
	for _, c := range conns["a"] {
		c.Close()
	}
	waitFor(t, 5*time.Second, "closes seen", func() bool { return h.metric("fulcrum_l4_connections_active") == 2 })
	for range 2 {
		c, _, name := dialHello(t, addr)
		defer c.Close()
		if name != "a" {
			t.Errorf("with a=0..1 and b=2 open connections, a new one went to %s", name)
		}
	}
}

// TestSourceHashAffinity: hash algorithms hash the client address, so a
// client keeps its member and clients spread.
func TestSourceHashAffinity(t *testing.T) {
	ms := []*backend{newBackend(t, "a", helloEcho), newBackend(t, "b", helloEcho), newBackend(t, "c", helloEcho)}
	for _, algo := range []string{"source_hash", "maglev", "ring_hash"} {
		t.Run(algo, func(t *testing.T) {
			port := freePort(t, "tcp")
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			startProxy(t, pool("h", port, "tcp", "|  algorithm: "+algo+"\n", ms...))
			seen := map[string]bool{}
			for ip := 2; ip < 12; ip++ {
				local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(ip))}
				first := ""
				for range 3 {
					c, _, name := dialHelloFrom(t, local, addr)
					c.Close()
					if first == "" {
						first = name
					} else if name != first {
						t.Fatalf("127.0.0.%d went to %s then %s", ip, first, name)
					}
				}
				seen[first] = true
			}
			if len(seen) < 2 {
				t.Errorf("10 client addresses all went to %v", seen)
			}
		})
	}
}

// TestMemberKilled: after a member dies, every new connection succeeds
// (a connect failure moves on to the next member), and outlier detection
// ejects the dead member so it is no longer even tried.
func TestMemberKilled(t *testing.T) {
	a := newBackend(t, "a", helloEcho)
	b := newBackend(t, "b", helloEcho)
	c := newBackend(t, "c", helloEcho)
	port := freePort(t, "tcp")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	h := startProxy(t, pool("k", port, "tcp", "|  outlierDetection: {consecutiveErrors: 3, baseEjectionTime: 1m}\n", a, b, c))
	open, obr, _ := dialHello(t, addr)
	defer open.Close()
	b.kill()
	for i := range 100 {
		n, _, name := dialHello(t, addr)
		n.Close()
		if name == "b" {
			t.Fatalf("connection %d reached the dead member", i)
		}
	}
	waitFor(t, 5*time.Second, "ejection", func() bool {
		return h.metric("fulcrum_upstream_ejections_total", "pool", "k", "member", b.addr) >= 1
	})
	errs := h.metric("fulcrum_l4_connect_errors_total", "pool", "k", "member", b.addr)
	if errs < 3 {
		t.Errorf("connect errors to the dead member: %v", errs)
	}
	for range 30 {
		n, _, _ := dialHello(t, addr)
		n.Close()
	}
	if after := h.metric("fulcrum_l4_connect_errors_total", "pool", "k", "member", b.addr); after != errs {
		t.Errorf("ejected member still tried: %v connect errors, then %v", errs, after)
	}
	_ = obr
}

// TestAccessLog: one JSON line per connection, with the listener's fields.
func TestAccessLog(t *testing.T) {
	a := newBackend(t, "a", helloEcho)
	port := freePort(t, "tcp")
	h := startProxy(t, pool("log", port, "tcp", "accessLog: {enabled: true, fields: [client, member, bytes_in, bytes_out]}", a))
	c, br, _ := dialHello(t, fmt.Sprintf("127.0.0.1:%d", port))
	echoOnce(t, c, br, "hello")
	c.Close()
	waitFor(t, 5*time.Second, "access line", func() bool { return strings.Contains(h.log.String(), `"msg":"access"`) })
	var line string
	for _, l := range strings.Split(h.log.String(), "\n") {
		if strings.Contains(l, `"msg":"access"`) {
			line = l
		}
	}
	for _, want := range []string{`"client":"127.0.0.1:`, `"member":"` + a.addr + `"`, `"bytes_in":6`, `"bytes_out":8`} {
		if !strings.Contains(line, want) {
			t.Errorf("access line %s lacks %s", line, want)
		}
	}
	if strings.Contains(line, `"pool"`) {
		t.Errorf("access line %s has a field that was not asked for", line)
	}
}
