package l7

import (
	"fmt"
	"testing"
)

func TestProxyBasic(t *testing.T) {
	b := newTestBackend(t, "a", nil)
	port := freePort(t)
	newEnv(t, poolYAML("web", port, "", b.addr))
	c := client()
	defer closeClient(c)
	for i := 0; i < 20; i++ {
		resp, body := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/x?y=1", port))
		if resp.StatusCode != 200 || body != "a" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
	}
	r := b.lastRequest()
	if r.Header.Get("X-Request-Id") == "" || r.Header.Get("X-Forwarded-For") != "127.0.0.1" || r.URL.RawQuery != "y=1" {
		t.Errorf("upstream request headers: %v", r.Header)
	}
}
