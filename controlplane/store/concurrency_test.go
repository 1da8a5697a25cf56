package store

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/fulcrumlb/fulcrum/api"
)

// concurrentApplies has n goroutines each create one pool with a frontend
// that leaves address and port to IPAM, spread over the given stores, and
// checks that every apply was acknowledged, every allocation is distinct,
// every pool is readable, and the revision log has no gap and no repeat.
func concurrentApplies(t *testing.T, n int, stores ...*Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	revs := make([]int64, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[i%len(stores)]
			p := pool(fmt.Sprintf("p%02d", i), tcp(), fmt.Sprintf("127.0.0.1:%d", 9000+i))
			if i%5 == 0 {
				p.Spec.Frontend.Protocol = api.ProtocolUDP
			}
			res, err := s.Apply(ctx, ApplyRequest{Objects: []api.Object{p}, Actor: "g" + strconv.Itoa(i)})
			if err == nil {
				revs[i] = res.Revision
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	seenRev := map[int64]int{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
		if prev, dup := seenRev[revs[i]]; dup {
			t.Fatalf("applies %d and %d both acknowledged revision %d", prev, i, revs[i])
		}
		seenRev[revs[i]] = i
	}
	snap, err := stores[0].Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision != int64(n) || len(snap.Config.Pools) != n {
		t.Fatalf("revision %d with %d pools, want %d of each", snap.Revision, len(snap.Config.Pools), n)
	}
	taken := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("p%02d", i)
		o, err := stores[len(stores)-1].Get(ctx, api.KindPool, name)
		if err != nil {
			t.Fatalf("acknowledged pool %s not readable: %v", name, err)
		}
		p := o.(*api.Pool)
		if p.Metadata.Revision != revs[i] {
			t.Fatalf("%s is at revision %d, the apply acknowledged %d", name, p.Metadata.Revision, revs[i])
		}
		key := fmt.Sprintf("%s:%d/%s", p.Status.Address, p.Status.Port, p.Spec.Frontend.Protocol)
		if other, dup := taken[key]; dup || p.Status.Port == 0 {
			t.Fatalf("%s and %s were both given %s", other, name, key)
		}
		taken[key] = name
	}
	// The log: revisions 1..n, each recording exactly one creation.
	for before, seen := int64(0), 0; ; {
		page, err := stores[0].History(ctx, HistoryQuery{Before: before, Limit: 20})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Revisions {
			if want := int64(n - seen); r.Number != want || len(r.Changes) != 1 || r.Changes[0].Op != OpCreated {
				t.Fatalf("revision record %d (want %d): %+v", r.Number, want, r)
			}
			seen++
		}
		if before = page.Next; before == 0 {
			if seen != n {
				t.Fatalf("%d revision records, want %d", seen, n)
			}
			break
		}
	}
}

func TestFiftyConcurrentAppliesOneStore(t *testing.T) {
	t.Parallel()
	concurrentApplies(t, 50, open(t))
}

// Three stores on one etcd stand for three control-plane replicas: their
// applies really race on the compare-and-swap, and losers retry.
func TestFiftyConcurrentAppliesThreeReplicas(t *testing.T) {
	t.Parallel()
	s := open(t)
	stores := []*Store{s, attach(t, s), attach(t, s)}
	concurrentApplies(t, 50, stores...)
	lost := int64(0)
	for _, s := range stores {
		lost += s.lostRounds.Load()
	}
	t.Logf("compare-and-swap rounds lost and retried: %d", lost)
	if lost == 0 {
		t.Error("three replicas never collided: the test did not exercise the retry path")
	}
}
