package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

// poolForm posts the pool form.
func (b *browser) poolForm(path, token string, fields map[string]string) answer {
	v := url.Values{"csrf_token": {token}}
	for k, x := range fields {
		v.Set(k, x)
	}
	return b.post(path, v)
}

// TestEveryConsoleMutationIsAttributed makes every kind of change through
// the console as editor-1 — form create and edit, weight, drain, disable,
// enable, YAML apply, rollback, delete — and finds each in the operation
// log under that token's name, with its action. Previews and dry runs
// write nothing.
func TestEveryConsoleMutationIsAttributed(t *testing.T) {
	e := newEnv(t)
	b := e.login(apiclient.RoleEditor)
	token := b.csrf()
	first := e.revision() + 1
	form := map[string]string{"metadata.name": "web", "spec.frontend.protocol": "", "spec.algorithm": "least_conn",
		"spec.members[0].address": "127.0.0.1:9001", "spec.members[0].weight": "2", "spec.members[1].address": "127.0.0.1:9002",
		"spec.members[3].address": "", "spec.healthCheck.type": "none", "action": "preview"}
	if a := b.poolForm("/new/pool", token, form); a.status != http.StatusOK || !strings.Contains(a.body, `id="preview"`) {
		t.Fatalf("preview: %d %s", a.status, a.body)
	}
	if e.revision() != first-1 {
		t.Fatal("the preview wrote")
	}
	form["action"] = "save"
	mustRedirect(t, b.poolForm("/new/pool", token, form), "/pools/web?rev=")
	p := e.pool("web")
	if p.Spec.Algorithm != "least_conn" || len(p.Spec.Members) != 2 || p.Spec.Members[0].Weight != 2 {
		t.Fatalf("created %+v", p.Spec)
	}
	form["spec.algorithm"], form["revision"] = "random", strconv.FormatInt(p.Metadata.Revision, 10)
	mustRedirect(t, b.poolForm("/pools/web/edit", token, form), "/pools/web?rev=")
	mustRedirect(t, b.post("/pools/web/members/127.0.0.1:9002/weight", url.Values{"csrf_token": {token}, "weight": {"7"},
		"revision": {strconv.FormatInt(e.pool("web").Metadata.Revision, 10)}}), "/pools/web?rev=")
	for _, act := range []string{"drain", "disable", "enable"} {
		mustRedirect(t, b.post("/pools/web/members/127.0.0.1:9001/"+act, url.Values{"csrf_token": {token}}), "/pools/web?rev=")
	}
	yaml := strings.Replace(webPool, "name: web", "name: api", 1)
	mustRedirect(t, b.post("/yaml", url.Values{"csrf_token": {token}, "yaml": {yaml}, "action": {"apply"}, "digest": {digest(yaml)}}), "/history/")
	mustRedirect(t, b.post("/rollback", url.Values{"csrf_token": {token}, "kind": {"Pool"}, "name": {"web"}, "to": {strconv.FormatInt(first, 10)}}), "/history/")
	mustRedirect(t, b.post("/delete/Pool/api", url.Values{"csrf_token": {token}}), "/history/")
	if got := e.pool("web").Spec.Algorithm; got != "least_conn" {
		t.Fatalf("after the rollback the algorithm is %s", got)
	}
	assertAttributed(t, e, first, "editor-1", []store.Action{store.ActionApply, store.ActionMemberState, store.ActionRollback, store.ActionDelete})
	if n := e.revision() - first + 1; n != 9 {
		t.Fatalf("%d revisions for 9 changes", n)
	}
}

func mustRedirect(t *testing.T, a answer, prefix string) {
	t.Helper()
	if a.status != http.StatusSeeOther || !strings.HasPrefix(a.header.Get("Location"), prefix) {
		t.Fatalf("%d to %q, want a redirect to %s…; page: %s", a.status, a.header.Get("Location"), prefix, visibleErrors(a.body))
	}
}

var errorText = regexp.MustCompile(`(?s)<(?:p|li)[^>]*(?:field-error|error-page)?[^>]*>(.*?)</(?:p|li)>`)

// visibleErrors extracts the error messages of a page, for test failures.
func visibleErrors(body string) string {
	var out []string
	for _, m := range errorText.FindAllStringSubmatch(body, -1) {
		if strings.Contains(m[0], "error") {
			out = append(out, strings.TrimSpace(m[1]))
		}
	}
	return strings.Join(out, " | ")
}

// TestFormErrorsStandAtTheirFields: every error of a refused form — the
// form's own (not a number, not a duration) and the API's validation
// with its field paths — is shown next to its field, marked
// aria-invalid, listed in the summary, and the form keeps what was typed.
func TestFormErrorsStandAtTheirFields(t *testing.T) {
	e := newEnv(t)
	b := e.login(apiclient.RoleEditor)
	token := b.csrf()
	a := b.poolForm("/new/pool", token, map[string]string{"metadata.name": "web", "spec.frontend.protocol": "http",
		"spec.frontend.port": "eighty", "spec.members[0].address": "127.0.0.1:9001",
		"spec.members[5].address": "127.0.0.1:70000", // a later row: renumbered to spec.members[1]
		"spec.healthCheck.type":   "http", "spec.healthCheck.interval": "soon", "spec.healthCheck.fall": "0",
		"spec.algorithm": "maglev", "spec.hashOn": "nonsense", "action": "save"})
	if a.status != http.StatusOK || !strings.Contains(a.body, `id="error-summary"`) {
		t.Fatalf("refused form: %d", a.status)
	}
	for field, want := range map[string]string{
		"spec.frontend.port":        "whole number",
		"spec.members[1].address":   "65535",
		"spec.healthCheck.interval": "duration",
		"spec.hashOn":               "",
	} {
		id := fieldID(field)
		if !strings.Contains(a.body, `id="`+id+`-err">`) || !regexp.MustCompile(`id="`+id+`-err">[^<]*`+regexp.QuoteMeta(want)).MatchString(a.body) {
			t.Errorf("no error %q at %s; errors: %s", want, field, visibleErrors(a.body))
		}
		if !regexp.MustCompile(`id="` + id + `"[^>]*aria-invalid="true"`).MatchString(a.body) {
			t.Errorf("%s is not marked aria-invalid", field)
		}
		if !strings.Contains(a.body, `href="#`+id+`"`) {
			t.Errorf("the summary does not link to %s", field)
		}
	}
	if !strings.Contains(a.body, `value="127.0.0.1:70000"`) || !strings.Contains(a.body, `value="eighty"`) {
		t.Error("the form lost what was typed")
	}
	if e.revision() != 0 {
		t.Fatal("a refused form wrote")
	}
	// An edit based on an old revision is refused, not merged.
	e.apply(webPool)
	e.apply(strings.Replace(webPool, "zone: b", "zone: c", 1))
	e.waitView()
	a = b.poolForm("/pools/web/edit", token, map[string]string{"revision": "1", "spec.members[0].address": "127.0.0.1:9009",
		"spec.healthCheck.type": "none", "action": "save"})
	if !strings.Contains(a.body, `id="error-summary"`) || !strings.Contains(a.body, "Someone changed this pool") {
		t.Fatalf("a stale edit: %s", visibleErrors(a.body))
	}
}

var itoa = strconv.Itoa

// TestYAMLValidatePreviewApply: validate and preview write nothing;
// Apply is offered with the preview and applies exactly the previewed
// text — a text changed since is previewed again instead.
func TestYAMLValidatePreviewApply(t *testing.T) {
	e := newEnv(t)
	b := e.login(apiclient.RoleEditor)
	token := b.csrf()
	bad := webPool + "  bogus: 1\n"
	a := b.post("/yaml", url.Values{"csrf_token": {token}, "yaml": {bad}, "action": {"validate"}})
	if !strings.Contains(a.body, `id="yaml-errors"`) || !strings.Contains(a.body, "bogus") {
		t.Fatalf("validate a bad text: %s", visibleErrors(a.body))
	}
	a = b.post("/yaml", url.Values{"csrf_token": {token}, "yaml": {webPool}, "action": {"validate"}})
	if !strings.Contains(a.body, `id="yaml-valid"`) || strings.Contains(a.body, `id="yaml-apply"`) {
		t.Fatal("validate a good text: no verdict, or an apply button without a preview")
	}
	a = b.post("/yaml", url.Values{"csrf_token": {token}, "yaml": {webPool}, "action": {"preview"}})
	if !strings.Contains(a.body, `id="yaml-apply"`) || !strings.Contains(a.body, `class="d-add">&#43;kind: Pool`) {
		t.Fatal("the preview shows no diff or no apply button")
	}
	if e.revision() != 0 {
		t.Fatal("validate or preview wrote")
	}
	changed := strings.Replace(webPool, "9002", "9003", 1)
	a = b.post("/yaml", url.Values{"csrf_token": {token}, "yaml": {changed}, "action": {"apply"}, "digest": {digest(webPool)}})
	if !strings.Contains(a.body, "changed after the preview") || e.revision() != 0 {
		t.Fatal("a text changed after its preview was applied")
	}
	mustRedirect(t, b.post("/yaml", url.Values{"csrf_token": {token}, "yaml": {changed}, "action": {"apply"}, "digest": {digest(changed)}}), "/history/1")
	if got := e.pool("web").Spec.Members[1].Address; got != "127.0.0.1:9003" {
		t.Fatalf("applied %s", got)
	}
}

// manyPools is a configuration of n pools.
func manyPools(n int) string {
	var sb strings.Builder
	for i := range n {
		proto := []string{"http", "tcp", "grpc"}[i%3]
		fmt.Fprintf(&sb, "---\napiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: pool-%04d}\nspec:\n  frontend: {protocol: %s}\n"+
			"  members: [{address: \"10.0.%d.%d:80\"}]\n  healthCheck: {type: none}\n", i, proto, i/250, i%250+1)
	}
	return sb.String()
}

var poolRows = regexp.MustCompile(`<tr class="h-[a-z]+" id="pool-`)

// TestPoolsPagingAndFilters: pools from the store, paged on the server:
// page 3 of 25 holds pools 51 to 75, search and filters cut the list,
// the fragment is just the table.
func TestPoolsPagingAndFilters(t *testing.T) {
	e := newEnv(t)
	e.apply(manyPools(150))
	e.waitView()
	b := e.login(apiclient.RoleViewer)
	a := b.get("/pools?page=3&size=25")
	if n := len(poolRows.FindAllString(a.body, -1)); n != 25 || !strings.Contains(a.body, "pool-0050") || !strings.Contains(a.body, "pool-0074") ||
		strings.Contains(a.body, "pool-0075") || !strings.Contains(a.body, "Page 3 of 6") {
		t.Fatalf("page 3: %d rows", n)
	}
	for q, want := range map[string]int{"q=pool-009": 10, "protocol=tcp&size=100": 50, "q=pool-01&protocol=grpc": 17,
		"health=down": 0, "health=unknown&size=200": 150, "page=99": 50, "protocol=none": 0} {
		if n := len(poolRows.FindAllString(b.get("/pools?"+q).body, -1)); n != want {
			t.Errorf("/pools?%s: %d rows, want %d", q, n, want)
		}
	}
	if a := b.get("/fragments/pools?page=3"); !strings.Contains(a.body, "pool-0149") || strings.Contains(a.body, "<html") {
		t.Error("the table fragment is not just the table")
	}
}

// TestPoolsPage1000 renders pages of a 1,000-pool snapshot through the
// console's HTTP handler and logs the time; the limit is generous (the
// suite runs with the race detector on 2 cores): BenchmarkPoolsPage
// measures.
func TestPoolsPage1000(t *testing.T) {
	e := newEnv(t)
	e.waitView()
	e.console.hub.mu.Lock()
	e.console.hub.cur = syntheticView(1000) // nothing changes in the store afterwards
	e.console.hub.mu.Unlock()
	b := e.login(apiclient.RoleViewer)
	for _, q := range []string{"page=3", "size=1000", "q=pool-09&health=healthy"} {
		start := time.Now()
		a := b.get("/pools?" + q)
		took := time.Since(start)
		t.Logf("GET /pools?%s of 1,000 pools: %v, %d bytes", q, took, len(a.body))
		if a.status != http.StatusOK || took > 2*time.Second {
			t.Errorf("GET /pools?%s: %d in %v", q, a.status, took)
		}
	}
	if a := b.get("/pools?page=3"); len(poolRows.FindAllString(a.body, -1)) != 50 || !strings.Contains(a.body, "pool-0100") ||
		!strings.Contains(a.body, "Page 3 of 20") {
		t.Fatal("page 3 of 1,000 pools is wrong")
	}
}

// syntheticView is a snapshot of n pools with health, without a store.
func syntheticView(n int) *view {
	cfg := &api.Config{}
	for i := range n {
		p := &api.Pool{TypeMeta: api.TypeMeta{APIVersion: api.APIVersion, Kind: api.KindPool},
			Metadata: api.Metadata{Name: fmt.Sprintf("pool-%04d", i), UpdatedBy: "ci", UpdatedAt: "2026-05-01T10:00:00Z"},
			Spec: api.PoolSpec{Frontend: &api.Frontend{Protocol: "http", Address: "127.0.1.1", Port: 30000 + i},
				Algorithm: api.RoundRobin}}
		p.Status = &api.PoolStatus{}
		for m := range 4 {
			addr := fmt.Sprintf("10.0.%d.%d:80", i%250, m)
			p.Spec.Members = append(p.Spec.Members, api.Member{Address: addr, Weight: 1})
			p.Status.Members = append(p.Status.Members, api.MemberStatus{Address: addr, Health: api.HealthHealthy})
		}
		cfg.Pools = append(cfg.Pools, p)
	}
	return newView(&store.Snapshot{Config: cfg, Revision: 1})
}

// BenchmarkPoolsPage renders the pools table of 1,000 pools: one page of
// 50 (what a browser asks for), and all 1,000 on one page.
func BenchmarkPoolsPage(b *testing.B) {
	c := &Console{}
	var err error
	if c.pages, err = newRenderer(); err != nil {
		b.Fatal(err)
	}
	v := syntheticView(1000)
	s := &session{Session: apiclient.Session{Name: "viewer", Role: apiclient.RoleViewer}}
	for _, size := range []int{50, 1000} {
		b.Run("size="+itoa(size), func(b *testing.B) {
			r, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "/pools?size="+itoa(size), nil)
			for b.Loop() {
				w := &memResponse{header: http.Header{}}
				c.render(w, r, s, http.StatusOK, "pools", "Pools", listPools(v, parseListQuery(r.URL.Query())))
				if w.code() != http.StatusOK {
					b.Fatal(w.body.String())
				}
			}
		})
	}
}
