package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fulcrumlb/fulcrum/api"
)

// DefaultHistoryLimit is the page size of History when the query gives none.
const DefaultHistoryLimit = 50

// History returns revisions newest first: one object's (each revision then
// holds only that object's change) or, without Kind and Name, everyone's.
// History is kept forever; deleted objects keep theirs.
func (s *Store) History(ctx context.Context, q HistoryQuery) (*HistoryPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	if q.Kind == "" && q.Name == "" {
		return s.globalHistory(ctx, q.Before, limit)
	}
	if _, err := newObject(q.Kind); err != nil {
		return nil, err
	}
	if !validName(q.Name) {
		return nil, notFound("%s/%s", q.Kind, q.Name)
	}
	dir := s.k.historyOf(q.Kind, q.Name)
	revs, more, err := s.historyRevs(ctx, dir, q.Before, limit)
	if err != nil {
		return nil, err
	}
	ops := make([]clientv3.Op, len(revs))
	for i, r := range revs {
		ops[i] = clientv3.OpGet(s.k.revision(r))
	}
	page := &HistoryPage{}
	if len(ops) > 0 {
		resp, err := s.txn(ctx, "read history", nil, ops...)
		if err != nil {
			return nil, err
		}
		for i, r := range resp.Responses {
			rev, err := decodeRevision(r.GetResponseRange().Kvs, revs[i])
			if err != nil {
				return nil, err
			}
			rev.Changes = onlyObject(rev.Changes, q.Kind, q.Name)
			page.Revisions = append(page.Revisions, *rev)
		}
	}
	if more {
		page.Next = revs[len(revs)-1]
	}
	return page, nil
}

// historyRevs lists, newest first, the revisions in an object's history
// index below before (0: all).
func (s *Store) historyRevs(ctx context.Context, dir string, before int64, limit int) ([]int64, bool, error) {
	end := prefixEnd(dir)
	if before > 0 {
		end = dir + pad(before)
	}
	resp, err := s.txn(ctx, "read history index", nil, clientv3.OpGet(dir, clientv3.WithRange(end),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(int64(limit)), clientv3.WithKeysOnly()))
	if err != nil {
		return nil, false, err
	}
	r := resp.Responses[0].GetResponseRange()
	revs := make([]int64, 0, len(r.Kvs))
	for _, kv := range r.Kvs {
		rev, err := revOfKey(string(kv.Key))
		if err != nil {
			return nil, false, fmt.Errorf("store: corrupt history key %s: %w", kv.Key, err)
		}
		revs = append(revs, rev)
	}
	return revs, r.More, nil
}

func (s *Store) globalHistory(ctx context.Context, before int64, limit int) (*HistoryPage, error) {
	dir := s.k.dir(dirRevisions)
	end := prefixEnd(dir)
	if before > 0 {
		end = s.k.revision(before)
	}
	resp, err := s.txn(ctx, "read history", nil, clientv3.OpGet(dir, clientv3.WithRange(end),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(int64(limit))))
	if err != nil {
		return nil, err
	}
	r := resp.Responses[0].GetResponseRange()
	page := &HistoryPage{}
	for _, kv := range r.Kvs {
		var rev Revision
		if err := json.Unmarshal(kv.Value, &rev); err != nil {
			return nil, fmt.Errorf("store: corrupt revision record %s: %w", kv.Key, err)
		}
		page.Revisions = append(page.Revisions, rev)
	}
	if r.More && len(page.Revisions) > 0 {
		page.Next = page.Revisions[len(page.Revisions)-1].Number
	}
	return page, nil
}

func decodeRevision(kvs []*mvccpb.KeyValue, want int64) (*Revision, error) {
	if len(kvs) == 0 {
		return nil, fmt.Errorf("store: revision record %d is missing", want)
	}
	var rev Revision
	if err := json.Unmarshal(kvs[0].Value, &rev); err != nil {
		return nil, fmt.Errorf("store: corrupt revision record %d: %w", want, err)
	}
	return &rev, nil
}

func onlyObject(cs []Change, kind, name string) []Change {
	var out []Change
	for _, c := range cs {
		if c.Kind == kind && c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// Revision returns one revision record, or ErrNotFound.
func (s *Store) Revision(ctx context.Context, number int64) (*Revision, error) {
	r, err := s.get(ctx, s.k.revision(number))
	if err != nil {
		return nil, err
	}
	if r.value == nil {
		return nil, notFound("revision %d", number)
	}
	var rev Revision
	if err := json.Unmarshal(r.value, &rev); err != nil {
		return nil, fmt.Errorf("store: corrupt revision record %d: %w", number, err)
	}
	return &rev, nil
}

// ObjectAt returns an object as it was right after revision rev was
// written, or nil when it did not exist then (no error). ErrNotFound means
// the revision itself does not exist yet.
func (s *Store) ObjectAt(ctx context.Context, kind, name string, rev int64) (api.Object, error) {
	if _, err := newObject(kind); err != nil {
		return nil, err
	}
	cur, err := s.get(ctx, s.k.counter())
	if err != nil {
		return nil, err
	}
	counter, _ := strconv.ParseInt(string(cur.value), 10, 64)
	if rev <= 0 || rev > counter {
		return nil, notFound("revision %d (the latest is %d)", rev, counter)
	}
	if !validName(name) {
		return nil, nil
	}
	revs, _, err := s.historyRevs(ctx, s.k.historyOf(kind, name), rev+1, 1)
	if err != nil || len(revs) == 0 {
		return nil, err
	}
	rec, err := s.Revision(ctx, revs[0])
	if err != nil {
		return nil, err
	}
	for _, c := range rec.Changes {
		if c.Kind == kind && c.Name == name {
			return c.After, nil
		}
	}
	return nil, fmt.Errorf("store: revision %d does not record %s/%s, although its history index says so", revs[0], kind, name)
}

// Rollback writes a new revision in which one object is as it was at
// revision to: its content then is applied again (which restores a deleted
// object), or, if it did not exist then, it is deleted. The result is
// validated like any apply; rolling back to the current content is a
// no-op. ErrNotFound: no such revision, or an object that never existed.
func (s *Store) Rollback(ctx context.Context, kind, name string, to int64, actor string) (*ApplyResult, error) {
	target, err := s.ObjectAt(ctx, kind, name, to)
	if err != nil {
		return nil, err
	}
	ref := Ref{Kind: kind, Name: name}
	if target == nil {
		revs, _, err := s.historyRevs(ctx, s.k.historyOf(kind, name), 0, 1)
		if err != nil {
			return nil, err
		}
		if len(revs) == 0 {
			return nil, notFound("%s has no history", ref)
		}
	}
	return s.mutate(ctx, mutation{action: ActionRollback, actor: actor, rollbackTo: to,
		build: func(st *state) ([]api.Object, []Ref, error) {
			switch {
			case target != nil:
				c := target.DeepCopyObject()
				c.GetMetadata().Revision = 0 // restored content, not a precondition
				return []api.Object{c}, nil, nil
			case st.objects[ref.String()] == nil:
				return nil, nil, nil // absent then and now: nothing to do
			default:
				return nil, []Ref{ref}, nil
			}
		}})
}
