package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fulcrumlb/fulcrum/api"
)

// Retry bounds for losing the compare-and-swap to another control plane:
// each lost round means somebody else committed, so progress is made
// overall; the bound only stops a pathological livelock.
const (
	maxAttempts = 20
	backoffBase = 10 * time.Millisecond
	backoffCap  = 500 * time.Millisecond
)

// mutation is one change in the making. build derives the objects to write
// and the objects to delete from the state read at the start of each
// attempt, so that read-modify-write changes (member state, rollback) are
// recomputed when another writer got in first.
type mutation struct {
	action     Action
	actor      string
	dryRun     bool
	rollbackTo int64
	sources    map[api.Object]api.Source
	build      func(st *state) (objects []api.Object, deletes []Ref, err error)
}

// Apply creates, updates and deletes objects, all or nothing: it validates
// the configuration as it would be after the change (stored objects
// included), allocates missing frontend addresses and ports, and writes
// the objects, the allocations and a revision record in one etcd
// transaction. Unchanged objects are reported as such and make no
// revision. Errors: *ValidationError (ErrInvalid), *ConflictError
// (ErrConflict), ErrNotFound for a delete of a missing object,
// ErrUnavailable, ErrTooLarge.
func (s *Store) Apply(ctx context.Context, req ApplyRequest) (*ApplyResult, error) {
	action := ActionApply
	if len(req.Objects) == 0 && len(req.Deletes) > 0 {
		action = ActionDelete
	}
	return s.mutate(ctx, mutation{
		action: action, actor: req.Actor, dryRun: req.DryRun, sources: req.Sources,
		build: func(*state) ([]api.Object, []Ref, error) { return req.Objects, req.Deletes, nil },
	})
}

// Delete removes one object. A non-zero ifRevision must be the stored
// object's revision. Deleting a pool that a route or listener still uses
// is a validation error.
func (s *Store) Delete(ctx context.Context, kind, name, actor string, ifRevision int64) (*ApplyResult, error) {
	return s.Apply(ctx, ApplyRequest{Deletes: []Ref{{Kind: kind, Name: name, Revision: ifRevision}}, Actor: actor})
}

// mutate runs the read → plan → compare-and-swap loop.
func (s *Store) mutate(ctx context.Context, m mutation) (*ApplyResult, error) {
	if m.actor == "" {
		return nil, errors.New("store: apply: an actor is required (who makes the change)")
	}
	select {
	case s.applyMu <- struct{}{}:
		defer func() { <-s.applyMu }()
	case <-ctx.Done():
		return nil, fmt.Errorf("store: apply: %w: %w", ErrUnavailable, ctx.Err())
	}
	for attempt := 1; ; attempt++ {
		st, err := s.readState(ctx)
		if err != nil {
			return nil, err
		}
		p, err := s.plan(st, m, time.Now().UTC())
		if err != nil {
			return nil, err
		}
		if m.dryRun || p.result.NoOp() {
			return p.result, nil
		}
		won, err := s.commit(ctx, st, p)
		if err != nil {
			return nil, err
		}
		if won {
			return p.result, nil
		}
		s.lostRounds.Add(1)
		if attempt == maxAttempts {
			return nil, fmt.Errorf("store: apply: %w: lost %d rounds to concurrent writers", ErrUnavailable, attempt)
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return nil, fmt.Errorf("store: apply: %w: %w", ErrUnavailable, err)
		}
	}
}

// commit writes the plan if the counter has not moved since st was read.
// It reports false when another writer got in first.
func (s *Store) commit(ctx context.Context, st *state, p *plan) (bool, error) {
	rec, err := json.Marshal(p.record)
	if err != nil {
		return false, fmt.Errorf("store: encoding revision record: %w", err)
	}
	rev := p.record.Number
	ops := []clientv3.Op{
		clientv3.OpPut(s.k.counter(), strconv.FormatInt(rev, 10)),
		clientv3.OpPut(s.k.revision(rev), string(rec)),
	}
	for _, c := range p.record.Changes {
		ops = append(ops, clientv3.OpPut(s.k.history(c.Kind, c.Name, rev), string(c.Op)))
		switch {
		case c.After != nil:
			data, err := json.Marshal(c.After)
			if err != nil {
				return false, fmt.Errorf("store: encoding %s: %w", c.Ref(), err)
			}
			ops = append(ops, clientv3.OpPut(s.k.object(c.Kind, c.Name), string(data)))
		default:
			ops = append(ops, clientv3.OpDelete(s.k.object(c.Kind, c.Name)))
			if c.Kind == api.KindPool {
				ops = append(ops, clientv3.OpDelete(s.k.health(c.Name)))
			}
		}
	}
	for owner, a := range p.allocPuts {
		data, err := json.Marshal(a)
		if err != nil {
			return false, fmt.Errorf("store: encoding allocation: %w", err)
		}
		ops = append(ops, clientv3.OpPut(s.k.allocation(owner), string(data)))
	}
	for _, owner := range p.allocDeletes {
		ops = append(ops, clientv3.OpDelete(s.k.allocation(owner)))
	}
	// The guard: the counter key's mod revision changes with every
	// committed mutation, so equality means nothing this plan read has
	// changed — objects, allocations and the counter itself.
	guard := clientv3.Compare(clientv3.ModRevision(s.k.counter()), "=", st.counterMod)
	resp, err := s.txn(ctx, fmt.Sprintf("commit revision %d", rev), []clientv3.Cmp{guard}, ops...)
	if err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}

// backoff returns a full-jitter exponential delay: concurrent losers spread
// out instead of colliding again in lockstep.
func backoff(attempt int) time.Duration {
	d := backoffCap
	if attempt < 16 {
		d = min(backoffBase<<attempt, backoffCap)
	}
	return time.Duration(rand.Int64N(int64(d))) + time.Millisecond
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
