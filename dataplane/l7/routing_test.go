package l7

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// listenerYAML is a Listener object on port with the given extra spec.
func listenerYAML(name string, port int, extra string) string {
	return fmt.Sprintf("apiVersion: fulcrum/v1\nkind: Listener\nmetadata: {name: %s}\nspec: {port: %d, protocol: http%s}\n---\n", name, port, extra)
}

func routeYAML(name, spec string) string {
	return fmt.Sprintf("apiVersion: fulcrum/v1\nkind: Route\nmetadata: {name: %s}\nspec:\n%s\n---\n", name, spec)
}

// TestCanarySplit: a 90/10 weighted route over 10,000 requests lands
// within 2 percentage points of the weights.
func TestCanarySplit(t *testing.T) {
	stable, canary := namedRawBackend(t, "stable"), namedRawBackend(t, "canary")
	port := freePort(t)
	newEnv(t, poolYAML("stable", 0, "", stable)+poolYAML("canary", 0, "", canary)+
		listenerYAML("pub", port, ", limits: {maxRequestsPerConnection: 100000}")+
		routeYAML("split", "  listener: pub\n  backends: [{pool: stable, weight: 90}, {pool: canary, weight: 10}]"))
	const n, workers = 10000, 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newRawClient(t, fmt.Sprintf("127.0.0.1:%d", port), "x")
			defer c.c.Close()
			local := map[string]int{}
			for i := 0; i < n/workers; i++ {
				if st, err := c.do(); err != nil || st != 200 {
					t.Errorf("request: %d %v", st, err)
					return
				}
				local[string(c.resp.Headers.Get("x-backend"))]++
			}
			mu.Lock()
			for k, v := range local {
				counts[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	share := float64(counts["canary"]) / n
	if counts["stable"]+counts["canary"] != n || math.Abs(share-0.10) > 0.02 {
		t.Errorf("split %v: canary share %.3f, want 0.10 ± 0.02", counts, share)
	}
}

// TestRouteMatching: hosts, path kinds, methods, headers and query pick
// the first matching route; nothing matching is 404.
func TestRouteMatching(t *testing.T) {
	y := ""
	for _, n := range []string{"exact", "prefix", "regex", "hdr", "query", "post", "host", "fallback"} {
		y += poolYAML(n, 0, "", newTestBackend(t, n, nil).addr)
	}
	port := freePort(t)
	y += listenerYAML("pub", port, "")
	y += routeYAML("exact", "  listener: pub\n  match: {path: {exact: /a/b}}\n  backends: [{pool: exact}]")
	y += routeYAML("prefix", "  listener: pub\n  match: {path: {prefix: /api}}\n  backends: [{pool: prefix}]")
	y += routeYAML("regex", "  listener: pub\n  match: {path: {regex: \"/r/[0-9]+\"}}\n  backends: [{pool: regex}]")
	y += routeYAML("hdr", "  listener: pub\n  match: {path: {prefix: /h}, headers: [{name: X-Env, exact: canary}]}\n  backends: [{pool: hdr}]")
	y += routeYAML("query", "  listener: pub\n  match: {path: {prefix: /h}, query: [{name: v, exact: \"2\"}]}\n  backends: [{pool: query}]")
	y += routeYAML("post", "  listener: pub\n  match: {path: {prefix: /h}, methods: [POST]}\n  backends: [{pool: post}]")
	y += routeYAML("host", "  listener: pub\n  hosts: [\"*.example.com\"]\n  match: {path: {prefix: /h}}\n  backends: [{pool: host}]")
	y += routeYAML("fallback", "  listener: pub\n  match: {path: {prefix: /h}}\n  backends: [{pool: fallback}]")
	newEnv(t, y)
	c := client()
	defer closeClient(c)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for _, tc := range []struct {
		method, path, want string
		hdr                []string
	}{
		{"GET", "/a/b", "exact", nil},
		{"GET", "/api", "prefix", nil},
		{"GET", "/api/v1", "prefix", nil},
		{"GET", "/apis", "404", nil},
		{"GET", "/r/123", "regex", nil},
		{"GET", "/r/abc", "404", nil},
		{"GET", "/h", "hdr", []string{"X-Env", "canary"}},
		{"GET", "/h?a=1&v=2", "query", nil},
		{"POST", "/h", "post", nil},
		{"GET", "/h", "host", []string{"Host", "shop.example.com"}},
		{"GET", "/h", "fallback", nil},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(""))
		for i := 0; i+1 < len(tc.hdr); i += 2 {
			if tc.hdr[i] == "Host" {
				req.Host = tc.hdr[i+1]
			} else {
				req.Header.Set(tc.hdr[i], tc.hdr[i+1])
			}
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("X-Backend")
		if resp.StatusCode == 404 {
			got = "404"
		}
		if got != tc.want {
			t.Errorf("%s %s %v: got %s, want %s", tc.method, tc.path, tc.hdr, got, tc.want)
		}
	}
}

// TestRedirectAndDirect: redirect keeps what it does not change; a direct
// response carries its body, content type and the route's edits.
func TestRedirectAndDirect(t *testing.T) {
	port := freePort(t)
	b := newTestBackend(t, "b", nil)
	newEnv(t, poolYAML("b", 0, "", b.addr)+listenerYAML("pub", port, "")+
		routeYAML("old", "  listener: pub\n  match: {path: {prefix: /old}}\n  redirect: {scheme: https, path: /new, code: 301}")+
		routeYAML("teapot", "  listener: pub\n  match: {path: {exact: /tea}}\n  directResponse: {status: 418, body: \"short and stout\", contentType: text/plain}\n  headers: {response: {set: {x-pot: \"1\"}}}"))
	c := client()
	defer closeClient(c)
	resp, _ := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/old/x?q=1", port), "Host", "site.test:8080")
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://site.test/new?q=1" {
		t.Errorf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/tea", port))
	if resp.StatusCode != 418 || body != "short and stout" || resp.Header.Get("Content-Type") != "text/plain" || resp.Header.Get("X-Pot") != "1" {
		t.Errorf("direct: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, _ = get(t, c, fmt.Sprintf("http://127.0.0.1:%d/nothing", port))
	if resp.StatusCode != 404 {
		t.Errorf("no route: %d", resp.StatusCode)
	}
	if b.hits.Load() != 0 {
		t.Errorf("backend saw %d requests", b.hits.Load())
	}
}
