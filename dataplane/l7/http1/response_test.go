package http1

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

type respCase struct {
	name    string
	in      string
	method  Method
	ok      bool
	framing Framing
	close   bool
}

func resp11(status, headers string) string { return "HTTP/1.1 " + status + "\r\n" + headers + "\r\n" }

var responseCorpus = []respCase{
	{"typical", typicalResponse, MethodGet, true, FramingLength, false},
	{"no reason", resp11("200", "Content-Length: 0\r\n"), MethodGet, true, FramingLength, false},
	{"empty reason", resp11("200 ", "Content-Length: 0\r\n"), MethodGet, true, FramingLength, false},
	{"reason spaces", resp11("404 Not  Found here", "Content-Length: 0\r\n"), MethodGet, true, FramingLength, false},
	{"chunked", resp11("200 OK", "Transfer-Encoding: chunked\r\n"), MethodGet, true, FramingChunked, false},
	{"until close", resp11("200 OK", ""), MethodGet, true, FramingUntilClose, true},
	{"http10 until close", "HTTP/1.0 200 OK\r\n\r\n", MethodGet, true, FramingUntilClose, true},
	{"http10 keepalive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", MethodGet, true, FramingLength, false},
	{"http10 cl", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", MethodGet, true, FramingLength, true},
	{"close", resp11("200 OK", "Content-Length: 1\r\nConnection: close\r\n"), MethodGet, true, FramingLength, true},
	{"head with cl", resp11("200 OK", "Content-Length: 100\r\n"), MethodHead, true, FramingNone, false},
	{"head with te", resp11("200 OK", "Transfer-Encoding: chunked\r\n"), MethodHead, true, FramingNone, false},
	{"head no framing", resp11("200 OK", ""), MethodHead, true, FramingNone, false},
	{"204", resp11("204 No Content", ""), MethodGet, true, FramingNone, false},
	{"204 cl zero", resp11("204 No Content", "Content-Length: 0\r\n"), MethodGet, true, FramingNone, false},
	{"304 with cl", resp11("304 Not Modified", "Content-Length: 500\r\n"), MethodGet, true, FramingNone, false},
	{"304 with te", resp11("304 Not Modified", "Transfer-Encoding: chunked\r\n"), MethodGet, true, FramingNone, false},
	{"100", resp11("100 Continue", ""), MethodPost, true, FramingNone, false},
	{"103", resp11("103 Early Hints", "Link: </a.css>; rel=preload\r\n"), MethodGet, true, FramingNone, false},
	{"101", resp11("101 Switching Protocols", "Upgrade: websocket\r\nConnection: Upgrade\r\n"), MethodGet, true, FramingTunnel, false},
	{"connect 200", resp11("200 Connection established", ""), MethodConnect, true, FramingTunnel, false},
	{"connect 407", resp11("407 Proxy Authentication Required", "Content-Length: 0\r\n"), MethodConnect, true, FramingLength, false},
	{"599", resp11("599 Whatever", "Content-Length: 0\r\n"), MethodGet, true, FramingLength, false},

	{"cl and te", resp11("200 OK", "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n"), MethodGet, false, 0, false},
	{"cl and te head", resp11("200 OK", "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n"), MethodHead, false, 0, false},
	{"cl dup", resp11("200 OK", "Content-Length: 1\r\nContent-Length: 1\r\n"), MethodGet, false, 0, false},
	{"cl bad", resp11("200 OK", "Content-Length: 1a\r\n"), MethodGet, false, 0, false},
	{"cl bad 304", resp11("304 Not Modified", "Content-Length: -1\r\n"), MethodGet, false, 0, false},
	{"te gzip", resp11("200 OK", "Transfer-Encoding: gzip\r\n"), MethodGet, false, 0, false},
	{"te gzip chunked", resp11("200 OK", "Transfer-Encoding: gzip, chunked\r\n"), MethodGet, false, 0, false},
	{"te http10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", MethodGet, false, 0, false},
	{"204 with body cl", resp11("204 No Content", "Content-Length: 5\r\n"), MethodGet, false, 0, false},
	{"204 with te", resp11("204 No Content", "Transfer-Encoding: chunked\r\n"), MethodGet, false, 0, false},
	{"100 with cl", resp11("100 Continue", "Content-Length: 5\r\n"), MethodGet, false, 0, false},
	{"connect 200 with te", resp11("200 OK", "Transfer-Encoding: chunked\r\n"), MethodConnect, false, 0, false},
	{"101 without upgrade", resp11("101 Switching Protocols", "Connection: upgrade\r\n"), MethodGet, false, 0, false},
	{"status 2 digits", resp11("20 OK", ""), MethodGet, false, 0, false},
	{"status 4 digits", resp11("2000 OK", ""), MethodGet, false, 0, false},
	{"status 099", resp11("099 Low", ""), MethodGet, false, 0, false},
	{"status 600", resp11("600 High", ""), MethodGet, false, 0, false},
	{"status letters", resp11("2x0 OK", ""), MethodGet, false, 0, false},
	{"double space", "HTTP/1.1  200 OK\r\n\r\n", MethodGet, false, 0, false},
	{"version 2", "HTTP/2.0 200 OK\r\n\r\n", MethodGet, false, 0, false},
	{"version lowercase", "http/1.1 200 OK\r\n\r\n", MethodGet, false, 0, false},
	{"reason ctl", resp11("200 O\x01K", ""), MethodGet, false, 0, false},
	{"status bare lf", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", MethodGet, false, 0, false},
	{"header bare lf", "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", MethodGet, false, 0, false},
	{"obs fold", resp11("200 OK", "X: a\r\n b\r\nContent-Length: 0\r\n"), MethodGet, false, 0, false},
	{"space before colon", resp11("200 OK", "Content-Length : 0\r\n"), MethodGet, false, 0, false},
	{"nul in value", resp11("200 OK", "X: \x00\r\nContent-Length: 0\r\n"), MethodGet, false, 0, false},
	{"http09 body", "<html>hello</html>\r\n", MethodGet, false, 0, false},
}

func TestResponseCorpus(t *testing.T) {
	var resp Response
	for _, tc := range responseCorpus {
		n, err := ParseResponse([]byte(tc.in), &resp, tc.method, nil)
		if !tc.ok {
			var perr *Error
			if !errors.As(err, &perr) || perr.Status != 502 || !perr.CloseConnection() {
				t.Errorf("%s: ParseResponse = (%d, %v), want a 502 *Error", tc.name, n, err)
			}
			continue
		}
		if err != nil || n != len(tc.in) {
			t.Errorf("%s: ParseResponse = (%d, %v), want (%d, nil)", tc.name, n, err, len(tc.in))
			continue
		}
		if resp.Framing != tc.framing || resp.Close != tc.close {
			t.Errorf("%s: framing %v close %v, want %v %v", tc.name, resp.Framing, resp.Close, tc.framing, tc.close)
		}
		for i := 0; i < len(tc.in); i++ {
			if _, err := ParseResponse([]byte(tc.in[:i]), &resp, tc.method, nil); err != ErrNeedMore {
				t.Errorf("%s: prefix of %d bytes: %v, want ErrNeedMore", tc.name, i, err)
				break
			}
		}
	}
}

func TestResponseFields(t *testing.T) {
	var resp Response
	if _, err := ParseResponse([]byte(typicalResponse), &resp, MethodGet, nil); err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || string(resp.Reason) != "OK" || resp.ContentLength != 12345 || resp.Minor != 1 ||
		len(resp.Headers) != 8 || string(resp.Headers.Get("content-type")) != "text/html; charset=utf-8" || resp.Interim() {
		t.Fatalf("typical response parsed as %+v", resp)
	}
	in := resp11("101 Switching Protocols", "Upgrade: websocket\r\nConnection: Upgrade\r\n")
	if _, err := ParseResponse([]byte(in), &resp, MethodGet, nil); err != nil || string(resp.Upgrade) != "websocket" || resp.Interim() {
		t.Fatalf("101: %v, %+v", err, resp)
	}
	in = resp11("100 Continue", "") + resp11("200 OK", "Content-Length: 2\r\n") + "ok"
	n, err := ParseResponse([]byte(in), &resp, MethodPost, nil)
	if err != nil || !resp.Interim() || resp.Status != 100 {
		t.Fatalf("100: %v, %+v", err, resp)
	}
	m, err := ParseResponse([]byte(in[n:]), &resp, MethodPost, nil)
	if err != nil || resp.Status != 200 || in[n+m:] != "ok" {
		t.Fatalf("final after 100: %v, %+v", err, resp)
	}
	if _, err := ParseResponse([]byte(resp11("200 OK", "Content-Length: 100\r\n")), &resp, MethodHead, nil); err != nil ||
		resp.ContentLength != 100 || resp.Framing != FramingNone {
		t.Fatalf("HEAD: %v, %+v", err, resp)
	}
}

func TestResponseZeroAlloc(t *testing.T) {
	buf := []byte(typicalResponse)
	var resp Response
	if _, err := ParseResponse(buf, &resp, MethodGet, nil); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := ParseResponse(buf, &resp, MethodGet, nil); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ParseResponse allocates %v times per run", allocs)
	}
}

// responseRoundTrip writes resp back with its own framing and checks that
// it parses with the same status, framing, length and upgrade.
func responseRoundTrip(resp *Response, method Method) string {
	o := &ResponseOptions{Framing: resp.Framing, ContentLength: resp.ContentLength}
	if resp.Status == 101 {
		o.Connection = ConnUpgrade
	}
	out := AppendResponse(nil, resp, o)
	var again Response
	if _, err := ParseResponse(out, &again, method, nil); err != nil {
		return fmt.Sprintf("rewritten %q does not parse: %v", out, err)
	}
	if again.Status != resp.Status || again.Framing != resp.Framing || !bytes.Equal(again.Upgrade, resp.Upgrade) ||
		!bytes.Equal(again.Reason, resp.Reason) || (resp.Framing == FramingLength && again.ContentLength != resp.ContentLength) {
		return fmt.Sprintf("round trip changed the response to %q", out)
	}
	return ""
}

func TestResponseRoundTrip(t *testing.T) {
	var resp Response
	for _, tc := range responseCorpus {
		if !tc.ok {
			continue
		}
		if _, err := ParseResponse([]byte(tc.in), &resp, tc.method, nil); err != nil {
			t.Fatal(err)
		}
		if msg := responseRoundTrip(&resp, tc.method); msg != "" {
			t.Errorf("%s: %s", tc.name, msg)
		}
	}
}
