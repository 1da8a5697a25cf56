package testutil

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Ports handed to tests that must name a port before a server binds it are
// drawn from below the kernel's ephemeral range. A port taken from
// 127.0.0.1:0 and closed again is a port the kernel will soon hand out as the
// source port of some outgoing connection, and with test packages running in
// parallel that happened often enough to fail CI ("bind: address already in
// use"). Below the ephemeral range only another test can take the port, and
// the random draw over some twenty thousand ports makes that rare.

const lowestTestPort = 10000

var ports struct {
	once   sync.Once
	mu     sync.Mutex
	high   int // exclusive upper bound: the start of the ephemeral range
	issued map[int]bool
}

// ephemeralStart reads the start of the kernel's ephemeral port range, with
// Linux's default when the file cannot be read.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > lowestTestPort+1000 {
				return n
			}
		}
	}
	return 32768
}

// FreePort returns a port on 127.0.0.1, outside the ephemeral range, that is
// free for both TCP and UDP at the moment of the call and has not been
// returned before in this process.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func freePort() (int, error) {
	ports.once.Do(func() {
		ports.high = ephemeralStart()
		ports.issued = map[int]bool{}
	})
	ports.mu.Lock()
	defer ports.mu.Unlock()
	for range 1000 {
		p := lowestTestPort + rand.IntN(ports.high-lowestTestPort)
		if ports.issued[p] || !bindable(p) {
			continue
		}
		ports.issued[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free port on 127.0.0.1 in [%d, %d) after 1000 tries", lowestTestPort, ports.high)
}

// bindable reports whether both a TCP listener and a UDP socket can bind the
// port right now.
func bindable(p int) bool {
	addr := "127.0.0.1:" + strconv.Itoa(p)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	pc.Close()
	return true
}
