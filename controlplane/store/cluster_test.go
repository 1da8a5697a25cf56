package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/internal/testutil"
)

// Fast failover: a leader is presumed dead after half a second.
var fastElections = []string{"--heartbeat-interval=50", "--election-timeout=500"}

func openCluster(t *testing.T, c *testutil.EtcdCluster) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Endpoints: c.Endpoints(), RequestTimeout: 3 * time.Second, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// leader returns the member that is the raft leader.
func leader(t *testing.T, s *Store, c *testutil.EtcdCluster) *testutil.EtcdMember {
	t.Helper()
	for _, m := range c.Members {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := s.Client().Status(ctx, m.ClientURL)
		cancel()
		if err == nil && st.Leader == st.Header.MemberId {
			return m
		}
	}
	t.Fatal("no member is the leader")
	return nil
}

type ack struct {
	name string
	rev  int64
}

// TestClusterLeaderKill: SIGKILL the raft leader while six writers apply;
// every acknowledged apply must be readable afterwards, at the revision it
// was acknowledged with, and the operation log must have no gap.
func TestClusterLeaderKill(t *testing.T) {
	t.Parallel()
	c := testutil.StartEtcdCluster(t, 3, fastElections...)
	s := openCluster(t, c)
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		acks             []ack
		failed, postKill atomic.Int64
		killed           atomic.Bool
		stop             = make(chan struct{})
	)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("w%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				res, err := s.Apply(ctx, ApplyRequest{Actor: "writer", Objects: []api.Object{pool(name, tcp(), "127.0.0.1:9000")}})
				cancel()
				if err != nil {
					if !errors.Is(err, ErrUnavailable) {
						t.Errorf("apply %s: unexpected error class: %v", name, err)
					}
					failed.Add(1)
					continue
				}
				mu.Lock()
				acks = append(acks, ack{name, res.Revision})
				mu.Unlock()
				if killed.Load() {
					postKill.Add(1)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	victim := leader(t, s, c)
	victim.Kill()
	killed.Store(true)
	deadline := time.Now().Add(30 * time.Second)
	for postKill.Load() < 30 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("killed leader %s: %d applies acknowledged (%d after the kill), %d failed as unavailable",
		victim.Name, len(acks), postKill.Load(), failed.Load())
	if postKill.Load() < 30 {
		t.Fatalf("only %d applies acknowledged in 30 s after the leader died", postKill.Load())
	}
	checkAcknowledged(t, s, acks)
}

// checkAcknowledged verifies that every acknowledged apply is stored at
// its revision and that revision records run 1..counter without a gap.
func checkAcknowledged(t *testing.T, s *Store, acks []ack) {
	t.Helper()
	ctx := context.Background()
	for _, a := range acks {
		o, err := s.Get(ctx, api.KindPool, a.name)
		if err != nil {
			t.Fatalf("acknowledged apply of %s at revision %d is lost: %v", a.name, a.rev, err)
		}
		if o.GetMetadata().Revision != a.rev {
			t.Fatalf("%s: stored at revision %d, acknowledged at %d", a.name, o.GetMetadata().Revision, a.rev)
		}
	}
	snap, err := s.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := snap.Revision
	for before := int64(0); ; {
		page, err := s.History(ctx, HistoryQuery{Before: before, Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Revisions {
			if r.Number != next {
				t.Fatalf("revision log: found %d where %d was expected", r.Number, next)
			}
			next--
		}
		if before = page.Next; before == 0 {
			break
		}
	}
	if next != 0 {
		t.Fatalf("revision log ends at %d, want 1", next+1)
	}
}

// TestClusterQuorumLoss: with two of three members dead, an apply must
// fail as unavailable within a bounded time, never succeed; with quorum
// back, applies succeed again.
func TestClusterQuorumLoss(t *testing.T) {
	t.Parallel()
	c := testutil.StartEtcdCluster(t, 3, fastElections...)
	s := openCluster(t, c)
	ctx := context.Background()
	apply(t, s, pool("before", nil, "127.0.0.1:9000"))
	first := leader(t, s, c)
	first.Kill()
	var second *testutil.EtcdMember
	for _, m := range c.Members {
		if m.Running() {
			second = m
			break
		}
	}
	second.Kill()

	for _, name := range []string{"during-1", "during-2"} {
		start := time.Now()
		res, err := s.Apply(ctx, ApplyRequest{Actor: "test", Objects: []api.Object{pool(name, nil, "127.0.0.1:9000")}})
		elapsed := time.Since(start)
		if err == nil || res != nil {
			t.Fatalf("apply without quorum reported success: %+v", res)
		}
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("apply without quorum: %v, want ErrUnavailable", err)
		}
		if elapsed > 15*time.Second {
			t.Fatalf("apply without quorum took %v to fail", elapsed)
		}
		t.Logf("apply without quorum failed after %v: %v", elapsed.Round(time.Millisecond), err)
	}
	if _, err := s.Config(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("read without quorum: %v", err)
	}

	// Quorum back: the store recovers without being reopened.
	second.Start()
	second.WaitHealthy(30 * time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.Apply(ctx, ApplyRequest{Actor: "test", Objects: []api.Object{pool("after", nil, "127.0.0.1:9000")}})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no apply succeeded 30 s after quorum returned: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := s.Get(ctx, api.KindPool, "before"); err != nil {
		t.Fatalf("pool written before the outage: %v", err)
	}
}
