package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fulcrumlb/fulcrum/api"
)

// Fence proves leadership for a write: the key a leader election created
// for the writer and that key's create revision. With
// go.etcd.io/etcd/client/v3/concurrency that is
// Fence{Key: election.Key(), Rev: election.Rev()} after Campaign returns.
//
// A lock or a lease alone does not stop a deposed leader: a process paused
// (GC, swap, SIGSTOP) past its lease wakes up still believing it leads and
// writes stale results. Comparing the election key inside the write's own
// transaction makes etcd reject such a write.
type Fence struct {
	Key string
	Rev int64
}

// healthRecord is the stored health of one pool's members.
type healthRecord struct {
	Members []api.MemberStatus `json:"members"`
	// WrittenAt helps an operator judge staleness when reading etcd directly.
	WrittenAt time.Time `json:"writtenAt"`
}

// WriteHealth stores the health of the members of the given pools,
// replacing what was stored for each; an empty list removes a pool's
// entry. Pools not in the map are untouched. The write happens only if the
// fence still holds, else it fails with ErrFenced and writes nothing.
// Health writes make no revision and have no history, but they wake
// Watch.
func (s *Store) WriteHealth(ctx context.Context, fence Fence, statuses map[string][]api.MemberStatus) error {
	if fence.Key == "" || fence.Rev <= 0 {
		return errors.New("store: write health: a fence (election key and revision) is required")
	}
	if len(statuses) == 0 {
		return nil
	}
	pools := make([]string, 0, len(statuses))
	for p := range statuses {
		if !validName(p) {
			return fmt.Errorf("store: write health: bad pool name %q: %w", p, ErrInvalid)
		}
		pools = append(pools, p)
	}
	sort.Strings(pools)
	now := time.Now().UTC()
	ops := make([]clientv3.Op, 0, len(pools))
	for _, p := range pools {
		if len(statuses[p]) == 0 {
			ops = append(ops, clientv3.OpDelete(s.k.health(p)))
			continue
		}
		data, err := json.Marshal(healthRecord{Members: statuses[p], WrittenAt: now})
		if err != nil {
			return fmt.Errorf("store: write health of pool %s: %w", p, err)
		}
		ops = append(ops, clientv3.OpPut(s.k.health(p), string(data)))
	}
	fenced := clientv3.Compare(clientv3.CreateRevision(fence.Key), "=", fence.Rev)
	resp, err := s.txn(ctx, "write health", []clientv3.Cmp{fenced}, ops...)
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return fmt.Errorf("store: write health: election key %s is not at revision %d: %w", fence.Key, fence.Rev, ErrFenced)
	}
	return nil
}

// Health returns the stored member health of every pool, by pool name:
// what a newly elected checker starts from.
func (s *Store) Health(ctx context.Context) (map[string][]api.MemberStatus, error) {
	resp, err := s.txn(ctx, "read health", nil, clientv3.OpGet(s.k.dir(dirHealth), clientv3.WithPrefix()))
	if err != nil {
		return nil, err
	}
	return decodeHealth(resp.Responses[0].GetResponseRange().Kvs, s.k.dir(dirHealth))
}

// SetMemberState sets one member of a pool to enabled, drain or disabled,
// as a revision like any other (the console's drain button, `fulcrum
// member drain`). member is the member's address as stored ("host:port").
// ErrNotFound: no such pool or member.
func (s *Store) SetMemberState(ctx context.Context, pool, member, newState, actor string) (*ApplyResult, error) {
	ref := api.KindPool + "/" + pool
	return s.mutate(ctx, mutation{action: ActionMemberState, actor: actor,
		build: func(st *state) ([]api.Object, []Ref, error) {
			cur, ok := st.objects[ref].(*api.Pool)
			if !ok {
				return nil, nil, notFound("%s", ref)
			}
			p := cur.DeepCopyObject().(*api.Pool)
			for i := range p.Spec.Members {
				if p.Spec.Members[i].Address == member {
					p.Spec.Members[i].State = newState
					return []api.Object{p}, nil, nil
				}
			}
			return nil, nil, notFound("member %s of %s", member, ref)
		}})
}
