package http1

import (
	"errors"
	"strings"
	"testing"
)

func TestRequestCorpus(t *testing.T) {
	for _, tc := range requestCorpus {
		t.Run(tc.name, func(t *testing.T) {
			var req Request
			n, err := ParseRequest([]byte(tc.in), &req, nil)
			if tc.want == 0 {
				if err != nil {
					t.Fatalf("ParseRequest(%q) = %v, want success", tc.in, err)
				}
				if n != len(tc.in) && !strings.HasPrefix(tc.name, "h2") {
					t.Fatalf("head length %d, want %d", n, len(tc.in))
				}
				return
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("ParseRequest(%q) = (%d, %v), want *Error with status %d", tc.in, n, err, tc.want)
			}
			if perr.Status != tc.want || !perr.CloseConnection() {
				t.Fatalf("ParseRequest(%q) status %d (%s), want %d", tc.in, perr.Status, perr.Reason, tc.want)
			}
		})
	}
}

// TestRequestPrefixes checks that every strict prefix of an accepted head is
// ErrNeedMore and every rejected head fails the same way when it arrives in
// pieces: the verdict must not depend on how reads split the stream.
func TestRequestPrefixes(t *testing.T) {
	for _, tc := range requestCorpus {
		buf := []byte(tc.in)
		var req Request
		full, fullErr := ParseRequest(buf, &req, nil)
		for i := 0; i < len(buf); i++ {
			n, err := ParseRequest(buf[:i], &req, nil)
			if err == ErrNeedMore {
				continue
			}
			if tc.want == 0 && i < full {
				t.Fatalf("%s: prefix %q = (%d, %v), want ErrNeedMore", tc.name, buf[:i], n, err)
			}
			if tc.want != 0 && err != fullErr {
				t.Fatalf("%s: prefix %q = %v, want %v", tc.name, buf[:i], err, fullErr)
			}
			if tc.want != 0 {
				break
			}
		}
	}
}

func TestRequestFields(t *testing.T) {
	var req Request
	parse := func(s string) *Request {
		t.Helper()
		if _, err := ParseRequest([]byte(s), &req, nil); err != nil {
			t.Fatalf("ParseRequest(%q): %v", s, err)
		}
		return &req
	}
	r := parse(browserRequest)
	if string(r.Method) != "GET" || r.MethodID != MethodGet || string(r.Path) != "/search/results" ||
		string(r.Query) != "q=fulcrum+load+balancer&page=2&lang=en" || r.Minor != 1 ||
		string(r.Host) != "www.example.com" || r.ContentLength != -1 || r.Chunked || r.Close ||
		r.HasBody() || r.Framing() != FramingNone || len(r.Headers) != 14 || r.Form != FormOrigin {
		t.Fatalf("browser request parsed as %+v", r)
	}
	if v := r.Headers.Get("user-agent"); !strings.HasPrefix(string(v), "Mozilla/5.0") {
		t.Fatalf("Get(user-agent) = %q", v)
	}
	if v, ok := r.Headers.Lookup("COOKIE"); !ok || string(v) != "session=3f2a9c1b7d; theme=dark" {
		t.Fatalf("Lookup(COOKIE) = %q, %v", v, ok)
	}
	if _, ok := r.Headers.Lookup("x-missing"); ok || r.Headers.Count("accept") != 1 {
		t.Fatal("Lookup of a missing field or Count is wrong")
	}

	r = parse("GET http://Upstream.Example:8080/p/q?x=1 HTTP/1.1\r\nHost: other\r\n\r\n")
	if r.Form != FormAbsolute || string(r.Scheme) != "http" || string(r.Authority) != "Upstream.Example:8080" ||
		string(r.Host) != "Upstream.Example:8080" || string(r.Path) != "/p/q" || string(r.Query) != "x=1" {
		t.Fatalf("absolute-form parsed as %+v", r)
	}
	r = parse("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
	if r.Form != FormAuthority || string(r.Authority) != "example.com:443" || r.Path != nil || r.MethodID != MethodConnect {
		t.Fatalf("CONNECT parsed as %+v", r)
	}
	r = parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
	if r.Form != FormAsterisk || string(r.Path) != "*" {
		t.Fatalf("OPTIONS * parsed as %+v", r)
	}
	r = parse("GET /a? HTTP/1.1\r\nHost: a\r\n\r\n")
	if r.Query == nil || len(r.Query) != 0 {
		t.Fatalf("bare '?' gives Query %q (nil %v)", r.Query, r.Query == nil)
	}
	r = parse("GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
	if r.Query != nil {
		t.Fatalf("no '?' gives Query %q", r.Query)
	}
	r = parse(req11("Transfer-Encoding: chunked\r\n"))
	if !r.Chunked || r.ContentLength != -1 || !r.HasBody() || r.Framing() != FramingChunked {
		t.Fatalf("chunked parsed as %+v", r)
	}
	r = parse(req11("Content-Length: 007\r\n"))
	if r.ContentLength != 7 || r.Framing() != FramingLength {
		t.Fatalf("CL parsed as %+v", r)
	}
}

func TestRequestConnection(t *testing.T) {
	cases := []struct {
		in        string
		close     bool
		upgrade   string
		expect100 bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false, "", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", true, "", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, CLOSE\r\n\r\n", true, "", false},
		{"GET / HTTP/1.0\r\n\r\n", true, "", false},
		{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false, "", false},
		{"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", true, "", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", false, "websocket", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", false, "", false},
		{"GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade, keep-alive\r\n\r\n", false, "", false},
		{req11("Content-Length: 3\r\nExpect: 100-continue\r\n"), false, "", true},
		{req11("Transfer-Encoding: chunked\r\nExpect:  100-CONTINUE \r\n"), false, "", true},
		{req11("Content-Length: 0\r\nExpect: 100-continue\r\n"), false, "", false},
		{"POST / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", true, "", false},
	}
	var req Request
	for _, tc := range cases {
		if _, err := ParseRequest([]byte(tc.in), &req, nil); err != nil {
			t.Fatalf("ParseRequest(%q): %v", tc.in, err)
		}
		if req.Close != tc.close || string(req.Upgrade) != tc.upgrade || req.Expect100 != tc.expect100 {
			t.Errorf("%q: close %v upgrade %q expect100 %v, want %v %q %v",
				tc.in, req.Close, req.Upgrade, req.Expect100, tc.close, tc.upgrade, tc.expect100)
		}
	}
}

func TestRequestLimits(t *testing.T) {
	status := func(in string, lim *Limits) int {
		var req Request
		_, err := ParseRequest([]byte(in), &req, lim)
		var perr *Error
		switch {
		case err == nil:
			return 0
		case err == ErrNeedMore:
			return -1
		case errors.As(err, &perr):
			return perr.Status
		}
		t.Fatalf("unexpected error %v", err)
		return 0
	}
	long := "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n"
	if s := status(long, nil); s != 414 {
		t.Errorf("long request line: %d, want 414", s)
	}
	if s := status(long[:8500], nil); s != 414 {
		t.Errorf("long incomplete request line: %d, want 414", s)
	}
	if s := status(long, &Limits{MaxRequestLine: 10000}); s != 0 {
		t.Errorf("long request line under a raised limit: %d, want 0", s)
	}
	big := "GET / HTTP/1.1\r\nHost: a\r\nCookie: " + strings.Repeat("c", 40<<10) + "\r\n\r\n"
	if s := status(big, nil); s != 431 {
		t.Errorf("big head: %d, want 431", s)
	}
	if s := status(big[:33<<10], nil); s != 431 {
		t.Errorf("big incomplete head: %d, want 431", s)
	}
	many := "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", 100) + "\r\n"
	if s := status(many, nil); s != 431 {
		t.Errorf("101 fields: %d, want 431", s)
	}
	if s := status(many, &Limits{MaxHeaders: 101}); s != 0 {
		t.Errorf("101 fields under a limit of 101: %d, want 0", s)
	}
	body := req11("Content-Length: 1001\r\n")
	if s := status(body, &Limits{MaxBodyLength: 1000}); s != 413 {
		t.Errorf("CL over MaxBodyLength: %d, want 413", s)
	}
	if s := status(body, &Limits{MaxBodyLength: 1001}); s != 0 {
		t.Errorf("CL at MaxBodyLength: %d, want 0", s)
	}
	if s := status(strings.Repeat("\r\n", 5000)+minimalRequest, nil); s != 400 {
		t.Errorf("endless empty lines: %d, want 400", s)
	}
}

func TestRequestReuse(t *testing.T) {
	var req Request
	two := browserRequest + req11("Content-Length: 2\r\n") + "hi"
	buf := []byte(two)
	n, err := ParseRequest(buf, &req, nil)
	if err != nil || n != len(browserRequest) {
		t.Fatalf("first: %d, %v", n, err)
	}
	m, err := ParseRequest(buf[n:], &req, nil)
	if err != nil || string(buf[n+m:]) != "hi" || req.ContentLength != 2 || len(req.Headers) != 2 || req.Query != nil {
		t.Fatalf("second: %d, %v, %+v", m, err, req)
	}
}

func TestRequestZeroAlloc(t *testing.T) {
	for _, in := range []string{browserRequest, minimalRequest, req11("Transfer-Encoding: chunked\r\nConnection: x, close\r\nX: 1\r\n")} {
		buf := []byte(in)
		var req Request
		if _, err := ParseRequest(buf, &req, nil); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(200, func() {
			if _, err := ParseRequest(buf, &req, nil); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("ParseRequest allocates %v times per run", allocs)
		}
	}
	bad := []byte(req11("Content-Length: 1\r\nContent-Length: 1\r\n"))
	var req Request
	if allocs := testing.AllocsPerRun(100, func() { _, _ = ParseRequest(bad, &req, nil) }); allocs != 0 {
		t.Errorf("rejecting allocates %v times per run", allocs)
	}
}
