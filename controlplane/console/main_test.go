package console

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
	"github.com/fulcrumlb/fulcrum/controlplane/apiserver"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a real store on an embedded etcd, the REST API and the console
// mounted as `fulcrum serve` mounts them, on a loopback httptest server,
// with one token per role: "admin" (the bootstrap token), "editor-1" and
// "viewer-1".
type env struct {
	t       *testing.T
	st      *store.Store
	api     *apiserver.Server
	console *Console
	hs      *httptest.Server
	secrets map[string]string // role → secret
}

func newEnv(t *testing.T, mod ...func(*Options)) *env {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir(), RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	admin, _, err := apiserver.Bootstrap(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := apiserver.New(apiserver.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	opt := Options{Store: st, API: srv, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, f := range mod {
		f(&opt)
	}
	h, err := New(ctx, opt)
	if err != nil {
		cancel()
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", srv)
	mux.Handle("/", h)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	t.Cleanup(cancel) // runs first: the live streams end, so Close does not wait
	e := &env{t: t, st: st, api: srv, console: h.(*Console), hs: hs, secrets: map[string]string{apiclient.RoleAdmin: admin}}
	for _, role := range []string{apiclient.RoleEditor, apiclient.RoleViewer} {
		nt, err := e.apiClient(admin).CreateToken(context.Background(), role+"-1", role)
		if err != nil {
			t.Fatal(err)
		}
		e.secrets[role] = nt.Secret
	}
	return e
}

// apiClient is a bearer-token client of the REST API.
func (e *env) apiClient(secret string) *apiclient.Client {
	c, err := apiclient.New(apiclient.Options{Server: e.hs.URL, Token: secret, HTTPClient: e.hs.Client()})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// apply applies YAML with the admin token.
func (e *env) apply(yaml string) *apiclient.ApplyResult {
	e.t.Helper()
	res, err := e.apiClient(e.secrets[apiclient.RoleAdmin]).Apply(context.Background(), []byte(yaml), apiclient.ApplyOptions{})
	if err != nil {
		e.t.Fatalf("apply: %v", err)
	}
	return res
}

// browser is a cookie-keeping client that does not follow redirects, so
// that tests see them.
type browser struct {
	e  *env
	hc *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// login signs in with the secret of a role through the login form.
func (e *env) login(role string) *browser {
	e.t.Helper()
	b := e.browser()
	resp := b.post("/login", url.Values{"token": {e.secrets[role]}, "next": {"/pools"}})
	if resp.status != http.StatusSeeOther || resp.header.Get("Location") != "/pools" {
		e.t.Fatalf("login as %s: %d %s", role, resp.status, resp.body)
	}
	return b
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) answer {
	b.e.t.Helper()
	resp, err := b.hc.Do(req)
	if err != nil {
		b.e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

func (b *browser) get(path string) answer {
	b.e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.e.hs.URL+path, nil)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return b.do(req)
}

// post sends a form as a same-origin browser would.
func (b *browser) post(path string, form url.Values, header ...string) answer {
	b.e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.e.hs.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.hs.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf reads the CSRF token from a page's forms.
func (b *browser) csrf() string {
	b.e.t.Helper()
	a := b.get("/pools")
	m := csrfInput.FindStringSubmatch(a.body)
	if m == nil {
		b.e.t.Fatalf("no CSRF token on /pools: %d %s", a.status, a.body)
	}
	return m[1]
}

// revision returns the store's current revision.
func (e *env) revision() int64 {
	e.t.Helper()
	snap, err := e.st.Config(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return snap.Revision
}

// pool reads a pool from the store.
func (e *env) pool(name string) *api.Pool {
	e.t.Helper()
	o, err := e.st.Get(context.Background(), api.KindPool, name)
	if err != nil {
		e.t.Fatalf("get pool %s: %v", name, err)
	}
	return o.(*api.Pool)
}

// waitView waits until the console's snapshot reaches the store's revision.
func (e *env) waitView() {
	e.t.Helper()
	rev := e.revision()
	if v := e.console.hub.waitFor(context.Background(), rev, 10*time.Second); v == nil || v.rev < rev {
		e.t.Fatalf("the console's view did not reach revision %d", rev)
	}
}

const webPool = `apiVersion: fulcrum/v1
kind: Pool
metadata: {name: web}
spec:
  members:
  - {address: "127.0.0.1:9001"}
  - {address: "127.0.0.1:9002", zone: b}
  healthCheck: {type: none}
`
