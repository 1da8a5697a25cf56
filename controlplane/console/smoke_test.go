package console

import (
	"net/http"
	"testing"

	"github.com/fulcrumlb/fulcrum/apiclient"
)

// TestEveryPageRenders opens every page and fragment as an editor.
func TestEveryPageRenders(t *testing.T) {
	e := newEnv(t)
	e.apply(webPool + `---
apiVersion: fulcrum/v1
kind: Listener
metadata: {name: front}
spec: {protocol: http}
---
apiVersion: fulcrum/v1
kind: Route
metadata: {name: r}
spec:
  listener: front
  match: {path: {prefix: /api}}
  backends: [{pool: web}]
`)
	e.waitView()
	b := e.login(apiclient.RoleEditor)
	for _, p := range []string{"/pools", "/pools/web", "/fragments/pools", "/fragments/pools/web/members", "/fragments/pools/web/charts",
		"/new/pool", "/pools/web/edit", "/yaml", "/yaml?kind=Pool&name=web", "/yaml?kind=Route", "/yaml?kind=Route&name=r",
		"/delete/Pool/web", "/delete/Route/r", "/history", "/history/1", "/history?kind=Pool&name=web", "/history/1?kind=Route&name=r",
		"/rollback?kind=Pool&name=web&to=1", "/listeners", "/routes", "/proxies", "/fragments/proxies", "/fragments/listeners",
		"/fragments/routes", "/login", "/static/console.css", "/static/console.js"} {
		if a := b.get(p); a.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", p, a.status, visibleErrors(a.body))
		}
	}
	for p, want := range map[string]int{"/pools/nope": 404, "/history/999": 404, "/nope": 404, "/static/": 404, "/history?kind=Pool": 400} {
		if a := b.get(p); a.status != want {
			t.Errorf("GET %s: %d, want %d", p, a.status, want)
		}
	}
}
