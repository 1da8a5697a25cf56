package apiclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestImportsNoControlPlane keeps the client importable by any Go
// program: no etcd, no control plane.
func TestImportsNoControlPlane(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "go.etcd.io/") || strings.Contains(dep, "/controlplane/") || strings.HasPrefix(dep, "google.golang.org/grpc") {
			t.Errorf("apiclient depends on %s", dep)
		}
	}
}

func TestErrorsCarryCodeMessageAndDetails(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/apply":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(422)
			_, _ = w.Write([]byte(`{"code": "invalid", "message": "the configuration has 1 error(s)",
				"details": [{"ref": "Pool/web", "path": "spec.members[2].port", "reason": "must be between 1 and 65535", "document": 2}]}`))
		case "/api/v1/pools":
			w.WriteHeader(502)
			_, _ = w.Write([]byte("<html>bad gateway</html>"))
		default:
			// Echo the escaped path, to check member addresses stay one segment.
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"revision": 3, "changes": [{"kind": "Pool", "name": "` + r.URL.EscapedPath() + `", "op": "updated"}]}`))
		}
	}))
	defer hs.Close()
	c, err := New(Options{Server: hs.URL + "/", Token: "t", HTTPClient: hs.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = c.Apply(ctx, []byte("x: 1"), ApplyOptions{})
	var e *Error
	if !errors.As(err, &e) || e.Status != 422 || e.Code != CodeInvalid || len(e.Details) != 1 ||
		e.Error() != "the configuration has 1 error(s)\n  document 2: Pool/web: spec.members[2].port: must be between 1 and 65535" {
		t.Fatalf("422: %#v", err)
	}
	_, err = c.List(ctx, "Pool", ListOptions{})
	if !errors.As(err, &e) || e.Status != 502 || e.Code != CodeInternal || !strings.Contains(e.Message, "bad gateway") {
		t.Fatalf("502 from a proxy: %#v", err)
	}
	res, err := c.SetMemberState(ctx, "web", "[::1]:80", ActionDrain)
	if err != nil || res.Changes[0].Name != "/api/v1/pools/web/members/%5B::1%5D:80/drain" {
		t.Fatalf("escaped path: %+v %v", res, err)
	}
	if _, err := c.SetMemberState(ctx, "web", "x", "explode"); err == nil {
		t.Fatal("unknown action accepted")
	}
	if _, err := c.Get(ctx, "Cat", "x"); err == nil {
		t.Fatal("unknown kind accepted")
	}
	if _, err := New(Options{Server: "127.0.0.1:7700"}); err == nil {
		t.Fatal("a server without a scheme was accepted")
	}
}

func TestKindsAndETags(t *testing.T) {
	for in, want := range map[string]string{"pool": "Pool", "Pools": "Pool", "LISTENERS": "Listener", "route": "Route"} {
		if got, ok := ParseKind(in); !ok || got != want {
			t.Errorf("ParseKind(%q) = %q, %v", in, got, ok)
		}
	}
	if _, ok := ParseKind("proxy"); ok {
		t.Error("ParseKind accepted proxy")
	}
	for in, want := range map[string]int64{`"12"`: 12, `W/"3"`: 3, "7": 7, `"0"`: 0, "*": 0, `"x"`: 0} {
		if got, _ := ParseETag(in); got != want {
			t.Errorf("ParseETag(%q) = %d", in, got)
		}
	}
	if ETag(12) != `"12"` {
		t.Error(ETag(12))
	}
	if SniffContentType([]byte("  [{}]")) != "application/json" || SniffContentType([]byte("kind: Pool")) != "application/yaml" {
		t.Error("SniffContentType")
	}
}
