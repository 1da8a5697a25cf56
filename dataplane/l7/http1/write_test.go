package http1

import (
	"bytes"
	"testing"
)

func mustRequest(t *testing.T, s string) *Request {
	t.Helper()
	var req Request
	if _, err := ParseRequest([]byte(s), &req, nil); err != nil {
		t.Fatalf("ParseRequest(%q): %v", s, err)
	}
	return &req
}

func mustResponse(t *testing.T, s string, m Method) *Response {
	t.Helper()
	var resp Response
	if _, err := ParseResponse([]byte(s), &resp, m, nil); err != nil {
		t.Fatalf("ParseResponse(%q): %v", s, err)
	}
	return &resp
}

func TestAppendRequestHopByHop(t *testing.T) {
	req := mustRequest(t, "POST /p?q HTTP/1.1\r\n"+
		"X-First: 1\r\n"+
		"Host: example.com\r\n"+
		"Connection: keep-alive, X-Hop\r\n"+
		"X-Hop: secret\r\n"+
		"Keep-Alive: timeout=5\r\n"+
		"Proxy-Connection: keep-alive\r\n"+
		"TE: trailers\r\n"+
		"Trailer: X-Sum\r\n"+
		"Upgrade: websocket\r\n"+
		"Transfer-Encoding: chunked\r\n"+
		"x-last: 2\r\n\r\n")
	got := AppendRequest(nil, req, &RequestOptions{Framing: req.Framing()})
	want := "POST /p?q HTTP/1.1\r\nHost: example.com\r\nX-First: 1\r\nx-last: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
	if string(got) != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	got = AppendRequest(got[:0], req, &RequestOptions{Framing: FramingLength, ContentLength: 42, Connection: ConnClose})
	want = "POST /p?q HTTP/1.1\r\nHost: example.com\r\nX-First: 1\r\nx-last: 2\r\nContent-Length: 42\r\nConnection: close\r\n\r\n"
	if string(got) != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

func TestAppendRequestUpgrade(t *testing.T) {
	req := mustRequest(t, "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
	got := AppendRequest(nil, req, &RequestOptions{Connection: ConnUpgrade})
	want := "GET /ws HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Version: 13\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
	if string(got) != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

func TestAppendRequestAbsoluteForm(t *testing.T) {
	req := mustRequest(t, "GET http://up.example:8080?x=1 HTTP/1.1\r\nHost: ignored\r\nAccept: */*\r\n\r\n")
	got := AppendRequest(nil, req, nil)
	want := "GET /?x=1 HTTP/1.1\r\nHost: up.example:8080\r\nAccept: */*\r\n\r\n"
	if string(got) != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	got = AppendRequest(got[:0], req, &RequestOptions{Target: []byte("/rewritten")})
	want = "GET /rewritten HTTP/1.1\r\nHost: up.example:8080\r\nAccept: */*\r\n\r\n"
	if string(got) != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

func TestAppendRequestEdits(t *testing.T) {
	req := mustRequest(t, "GET / HTTP/1.1\r\nHost: a\r\nCookie: c=1\r\nUser-Agent: curl\r\nuser-agent: again\r\nAccept: */*\r\n\r\n")
	edits := &Edits{
		Remove: [][]byte{[]byte("cookie")},
		Set: []Header{
			{Name: []byte("user-agent"), Value: []byte("fulcrum")},
			{Name: []byte("host"), Value: []byte("backend.internal")},
			{Name: []byte("content-length"), Value: []byte("5")},
		},
		Add: []Header{
			{Name: []byte("accept"), Value: []byte("text/html")},
			{Name: []byte("transfer-encoding"), Value: []byte("chunked")},
			{Name: []byte("host"), Value: []byte("evil")},
		},
	}
	got := AppendRequest(nil, req, &RequestOptions{Edits: edits})
	want := "GET / HTTP/1.1\r\nHost: backend.internal\r\nAccept: */*\r\nuser-agent: fulcrum\r\naccept: text/html\r\n\r\n"
	if string(got) != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

func TestAppendRequestXFF(t *testing.T) {
	req := mustRequest(t, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\nX-A: 1\r\nx-forwarded-for: 10.0.0.2, 10.0.0.3\r\n\r\n")
	ip := []byte("192.0.2.7")
	cases := []struct {
		mode XFFMode
		want string
	}{
		{XFFKeep, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\nX-A: 1\r\nx-forwarded-for: 10.0.0.2, 10.0.0.3\r\n\r\n"},
		{XFFAppend, "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 192.0.2.7\r\n\r\n"},
		{XFFReplace, "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-Forwarded-For: 192.0.2.7\r\n\r\n"},
	}
	for _, tc := range cases {
		got := AppendRequest(nil, req, &RequestOptions{XFF: tc.mode, ClientIP: ip})
		if string(got) != tc.want {
			t.Errorf("mode %d: got\n%q\nwant\n%q", tc.mode, got, tc.want)
		}
	}
	req = mustRequest(t, "GET / HTTP/1.0\r\n\r\n")
	got := AppendRequest(nil, req, &RequestOptions{XFF: XFFAppend, ClientIP: ip})
	if want := "GET / HTTP/1.1\r\nHost: \r\nX-Forwarded-For: 192.0.2.7\r\n\r\n"; string(got) != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestAppendResponse(t *testing.T) {
	resp := mustResponse(t, "HTTP/1.1 200 OK\r\nServer: up\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"+
		"Keep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nContent-Type: text/plain\r\n\r\n", MethodGet)
	got := AppendResponse(nil, resp, &ResponseOptions{Framing: resp.Framing})
	want := "HTTP/1.1 200 OK\r\nServer: up\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
	if string(got) != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	got = AppendResponse(got[:0], resp, &ResponseOptions{Framing: FramingUntilClose, Edits: &Edits{
		Remove: [][]byte{[]byte("SERVER")}, Add: []Header{{Name: []byte("via"), Value: []byte("1.1 fulcrum")}},
	}})
	want = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nvia: 1.1 fulcrum\r\nConnection: close\r\n\r\n"
	if string(got) != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	resp = mustResponse(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", MethodHead)
	got = AppendResponse(got[:0], resp, &ResponseOptions{Framing: FramingLength, ContentLength: resp.ContentLength, Connection: ConnKeepAlive})
	if want = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: keep-alive\r\n\r\n"; string(got) != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	resp = mustResponse(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n", MethodGet)
	got = AppendResponse(got[:0], resp, &ResponseOptions{Connection: ConnUpgrade})
	if want = "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"; string(got) != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

func TestAppendError(t *testing.T) {
	for status, want := range map[int]string{
		400: "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		431: "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		599: "HTTP/1.1 599 Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	} {
		if got := string(AppendError(nil, status)); got != want {
			t.Errorf("AppendError(%d) = %q", status, got)
		}
	}
	var resp Response
	for _, e := range reqErrors[codeRequestLine:] {
		out := AppendError(nil, e.Status)
		if _, err := ParseResponse(out, &resp, MethodGet, nil); err != nil || resp.Status != e.Status || !resp.Close {
			t.Errorf("AppendError(%d) does not parse back: %v", e.Status, err)
		}
	}
}

func TestValidField(t *testing.T) {
	if !ValidFieldName([]byte("x-custom_1")) || ValidFieldName([]byte("x y")) || ValidFieldName(nil) {
		t.Error("ValidFieldName")
	}
	if !ValidFieldValue([]byte("a b\tc")) || !ValidFieldValue(nil) || ValidFieldValue([]byte(" a")) ||
		ValidFieldValue([]byte("a\r\nX: y")) || ValidFieldValue([]byte("a\x00")) {
		t.Error("ValidFieldValue")
	}
}

// TestRoundTrip checks that every accepted request of the corpus, written
// with its own framing, parses back with the same semantics.
func TestRoundTrip(t *testing.T) {
	var again Request
	for _, tc := range requestCorpus {
		if tc.want != 0 {
			continue
		}
		req := mustRequest(t, tc.in)
		out := AppendRequest(nil, req, roundTripOptions(req))
		if _, err := ParseRequest(out, &again, nil); err != nil {
			t.Fatalf("%s: rewritten head %q: %v", tc.name, out, err)
		}
		if msg := sameSemantics(req, &again); msg != "" {
			t.Errorf("%s: %s\nin  %q\nout %q", tc.name, msg, tc.in, out)
		}
	}
}

func roundTripOptions(req *Request) *RequestOptions {
	o := &RequestOptions{Framing: req.Framing(), ContentLength: req.ContentLength}
	if req.Upgrade != nil {
		o.Connection = ConnUpgrade
	}
	return o
}

// sameSemantics compares what a proxy forwards: method, origin-form path
// and query, host, framing, upgrade, expectation and end-to-end fields.
func sameSemantics(a, b *Request) string {
	path := a.Path
	if a.Form == FormAbsolute && len(path) == 0 {
		path = []byte("/")
	}
	switch {
	case !bytes.Equal(a.Method, b.Method):
		return "method differs"
	case !bytes.Equal(path, b.Path) || !bytes.Equal(a.Query, b.Query) || (a.Query == nil) != (b.Query == nil):
		return "path or query differs"
	case !bytes.Equal(a.Host, b.Host):
		return "host differs"
	case a.ContentLength != b.ContentLength || a.Chunked != b.Chunked:
		return "framing differs"
	case !bytes.Equal(a.Upgrade, b.Upgrade):
		return "upgrade differs"
	case a.Minor == 1 && a.Expect100 != b.Expect100:
		return "expect differs"
	}
	var ea, eb []Header
	for _, h := range a.Headers {
		if h.kind != kindHost && !hopByHop(h.kind) {
			ea = append(ea, h)
		}
	}
	for _, h := range b.Headers {
		if h.kind != kindHost && !hopByHop(h.kind) {
			eb = append(eb, h)
		}
	}
	if len(ea) != len(eb) {
		return "end-to-end field count differs"
	}
	for i := range ea {
		if !bytes.Equal(ea[i].Name, eb[i].Name) || !bytes.Equal(ea[i].Value, eb[i].Value) {
			return "end-to-end field differs"
		}
	}
	return ""
}

func TestWriteZeroAlloc(t *testing.T) {
	req := mustRequest(t, browserRequest)
	resp := mustResponse(t, typicalResponse, MethodGet)
	edits := &Edits{
		Remove: [][]byte{[]byte("cookie")},
		Set:    []Header{{Name: []byte("user-agent"), Value: []byte("fulcrum")}},
		Add:    []Header{{Name: []byte("x-request-id"), Value: []byte("abc")}},
	}
	ro := &RequestOptions{Framing: FramingLength, ContentLength: 10, Edits: edits, XFF: XFFAppend, ClientIP: []byte("192.0.2.1")}
	so := &ResponseOptions{Framing: resp.Framing, ContentLength: resp.ContentLength, Edits: edits}
	dst := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(200, func() {
		dst = AppendRequest(dst[:0], req, ro)
		dst = AppendResponse(dst[:0], resp, so)
		dst = AppendChunkHeader(dst[:0], 12345)
		dst = AppendError(dst[:0], 502)
	})
	if allocs != 0 {
		t.Errorf("writers allocate %v times per run", allocs)
	}
}
