package http1

import (
	"math/rand"
	"strconv"
	"strings"
	"testing"
)

// The differential tests assemble messages from small grammars of tricky
// pieces, far more combinations than the corpora list, and hold every
// accepted one to the net/http cross-check and the round trip. The seeds
// are fixed so failures reproduce.

type picker struct{ *rand.Rand }

func (p picker) pick(xs ...string) string { return xs[p.Intn(len(xs))] }

const differentialRuns = 20000

func TestDifferentialRequests(t *testing.T) {
	p := picker{rand.New(rand.NewSource(1))}
	accepted := 0
	for range differentialRuns {
		var b strings.Builder
		b.WriteString(p.pick("", "\r\n"))
		b.WriteString(p.pick("GET", "POST", "HEAD", "CONNECT", "OPTIONS", "PURGE", "get") + " ")
		b.WriteString(p.pick("/", "/a?b", "*", "a:1", "[::1]:443", "http://a", "http://a:/x", "HTTP://A:80/x?y",
			"https://[::]:1/", "http://a%41/", "/%41%zz", "//x", "/a?", "http://a?x", "http://a:0080",
			"http://a.b-c_d~e!f$g&h'i(j)k*l+m,n;o=p/") + " ")
		b.WriteString(p.pick("HTTP/1.1", "HTTP/1.0") + "\r\n")
		for range p.Intn(5) {
			b.WriteString(p.pick("Host", "host", "Content-Length", "Transfer-Encoding", "Connection", "Expect",
				"Upgrade", "X-A", "Keep-Alive", "TE") + ":" + p.pick("", " ", "\t"))
			b.WriteString(p.pick("", "a", "chunked", " chunked", "chunked ", "close", "keep-alive", "Keep-Alive, close",
				"upgrade", "0", "5", "05", "100-continue", "a:1", "[::1]", "x, y", "\t", "caf\xc3\xa9", "a, ,b", ",", "websocket"))
			b.WriteString("\r\n")
		}
		b.WriteString("\r\n")
		in := []byte(b.String())
		var req Request
		n, err := ParseRequest(in, &req, nil)
		if err != nil {
			continue
		}
		accepted++
		if msg := netHTTPRequestMismatch(in, n, &req); msg != "" {
			t.Fatalf("%q: %s", in, msg)
		}
		out := AppendRequest(nil, &req, roundTripOptions(&req))
		var again Request
		if _, err := ParseRequest(out, &again, nil); err != nil {
			t.Fatalf("%q rewritten as %q: %v", in, out, err)
		}
		if msg := sameSemantics(&req, &again); msg != "" {
			t.Fatalf("%q rewritten as %q: %s", in, out, msg)
		}
	}
	if accepted < differentialRuns/10 {
		t.Fatalf("only %d of %d generated requests accepted", accepted, differentialRuns)
	}
}

func TestDifferentialResponses(t *testing.T) {
	p := picker{rand.New(rand.NewSource(2))}
	accepted := 0
	for range differentialRuns {
		var b strings.Builder
		b.WriteString(p.pick("HTTP/1.1", "HTTP/1.0") + " ")
		b.WriteString(p.pick("100", "101", "103", "200", "204", "206", "301", "304", "404", "500", "599", "199", "299"))
		b.WriteString(p.pick("", " ", " OK") + "\r\n")
		for range p.Intn(4) {
			b.WriteString(p.pick("Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "X-A", "Keep-Alive") + ": ")
			b.WriteString(p.pick("", "chunked", "close", "keep-alive", "upgrade", "0", "5", "websocket", "Keep-Alive, close") + "\r\n")
		}
		b.WriteString("\r\n")
		in := []byte(b.String())
		method := Method(p.Intn(int(MethodPatch) + 1))
		var resp Response
		n, err := ParseResponse(in, &resp, method, nil)
		if err != nil {
			continue
		}
		accepted++
		if msg := netHTTPResponseMismatch(in, n, method, &resp); msg != "" {
			t.Fatalf("%q (%v): %s", in, method, msg)
		}
		if msg := responseRoundTrip(&resp, method); msg != "" {
			t.Fatalf("%q (%v): %s", in, method, msg)
		}
	}
	if accepted < differentialRuns/10 {
		t.Fatalf("only %d of %d generated responses accepted", accepted, differentialRuns)
	}
}

func TestDifferentialChunked(t *testing.T) {
	p := picker{rand.New(rand.NewSource(3))}
	accepted := 0
	for range differentialRuns {
		var b strings.Builder
		for range p.Intn(4) {
			size := p.Intn(20) + 1
			b.WriteString(p.pick("", "0") + strconv.FormatInt(int64(size), 16))
			b.WriteString(p.pick("", ";a", ";a=b", "; a = \"x\"", " ", ";", ";a=\"\\\"\"", "\t;x"))
			b.WriteString(p.pick("\r\n", "\n", "\r\r\n"))
			for range size {
				b.WriteString(p.pick("x", "\r", "\n", "0"))
			}
			b.WriteString(p.pick("\r\n", "\r\n", "\n", ""))
		}
		b.WriteString("0" + p.pick("", ";z") + "\r\n")
		b.WriteString(p.pick("", "X: y\r\n", "X:\r\n", " X: y\r\n") + p.pick("\r\n", "\n"))
		in := []byte(b.String())
		data, used, done, err := runChunked(in, p.Intn(4), true, 0)
		if err != nil || !done {
			continue
		}
		accepted++
		if msg := netHTTPChunkedMismatch(in[:used], data); msg != "" {
			t.Fatalf("%q: %s", in, msg)
		}
	}
	if accepted < differentialRuns/20 {
		t.Fatalf("only %d of %d generated bodies accepted", accepted, differentialRuns)
	}
}
