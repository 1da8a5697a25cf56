package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/apiclient"
)

// sample fills a route's path with plausible values and gives it a body
// that could succeed, so that the role matrix also shows allowed calls
// getting through.
func sample(rt route, secret string, n int) call {
	path := strings.NewReplacer("{name}", "web", "{pool}", "web", "{address}", "127.0.0.1:9001",
		"{revision}", "1", "{id}", "nope").Replace(rt.path)
	c := call{method: rt.method, path: path}
	switch rt.body {
	case bodyConfig:
		c.body = webPool
		if rt.method == http.MethodPut {
			kind := strings.TrimPrefix(rt.op, "put")
			c.body = fmt.Sprintf("apiVersion: fulcrum/v1\nkind: %s\nmetadata: {name: web}\nspec: %s\n", kind, sampleSpec[kind])
		}
	case "RollbackRequest":
		c.body = `{"kind": "Pool", "name": "web", "toRevision": 1}`
	case "TokenRequest":
		c.body = fmt.Sprintf(`{"name": "matrix-%d", "role": "viewer"}`, n)
	case "LoginRequest":
		c.body = `{"token": "` + secret + `"}`
	}
	return c
}

var sampleSpec = map[string]string{
	"Pool":     `{members: [{address: "127.0.0.1:9001"}, {address: "127.0.0.1:9003"}]}`,
	"Listener": `{protocol: http}`,
	"Route":    `{listener: front, backends: [{pool: web}]}`,
}

// withAllRoutes returns the route table plus the catch-alls: unknown
// paths and unknown methods must not answer without a token either.
func withAllRoutes(e *env) []route {
	rs := slices.Clone(e.srv.routes)
	return append(rs, route{method: "GET", path: "/api/v1/nothing", role: apiclient.RoleViewer},
		route{method: "PATCH", path: "/api/v1/pools/web", role: apiclient.RoleViewer},
		route{method: "DELETE", path: "/api/v1/history", role: apiclient.RoleViewer})
}

func TestEveryRouteNeedsAToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(webPool)
	before := e.revision()
	creds := map[string]func(*call){
		"none":          func(*call) {},
		"unknown token": func(c *call) { c.secret = "fulcrum_" + strings.Repeat("A", 43) },
		"basic auth":    func(c *call) { c.header = map[string]string{"Authorization": "Basic YWRtaW46YWRtaW4="} },
		"empty bearer":  func(c *call) { c.header = map[string]string{"Authorization": "Bearer "} },
		"huge token":    func(c *call) { c.secret = strings.Repeat("x", 10000) },
		"stale cookie":  func(c *call) { c.cookie = &http.Cookie{Name: apiclient.SessionCookie, Value: "forged"} },
	}
	checked := 0
	for _, rt := range withAllRoutes(e) {
		for name, set := range creds {
			c := sample(rt, "", 0)
			if rt.role == "" {
				c.body = `{"token": ""}` // login without a token
				if name == "unknown token" {
					c.body = `{"token": "fulcrum_nope"}`
				}
			}
			set(&c)
			a := e.do(c)
			if a.status != http.StatusUnauthorized {
				t.Errorf("%s %s with %s: HTTP %d, want 401: %s", c.method, c.path, name, a.status, a.body)
				continue
			}
			if a.apiErr(t).Code != apiclient.CodeUnauthorized || a.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: 401 without WWW-Authenticate or code: %v", c.method, c.path, a.header)
			}
			checked++
		}
	}
	if e.revision() != before {
		t.Fatalf("unauthenticated requests changed the configuration: revision %d → %d", before, e.revision())
	}
	t.Logf("%d route × credential combinations answered 401", checked)
}

// principalKind is one column of the role matrix.
type principalKind struct {
	role    string
	session bool // console session cookie instead of a bearer token
	csrf    bool // send the session's CSRF token
}

func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(webPool)
	e.apply(frontAndRoute)
	var kinds []principalKind
	for _, role := range apiclient.Roles {
		kinds = append(kinds, principalKind{role: role}, principalKind{role: role, session: true, csrf: true},
			principalKind{role: role, session: true})
	}
	ctx := context.Background()
	unauthorisedSuccesses, denied, allowed := 0, 0, 0
	for i, rt := range withAllRoutes(e) {
		for _, k := range kinds {
			secret := e.tokens[k.role]
			c := sample(rt, secret, i*100+len(kinds))
			if k.session {
				cookie, csrf := e.login(secret)
				c.cookie = cookie
				if k.csrf {
					c.header = map[string]string{apiclient.CSRFHeader: csrf}
				}
			} else {
				c.secret = secret
			}
			may := rt.role == "" || rank(k.role) >= rank(rt.role)
			csrfFail := k.session && !k.csrf && unsafeMethod(rt.method) && rt.role != ""
			revBefore := e.revision()
			toks, _ := e.st.ListTokens(ctx)
			a := e.do(c)
			label := fmt.Sprintf("%s %s as %+v", c.method, c.path, k)
			if !may || csrfFail {
				denied++
				if a.status < 300 {
					unauthorisedSuccesses++
				}
				want := apiclient.CodeForbidden
				if csrfFail {
					want = apiclient.CodeCSRF
				}
				if a.status != http.StatusForbidden || a.apiErr(t).Code != want {
					t.Errorf("%s: HTTP %d, want 403 %s: %s", label, a.status, want, a.body)
				}
				toksAfter, _ := e.st.ListTokens(ctx)
				if e.revision() != revBefore || len(toksAfter) != len(toks) {
					t.Errorf("%s: a refused request changed something", label)
				}
				continue
			}
			allowed++
			if a.status == http.StatusUnauthorized || a.status == http.StatusForbidden {
				t.Errorf("%s: HTTP %d, want it allowed: %s", label, a.status, a.body)
			}
		}
	}
	if unauthorisedSuccesses != 0 {
		t.Fatalf("%d unauthorised successes", unauthorisedSuccesses)
	}
	t.Logf("role matrix: %d denied (0 unauthorised successes), %d allowed", denied, allowed)
}

func TestSessionLoginCSRFLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cookie, csrf := e.login(e.tokens[apiclient.RoleEditor])
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" || cookie.Secure {
		t.Fatalf("cookie attributes: %+v", cookie)
	}
	if csrf == "" || cookie.Value == "" || strings.Contains(csrf, cookie.Value) {
		t.Fatalf("csrf %q, session %q", csrf, cookie.Value)
	}
	a := e.do(call{method: "GET", path: "/api/v1/session", cookie: cookie})
	if a.status != 200 || !strings.Contains(a.String(), csrf) || !strings.Contains(a.String(), `"name": "editor-token"`) {
		t.Fatalf("GET /session: %d %s", a.status, a.body)
	}
	before := e.revision()
	for _, hdr := range []map[string]string{nil, {apiclient.CSRFHeader: "wrong"}, {apiclient.CSRFHeader: cookie.Value}} {
		a = e.do(call{method: "POST", path: "/api/v1/apply", body: webPool, cookie: cookie, header: hdr})
		if a.status != http.StatusForbidden || a.apiErr(t).Code != apiclient.CodeCSRF {
			t.Fatalf("cookie mutation with CSRF header %v: %d %s", hdr, a.status, a.body)
		}
	}
	if e.revision() != before {
		t.Fatal("a mutation without the CSRF token was written")
	}
	a = e.do(call{method: "POST", path: "/api/v1/apply", body: webPool, cookie: cookie, header: map[string]string{apiclient.CSRFHeader: csrf}})
	if a.status != 200 || e.revision() != before+1 {
		t.Fatalf("cookie mutation with the CSRF token: %d %s", a.status, a.body)
	}
	page, _ := e.client(e.tokens[apiclient.RoleViewer]).History(context.Background(), apiclient.HistoryQuery{Limit: 1})
	if page.Revisions[0].Actor != "editor-token" {
		t.Fatalf("actor of a console change = %q", page.Revisions[0].Actor)
	}
	// Reads need no CSRF token.
	if a = e.do(call{method: "GET", path: "/api/v1/pools", cookie: cookie}); a.status != 200 {
		t.Fatalf("cookie read: %d", a.status)
	}
	// Logout is a mutation too, then the cookie is dead.
	if a = e.do(call{method: "POST", path: "/api/v1/logout", cookie: cookie}); a.status != http.StatusForbidden {
		t.Fatalf("logout without CSRF: %d", a.status)
	}
	a = e.do(call{method: "POST", path: "/api/v1/logout", cookie: cookie, header: map[string]string{apiclient.CSRFHeader: csrf}})
	if a.status != http.StatusNoContent || !strings.Contains(a.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d %v", a.status, a.header)
	}
	if a = e.do(call{method: "GET", path: "/api/v1/pools", cookie: cookie}); a.status != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", a.status)
	}
	// The typed client does the same dance.
	c := e.client("")
	if _, err := c.Login(context.Background(), e.tokens[apiclient.RoleEditor]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(context.Background(), []byte(frontAndRoute), apiclient.ApplyOptions{}); err != nil {
		t.Fatalf("client session apply: %v", err)
	}
	if err := c.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Session(context.Background()); !apiclient.HasCode(err, apiclient.CodeUnauthorized) {
		t.Fatalf("session after client logout: %v", err)
	}
}

func TestSessionEndsWithItsToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.client(e.tokens[apiclient.RoleAdmin])
	nt, err := admin.CreateToken(context.Background(), "alice", apiclient.RoleEditor)
	if err != nil {
		t.Fatal(err)
	}
	cookie, _ := e.login(nt.Secret)
	if a := e.do(call{method: "GET", path: "/api/v1/session", cookie: cookie}); a.status != 200 {
		t.Fatalf("session: %d", a.status)
	}
	if err := admin.DeleteToken(context.Background(), nt.ID); err != nil {
		t.Fatal(err)
	}
	if a := e.do(call{method: "GET", path: "/api/v1/session", cookie: cookie}); a.status != http.StatusUnauthorized {
		t.Fatalf("session of a deleted token: %d", a.status)
	}
	if _, err := e.client(nt.Secret).Session(context.Background()); !apiclient.HasCode(err, apiclient.CodeUnauthorized) {
		t.Fatalf("deleted token: %v", err)
	}
}

func TestSecureCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.Auth = newAuth(o.Store, AuthOptions{SecureCookies: true}) })
	a := e.do(call{method: "POST", path: "/api/v1/login", body: `{"token": "` + e.tokens["admin"] + `"}`})
	if sc := a.header.Get("Set-Cookie"); !strings.Contains(sc, "Secure") || !strings.Contains(sc, "HttpOnly") ||
		!strings.Contains(sc, "SameSite=Strict") {
		t.Fatalf("Set-Cookie = %q", sc)
	}
}

func TestSessionExpiry(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	s := newSessions(2*time.Hour, 30*time.Minute, 2)
	s.now = func() time.Time { return now }
	a, _ := s.create("h1")
	now = now.Add(20 * time.Minute)
	if _, ok := s.get(a); !ok {
		t.Fatal("a session used within its idle time expired")
	}
	now = now.Add(31 * time.Minute)
	if _, ok := s.get(a); ok {
		t.Fatal("an idle session survived")
	}
	b, _ := s.create("h2")
	for range 5 {
		now = now.Add(25 * time.Minute)
		s.get(b)
	}
	if _, ok := s.get(b); ok {
		t.Fatal("a session outlived its absolute lifetime")
	}
	// Full: the session that ends first makes room.
	c, _ := s.create("h3")
	now = now.Add(time.Minute)
	d, _ := s.create("h4")
	now = now.Add(5 * time.Minute)
	s.get(c) // c is now used more recently than d
	if _, _ = s.create("h5"); s.len() != 2 {
		t.Fatalf("%d sessions, max 2", s.len())
	}
	if _, ok := s.get(d); ok {
		t.Fatal("the session that would end first was kept")
	}
	s.dropToken("h3")
	if _, ok := s.get(c); ok {
		t.Fatal("dropToken left a session")
	}
}

func TestBootstrap(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if secret, created, err := Bootstrap(ctx, e.st); err != nil || created || secret != "" {
		t.Fatalf("second Bootstrap: %q %v %v", secret, created, err)
	}
	toks, _ := e.st.ListTokens(ctx)
	admin := e.tokens[apiclient.RoleAdmin]
	if !strings.HasPrefix(admin, tokenPrefix) || len(admin) != len(tokenPrefix)+43 {
		t.Fatalf("bootstrap secret %q", admin)
	}
	for _, tok := range toks {
		if tok.Hash == admin || strings.Contains(tok.Hash, admin) {
			t.Fatal("the store holds a secret")
		}
		if tok.ID == BootstrapTokenName && (tok.Role != apiclient.RoleAdmin || tok.Name != "admin") {
			t.Fatalf("bootstrap token %+v", tok)
		}
	}
	s, err := e.client(admin).Session(ctx)
	if err != nil || s.Name != "admin" || s.Role != apiclient.RoleAdmin || s.Cookie || s.CSRFToken != "" {
		t.Fatalf("session of the bootstrap token: %+v %v", s, err)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	admin := e.client(e.tokens[apiclient.RoleAdmin])
	nt, err := admin.CreateToken(ctx, "ci", apiclient.RoleEditor)
	if err != nil || !strings.HasPrefix(nt.Secret, tokenPrefix) || nt.ID == "" || nt.Role != "editor" {
		t.Fatalf("create: %+v %v", nt, err)
	}
	list, err := admin.Tokens(ctx)
	if err != nil || len(list) != 4 {
		t.Fatalf("list: %+v %v", list, err)
	}
	a := e.do(call{method: "GET", path: "/api/v1/tokens", secret: e.tokens["admin"]})
	for _, secret := range e.tokens {
		if strings.Contains(a.String(), secret) || strings.Contains(a.String(), hashSecret(secret)) {
			t.Fatal("token list shows a secret or a hash")
		}
	}
	if _, err := admin.CreateToken(ctx, "ci", apiclient.RoleViewer); !apiclient.HasCode(err, apiclient.CodeConflict) {
		t.Fatalf("duplicate name: %v", err)
	}
	_, err = admin.CreateToken(ctx, "bad name!", "root")
	var apiErr *apiclient.Error
	if !apiclient.HasCode(err, apiclient.CodeBadRequest) || !errors.As(err, &apiErr) || len(apiErr.Details) != 2 {
		t.Fatalf("bad name and role: %v", err)
	}
	if err := admin.DeleteToken(ctx, "nope"); !apiclient.IsNotFound(err) {
		t.Fatalf("delete unknown: %v", err)
	}
	if err := admin.DeleteToken(ctx, BootstrapTokenName); !apiclient.HasCode(err, apiclient.CodeConflict) {
		t.Fatalf("deleting the last admin token: %v", err)
	}
	second, _ := admin.CreateToken(ctx, "ops", apiclient.RoleAdmin)
	if err := admin.DeleteToken(ctx, BootstrapTokenName); err != nil {
		t.Fatalf("deleting an admin token with another left: %v", err)
	}
	if _, err := admin.Tokens(ctx); !apiclient.HasCode(err, apiclient.CodeUnauthorized) {
		t.Fatalf("deleted token still works: %v", err)
	}
	if list, err := e.client(second.Secret).Tokens(ctx); err != nil || len(list) != 4 {
		t.Fatalf("list with the new admin: %v %v", list, err)
	}
	// An editor cannot manage tokens.
	if _, err := e.client(nt.Secret).CreateToken(ctx, "x", "admin"); !apiclient.HasCode(err, apiclient.CodeForbidden) {
		t.Fatalf("editor creating a token: %v", err)
	}
}

// TestMiddlewareForTheConsole uses the exported middleware the way the
// web console does, on a handler of its own.
func TestMiddlewareForTheConsole(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	page := e.srv.Auth().Middleware(apiclient.RoleEditor)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		if !ok {
			t.Error("no principal in the context")
			return
		}
		fmt.Fprintf(w, "hello %s (%s, session %v)", p.Name, p.Role, p.Session)
	}))
	hs := httptestServer(t, page)
	get := func(method string, set func(*http.Request)) (int, string) {
		req, _ := http.NewRequest(method, hs.URL+"/console/drain", nil)
		set(req)
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return resp.StatusCode, b.String()
	}
	bearer := func(secret string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret) }
	}
	if code, body := get("GET", bearer(e.tokens["editor"])); code != 200 || body != "hello editor-token (editor, session false)" {
		t.Fatalf("editor: %d %s", code, body)
	}
	if code, _ := get("GET", bearer(e.tokens["viewer"])); code != 403 {
		t.Fatalf("viewer: %d", code)
	}
	if code, _ := get("GET", func(*http.Request) {}); code != 401 {
		t.Fatalf("nobody: %d", code)
	}
	cookie, csrf := e.login(e.tokens["admin"])
	if code, _ := get("POST", func(r *http.Request) { r.AddCookie(cookie) }); code != 403 {
		t.Fatalf("cookie POST without CSRF: %d", code)
	}
	code, body := get("POST", func(r *http.Request) { r.AddCookie(cookie); r.Header.Set(apiclient.CSRFHeader, csrf) })
	if code != 200 || body != "hello admin (admin, session true)" {
		t.Fatalf("cookie POST with CSRF: %d %s", code, body)
	}
	req, _ := http.NewRequest("GET", "/", nil)
	req.AddCookie(cookie)
	if p, err := e.srv.Auth().Authenticate(req); err != nil || p.Name != "admin" || !p.Session {
		t.Fatalf("Authenticate: %+v %v", p, err)
	}
}

func httptestServer(t *testing.T, h http.Handler) *httptest.Server {
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs
}
