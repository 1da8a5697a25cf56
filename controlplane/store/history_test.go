package store

import (
	"context"
	"errors"
	"testing"

	"github.com/fulcrumlb/fulcrum/api"
)

func members(t *testing.T, s *Store, name string) []api.Member {
	t.Helper()
	o, err := s.Get(context.Background(), api.KindPool, name)
	if err != nil {
		t.Fatalf("Get %s: %v", name, err)
	}
	return o.(*api.Pool).Spec.Members
}

func TestHistoryPages(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	apply(t, s, pool("web", nil, "127.0.0.1:9001"))                     // 1
	apply(t, s, pool("other", nil, "127.0.0.1:8001"))                   // 2
	apply(t, s, pool("web", nil, "127.0.0.1:9002"))                     // 3
	apply(t, s, pool("web", nil, "127.0.0.1:9003"), pool("other", nil)) // 4

	page, err := s.History(ctx, HistoryQuery{Kind: api.KindPool, Name: "web", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Revisions) != 2 || page.Revisions[0].Number != 4 || page.Revisions[1].Number != 3 || page.Next != 3 {
		t.Fatalf("first page = %+v", page)
	}
	if r := page.Revisions[0]; len(r.Changes) != 1 || r.Changes[0].Name != "web" || r.Actor != "test" ||
		r.Action != ActionApply || r.Time.IsZero() {
		t.Fatalf("per-object history must hold only the object's change: %+v", r)
	}
	page, err = s.History(ctx, HistoryQuery{Kind: api.KindPool, Name: "web", Limit: 2, Before: page.Next})
	if err != nil || len(page.Revisions) != 1 || page.Revisions[0].Number != 1 || page.Next != 0 {
		t.Fatalf("second page = %+v, %v", page, err)
	}
	if c := page.Revisions[0].Changes[0]; c.Op != OpCreated || c.Before != nil || c.After == nil {
		t.Fatalf("creation = %+v", c)
	}

	global, err := s.History(ctx, HistoryQuery{})
	if err != nil || len(global.Revisions) != 4 || global.Revisions[0].Number != 4 || len(global.Revisions[0].Changes) != 2 {
		t.Fatalf("global history = %+v, %v", global, err)
	}
	global, err = s.History(ctx, HistoryQuery{Limit: 3, Before: 4})
	if err != nil || len(global.Revisions) != 3 || global.Revisions[0].Number != 3 || global.Next != 0 {
		t.Fatalf("global page before 4 = %+v, %v", global, err)
	}
	if page, err := s.History(ctx, HistoryQuery{Kind: api.KindRoute, Name: "none"}); err != nil || len(page.Revisions) != 0 {
		t.Fatalf("history of a stranger = %+v, %v", page, err)
	}
}

func TestRollback(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	apply(t, s, pool("web", tcp(), "127.0.0.1:9001")) // 1
	apply(t, s, pool("web", tcp(), "127.0.0.1:9002")) // 2

	res, err := s.Rollback(ctx, api.KindPool, "web", 1, "alice")
	if err != nil || res.Revision != 3 || ops(res) != "Pool/web:updated " {
		t.Fatalf("rollback to 1: %+v %v", res, err)
	}
	if m := members(t, s, "web"); m[0].Address != "127.0.0.1:9001" {
		t.Fatalf("content after rollback = %+v", m)
	}
	rec, _ := s.Revision(ctx, 3)
	if rec.Action != ActionRollback || rec.RollbackTo != 1 || rec.Actor != "alice" {
		t.Fatalf("rollback record = %+v", rec)
	}
	// Rolling back to what is there already changes nothing.
	if res, err := s.Rollback(ctx, api.KindPool, "web", 1, "alice"); err != nil || !res.NoOp() || res.Revision != 0 {
		t.Fatalf("repeated rollback: %+v %v", res, err)
	}

	// A deleted object is restored, with a frontend allocation again.
	if _, err := s.Delete(ctx, api.KindPool, "web", "bob", 0); err != nil { // 4
		t.Fatal(err)
	}
	res, err = s.Rollback(ctx, api.KindPool, "web", 3, "alice") // 5
	if err != nil || res.Revision != 5 || ops(res) != "Pool/web:created " {
		t.Fatalf("restore: %+v %v", res, err)
	}
	o, err := s.Get(ctx, api.KindPool, "web")
	if err != nil || o.(*api.Pool).Status.Port == 0 || o.GetMetadata().Revision != 5 {
		t.Fatalf("restored pool = %+v %v", o, err)
	}

	// Rolling back to a revision at which the object did not exist (4:
	// just deleted) deletes it — but only if that leaves a valid
	// configuration.
	apply(t, s, listener("front", "", api.Frontend{Protocol: api.ProtocolHTTP}), route("r", "front", "web")) // 6
	if _, err := s.Rollback(ctx, api.KindPool, "web", 0, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rollback to revision 0: %v", err)
	}
	_, err = s.Rollback(ctx, api.KindPool, "web", 4, "alice")
	if list := validationErrors(t, err); list[0].Ref != "Route/r" {
		t.Fatalf("errors = %v", list)
	}
	res, err = s.Rollback(ctx, api.KindRoute, "r", 5, "alice")
	if err != nil || ops(res) != "Route/r:deleted " {
		t.Fatalf("rollback of the route to before it existed: %+v %v", res, err)
	}
	if _, err := s.Rollback(ctx, api.KindPool, "web", 99, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rollback to a future revision: %v", err)
	}
	if _, err := s.Rollback(ctx, api.KindPool, "never", 1, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rollback of an object without history: %v", err)
	}
}

func TestMemberState(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	apply(t, s, pool("web", nil, "127.0.0.1:9001", "127.0.0.1:9002"))
	res, err := s.SetMemberState(ctx, "web", "127.0.0.1:9002", api.StateDrain, "console:alice")
	if err != nil || res.Revision != 2 {
		t.Fatalf("drain: %+v %v", res, err)
	}
	if m := members(t, s, "web"); m[0].State != api.StateEnabled || m[1].State != api.StateDrain {
		t.Fatalf("members = %+v", m)
	}
	rec, _ := s.Revision(ctx, 2)
	if rec.Action != ActionMemberState || rec.Actor != "console:alice" {
		t.Fatalf("record = %+v", rec)
	}
	if res, err := s.SetMemberState(ctx, "web", "127.0.0.1:9002", api.StateDrain, "x"); err != nil || !res.NoOp() {
		t.Fatalf("draining a drained member: %+v %v", res, err)
	}
	if _, err := s.SetMemberState(ctx, "web", "127.0.0.1:9", api.StateDrain, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown member: %v", err)
	}
	if _, err := s.SetMemberState(ctx, "nope", "127.0.0.1:9001", api.StateDrain, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown pool: %v", err)
	}
	_, err = s.SetMemberState(ctx, "web", "127.0.0.1:9001", "sleepy", "x")
	if list := validationErrors(t, err); list[0].Path != "spec.members[0].state" {
		t.Fatalf("errors = %v", list)
	}
}
