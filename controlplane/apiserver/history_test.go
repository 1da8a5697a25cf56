package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

func TestEveryMutationInHistoryAndRollback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	admin, editor := e.client(e.tokens["admin"]), e.client(e.tokens["editor"])
	viewer := e.client(e.tokens["viewer"])
	e.apply(webPool)                                                                             // 1 editor
	if _, err := admin.Apply(ctx, []byte(frontAndRoute), apiclient.ApplyOptions{}); err != nil { // 2 admin
		t.Fatal(err)
	}
	if _, err := editor.SetMemberState(ctx, "web", "127.0.0.1:9002", apiclient.ActionDrain); err != nil { // 3
		t.Fatal(err)
	}
	if _, err := editor.Delete(ctx, api.KindRoute, "r", 0); err != nil { // 4
		t.Fatal(err)
	}
	res, err := admin.Rollback(ctx, "route", "r", 2) // 5: restores the deleted route
	if err != nil || res.Revision != 5 || res.Changes[0].Op != "created" {
		t.Fatalf("rollback: %+v %v", res, err)
	}
	if _, err := viewer.Get(ctx, api.KindRoute, "r"); err != nil {
		t.Fatalf("restored route: %v", err)
	}
	page, err := viewer.History(ctx, apiclient.HistoryQuery{})
	if err != nil || len(page.Revisions) != 5 {
		t.Fatalf("history: %+v %v", page, err)
	}
	var got []string
	for _, r := range page.Revisions {
		got = append(got, r.Actor+":"+r.Action)
	}
	want := []string{"admin:rollback", "editor-token:delete", "editor-token:member-state", "admin:apply", "editor-token:apply"}
	if !slices.Equal(got, want) {
		t.Fatalf("history actors %v, want %v", got, want)
	}
	if page.Revisions[2].Changes[0].Diff == "" || !strings.Contains(page.Revisions[2].Changes[0].Diff, "+    state: drain") {
		t.Fatalf("member-state diff:\n%s", page.Revisions[2].Changes[0].Diff)
	}
	rev, err := viewer.Revision(ctx, 5)
	if err != nil || rev.RollbackTo != 2 || rev.Changes[0].After == nil {
		t.Fatalf("revision 5: %+v %v", rev, err)
	}
	// One object's history, kind as people type it, and paging.
	page, err = viewer.History(ctx, apiclient.HistoryQuery{Kind: "routes", Name: "r", Limit: 2})
	if err != nil || len(page.Revisions) != 2 || page.Revisions[0].Number != 5 || page.Next != 4 {
		t.Fatalf("route history: %+v %v", page, err)
	}
	page, err = viewer.History(ctx, apiclient.HistoryQuery{Kind: "Route", Name: "r", Before: page.Next})
	if err != nil || len(page.Revisions) != 1 || page.Revisions[0].Number != 2 || page.Next != 0 {
		t.Fatalf("route history, page 2: %+v %v", page, err)
	}
	if _, err := viewer.Revision(ctx, 99); !apiclient.IsNotFound(err) {
		t.Fatalf("revision 99: %v", err)
	}
	if _, err := admin.Rollback(ctx, api.KindPool, "never", 1); !apiclient.IsNotFound(err) {
		t.Fatalf("rollback of an unknown object: %v", err)
	}
	// Rolling the pool back to before it existed would break the route.
	_, err = admin.Rollback(ctx, api.KindPool, "web", 0)
	if !apiclient.HasCode(err, apiclient.CodeBadRequest) {
		t.Fatalf("rollback to 0: %v", err)
	}
}

func TestMemberStateRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.apply(strings.Replace(webPool, `{address: "127.0.0.1:9002", zone: b}`, `{address: "[::1]:9002", zone: b}`, 1))
	c := e.client(e.tokens["editor"])
	for _, step := range []struct{ action, state string }{{"drain", "drain"}, {"disable", "disabled"}, {"enable", "enabled"}} {
		res, err := c.SetMemberState(ctx, "web", "[::1]:9002", step.action)
		if err != nil || res.Revision == 0 {
			t.Fatalf("%s: %+v %v", step.action, res, err)
		}
		if got := res.Changes[0].After.(*api.Pool).Spec.Members[1].State; got != step.state {
			t.Fatalf("%s: state %s", step.action, got)
		}
	}
	if res, err := c.SetMemberState(ctx, "web", "[::1]:9002", "enable"); err != nil || res.Revision != 0 {
		t.Fatalf("enabling an enabled member: %+v %v", res, err)
	}
	if _, err := c.SetMemberState(ctx, "web", "127.0.0.1:1", "drain"); !apiclient.IsNotFound(err) {
		t.Fatalf("unknown member: %v", err)
	}
	if _, err := c.SetMemberState(ctx, "nope", "127.0.0.1:9001", "drain"); !apiclient.IsNotFound(err) {
		t.Fatalf("unknown pool: %v", err)
	}
}

func TestProxiesFromStoreAndFromOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	lease, err := e.st.Client().Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	err = e.st.PutProxyStatus(ctx, store.ProxyStatus{Node: "edge-1", Zone: "a", AckedVersion: "7", NackedVersion: "8",
		NackError: "route r: bad regex", ConnectedAt: since}, lease.ID)
	if err != nil {
		t.Fatal(err)
	}
	list, err := e.client(e.tokens["viewer"]).Proxies(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "edge-1" || list[0].NackError != "route r: bad regex" ||
		!list[0].ConnectedSince.Equal(since) || list[0].AckedVersion != "7" {
		t.Fatalf("proxies: %+v %v", list, err)
	}
	// The control plane's own view wins when given; errors are JSON 500s
	// that do not leak their text.
	e2 := newEnv(t, func(o *Options) {
		o.Proxies = func(context.Context) ([]ProxyView, error) { return nil, errors.New("xds: secret internals") }
	})
	a := e2.do(call{method: "GET", path: "/api/v1/proxies", secret: e2.tokens["viewer"]})
	if a.status != 500 || strings.Contains(a.String(), "secret internals") || a.apiErr(t).Code != apiclient.CodeInternal {
		t.Fatalf("failing Proxies: %d %s", a.status, a.body)
	}
	if !strings.Contains(e2.logs.String(), "secret internals") {
		t.Fatal("the internal error was not logged")
	}
}

// TestAuditLinesMatchRevisions checks T10's "audit records = successful
// mutations": every configuration change is one revision and one audit
// line with its actor, refused attempts are audited too, and reads are
// not.
func TestAuditLinesMatchRevisions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ed := e.client(e.tokens["editor"])
	e.apply(webPool)
	e.apply(webPool) // no-op: no revision
	e.apply(frontAndRoute)
	_, _ = ed.Apply(ctx, []byte(badApply), apiclient.ApplyOptions{})
	_, _ = e.client(e.tokens["viewer"]).Apply(ctx, []byte(webPool), apiclient.ApplyOptions{})
	_, _ = ed.SetMemberState(ctx, "web", "127.0.0.1:9001", "drain")
	_, _ = ed.Apply(ctx, []byte(webPool), apiclient.ApplyOptions{DryRun: true})
	_, _ = ed.List(ctx, api.KindPool, apiclient.ListOptions{})

	type line struct {
		Msg, Method, Path, Actor, Result string
		Status                           int
		Revision                         int64
	}
	var lines []line
	for _, l := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var ln line
		if err := json.Unmarshal([]byte(l), &ln); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if ln.Msg == "audit" && ln.Path != "/api/v1/tokens" {
			lines = append(lines, ln)
		}
	}
	var written []int64
	for _, ln := range lines {
		if ln.Method == "GET" || ln.Actor == "" {
			t.Fatalf("audit line for a read or without an actor: %+v", ln)
		}
		if ln.Revision != 0 {
			written = append(written, ln.Revision)
		}
	}
	page, _ := ed.History(ctx, apiclient.HistoryQuery{})
	var revs []int64
	for _, r := range page.Revisions {
		revs = append(revs, r.Number)
	}
	slices.Reverse(revs)
	if !slices.Equal(written, revs) || len(lines) != 7 {
		t.Fatalf("audit lines %+v\nrevisions %v", lines, revs)
	}
	if lines[3].Result != apiclient.CodeInvalid || lines[4].Result != apiclient.CodeForbidden || lines[4].Actor != "viewer-token" {
		t.Fatalf("refused attempts: %+v %+v", lines[3], lines[4])
	}
}
