package health

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// maxHTTPBody is how much of a response body the body regex sees.
const maxHTTPBody = 64 << 10

// httpProber sends one HTTP/1.1 request on a fresh connection. It writes the
// request and reads the response by hand rather than through http.Transport:
// a transport would pool connections (hiding a stuck accept loop) and start
// goroutines per connection, and the Checker wants neither.
type httpProber struct {
	path     string
	method   string
	request  []byte // the whole request, built once
	statuses []StatusRange
	want     string // the statuses, for reasons
	body     *regexp.Regexp
	tls      *tls.Config
}

func newHTTPProber(h *HTTPCheck, addr string) (*httpProber, error) {
	p := &httpProber{path: h.Path, method: h.Method, statuses: h.ExpectedStatuses}
	ranges := make([]string, len(h.ExpectedStatuses))
	for i, r := range h.ExpectedStatuses {
		ranges[i] = r.String()
	}
	p.want = strings.Join(ranges, ",")
	if h.BodyRegex != "" {
		re, err := regexp.Compile(h.BodyRegex)
		if err != nil {
			return nil, fmt.Errorf("health: http.bodyRegex: %w", err)
		}
		p.body = re
	}
	host, port, _ := net.SplitHostPort(addr)
	if h.TLS != nil {
		cfg, err := h.TLS.config(host)
		if err != nil {
			return nil, fmt.Errorf("health: http.tls: %w", err)
		}
		cfg.NextProtos = []string{"http/1.1"}
		p.tls = cfg
	}
	hostHeader := h.Host
	if hostHeader == "" {
		hostHeader = addr
		if (port == "80" && h.TLS == nil) || (port == "443" && h.TLS != nil) {
			hostHeader = host
		}
		if strings.Contains(host, ":") && hostHeader == host {
			hostHeader = "[" + host + "]"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", h.Method, h.Path, hostHeader)
	hasUA := false
	for _, k := range slices.Sorted(maps.Keys(h.Headers)) {
		if strings.EqualFold(k, "User-Agent") {
			hasUA = true
		}
		fmt.Fprintf(&b, "%s: %s\r\n", k, h.Headers[k])
	}
	if !hasUA {
		b.WriteString("User-Agent: fulcrum-health/1\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	p.request = []byte(b.String())
	return p, nil
}

func (p *httpProber) probe(ctx context.Context, addr string) error {
	tc, done, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	defer done()
	var conn net.Conn = tc
	if p.tls != nil {
		tlsConn := tls.Client(tc, p.tls)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			return inPhase("TLS handshake", err)
		}
		conn = tlsConn
	}
	if _, err := conn.Write(p.request); err != nil {
		return inPhase("sending the request", err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 4096), &http.Request{Method: p.method})
	if err != nil {
		return inPhase("waiting for the response", err)
	}
	defer resp.Body.Close()
	if !p.statusOK(resp.StatusCode) {
		return failf("status %d from %s (want %s)", resp.StatusCode, p.path, p.want)
	}
	if p.body == nil {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPBody))
	if err != nil {
		return inPhase("reading the body", err)
	}
	if !p.body.Match(b) {
		return failf("body did not match %q (from %s, got %s)", p.body.String(), p.path, excerpt(b))
	}
	return nil
}

func (p *httpProber) statusOK(code int) bool {
	for _, r := range p.statuses {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}

// excerpt quotes the start of a reply for a reason, short enough to read.
func excerpt(b []byte) string {
	const n = 64
	if len(b) > n {
		return fmt.Sprintf("%q...", b[:n])
	}
	return fmt.Sprintf("%q", b)
}
