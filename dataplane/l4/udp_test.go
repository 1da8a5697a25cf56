package l4

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// udpBackend echoes each datagram prefixed with its marker and records
// the source addresses it saw.
type udpBackend struct {
	pc      net.PacketConn
	addr    string
	mu      sync.Mutex
	sources map[string]bool
	done    chan struct{}
}

func newUDPBackend(t *testing.T, marker string) *udpBackend {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &udpBackend{pc: pc, addr: pc.LocalAddr().String(), sources: map[string]bool{}, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			b.mu.Lock()
			b.sources[from.String()] = true
			b.mu.Unlock()
			_, _ = pc.WriteTo(append([]byte(marker+":"), buf[:n]...), from)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-b.done })
	return b
}

func (b *udpBackend) sourceCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sources)
}

func udpPool(name string, port int, extra string, members ...*udpBackend) string {
	var ms []string
	for _, m := range members {
		ms = append(ms, fmt.Sprintf("{address: %q}", m.addr))
	}
	return fmt.Sprintf("apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: %s}\nspec:\n  frontend: {port: %d, protocol: udp%s}\n  members: [%s]\n%s---\n",
		name, port, frontendExtra(extra), strings.Join(ms, ", "), poolExtra(extra))
}

// udpAsk sends payload from c and waits for the reply, resending a few
// times since UDP may drop a datagram when a socket buffer overflows.
func udpAsk(c *net.UDPConn, payload string) (string, error) {
	buf := make([]byte, 2048)
	var err error
	for range 10 {
		if _, err = c.Write([]byte(payload)); err != nil {
			return "", err
		}
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		var n int
		n, err = c.Read(buf)
		if err == nil {
			return string(buf[:n]), nil
		}
	}
	return "", err
}

func udpClient(t *testing.T, local net.IP, port int) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: local}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestUDPThousandClients: 1,000 clients each get their own reply through
// their own session (one upstream socket per client address).
func TestUDPThousandClients(t *testing.T) {
	be := newUDPBackend(t, "B")
	port := freePort(t, "udp")
	h := startProxy(t, udpPool("dns", port, "", be))
	const clients = 1000
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	sem := make(chan struct{}, 200)
	// Every client socket stays open until the end, so that the kernel
	// cannot give a closed client's port to another one (which would then
	// rightly share its session).
	conns := make([]*net.UDPConn, clients)
	for i := range conns {
		conns[i] = udpClient(t, nil, port)
		defer conns[i].Close()
	}
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			payload := fmt.Sprintf("client-%d-%d", i, time.Now().UnixNano())
			got, err := udpAsk(c, payload)
			if err != nil || got != "B:"+payload {
				errs <- fmt.Errorf("client %d: got %q (%v)", i, got, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := be.sourceCount(); n != clients {
		t.Errorf("the member saw %d source sockets for %d clients", n, clients)
	}
	if n := h.metric("fulcrum_l4_udp_sessions_total", "listener", "pool/dns"); n != clients {
		t.Errorf("sessions created: %v", n)
	}
}

// TestUDPSessionCapLRU: the table is capped; the least recently used
// session goes first, and an evicted client just gets a new session.
func TestUDPSessionCapLRU(t *testing.T) {
	be := newUDPBackend(t, "B")
	port := freePort(t, "udp")
	h := startProxy(t, udpPool("cap", port, "limits: {maxUDPSessions: 10}", be))
	var cs []*net.UDPConn
	for i := range 12 {
		c := udpClient(t, nil, port)
		defer c.Close()
		cs = append(cs, c)
		if _, err := udpAsk(c, fmt.Sprint("hello ", i)); err != nil {
			t.Fatal(err)
		}
		if i == 5 {
			// Client 0 becomes recently used: clients 1 and 2 are evicted.
			if _, err := udpAsk(cs[0], "again"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := h.metric("fulcrum_l4_udp_sessions", "listener", "pool/cap"); n != 10 {
		t.Errorf("sessions: %v, want 10", n)
	}
	if n := h.metric("fulcrum_l4_udp_evictions_total", "listener", "pool/cap"); n != 2 {
		t.Errorf("evictions: %v, want 2", n)
	}
	srv := h.udpServer(t, "pool/cap")
	srv.mu.Lock()
	_, has0 := srv.sessions[addrOf(cs[0])]
	_, has1 := srv.sessions[addrOf(cs[1])]
	srv.mu.Unlock()
	if !has0 || has1 {
		t.Errorf("LRU order: client 0 kept=%v (want true), client 1 kept=%v (want false)", has0, has1)
	}
	if got, err := udpAsk(cs[1], "back"); err != nil || got != "B:back" {
		t.Errorf("evicted client: %q %v", got, err)
	}
}

// TestUDPIdleAndAffinity: sessions end after the idle timeout; with a
// hash algorithm a client address keeps its member across sessions; a
// session whose member is removed moves on the next datagram.
func TestUDPIdleAndAffinity(t *testing.T) {
	a, b := newUDPBackend(t, "A"), newUDPBackend(t, "B")
	port := freePort(t, "udp")
	extra := "limits: {idleTimeout: 300ms}|  algorithm: source_hash\n"
	h := startProxy(t, udpPool("u", port, extra, a, b))
	markers := map[string]bool{}
	for ip := 2; ip < 12; ip++ {
		local := net.IPv4(127, 0, 0, byte(ip))
		first := ""
		for range 2 {
			c := udpClient(t, local, port)
			got, err := udpAsk(c, "x")
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			if first == "" {
				first = got
			} else if got != first {
				t.Errorf("127.0.0.%d: %s then %s", ip, first, got)
			}
		}
		markers[first] = true
	}
	if len(markers) != 2 {
		t.Errorf("10 addresses used members %v", markers)
	}
	waitFor(t, 5*time.Second, "idle sessions to end", func() bool {
		return h.metric("fulcrum_l4_udp_sessions", "listener", "pool/u") == 0
	})

	c := udpClient(t, nil, port)
	defer c.Close()
	got, _ := udpAsk(c, "y")
	h.apply(udpPool("u", port, "limits: {idleTimeout: 1m}", a, b))
	if again, _ := udpAsk(c, "y"); again != got {
		t.Errorf("Update moved a session: %s then %s", got, again)
	}
	keep := a
	if strings.HasPrefix(got, "A:") {
		keep = b
	}
	h.apply(udpPool("u", port, "limits: {idleTimeout: 1m}", keep))
	if moved, err := udpAsk(c, "y"); err != nil || moved == got {
		t.Errorf("session to a removed member: %q %v", moved, err)
	}
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }
