package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
)

// etcdRevision moves with any write at all, so an unchanged value proves
// that nothing was written.
func (e *env) etcdRevision() int64 {
	e.t.Helper()
	resp, err := e.st.Client().Get(context.Background(), "probe")
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.Header.Revision
}

const badApply = `apiVersion: fulcrum/v1
kind: Pool
metadata: {name: web}
spec:
  algorithm: fastest
  members:
  - {address: "127.0.0.1:9001", weight: 0}
  - {address: 127.0.0.1, port: 70000}
  - {adress: "127.0.0.1:9003"}
---
apiVersion: fulcrum/v1
kind: Route
metadata: {name: r}
spec:
  listener: nowhere
  backends: [{pool: missing}]
`

func TestBadApplyIsRejectedWithPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	before := e.etcdRevision()
	a := e.do(call{method: "POST", path: "/api/v1/apply", secret: e.tokens["editor"], body: badApply})
	if a.status != http.StatusUnprocessableEntity {
		t.Fatalf("HTTP %d: %s", a.status, a.body)
	}
	got := map[string]bool{}
	for _, d := range a.apiErr(t).Details {
		got[fmt.Sprintf("%d %s %s", d.Document, d.Ref, d.Path)] = true
	}
	for _, want := range []string{
		"1 Pool/web spec.algorithm", "1 Pool/web spec.members[0].weight", "1 Pool/web spec.members[1].port",
		"1 Pool/web spec.members[2].adress", "1 Pool/web spec.members[2].address",
		"2 Route/r spec.listener", "2 Route/r spec.backends[0].pool",
	} {
		if !got[want] {
			t.Errorf("details lack %q; got %v", want, got)
		}
	}
	if len(got) != 7 {
		t.Errorf("want exactly 7 errors, got %v", got)
	}
	if e.etcdRevision() != before {
		t.Fatal("a rejected apply wrote to etcd")
	}
}

func TestOneBadObjectInTenStoresNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var docs []string
	for i := range 10 {
		port := 9000 + i
		if i == 6 {
			port = 0 // the bad one
		}
		docs = append(docs, fmt.Sprintf("apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: p%d}\nspec:\n  members: [{address: 127.0.0.1, port: %d}]\n", i, port))
	}
	before := e.etcdRevision()
	_, err := e.client(e.tokens["editor"]).Apply(context.Background(), []byte(strings.Join(docs, "---\n")), apiclient.ApplyOptions{})
	var apiErr *apiclient.Error
	if !apiclient.HasCode(err, apiclient.CodeInvalid) || !asErr(err, &apiErr) || len(apiErr.Details) != 1 ||
		apiErr.Details[0].Ref != "Pool/p6" || apiErr.Details[0].Document != 7 || apiErr.Details[0].Path != "spec.members[0].address" {
		t.Fatalf("apply: %v %+v", err, apiErr)
	}
	if e.etcdRevision() != before {
		t.Fatal("something was written")
	}
	list, err := e.client(e.tokens["viewer"]).List(context.Background(), api.KindPool, apiclient.ListOptions{})
	if err != nil || len(list.Items) != 0 {
		t.Fatalf("pools after a failed apply: %v %v", list, err)
	}
}

func TestApplyDryRunDiffAndNoOp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(e.tokens["editor"])
	before := e.etcdRevision()
	res, err := c.Apply(ctx, []byte(webPool), apiclient.ApplyOptions{DryRun: true})
	if err != nil || !res.DryRun || res.Revision != 0 || len(res.Changes) != 1 || res.Changes[0].Op != "created" {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	if d := res.Changes[0].Diff; !strings.Contains(d, "+++ Pool/web") || !strings.Contains(d, "+  - address: 127.0.0.1:9001") {
		t.Fatalf("dry-run diff:\n%s", d)
	}
	if e.etcdRevision() != before {
		t.Fatal("a dry run wrote to etcd")
	}
	if res = e.apply(webPool); res.Revision != 1 || res.Changes[0].After == nil {
		t.Fatalf("apply: %+v", res)
	}
	if res = e.apply(webPool); res.Revision != 0 || res.Changes[0].Op != "unchanged" || res.Changes[0].Diff != "" {
		t.Fatalf("re-apply: %+v", res)
	}
	res = e.apply(strings.Replace(webPool, "9002", "9003", 1))
	if d := res.Changes[0].Diff; res.Revision != 2 || !strings.Contains(d, "-  - address: 127.0.0.1:9002") ||
		!strings.Contains(d, "+  - address: 127.0.0.1:9003") || strings.Contains(d, "revision:") {
		t.Fatalf("update diff:\n%s", d)
	}
	// JSON bodies work the same, one object or a list.
	js, _ := json.Marshal([]api.Object{res.Changes[0].After})
	if res, err := c.Apply(ctx, js, apiclient.ApplyOptions{}); err != nil || res.Changes[0].Op != "unchanged" {
		t.Fatalf("JSON re-apply: %+v %v", res, err)
	}
}

func TestPutGetDeleteWithETags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ed := e.tokens["editor"]
	put := func(body string, hdr map[string]string) answer {
		return e.do(call{method: "PUT", path: "/api/v1/pools/web", secret: ed, body: body, header: hdr})
	}
	if a := put(webPool, nil); a.status != http.StatusCreated || a.header.Get("ETag") != `"1"` {
		t.Fatalf("create: %d %v %s", a.status, a.header, a.body)
	}
	changed := strings.Replace(webPool, "zone: b", "zone: c", 1)
	if a := put(changed, nil); a.status != http.StatusOK || a.header.Get("ETag") != `"2"` {
		t.Fatalf("update: %d %v", a.status, a.header)
	}
	if a := e.do(call{method: "GET", path: "/api/v1/pools/web", secret: e.tokens["viewer"]}); a.status != 200 || a.header.Get("ETag") != `"2"` {
		t.Fatalf("get: %d %v", a.status, a.header)
	}
	before := e.etcdRevision()
	a := put(webPool, map[string]string{"If-Match": `"1"`})
	if a.status != http.StatusPreconditionFailed || a.apiErr(t).Details[0].Path != "metadata.revision" {
		t.Fatalf("stale If-Match: %d %s", a.status, a.body)
	}
	withRev := strings.Replace(webPool, "metadata: {name: web}", "metadata: {name: web, revision: 1}", 1)
	if a := put(withRev, nil); a.status != http.StatusConflict || a.apiErr(t).Code != apiclient.CodeConflict {
		t.Fatalf("stale metadata.revision: %d %s", a.status, a.body)
	}
	if a := put(webPool, map[string]string{"If-Match": "garbage"}); a.status != http.StatusPreconditionFailed {
		t.Fatalf("unparsable If-Match: %d", a.status)
	}
	if e.etcdRevision() != before {
		t.Fatal("a failed precondition wrote")
	}
	if a := put(webPool, nil); a.status != 200 { // dry run below must not move it
		t.Fatalf("update back: %d", a.status)
	}
	before = e.etcdRevision()
	if a := e.do(call{method: "PUT", path: "/api/v1/pools/web?dryRun=true", secret: ed, body: changed}); a.status != 200 || a.header.Get("ETag") != "" {
		t.Fatalf("dry-run put: %d %v", a.status, a.header)
	}
	if e.etcdRevision() != before {
		t.Fatal("dry-run PUT wrote")
	}
	if a := put(changed, map[string]string{"If-Match": `"3"`}); a.status != 200 || a.header.Get("ETag") != `"4"` {
		t.Fatalf("matching If-Match: %d %v %s", a.status, a.header, a.body)
	}
	a = e.do(call{method: "PUT", path: "/api/v1/pools/other", secret: ed, body: webPool, header: map[string]string{"If-Match": "*"}})
	if a.status != http.StatusPreconditionFailed {
		t.Fatalf("If-Match * on a missing object: %d", a.status)
	}
	// Kind and name must match the URL; both errors at once.
	a = e.do(call{method: "PUT", path: "/api/v1/listeners/x", secret: ed, body: webPool})
	if a.status != 422 || len(a.apiErr(t).Details) != 2 || a.apiErr(t).Details[0].Path != "kind" || a.apiErr(t).Details[1].Path != "metadata.name" {
		t.Fatalf("kind and name mismatch: %d %s", a.status, a.body)
	}
	if a := e.do(call{method: "PUT", path: "/api/v1/pools/web", secret: ed, body: webPool + "---\n" + webPool}); a.status != 422 {
		t.Fatalf("two objects: %d", a.status)
	}
	if a := e.do(call{method: "DELETE", path: "/api/v1/pools/web", secret: ed, header: map[string]string{"If-Match": `"3"`}}); a.status != 412 {
		t.Fatalf("stale delete: %d %s", a.status, a.body)
	}
	res, err := e.client(ed).Delete(context.Background(), api.KindPool, "web", 4)
	if err != nil || res.Revision != 5 || res.Changes[0].Op != "deleted" || res.Changes[0].Before == nil || !strings.Contains(res.Changes[0].Diff, "-kind: Pool") {
		t.Fatalf("delete: %+v %v", res, err)
	}
	if _, err := e.client(ed).Get(context.Background(), api.KindPool, "web"); !apiclient.IsNotFound(err) {
		t.Fatalf("get after delete: %v", err)
	}
	// The typed client's Put with IfMatch.
	o, err := e.client(ed).Put(context.Background(), &api.Pool{TypeMeta: api.TypeMeta{APIVersion: api.APIVersion, Kind: api.KindPool},
		Metadata: api.Metadata{Name: "web"}, Spec: api.PoolSpec{Members: []api.Member{{Address: "127.0.0.1:9001"}}}}, apiclient.PutOptions{})
	if err != nil || o.GetMetadata().Revision != 6 {
		t.Fatalf("client put: %+v %v", o, err)
	}
	if _, err := e.client(ed).Put(context.Background(), o, apiclient.PutOptions{IfMatch: 5}); !apiclient.HasCode(err, apiclient.CodePreconditionFailed) {
		t.Fatalf("client put with a stale IfMatch: %v", err)
	}
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var docs []string
	for i := range 5 {
		docs = append(docs, fmt.Sprintf("apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: p%d}\nspec: {members: [{address: \"127.0.0.1:%d\"}]}\n", i, 9000+i))
	}
	e.apply(strings.Join(docs, "---\n"))
	c := e.client(e.tokens["viewer"])
	var names []string
	opt := apiclient.ListOptions{Limit: 2}
	for pages := 1; ; pages++ {
		page, err := c.List(context.Background(), api.KindPool, opt)
		if err != nil || pages > 3 || page.Revision != 1 {
			t.Fatalf("page %d: %+v %v", pages, page, err)
		}
		for _, o := range page.Items {
			names = append(names, o.GetMetadata().Name)
		}
		if opt.Continue = page.Continue; opt.Continue == "" {
			break
		}
	}
	if strings.Join(names, ",") != "p0,p1,p2,p3,p4" {
		t.Fatalf("names %v", names)
	}
	all, err := c.ListAll(context.Background(), api.KindPool)
	if err != nil || len(all) != 5 {
		t.Fatalf("ListAll: %d %v", len(all), err)
	}
	if _, err := c.List(context.Background(), api.KindPool, apiclient.ListOptions{Continue: "!!"}); !apiclient.HasCode(err, apiclient.CodeBadRequest) {
		t.Fatalf("bad continue token: %v", err)
	}
}

const kubePair = `apiVersion: v1
kind: Service
metadata: {name: shop}
spec:
  ports: [{port: 8081, targetPort: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Endpoints
metadata:
  name: shop
  annotations: {healthCheckType: tcp}
subsets:
- addresses: [{ip: 127.0.0.1}, {ip: 127.0.0.2}]
  ports: [{port: 8080}]
`

func TestKubernetesObjectsApply(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.apply(kubePair)
	if len(res.Changes) != 1 || res.Changes[0].Ref() != "Pool/shop" || len(res.Changes[0].After.(*api.Pool).Spec.Members) != 2 {
		t.Fatalf("kube apply: %+v", res)
	}
	// An Endpoints without its Service names the Endpoints and its document.
	a := e.do(call{method: "POST", path: "/api/v1/apply", secret: e.tokens["editor"], body: webPool + "---\n" + kubePair[strings.Index(kubePair, "apiVersion: v1\nkind: Endpoints"):]})
	if a.status != 422 || a.apiErr(t).Details[0].Ref != "Endpoints/shop" || a.apiErr(t).Details[0].Document != 2 {
		t.Fatalf("lonely Endpoints: %d %s", a.status, a.body)
	}
}

func asErr(err error, target **apiclient.Error) bool {
	e, ok := err.(*apiclient.Error)
	if ok {
		*target = e
	}
	return ok
}

// TestAliasBombIsRejectedQuickly is T3's YAML alias bomb through the API.
func TestAliasBombIsRejectedQuickly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bomb := "apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: web}\nspec:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 1; i < 10; i++ {
		refs := strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 9) + fmt.Sprintf("*a%d", i-1)
		bomb += fmt.Sprintf("  a%d: &a%d [%s]\n", i, i, refs)
	}
	before := e.etcdRevision()
	start := time.Now()
	a := e.do(call{method: "POST", path: "/api/v1/apply", secret: e.tokens["editor"], body: bomb})
	if a.status != 400 && a.status != 422 {
		t.Fatalf("alias bomb: %d %s", a.status, a.body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("alias bomb took %v", d)
	}
	a.apiErr(t)
	if e.etcdRevision() != before {
		t.Fatal("the bomb wrote something")
	}
}
