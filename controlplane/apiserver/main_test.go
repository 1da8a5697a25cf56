package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fulcrumlb/fulcrum/apiclient"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env is a real store on an embedded etcd behind the API on a loopback
// httptest server, with one token per role.
type env struct {
	t      *testing.T
	st     *store.Store
	srv    *Server
	hs     *httptest.Server
	logs   *syncBuffer
	tokens map[string]string // role → secret; "admin" is the bootstrap token
}

func newEnv(t *testing.T, mod ...func(*Options)) *env {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir(), RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	admin, created, err := Bootstrap(context.Background(), st)
	if err != nil || !created {
		t.Fatalf("Bootstrap: %q %v %v", admin, created, err)
	}
	logs := &syncBuffer{}
	opt := Options{Store: st, Logger: slog.New(slog.NewJSONHandler(logs, nil))}
	for _, f := range mod {
		f(&opt)
	}
	srv, err := New(opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	e := &env{t: t, st: st, srv: srv, hs: hs, logs: logs, tokens: map[string]string{apiclient.RoleAdmin: admin}}
	for _, role := range []string{apiclient.RoleViewer, apiclient.RoleEditor} {
		nt, err := e.client(admin).CreateToken(context.Background(), role+"-token", role)
		if err != nil {
			t.Fatalf("CreateToken %s: %v", role, err)
		}
		e.tokens[role] = nt.Secret
	}
	return e
}

// client returns an API client authenticated with secret.
func (e *env) client(secret string) *apiclient.Client {
	c, err := apiclient.New(apiclient.Options{Server: e.hs.URL, Token: secret, HTTPClient: e.hs.Client()})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// call is one raw request.
type call struct {
	method, path string
	secret       string
	body         string
	contentType  string
	header       map[string]string
	cookie       *http.Cookie
}

// answer is a raw response.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) String() string { return string(a.body) }

// apiErr decodes the JSON error; the shape is checked on every call.
func (a answer) apiErr(t *testing.T) apiclient.Error {
	t.Helper()
	var e apiclient.Error
	if err := json.Unmarshal(a.body, &e); err != nil || e.Code == "" || e.Message == "" {
		t.Fatalf("HTTP %d: not the JSON error shape {code, message, details}: %s", a.status, a.body)
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error Content-Type = %q", ct)
	}
	if apiclient.StatusOf(e.Code) != a.status {
		t.Fatalf("error code %s does not go with status %d", e.Code, a.status)
	}
	return e
}

func (e *env) do(c call) answer {
	e.t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, e.hs.URL+c.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	} else if c.body != "" {
		req.Header.Set("Content-Type", apiclient.SniffContentType([]byte(c.body)))
	}
	if c.secret != "" {
		req.Header.Set("Authorization", "Bearer "+c.secret)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	resp, err := e.hs.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: data}
}

// login opens a console session for a secret and returns its cookie and
// CSRF token.
func (e *env) login(secret string) (*http.Cookie, string) {
	e.t.Helper()
	a := e.do(call{method: "POST", path: "/api/v1/login", body: `{"token": "` + secret + `"}`})
	if a.status != http.StatusOK {
		e.t.Fatalf("login: %d %s", a.status, a.body)
	}
	var s apiclient.Session
	if err := json.Unmarshal(a.body, &s); err != nil {
		e.t.Fatal(err)
	}
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == apiclient.SessionCookie {
			return c, s.CSRFToken
		}
	}
	e.t.Fatalf("login set no session cookie: %v", a.header)
	return nil, ""
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

// apply applies YAML with the editor token and fails the test on error.
func (e *env) apply(yaml string) *apiclient.ApplyResult {
	e.t.Helper()
	res, err := e.client(e.tokens[apiclient.RoleEditor]).Apply(context.Background(), []byte(yaml), apiclient.ApplyOptions{})
	if err != nil {
		e.t.Fatalf("apply: %v", err)
	}
	return res
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const webPool = `apiVersion: fulcrum/v1
kind: Pool
metadata: {name: web}
spec:
  members:
  - {address: "127.0.0.1:9001"}
  - {address: "127.0.0.1:9002", zone: b}
`

const frontAndRoute = `apiVersion: fulcrum/v1
kind: Listener
metadata: {name: front}
spec: {address: 127.0.0.1, port: 18080, protocol: http}
---
apiVersion: fulcrum/v1
kind: Route
metadata: {name: r}
spec:
  listener: front
  backends: [{pool: web}]
`
