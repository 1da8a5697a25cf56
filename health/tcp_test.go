package health

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
)

func tcpConfig(send, expect string) Config {
	cfg := fast(TypeTCP)
	cfg.TCP = &TCPCheck{Send: send, Expect: expect}
	return cfg
}

func TestTCPCheck(t *testing.T) {
	// A line-oriented server: answers PING with +PONG, in two segments to
	// show that the check reads until the pattern matches.
	addr := tcpServer(t, func(c net.Conn) {
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return
		}
		switch strings.TrimSpace(line) {
		case "PING":
			_, _ = c.Write([]byte("+PO"))
			_, _ = c.Write([]byte("NG\r\n"))
		case "QUIT":
			return
		default:
			_, _ = c.Write([]byte("-ERR unknown command\r\n"))
		}
	})
	banner := tcpServer(t, func(c net.Conn) { _, _ = c.Write([]byte("220 mail.example ESMTP\r\n")) })
	silent := tcpServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })

	cases := []struct {
		name, addr string
		cfg        Config
		want       string
	}{
		{"connect only", addr, fast(TypeTCP), ""},
		{"send and expect", addr, tcpConfig("PING\r\n", `^\+PONG`), ""},
		{"wrong reply", addr, tcpConfig("HELLO\r\n", `^\+PONG`), `reply did not match "^\\+PONG" (got "-ERR unknown command\r\n")`},
		{"closed before reply", addr, tcpConfig("QUIT\r\n", `^\+PONG`), "connection closed by peer before replying"},
		{"banner", banner, tcpConfig("", `^220 `), ""},
		{"no reply", silent, tcpConfig("PING\r\n", `PONG`), "timeout after 500ms (waiting for the reply)"},
		{"refused", closedPort(t), fast(TypeTCP), "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if strings.HasPrefix(tc.want, "timeout") {
				cfg = short(cfg)
			}
			got := check(t, tc.addr, cfg)
			if tc.want == "" && got != "" {
				t.Fatalf("check failed: %s", got)
			}
			if tc.want != "" && got != tc.want {
				t.Fatalf("reason %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDescribeDNS(t *testing.T) {
	got := check(t, "no-such-host.invalid:80", fast(TypeTCP))
	if strings.HasPrefix(got, "timeout") {
		t.Skipf("no DNS resolver answered in time: %s", got)
	}
	if !strings.HasPrefix(got, "dns: ") || !strings.Contains(got, "no-such-host.invalid") {
		t.Errorf("unknown host: %q", got)
	}
}
