package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/api"
)

func TestApplyGetList(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	res := apply(t, s, pool("web", tcp(), "127.0.0.1:9001"), pool("api", nil, "127.0.0.1:9002"),
		pool("db", &api.Frontend{Address: "127.0.0.1", Port: 5432, Protocol: api.ProtocolTCP}, "127.0.0.1:9003"))
	if res.Revision != 1 || ops(res) != "Pool/api:created Pool/db:created Pool/web:created " {
		t.Fatalf("result: revision %d, %s", res.Revision, ops(res))
	}
	if st := res.Changes[2].After.(*api.Pool).Status; st == nil || st.Address != "127.0.1.1" || st.Port != 30000 {
		t.Fatalf("result does not show the allocation: %+v", st)
	}

	o, err := s.Get(ctx, api.KindPool, "web")
	if err != nil {
		t.Fatal(err)
	}
	p := o.(*api.Pool)
	md := p.Metadata
	if md.Revision != 1 || md.UpdatedBy != "test" || md.CreatedAt == "" || md.CreatedAt != md.UpdatedAt {
		t.Fatalf("metadata = %+v", md)
	}
	if p.Spec.Algorithm != api.RoundRobin || p.Spec.Members[0].State != api.StateEnabled {
		t.Fatalf("stored without defaults: %+v", p.Spec)
	}
	if p.Spec.Frontend.Address != "" || p.Spec.Frontend.Port != 0 {
		t.Fatalf("allocation leaked into the spec: %+v", p.Spec.Frontend)
	}
	if p.Status == nil || p.Status.Address != "127.0.1.1" || p.Status.Port != 30000 ||
		len(p.Status.Members) != 1 || p.Status.Members[0].Health != api.HealthUnknown {
		t.Fatalf("status = %+v", p.Status)
	}
	if db, _ := s.Get(ctx, api.KindPool, "db"); db.(*api.Pool).Status.Port != 5432 {
		t.Fatalf("explicit frontend status = %+v", db.(*api.Pool).Status)
	}
	if _, err := s.Get(ctx, api.KindPool, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get missing: %v", err)
	}
	if _, err := s.Get(ctx, api.KindPool, "a/b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get with a slash: %v", err)
	}

	// Paging: stable order by name, two then one.
	var names []string
	cont := ""
	for pages := 0; ; pages++ {
		page, err := s.List(ctx, api.KindPool, ListOptions{Limit: 2, Continue: cont})
		if err != nil {
			t.Fatal(err)
		}
		if page.Revision != 1 || pages > 2 {
			t.Fatalf("page %d: revision %d", pages, page.Revision)
		}
		for _, o := range page.Items {
			names = append(names, o.GetMetadata().Name)
			if o.(*api.Pool).Status == nil {
				t.Fatalf("list item without status: %s", o.GetMetadata().Name)
			}
		}
		if cont = page.Continue; cont == "" {
			break
		}
	}
	if strings.Join(names, ",") != "api,db,web" {
		t.Fatalf("paged names = %v", names)
	}
	if page, err := s.List(ctx, api.KindRoute, ListOptions{}); err != nil || len(page.Items) != 0 {
		t.Fatalf("empty list: %v %v", page, err)
	}

	snap, err := s.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision != 1 || len(snap.Config.Pools) != 3 || snap.Config.Pools[0].Metadata.Name != "api" ||
		snap.Config.Pool("web").Status.Address != "127.0.1.1" {
		t.Fatalf("snapshot = %+v", snap)
	}
}

func TestNoOpApplyMakesNoRevision(t *testing.T) {
	t.Parallel()
	s := open(t)
	apply(t, s, pool("web", tcp(), "127.0.0.1:9001"), route("r", "l", "web"),
		listener("l", "", api.Frontend{Protocol: api.ProtocolHTTP}))
	before := etcdRev(t, s)
	// The same content again, even spelled differently (defaults given
	// explicitly, a port given separately), is a no-op.
	again := pool("web", tcp(), "127.0.0.1")
	again.Spec.Members[0].Port = 9001
	again.Spec.Algorithm = api.RoundRobin
	res := apply(t, s, again, route("r", "l", "web"), listener("l", "", api.Frontend{Protocol: api.ProtocolHTTP}))
	if !res.NoOp() || res.Revision != 0 || ops(res) != "Pool/web:unchanged Listener/l:unchanged Route/r:unchanged " {
		t.Fatalf("re-apply: revision %d, %s", res.Revision, ops(res))
	}
	if after := etcdRev(t, s); after != before {
		t.Fatalf("a no-op wrote to etcd: revision %d -> %d", before, after)
	}
	// One changed object among unchanged ones makes one revision holding
	// only that change.
	changed := pool("web", tcp(), "127.0.0.1:9001", "127.0.0.1:9002")
	res = apply(t, s, changed, route("r", "l", "web"))
	if res.Revision != 2 || ops(res) != "Pool/web:updated Route/r:unchanged " {
		t.Fatalf("update: revision %d, %s", res.Revision, ops(res))
	}
	rec, err := s.Revision(context.Background(), 2)
	if err != nil || len(rec.Changes) != 1 || rec.Changes[0].Op != OpUpdated ||
		len(rec.Changes[0].Before.(*api.Pool).Spec.Members) != 1 || len(rec.Changes[0].After.(*api.Pool).Spec.Members) != 2 {
		t.Fatalf("revision record = %+v, %v", rec, err)
	}
	if rec.Changes[0].After.(*api.Pool).Status != nil {
		t.Fatal("revision records must not hold status")
	}
	if o, _ := s.Get(context.Background(), api.KindPool, "web"); o.GetMetadata().CreatedAt == "" || o.GetMetadata().Revision != 2 {
		t.Fatalf("metadata after update = %+v", o.GetMetadata())
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	before := etcdRev(t, s)
	res, err := s.Apply(ctx, ApplyRequest{Objects: []api.Object{pool("web", tcp(), "127.0.0.1:9001")}, Actor: "test", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || res.Revision != 0 || ops(res) != "Pool/web:created " {
		t.Fatalf("dry run: %+v %s", res, ops(res))
	}
	if st := res.Changes[0].After.(*api.Pool).Status; st == nil || st.Port != 30000 {
		t.Fatalf("dry run does not show the allocation it would make: %+v", st)
	}
	if etcdRev(t, s) != before {
		t.Fatal("dry run wrote to etcd")
	}
	if _, err := s.Get(ctx, api.KindPool, "web"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dry run stored the pool: %v", err)
	}
	// A dry run of a bad change reports the errors.
	_, err = s.Apply(ctx, ApplyRequest{Objects: []api.Object{pool("web", tcp(), "no-port")}, Actor: "test", DryRun: true})
	validationErrors(t, err)
}

func TestIfMatchConflict(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	apply(t, s, pool("web", nil, "127.0.0.1:9001"))
	apply(t, s, pool("web", nil, "127.0.0.1:9002")) // revision 2

	stale := pool("web", nil, "127.0.0.1:9003")
	stale.Metadata.Revision = 1
	_, err := s.Apply(ctx, ApplyRequest{Objects: []api.Object{stale}, Actor: "test"})
	var ce *ConflictError
	if !errors.Is(err, ErrConflict) || !errors.As(err, &ce) || ce.Ref != "Pool/web" || ce.Expected != 1 || ce.Actual != 2 {
		t.Fatalf("stale revision: %v", err)
	}
	missing := pool("other", nil, "127.0.0.1:9003")
	missing.Metadata.Revision = 3
	if _, err := s.Apply(ctx, ApplyRequest{Objects: []api.Object{missing}, Actor: "test"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("precondition on a missing object: %v", err)
	}
	fresh := pool("web", nil, "127.0.0.1:9003")
	fresh.Metadata.Revision = 2
	if res, err := s.Apply(ctx, ApplyRequest{Objects: []api.Object{fresh}, Actor: "test"}); err != nil || res.Revision != 3 {
		t.Fatalf("matching revision: %v %v", res, err)
	}
	if _, err := s.Delete(ctx, api.KindPool, "web", "test", 2); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale delete: %v", err)
	}
	if _, err := s.Delete(ctx, api.KindPool, "nope", "test", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete of a missing object: %v", err)
	}
	if res, err := s.Delete(ctx, api.KindPool, "web", "test", 3); err != nil || ops(res) != "Pool/web:deleted " {
		t.Fatalf("delete: %v %v", res, err)
	}
}

func TestDeleteReferencedPoolIsRejected(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	apply(t, s, pool("web", nil, "127.0.0.1:9001"), pool("l4", tcp(), "127.0.0.1:9002"),
		listener("front", "", api.Frontend{Protocol: api.ProtocolHTTP}), route("r", "front", "web"))
	_, err := s.Delete(ctx, api.KindPool, "web", "test", 0)
	list := validationErrors(t, err)
	if len(list) != 1 || list[0].Ref != "Route/r" || list[0].Path != "spec.backends[0].pool" {
		t.Fatalf("errors = %v", list)
	}
	if _, err := s.Get(ctx, api.KindPool, "web"); err != nil {
		t.Fatalf("the pool is gone after a rejected delete: %v", err)
	}
	// Route and pool together: fine. The route's listener allocation and
	// the L4 pool's stay; a new frontend reuses nothing still held.
	res, err := s.Apply(ctx, ApplyRequest{Deletes: []Ref{{Kind: api.KindRoute, Name: "r"}, {Kind: api.KindPool, Name: "web"}}, Actor: "test"})
	if err != nil || ops(res) != "Pool/web:deleted Route/r:deleted " {
		t.Fatalf("delete both: %v %v", res, err)
	}
	rec, _ := s.Revision(ctx, res.Revision)
	if rec.Action != ActionDelete {
		t.Fatalf("action = %s", rec.Action)
	}
	// Deleting the L4 pool releases its VIP: the next frontend gets it.
	l4, _ := s.Get(ctx, api.KindPool, "l4")
	vip := l4.(*api.Pool).Status.Address
	if _, err := s.Delete(ctx, api.KindPool, "l4", "test", 0); err != nil {
		t.Fatal(err)
	}
	res = apply(t, s, pool("next", tcp(), "127.0.0.1:9003"))
	if got := res.Changes[0].After.(*api.Pool).Status.Address; got != vip {
		t.Fatalf("new pool got %s, want the released %s", got, vip)
	}
}

func TestBadApplyStoresNothing(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	apply(t, s, pool("base", nil, "127.0.0.1:9000"))
	before := etcdRev(t, s)
	var objs []api.Object
	for i := range 10 {
		objs = append(objs, pool(fmt.Sprintf("p%d", i), tcp(), fmt.Sprintf("127.0.0.1:%d", 9001+i)))
	}
	objs[6].(*api.Pool).Spec.Members[0].Address = "127.0.0.1:70000"
	_, err := s.Apply(ctx, ApplyRequest{Objects: objs, Actor: "test",
		Sources: map[api.Object]api.Source{objs[6]: {File: "pools.yaml", Document: 7}}})
	list := validationErrors(t, err)
	if len(list) != 1 || list[0].Ref != "Pool/p6" || list[0].Path != "spec.members[0].address" || list[0].Source.Document != 7 {
		t.Fatalf("errors = %v", list)
	}
	if etcdRev(t, s) != before {
		t.Fatal("a rejected apply wrote to etcd")
	}
	if page, _ := s.List(ctx, api.KindPool, ListOptions{}); len(page.Items) != 1 {
		t.Fatalf("%d pools stored, want only the base one", len(page.Items))
	}
	if objs[6].(*api.Pool).Spec.Algorithm != "" {
		t.Fatal("Apply modified the caller's object")
	}

	// Several problems are all reported, stored objects included.
	_, err = s.Apply(ctx, ApplyRequest{Actor: "test", Objects: []api.Object{
		route("r", "missing", "nope"), pool("base", nil, "127.0.0.1:9000"), pool("base", nil, "127.0.0.1:9000"),
	}})
	list = validationErrors(t, err)
	if len(list) != 3 || list[0].Ref != "Pool/base" || list[0].Path != "metadata.name" || list[1].Ref != "Route/r" {
		t.Fatalf("duplicate in request, with the other errors: %v", list)
	}
	_, err = s.Apply(ctx, ApplyRequest{Actor: "test", Objects: []api.Object{route("r", "missing", "nope")}})
	list = validationErrors(t, err)
	paths := []string{}
	for _, e := range list {
		paths = append(paths, e.Ref+":"+e.Path)
	}
	if strings.Join(paths, " ") != "Route/r:spec.backends[0].pool Route/r:spec.listener" {
		t.Fatalf("paths = %v", paths)
	}
	if _, err := s.Apply(ctx, ApplyRequest{Objects: objs[:1]}); err == nil {
		t.Fatal("an apply without an actor was accepted")
	}
}

func TestFrontendConflicts(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	apply(t, s, pool("auto", tcp(), "127.0.0.1:9001"),
		pool("fixed", &api.Frontend{Address: "127.0.0.1", Port: 8080, Protocol: api.ProtocolTCP}, "127.0.0.1:9002"))
	// Explicitly claiming a port another stored pool holds explicitly is
	// caught by validation of the merged configuration...
	_, err := s.Apply(ctx, ApplyRequest{Actor: "test", Objects: []api.Object{
		pool("clash", &api.Frontend{Address: "127.0.0.1", Port: 8080, Protocol: api.ProtocolTCP}, "127.0.0.1:9003")}})
	if list := validationErrors(t, err); list[0].Ref != "Pool/clash" || list[0].Path != "spec.frontend.port" {
		t.Fatalf("errors = %v", list)
	}
	// ...and claiming an allocated one by IPAM, naming the holder.
	_, err = s.Apply(ctx, ApplyRequest{Actor: "test", Objects: []api.Object{
		pool("thief", &api.Frontend{Address: "127.0.1.1", Port: 30000, Protocol: api.ProtocolTCP}, "127.0.0.1:9003")}})
	list := validationErrors(t, err)
	if list[0].Ref != "Pool/thief" || list[0].Path != "spec.frontend.port" || !strings.Contains(list[0].Reason, "Pool/auto") {
		t.Fatalf("errors = %v", list)
	}
	// The same port over udp is a different socket.
	apply(t, s, pool("udp", &api.Frontend{Address: "127.0.1.1", Port: 30000, Protocol: api.ProtocolUDP}, "127.0.0.1:9004"))
}
