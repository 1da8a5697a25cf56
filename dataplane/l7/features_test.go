package l7

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/internal/testutil"
)

// TestStickySession: the first response sets a cookie that does not show
// the member's address; requests with it stay on that member; when the
// member leaves, the request goes elsewhere and gets a new cookie.
func TestStickySession(t *testing.T) {
	a, b := newTestBackend(t, "a", nil), newTestBackend(t, "b", nil)
	port := freePort(t)
	sticky := "  stickySession: {cookie: SRV, ttl: 1h}\n"
	e := newEnv(t, poolYAML("web", port, sticky, a.addr, b.addr))
	c := client()
	defer closeClient(c)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	resp, first := get(t, c, url)
	sc := resp.Header.Get("Set-Cookie")
	if !strings.HasPrefix(sc, "SRV=") || !strings.Contains(sc, "Max-Age=3600") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "Path=/") {
		t.Fatalf("Set-Cookie %q", sc)
	}
	cookie := strings.SplitN(sc, ";", 2)[0]
	for _, addr := range []string{a.addr, b.addr, "127.0.0.1"} {
		if strings.Contains(cookie, addr) {
			t.Errorf("cookie %q shows the member address", cookie)
		}
	}
	for i := 0; i < 20; i++ {
		resp, body := get(t, c, url, "Cookie", "other=1; "+cookie)
		if body != first || resp.Header.Get("Set-Cookie") != "" {
			t.Fatalf("request %d with the cookie went to %s (first %s), Set-Cookie %q", i, body, first, resp.Header.Get("Set-Cookie"))
		}
	}
	// The member leaves: fall back to the other one and rebind.
	rest := b.addr
	if first == "b" {
		rest = a.addr
	}
	e.apply(poolYAML("web", port, sticky, rest))
	resp, body := get(t, c, url, "Cookie", cookie)
	if body == first || !strings.HasPrefix(resp.Header.Get("Set-Cookie"), "SRV=") {
		t.Errorf("after removal: went to %s, Set-Cookie %q", body, resp.Header.Get("Set-Cookie"))
	}
}

// TestHashAffinity: ring_hash on a header sends each user to one member.
func TestHashAffinity(t *testing.T) {
	var addrs []string
	for _, n := range []string{"a", "b", "c"} {
		addrs = append(addrs, newTestBackend(t, n, nil).addr)
	}
	port := freePort(t)
	newEnv(t, poolYAML("web", port, "  algorithm: ring_hash\n  hashOn: header:x-user\n", addrs...))
	c := client()
	defer closeClient(c)
	seen := map[string]bool{}
	for u := 0; u < 12; u++ {
		user := fmt.Sprintf("user-%d", u)
		_, first := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", port), "X-User", user)
		seen[first] = true
		for i := 0; i < 5; i++ {
			if _, got := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", port), "X-User", user); got != first {
				t.Fatalf("%s went to %s then %s", user, first, got)
			}
		}
	}
	if len(seen) < 2 {
		t.Errorf("12 users all on %v", seen)
	}
}

// TestMirror: the shadow pool gets about its share of copies, marked with
// a -shadow host; a shadow that is down or slow does not slow or fail the
// primary.
func TestMirror(t *testing.T) {
	primary, shadow := newTestBackend(t, "primary", nil), newTestBackend(t, "shadow", nil)
	port := freePort(t)
	cfg := func(shadowAddr string) string {
		return poolYAML("primary", 0, "", primary.addr) + poolYAML("shadow", 0, "", shadowAddr) + listenerYAML("pub", port, "") +
			routeYAML("r", "  listener: pub\n  backends: [{pool: primary}]\n  mirror: {pool: shadow, percent: 50}")
	}
	e := newEnv(t, cfg(shadow.addr))
	c := client()
	defer closeClient(c)
	const n = 400
	for i := 0; i < n; i++ {
		if resp, _ := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/m", port), "Host", "site.test:80"); resp.StatusCode != 200 {
			t.Fatal(resp.Status)
		}
	}
	waitFor(t, "copies", func() bool { return shadow.hits.Load() > n/4 })
	time.Sleep(100 * time.Millisecond)
	if got := shadow.hits.Load(); got < n*35/100 || got > n*65/100 {
		t.Errorf("shadow got %d of %d, want about half", got, n)
	}
	if h := shadow.lastRequest().Host; h != "site.test-shadow:80" {
		t.Errorf("shadow Host %q", h)
	}
	// A slow shadow: the primary answers at its own speed.
	shadow.delay.Store(int64(2 * time.Second))
	start := time.Now()
	for i := 0; i < 20; i++ {
		get(t, c, fmt.Sprintf("http://127.0.0.1:%d/m", port))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("20 requests took %v with a slow shadow", d)
	}
	shadow.delay.Store(0)
	// A dead shadow: nothing fails.
	e.apply(cfg(fmt.Sprintf("127.0.0.1:%d", freePort(t))))
	for i := 0; i < 50; i++ {
		if resp, _ := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/m", port)); resp.StatusCode != 200 {
			t.Fatalf("primary failed with a dead shadow: %d", resp.StatusCode)
		}
	}
}

// TestHeaderEditsAndForwarding: route edits on requests and responses,
// X-Forwarded-* and Forwarded replaced for untrusted peers and extended
// for trusted ones, x-request-id generated or passed on.
func TestHeaderEditsAndForwarding(t *testing.T) {
	b := newTestBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "secret")
		w.Header().Set("X-Keep", "1")
		w.Write([]byte("ok"))
	})
	port, tport := freePort(t), freePort(t)
	route := "  backends: [{pool: b}]\n  headers: {request: {set: {x-set: \"s\"}, add: {x-add: \"a\"}, remove: [x-drop]}, response: {set: {x-resp: \"r\"}, remove: [server]}}"
	newEnv(t, poolYAML("b", 0, "", b.addr)+listenerYAML("untrusted", port, "")+listenerYAML("trusted", tport, ", trustedProxies: [127.0.0.0/8]")+
		routeYAML("u", "  listener: untrusted\n"+route)+routeYAML("t", "  listener: trusted\n"+route))
	c := client()
	defer closeClient(c)
	hdr := []string{"X-Drop", "1", "X-Set", "old", "X-Forwarded-For", "6.6.6.6", "X-Forwarded-Proto", "https",
		"Forwarded", "for=6.6.6.6", "Host", "shop.test"}
	resp, _ := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", port), hdr...)
	r := b.lastRequest()
	if resp.Header.Get("Server") != "" || resp.Header.Get("X-Resp") != "r" || resp.Header.Get("X-Keep") != "1" {
		t.Errorf("response edits: %v", resp.Header)
	}
	if r.Header.Get("X-Drop") != "" || r.Header.Get("X-Set") != "s" || r.Header.Get("X-Add") != "a" {
		t.Errorf("request edits: %v", r.Header)
	}
	if r.Header.Get("X-Forwarded-For") != "127.0.0.1" || r.Header.Get("X-Forwarded-Proto") != "http" ||
		r.Header.Get("X-Forwarded-Host") != "shop.test" || r.Header.Get("Forwarded") != `for=127.0.0.1;host="shop.test";proto=http` {
		t.Errorf("untrusted peer's forwarding headers kept: %v", r.Header)
	}
	id := r.Header.Get("X-Request-Id")
	if len(id) < 18 {
		t.Errorf("x-request-id %q", id)
	}
	get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", port))
	if next := b.lastRequest().Header.Get("X-Request-Id"); next == id || next == "" {
		t.Errorf("request ids %q then %q", id, next)
	}
	get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", tport), append(hdr, "X-Request-Id", "abc")...)
	r = b.lastRequest()
	if r.Header.Get("X-Forwarded-For") != "6.6.6.6, 127.0.0.1" || r.Header.Get("X-Forwarded-Proto") != "https" ||
		r.Header.Get("Forwarded") != `for=6.6.6.6, for=127.0.0.1;host="shop.test";proto=http` || r.Header.Get("X-Request-Id") != "abc" {
		t.Errorf("trusted peer: %v", r.Header)
	}
}

// TestRateLimit: beyond the burst, 429 with Retry-After; the bucket
// survives a reload that keeps the limit, and is per client when asked.
func TestRateLimit(t *testing.T) {
	b := newTestBackend(t, "b", nil)
	port := freePort(t)
	cfg := func(v string) string {
		return poolYAML("b", 0, "", b.addr) + listenerYAML("pub", port, "") +
			routeYAML("r", fmt.Sprintf("  listener: pub\n  backends: [{pool: b}]\n  rateLimit: {requestsPerSecond: 0.5, burst: 2}\n  headers: {request: {set: {x-v: %q}}}", v))
	}
	e := newEnv(t, cfg("1"))
	c := client()
	defer closeClient(c)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	for i := 0; i < 2; i++ {
		if resp, _ := get(t, c, url); resp.StatusCode != 200 {
			t.Fatalf("request %d within burst: %d", i, resp.StatusCode)
		}
	}
	e.apply(cfg("2")) // same limit: same bucket
	resp, _ := get(t, c, url)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("over the limit after a reload: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestLimiterPerClient: per-client buckets are separate and bounded.
func TestLimiterPerClient(t *testing.T) {
	l := newLimiter(&runtime.RateLimit{RequestsPerSecond: 1, Burst: 1, PerClientIP: true})
	now := time.Now()
	a, b := mustAddr("10.0.0.1"), mustAddr("10.0.0.2")
	if ok, _ := l.allow(a, now); !ok {
		t.Fatal("first request of a refused")
	}
	if ok, wait := l.allow(a, now); ok || wait != time.Second {
		t.Errorf("second request of a: ok=%v wait=%v", ok, wait)
	}
	if ok, _ := l.allow(b, now); !ok {
		t.Error("b shares a's bucket")
	}
	for i := 0; i < 3*maxClientBuckets; i++ {
		l.allow(mustAddr(fmt.Sprintf("10.1.%d.%d", i/256, i%256)), now)
	}
	total := 0
	for i := range l.shards {
		total += len(l.shards[i].entries)
	}
	if total > maxClientBuckets {
		t.Errorf("%d client buckets kept, limit %d", total, maxClientBuckets)
	}
}

// TestMetricsAndAccessLog: requests are counted by listener, route, pool
// and class, and logged as JSON with the configured fields.
func TestMetricsAndAccessLog(t *testing.T) {
	b := newTestBackend(t, "b", nil)
	port := freePort(t)
	var buf syncBuffer
	e := newEnv(t, "")
	e.f.accessLog = slog.New(slog.NewJSONHandler(&buf, nil))
	e.apply(strings.Replace(poolYAML("web", port, "", b.addr), "protocol: http}", "protocol: http, accessLog: {enabled: true, fields: [route, pool, status, method, path, request_id]}}", 1))
	c := client()
	defer closeClient(c)
	get(t, c, fmt.Sprintf("http://127.0.0.1:%d/logged", port))
	var rec map[string]any
	waitFor(t, "access log line", func() bool { return strings.Contains(buf.String(), "/logged") })
	if err := json.Unmarshal([]byte(strings.TrimSpace(strings.Split(buf.String(), "\n")[0])), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["route"] != "pool/web" || rec["pool"] != "web" || rec["status"] != 200.0 || rec["method"] != "GET" || rec["request_id"] == nil {
		t.Errorf("access log record %v", rec)
	}
	found := false
	for _, m := range testutil.Series(t, e.reg, "fulcrum_http_requests_total", "listener", "pool/web", "route", "pool/web", "pool", "web", "code", "2xx") {
		found = found || m.GetCounter().GetValue() >= 1
	}
	if !found {
		t.Error("fulcrum_http_requests_total{listener=pool/web,route=pool/web,pool=web,code=2xx} missing")
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
