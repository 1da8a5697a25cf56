package console

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/apiclient"
)

// samplePath fills a route pattern's wildcards.
func samplePath(pattern string) string {
	r := strings.NewReplacer("{$}", "", "{name}", "web", "{address}", "127.0.0.1:9001", "{action}", "drain",
		"{kind}", "Pool", "{revision}", "1")
	return r.Replace(pattern)
}

// TestEveryRouteWithoutSessionGoesToLogin walks the route table: without
// a session (no cookie, or a cookie that is not a session) every page and
// every action redirects to the login page, and every fragment and the
// live stream answer 401; nothing changes.
func TestEveryRouteWithoutSessionGoesToLogin(t *testing.T) {
	e := newEnv(t)
	e.apply(webPool)
	before := e.revision()
	routes := append(e.console.routeTable(), consoleRoute{method: "GET", path: "/no/such/page", access: page})
	for _, cookie := range []string{"", "forged-session-id"} {
		for _, rt := range routes {
			if rt.access == public {
				continue
			}
			b := e.browser()
			if cookie != "" {
				u, _ := url.Parse(e.hs.URL)
				b.hc.Jar.SetCookies(u, []*http.Cookie{{Name: apiclient.SessionCookie, Value: cookie}})
			}
			p := samplePath(rt.path)
			var a answer
			if rt.method == http.MethodPost {
				a = b.post(p, url.Values{"csrf_token": {"x"}, "weight": {"5"}, "yaml": {webPool}, "action": {"apply"}})
			} else {
				a = b.get(p)
			}
			switch rt.access {
			case fragment:
				if a.status != http.StatusUnauthorized {
					t.Errorf("%s %s (cookie %q): %d, want 401", rt.method, p, cookie, a.status)
				}
			default:
				if a.status != http.StatusSeeOther || !strings.HasPrefix(a.header.Get("Location"), "/login") {
					t.Errorf("%s %s (cookie %q): %d to %q, want a redirect to /login", rt.method, p, cookie, a.status, a.header.Get("Location"))
				}
			}
		}
	}
	if got := e.revision(); got != before {
		t.Fatalf("requests without a session changed the configuration: revision %d → %d", before, got)
	}
	if a := e.browser().get("/pools/web?x=1"); a.header.Get("Location") != "/login?next=%2Fpools%2Fweb%3Fx%3D1" {
		t.Errorf("the login page does not bring the user back: %q", a.header.Get("Location"))
	}
}

// TestMutationsNeedTheCSRFToken: a signed-in editor's mutation without
// the session's CSRF token, with a wrong one, or from another site is
// refused with 403 and changes nothing; with the token it works.
func TestMutationsNeedTheCSRFToken(t *testing.T) {
	e := newEnv(t)
	e.apply(webPool)
	b := e.login(apiclient.RoleEditor)
	token := b.csrf()
	before := e.revision()
	drain := "/pools/web/members/127.0.0.1:9001/drain"
	for name, a := range map[string]answer{
		"no token":        b.post(drain, url.Values{}),
		"wrong token":     b.post(drain, url.Values{"csrf_token": {token + "x"}}),
		"wrong header":    b.post(drain, url.Values{}, apiclient.CSRFHeader, "nope"),
		"cross-site":      b.post(drain, url.Values{"csrf_token": {token}}, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"),
		"logout no token": b.post("/logout", url.Values{}),
		"yaml no token":   b.post("/yaml", url.Values{"yaml": {webPool}, "action": {"apply"}}),
	} {
		if a.status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, a.status)
		}
	}
	if got := e.revision(); got != before {
		t.Fatalf("refused mutations wrote revision %d", got)
	}
	if a := b.get("/pools"); a.status != http.StatusOK {
		t.Fatalf("the session did not survive a refused logout: %d", a.status)
	}
	if a := b.post(drain, url.Values{"csrf_token": {token}}); a.status != http.StatusSeeOther {
		t.Fatalf("drain with the token: %d %s", a.status, a.body)
	}
	if a := b.post("/pools/web/members/127.0.0.1:9001/enable", url.Values{}, apiclient.CSRFHeader, token); a.status != http.StatusSeeOther {
		t.Fatalf("enable with the header: %d %s", a.status, a.body)
	}
	if got := e.revision(); got != before+2 {
		t.Fatalf("revision %d after two accepted changes from %d", got, before)
	}
}

// sse is a live-update stream read by a test.
type sse struct {
	events chan string // "name data"
	cancel context.CancelFunc
	done   chan struct{}
}

func (b *browser) stream(t *testing.T) (*sse, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.e.hs.URL+"/events", nil)
	hc := &http.Client{Jar: b.hc.Jar}
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &sse{events: make(chan string, 100), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		name := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				s.events <- name + " " + strings.TrimPrefix(line, "data: ")
			case strings.HasPrefix(line, ": heartbeat"):
				s.events <- "heartbeat"
			}
		}
		close(s.events)
	}()
	t.Cleanup(s.close)
	return s, resp.StatusCode
}

func (s *sse) close() { s.cancel(); <-s.done }

// next returns the next event whose text starts with prefix, skipping others.
func (s *sse) next(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatalf("the stream ended while waiting for %q", prefix)
			}
			if strings.HasPrefix(ev, prefix) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %q event within 15 s", prefix)
		}
	}
}

// ended waits for the stream to be closed by the server.
func (s *sse) ended(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the stream was not closed")
	}
}

// TestLogoutEndsTheSessionAndItsStreams: signing out expires the cookie,
// ends the session in the API, and closes the session's live streams at
// once with a "logout" event.
func TestLogoutEndsTheSessionAndItsStreams(t *testing.T) {
	e := newEnv(t)
	b := e.login(apiclient.RoleViewer)
	cookie := b.hc.Jar.Cookies(mustURL(e.hs.URL))[0]
	s, status := b.stream(t)
	if status != http.StatusOK {
		t.Fatalf("stream: %d", status)
	}
	a := b.post("/logout", url.Values{"csrf_token": {b.csrf()}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/login?bye=1" {
		t.Fatalf("logout: %d %q", a.status, a.header.Get("Location"))
	}
	if sc := a.header.Get("Set-Cookie"); !strings.Contains(sc, apiclient.SessionCookie+"=;") || !strings.Contains(sc, "Max-Age=0") {
		t.Fatalf("logout does not expire the cookie: %q", sc)
	}
	s.next(t, "logout")
	s.ended(t)
	if got := e.console.streams.count(sessionKeyOf(cookie.Value)); got != 0 {
		t.Fatalf("%d streams left after logout", got)
	}
	// The old cookie is dead everywhere, even if a browser kept it.
	old := e.browser()
	old.hc.Jar.SetCookies(mustURL(e.hs.URL), []*http.Cookie{{Name: apiclient.SessionCookie, Value: cookie.Value}})
	if a := old.get("/pools"); a.status != http.StatusSeeOther {
		t.Fatalf("the logged-out cookie still opens /pools: %d", a.status)
	}
	if a := old.get("/api/v1/session"); a.status != http.StatusUnauthorized {
		t.Fatalf("the API still accepts the logged-out cookie: %d", a.status)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestViewerBrowsesButCannotChange: a viewer sees every page without the
// editing controls, and the API refuses its mutations (with a valid CSRF
// token) with 403; nothing is written.
func TestViewerBrowsesButCannotChange(t *testing.T) {
	e := newEnv(t)
	e.apply(webPool)
	e.waitView()
	b := e.login(apiclient.RoleViewer)
	for _, rt := range e.console.routeTable() {
		if rt.method != http.MethodGet || rt.path == "/events" || rt.access == public {
			continue
		}
		p := samplePath(rt.path)
		if rt.path == "/rollback" {
			p += "?kind=Pool&name=web&to=1"
		}
		if a := b.get(p); a.status != http.StatusOK && (p != "/" || a.status != http.StatusSeeOther) {
			t.Errorf("viewer GET %s: %d", p, a.status)
		}
	}
	page := b.get("/pools/web").body
	for _, control := range []string{`/new/pool`, `/members/127.0.0.1:9001/drain`, `/edit"`, `name="weight"`} {
		if strings.Contains(page, control) {
			t.Errorf("the viewer's pool page offers %s", control)
		}
	}
	token := b.csrf()
	before := e.revision()
	for _, m := range []struct{ path string }{
		{"/pools/web/members/127.0.0.1:9001/drain"}, {"/pools/web/members/127.0.0.1:9001/weight"}, {"/pools/web/edit"},
		{"/new/pool"}, {"/yaml"}, {"/rollback"}, {"/delete/Pool/web"},
	} {
		a := b.post(m.path, url.Values{"csrf_token": {token}, "weight": {"3"}, "revision": {"1"}, "yaml": {webPool},
			"action": {"apply"}, "digest": {digest(webPool)}, "kind": {"Pool"}, "name": {"web"}, "to": {"1"},
			"metadata.name": {"other"}, "spec.members[0].address": {"127.0.0.1:1"}})
		if a.status != http.StatusForbidden || !strings.Contains(a.body, "role (viewer)") {
			t.Errorf("viewer POST %s: %d, want 403 naming the role", m.path, a.status)
		}
	}
	if got := e.revision(); got != before {
		t.Fatalf("the viewer wrote revision %d", got)
	}
}

// TestUserContentIsInert: annotations, labels and a health reason with
// markup are shown as text on every page that shows them.
func TestUserContentIsInert(t *testing.T) {
	e := newEnv(t)
	const evil = `<script>alert("x")</script><img src=x onerror=alert(1)>`
	e.apply(`apiVersion: fulcrum/v1
kind: Pool
metadata:
  name: web
  annotations: {note: '` + evil + `', "<i>key": "v"}
spec:
  members: [{address: "127.0.0.1:9001"}]
  healthCheck: {type: none}
`)
	e.waitView()
	b := e.login(apiclient.RoleEditor)
	for _, p := range []string{"/pools/web", "/yaml?kind=Pool&name=web", "/history/1", "/delete/Pool/web", "/fragments/pools/web/members",
		"/pools?q=" + url.QueryEscape(evil)} {
		a := b.get(p)
		if a.status != http.StatusOK {
			t.Fatalf("GET %s: %d", p, a.status)
		}
		for _, raw := range []string{"<script>alert", "<img src=x", "<i>key"} {
			if strings.Contains(a.body, raw) {
				t.Errorf("GET %s: the page contains %q unescaped", p, raw)
			}
		}
	}
	if page := b.get("/pools/web").body; !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Errorf("the annotation is not shown as text")
	}
}
