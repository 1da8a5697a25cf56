package l7

import (
	"fmt"
	"testing"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/dataplane/l7/http1"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
	"github.com/fulcrumlb/fulcrum/translator"
)

// compiled builds a listener's compiled configuration from YAML, the real
// way (api → translator → runtime.Build → compile), without sockets.
func compiled(tb testing.TB, yaml, listener string) (*Factory, *lconfig) {
	tb.Helper()
	l, errs := api.Load([]api.Input{{Name: "t.yaml", Data: []byte(yaml)}}, api.ValidateOptions{})
	if len(errs) > 0 {
		tb.Fatal(errs)
	}
	res, err := translator.Translate(l.Config, translator.Options{DefaultAddress: "127.0.0.1"})
	if err != nil {
		tb.Fatal(err)
	}
	snap, err := runtime.Build("1", res)
	if err != nil {
		tb.Fatal(err)
	}
	ups, err := upstream.NewManager(upstream.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	f, err := NewFactory(runtime.Deps{}, ups)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := f.compile(snap.Listeners[listener])
	if err != nil {
		tb.Fatal(err)
	}
	return f, cfg
}

// manyRoutes is a listener with 20 routes of every kind; the one the
// benchmark hits is the last of its virtual host.
func manyRoutes() string {
	y := poolYAML("p", 0, "", "127.0.0.1:1") + poolYAML("p2", 0, "", "127.0.0.1:2") + listenerYAML("pub", 8080, "")
	for i := 0; i < 5; i++ {
		y += routeYAML(fmt.Sprintf("exact%d", i), fmt.Sprintf("  listener: pub\n  hosts: [api.example.com]\n  match: {path: {exact: /exact/%d}}\n  backends: [{pool: p}]", i))
		y += routeYAML(fmt.Sprintf("hdr%d", i), fmt.Sprintf("  listener: pub\n  hosts: [api.example.com]\n  match: {path: {prefix: /v%d}, headers: [{name: x-env, exact: prod}], methods: [GET, POST]}\n  backends: [{pool: p}]", i))
		y += routeYAML(fmt.Sprintf("query%d", i), fmt.Sprintf("  listener: pub\n  hosts: [api.example.com]\n  match: {path: {prefix: /q%d}, query: [{name: page, regex: \"[0-9]+\"}]}\n  backends: [{pool: p}]", i))
		y += routeYAML(fmt.Sprintf("wild%d", i), fmt.Sprintf("  listener: pub\n  hosts: [\"*.example.com\"]\n  match: {path: {prefix: /w%d}}\n  backends: [{pool: p}]", i))
	}
	return y + routeYAML("catchall", "  listener: pub\n  match: {path: {prefix: /api}}\n  backends: [{pool: p, weight: 90}, {pool: p2, weight: 10}]")
}

func parsed(tb testing.TB, raw string) *http1.Request {
	var req http1.Request
	if _, err := http1.ParseRequest([]byte(raw), &req, nil); err != nil {
		tb.Fatal(err)
	}
	return &req
}

func viewOf(req *http1.Request) reqView {
	return reqView{method: req.Method, mbit: methodBits[req.MethodID], host: req.Host, path: req.Path, query: req.Query, h1: req.Headers}
}

func TestSelectRouteAllocatesNothing(t *testing.T) {
	_, cfg := compiled(t, manyRoutes(), "listener/pub")
	req := parsed(t, "GET /api/users?page=2 HTTP/1.1\r\nHost: API.example.com:8080\r\nX-Env: prod\r\nCookie: a=b\r\n\r\n")
	v := viewOf(req)
	if r := cfg.selectRoute(&v); r == nil || r.name != "catchall" {
		t.Fatalf("route %v", r)
	}
	q := parsed(t, "GET /q3?x=1&page=42 HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
	qv := viewOf(q)
	if r := cfg.selectRoute(&qv); r == nil || r.name != "query3" {
		t.Fatalf("query route %v", r)
	}
	if n := testing.AllocsPerRun(1000, func() { cfg.selectRoute(&v); cfg.selectRoute(&qv) }); n != 0 {
		t.Errorf("selectRoute allocates %.1f times", n)
	}
}

func BenchmarkSelectRoute(b *testing.B) {
	_, cfg := compiled(b, manyRoutes(), "listener/pub")
	req := parsed(b, "GET /api/users?page=2 HTTP/1.1\r\nHost: API.example.com:8080\r\nX-Env: prod\r\nCookie: a=b\r\n\r\n")
	v := viewOf(req)
	b.ReportAllocs()
	for range b.N {
		if cfg.selectRoute(&v) == nil {
			b.Fatal("no route")
		}
	}
}

// BenchmarkRequestHead is the header work of one forwarded request: route
// edits, forwarding headers, request id, and the codec's rewrite.
func BenchmarkRequestHead(b *testing.B) {
	y := poolYAML("p", 0, "", "127.0.0.1:1") + listenerYAML("pub", 8080, ", trustedProxies: [10.0.0.0/8]") +
		routeYAML("r", "  listener: pub\n  backends: [{pool: p}]\n  headers: {request: {set: {x-a: \"1\"}, add: {x-b: \"2\"}, remove: [x-c]}}")
	f, cfg := compiled(b, y, "listener/pub")
	h := newH1conn(&Server{f: f}, nil, mustAddr("10.1.2.3"))
	raw := []byte("GET /api/users?page=2 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench\r\nX-C: drop\r\nX-Forwarded-For: 1.2.3.4\r\nAccept: */*\r\n\r\n")
	if _, err := http1.ParseRequest(raw, &h.req, nil); err != nil {
		b.Fatal(err)
	}
	h.rs.reset(cfg, h.rs.start)
	v := viewOf(&h.req)
	h.rs.route = cfg.selectRoute(&v)
	b.ReportAllocs()
	for range b.N {
		mode := h.forwardEdits(cfg)
		h.out = http1.AppendRequest(h.out[:0], &h.req, &http1.RequestOptions{Edits: &h.edits, XFF: mode, ClientIP: h.ipText})
	}
}

func TestRequestHeadAllocatesNothing(t *testing.T) {
	y := poolYAML("p", 0, "", "127.0.0.1:1") + listenerYAML("pub", 8080, "") +
		routeYAML("r", "  listener: pub\n  backends: [{pool: p}]\n  headers: {request: {set: {x-a: \"1\"}}}")
	f, cfg := compiled(t, y, "listener/pub")
	h := newH1conn(&Server{f: f}, nil, mustAddr("192.0.2.1"))
	raw := []byte("GET / HTTP/1.1\r\nHost: a\r\nForwarded: for=x\r\n\r\n")
	http1.ParseRequest(raw, &h.req, nil)
	h.rs.reset(cfg, h.rs.start)
	v := viewOf(&h.req)
	h.rs.route = cfg.selectRoute(&v)
	n := testing.AllocsPerRun(1000, func() {
		mode := h.forwardEdits(cfg)
		h.out = http1.AppendRequest(h.out[:0], &h.req, &http1.RequestOptions{Edits: &h.edits, XFF: mode, ClientIP: h.ipText})
	})
	if n != 0 {
		t.Errorf("request head rewrite allocates %.1f times", n)
	}
	if got := string(h.out); !contains(got, "x-a: 1\r\n") || !contains(got, `forwarded: for=192.0.2.1;host="a";proto=http`) || !contains(got, "X-Forwarded-For: 192.0.2.1\r\n") {
		t.Errorf("head:\n%s", got)
	}
}

func contains(s, sub string) bool {
	return len(s) >= len(sub) && (s == sub || len(sub) == 0 || indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestCookieValue(t *testing.T) {
	for _, tc := range []struct{ header, name, want string }{
		{"a=1; SRV=abc; b=2", "SRV", "abc"},
		{"SRV=\"q\"", "SRV", "q"},
		{"SRVX=1; SRV=2", "SRV", "2"},
		{"a=1", "SRV", ""},
	} {
		got, _ := cookieValue([]byte(tc.header), tc.name)
		if string(got) != tc.want {
			t.Errorf("%q: %q, want %q", tc.header, got, tc.want)
		}
	}
}

func BenchmarkLimiter(b *testing.B) {
	l := newLimiter(&runtime.RateLimit{RequestsPerSecond: 1e9, Burst: 1000, PerClientIP: true})
	ip := mustAddr("10.0.0.1")
	now := mustTime()
	b.ReportAllocs()
	for range b.N {
		l.allow(ip, now)
	}
}
