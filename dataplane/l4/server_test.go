package l4

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
)

// TestDetachHandsOverSocket: Detach stops accepting without closing the
// socket, so a connection waiting in the kernel's queue is accepted by
// the next server; the detached server keeps relaying its connections;
// Drain closes what is left at its deadline and returns when all ended.
func TestDetachHandsOverSocket(t *testing.T) {
	a := newBackend(t, "a", helloEcho)
	port := freePort(t, "tcp")
	h := startProxy(t, pool("p", port, "tcp", "", a))
	l := h.p.Snapshot().Listeners["pool/p"]
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s1, err := h.factory.NewServer(l, runtime.Socket{Stream: ln})
	if err != nil {
		t.Fatal(err)
	}
	c1, br1, _ := dialHello(t, ln.Addr().String())
	defer c1.Close()
	s1.Detach()
	queued, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("the detached socket refused a connection: %v", err)
	}
	defer queued.Close()
	s2, err := h.factory.NewServer(l, runtime.Socket{Stream: ln})
	if err != nil {
		t.Fatal(err)
	}
	_ = queued.SetDeadline(time.Now().Add(5 * time.Second))
	hello := make([]byte, 2)
	if _, err := io.ReadFull(queued, hello); err != nil || string(hello) != "a\n" {
		t.Fatalf("queued connection: %q %v", hello, err)
	}
	echoOnce(t, c1, br1, "the detached server still relays")
	c1.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s1.Drain(ctx) // returns once c1's goroutines ended

	short, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	start := time.Now()
	s2.Drain(short)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Drain took %v past its deadline", d)
	}
	expectClosed(t, queued, queued, time.Second)
}

// TestMetricsLint: every fulcrum_l4_* family passes promlint.
func TestMetricsLint(t *testing.T) {
	a := newBackend(t, "a", helloEcho)
	u := newUDPBackend(t, "U")
	tp, up := freePort(t, "tcp"), freePort(t, "udp")
	h := startProxy(t, pool("m", tp, "tcp", "", a)+udpPool("mu", up, "", u))
	c, br, _ := dialHello(t, fmt.Sprintf("127.0.0.1:%d", tp))
	echoOnce(t, c, br, "x")
	c.Close()
	uc := udpClient(t, nil, up)
	defer uc.Close()
	if _, err := udpAsk(uc, "x"); err != nil {
		t.Fatal(err)
	}
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "fulcrum_l4_") {
			continue
		}
		seen++
		problems, err := promlint.NewWithMetricFamilies([]*dto.MetricFamily{mf}).Lint()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
	if seen < 8 {
		t.Errorf("only %d fulcrum_l4_ families exported", seen)
	}
}

// TestRelayAllocatesNothing: once a connection is set up, relaying a
// round trip allocates nothing (the splice loop's callbacks are bound
// once per direction, pipes are pooled).
func TestRelayAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("under -race sync.Pool drops items on purpose, so pooled buffers are reallocated")
	}
	be := newBackend(t, "be", helloEcho)
	port := freePort(t, "tcp")
	startProxy(t, pool("alloc", port, "tcp", "limits: {idleTimeout: 1h}", be))
	c, br, _ := dialHello(t, fmt.Sprintf("127.0.0.1:%d", port))
	defer c.Close()
	_ = c.SetDeadline(time.Time{})
	msg := []byte("ping-pong-64-bytes..............................................\n")
	buf := make([]byte, len(msg))
	roundTrip := func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(br, buf); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		roundTrip()
	}
	if n := testing.AllocsPerRun(200, roundTrip); n > 0.5 {
		t.Errorf("%.2f allocations per round trip", n)
	}
}
