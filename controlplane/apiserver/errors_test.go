package apiserver

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/apiclient"
)

// TestErrorShapeOnEveryErrorPath walks every kind of error the API can
// answer and checks each is the JSON {code, message, details} with the
// status that goes with its code.
func TestErrorShapeOnEveryErrorPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxBodyBytes = 2048 })
	e.apply(webPool)
	e.apply(frontAndRoute)
	ed, ad := e.tokens["editor"], e.tokens["admin"]
	cases := []struct {
		name   string
		c      call
		status int
		check  func(apiclient.Error) bool
	}{
		{"bad limit", call{method: "GET", path: "/api/v1/pools?limit=abc", secret: ed}, 400, nil},
		{"limit too large", call{method: "GET", path: "/api/v1/routes?limit=99999", secret: ed}, 400, nil},
		{"history kind without name", call{method: "GET", path: "/history?kind=Pool", secret: ed}, 404, nil},
		{"history kind without name (prefixed)", call{method: "GET", path: "/api/v1/history?kind=Pool", secret: ed}, 400, nil},
		{"history unknown kind", call{method: "GET", path: "/api/v1/history?kind=Cat&name=x", secret: ed}, 400, nil},
		{"bad revision", call{method: "GET", path: "/api/v1/history/abc", secret: ed}, 400, nil},
		{"bad dryRun", call{method: "POST", path: "/api/v1/apply?dryRun=maybe", secret: ed, body: webPool}, 400, nil},
		{"not YAML", call{method: "POST", path: "/api/v1/apply", secret: ed, body: "{{{", contentType: "application/yaml"}, 400,
			func(x apiclient.Error) bool { return len(x.Details) > 0 }},
		{"no objects", call{method: "POST", path: "/api/v1/apply", secret: ed, body: "# nothing\n", contentType: "application/yaml"}, 400, nil},
		{"rollback bad JSON", call{method: "POST", path: "/api/v1/rollback", secret: ed, body: `{"kind": "Pool", "nme": "x"}`}, 400, nil},
		{"rollback unknown kind", call{method: "POST", path: "/api/v1/rollback", secret: ed, body: `{"kind": "Cat", "name": "x", "toRevision": 1}`}, 400, nil},
		{"login bad JSON", call{method: "POST", path: "/api/v1/login", body: `[1]`, contentType: "application/json"}, 400, nil},
		{"viewer mutates", call{method: "DELETE", path: "/api/v1/pools/web", secret: e.tokens["viewer"]}, 403, nil},
		{"editor lists tokens", call{method: "GET", path: "/api/v1/tokens", secret: ed}, 403, nil},
		{"missing object", call{method: "GET", path: "/api/v1/listeners/nope", secret: ed}, 404, nil},
		{"missing revision", call{method: "GET", path: "/api/v1/history/42", secret: ed}, 404, nil},
		{"unknown route", call{method: "GET", path: "/api/v1/nothing/here", secret: ed}, 404, nil},
		{"outside the API", call{method: "GET", path: "/index.html", secret: ed}, 404, nil},
		{"delete missing", call{method: "DELETE", path: "/api/v1/routes/nope", secret: ed}, 404, nil},
		{"method", call{method: "PATCH", path: "/api/v1/pools/web", secret: ed}, 405, nil},
		{"body revision", call{method: "PUT", path: "/api/v1/pools/web", secret: ed,
			body: strings.Replace(webPool, "{name: web}", "{name: web, revision: 9}", 1)}, 409, nil},
		{"token name taken", call{method: "POST", path: "/api/v1/tokens", secret: ad, body: `{"name": "admin", "role": "viewer"}`}, 409, nil},
		{"If-Match", call{method: "PUT", path: "/api/v1/pools/web", secret: ed, body: webPool, header: map[string]string{"If-Match": `"7"`}}, 412,
			func(x apiclient.Error) bool { return x.Details[0].Ref == "Pool/web" }},
		{"body too large", call{method: "POST", path: "/api/v1/apply", secret: ed, body: webPool + strings.Repeat("# padding\n", 300)}, 413, nil},
		{"JSON body too large", call{method: "POST", path: "/api/v1/rollback", secret: ed, body: `{"name": "` + strings.Repeat("x", 70000) + `"}`}, 413, nil},
		{"form post", call{method: "POST", path: "/api/v1/apply", secret: ed, body: "a=b", contentType: "application/x-www-form-urlencoded"}, 415, nil},
		{"text/plain", call{method: "PUT", path: "/api/v1/pools/web", secret: ed, body: webPool, contentType: "text/plain"}, 415, nil},
		{"no content type", call{method: "POST", path: "/api/v1/tokens", secret: ad, body: `{}`, contentType: " "}, 415, nil},
		{"YAML rollback", call{method: "POST", path: "/api/v1/rollback", secret: ed, body: "kind: Pool", contentType: "application/yaml"}, 415, nil},
		{"invalid", call{method: "POST", path: "/api/v1/apply", secret: ed, body: badApply}, 422,
			func(x apiclient.Error) bool { return len(x.Details) == 7 && x.Details[0].Path != "" }},
		{"referenced pool", call{method: "DELETE", path: "/api/v1/pools/web", secret: ed}, 422,
			func(x apiclient.Error) bool {
				return x.Details[0].Ref == "Route/r" && x.Details[0].Path == "spec.backends[0].pool"
			}},
		{"member state", call{method: "POST", path: "/api/v1/pools/web/members/10.9.9.9:1/drain", secret: ed}, 404, nil},
	}
	for _, tc := range cases {
		a := e.do(tc.c)
		if a.status != tc.status {
			t.Errorf("%s: HTTP %d, want %d: %s", tc.name, a.status, tc.status, a.body)
			continue
		}
		x := a.apiErr(t)
		if tc.check != nil && !tc.check(x) {
			t.Errorf("%s: %+v", tc.name, x)
		}
		if a.status == 405 && a.header.Get("Allow") == "" {
			t.Errorf("%s: 405 without Allow", tc.name)
		}
		if a.header.Get("Cache-Control") != "no-store" || a.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", tc.name, a.header)
		}
	}
	// 503: the store is gone; nothing may claim success.
	e.st.Close()
	for _, c := range []call{
		{method: "GET", path: "/api/v1/pools", secret: ed},
		{method: "POST", path: "/api/v1/apply", secret: ed, body: webPool},
	} {
		a := e.do(c)
		if a.status != http.StatusServiceUnavailable || a.apiErr(t).Code != apiclient.CodeUnavailable || a.header.Get("Retry-After") == "" {
			t.Errorf("%s %s with the store closed: %d %v %s", c.method, c.path, a.status, a.header, a.body)
		}
	}
}
