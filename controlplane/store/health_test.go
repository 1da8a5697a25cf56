package store

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/fulcrumlb/fulcrum/api"
)

// campaign wins an election on a fresh session and returns its fence.
func campaign(t *testing.T, s *Store) (*concurrency.Election, Fence) {
	t.Helper()
	sess, err := concurrency.NewSession(s.Client(), concurrency.WithTTL(5))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	e := concurrency.NewElection(sess, "/fulcrum-election/health")
	if err := e.Campaign(context.Background(), "me"); err != nil {
		t.Fatal(err)
	}
	return e, Fence{Key: e.Key(), Rev: e.Rev()}
}

func TestFencedHealthWrites(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	apply(t, s, pool("web", nil, "127.0.0.1:9001", "127.0.0.1:9002"))
	e, fence := campaign(t, s)
	up := map[string][]api.MemberStatus{"web": {
		{Address: "127.0.0.1:9001", Health: api.HealthHealthy, Successes: 3},
		{Address: "127.0.0.1:9999", Health: api.HealthUnhealthy}, // a member since removed
	}}
	rev := etcdRev(t, s)
	if err := s.WriteHealth(ctx, fence, up); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ms := snap.Config.Pool("web").Status.Members
	if len(ms) != 2 || ms[0].Health != api.HealthHealthy || ms[0].Successes != 3 || ms[1].Health != api.HealthUnknown {
		t.Fatalf("member status = %+v", ms)
	}
	if snap.Revision != 1 || snap.EtcdRevision <= rev {
		t.Fatalf("a health write must move the etcd revision only: %+v", snap)
	}
	if h, err := s.Health(ctx); err != nil || len(h["web"]) != 2 {
		t.Fatalf("Health = %v, %v", h, err)
	}
	if page, _ := s.History(ctx, HistoryQuery{}); len(page.Revisions) != 1 {
		t.Fatal("a health write made a revision")
	}

	// Deposed: the election key is gone (resigned, or its lease expired)
	// and a new leader holds a new key. The old fence must not write.
	if err := e.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteHealth(ctx, fence, up); !errors.Is(err, ErrFenced) {
		t.Fatalf("write after resigning: %v", err)
	}
	_, fence2 := campaign(t, s)
	if fence2.Key == fence.Key && fence2.Rev == fence.Rev {
		t.Fatal("the new leader got the old fence")
	}
	down := map[string][]api.MemberStatus{"web": {{Address: "127.0.0.1:9001", Health: api.HealthUnhealthy}}}
	if err := s.WriteHealth(ctx, fence, down); !errors.Is(err, ErrFenced) {
		t.Fatalf("stale fence while another leader rules: %v", err)
	}
	if err := s.WriteHealth(ctx, fence2, down); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteHealth(ctx, Fence{}, down); err == nil {
		t.Fatal("an unfenced write was accepted")
	}
	// Deleting a pool drops its health entry with it.
	if _, err := s.Delete(ctx, api.KindPool, "web", "test", 0); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.Health(ctx); len(h) != 0 {
		t.Fatalf("health of a deleted pool survives: %v", h)
	}
}

func TestWatch(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := s.Watch(ctx)
	wait := func(what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("no notification after %s", what)
		}
	}
	quiet := func(what string) {
		t.Helper()
		select {
		case <-ch:
			t.Fatalf("notified after %s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
	wait("the watch started")
	apply(t, s, pool("web", tcp(), "127.0.0.1:9001"))
	wait("an apply")
	_, fence := campaign(t, s)
	quiet("an election")
	if err := s.WriteHealth(ctx, fence, map[string][]api.MemberStatus{"web": {{Address: "127.0.0.1:9001", Health: api.HealthHealthy}}}); err != nil {
		t.Fatal(err)
	}
	wait("a health write")
	if err := s.CreateToken(ctx, Token{ID: "t1", Hash: "h1"}); err != nil {
		t.Fatal(err)
	}
	quiet("a token write")
	// Coalescing: many changes while nobody reads leave one notification.
	for range 3 {
		if _, err := s.SetMemberState(ctx, "web", "127.0.0.1:9001", api.StateDrain, "x"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetMemberState(ctx, "web", "127.0.0.1:9001", api.StateEnabled, "x"); err != nil {
			t.Fatal(err)
		}
	}
	// Give the watch ample time to deliver all six events; they must have
	// left a single pending notification, not a backlog.
	time.Sleep(time.Second)
	wait("six applies")
	quiet("the single coalesced notification was taken")
	cancel()
	for range ch { // closed when the context ends
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	tok := Token{ID: "abc", Name: "ci", Role: "editor", Hash: "sha256:1234/+=", CreatedAt: now}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, Token{ID: "abc", Hash: "other"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate ID: %v", err)
	}
	if err := s.CreateToken(ctx, Token{ID: "def", Hash: tok.Hash}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate hash: %v", err)
	}
	if err := s.CreateToken(ctx, Token{ID: "def", Name: "ops", Role: "admin", Hash: "h2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, Token{ID: "ghi", Name: "ops", Role: "viewer", Hash: "h3"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate name: %v", err)
	}
	got, err := s.TokenByHash(ctx, tok.Hash)
	if err != nil || *got != tok {
		t.Fatalf("TokenByHash = %+v, %v", got, err)
	}
	list, err := s.ListTokens(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "abc" || list[1].Role != "admin" {
		t.Fatalf("ListTokens = %+v, %v", list, err)
	}
	if err := s.DeleteToken(ctx, "abc"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TokenByHash(ctx, tok.Hash); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted token still authenticates: %v", err)
	}
	if err := s.DeleteToken(ctx, "abc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.CreateToken(ctx, Token{ID: "abc2", Name: "ci", Role: "editor", Hash: "h4"}); err != nil {
		t.Fatalf("a deleted token's name is not free again: %v", err)
	}
}

func TestProxyStatus(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	grant := func() clientv3.LeaseID {
		l, err := s.Client().Grant(ctx, 60)
		if err != nil {
			t.Fatal(err)
		}
		return l.ID
	}
	mine, theirs := grant(), grant()
	st := ProxyStatus{Node: "edge-1", Zone: "a", AckedVersion: "42", ConnectedAt: time.Now().UTC()}
	if err := s.PutProxyStatus(ctx, st, mine); err != nil {
		t.Fatal(err)
	}
	if err := s.PutProxyStatus(ctx, ProxyStatus{Node: "edge-2"}, theirs); err != nil {
		t.Fatal(err)
	}
	if err := s.PutProxyStatus(ctx, ProxyStatus{Node: "edge-3"}, clientv3.NoLease); err == nil {
		t.Fatal("a proxy status without a lease was accepted")
	}
	list, err := s.ListProxyStatus(ctx)
	if err != nil || len(list) != 2 || list[0].Node != "edge-1" || list[0].AckedVersion != "42" {
		t.Fatalf("ListProxyStatus = %+v, %v", list, err)
	}
	// Another replica's lease does not delete my entry; mine does.
	if err := s.DeleteProxyStatus(ctx, "edge-1", theirs); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListProxyStatus(ctx); len(list) != 2 {
		t.Fatal("a delete with another lease removed the entry")
	}
	if err := s.DeleteProxyStatus(ctx, "edge-1", mine); err != nil {
		t.Fatal(err)
	}
	// A replica that dies loses its lease and with it its entries.
	if _, err := s.Client().Revoke(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	if list, err := s.ListProxyStatus(ctx); err != nil || len(list) != 0 {
		t.Fatalf("after delete and revoke: %+v, %v", list, err)
	}
}
