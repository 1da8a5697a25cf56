package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/controlplane/ipam"
)

// state is everything an apply decides on, read at one etcd revision.
type state struct {
	counter int64 // the Fulcrum revision
	// counterMod is the counter key's mod revision (0 before the first
	// apply): the compare that guards the write.
	counterMod int64
	objects    map[string]api.Object // by "Kind/name"
	allocs     map[string]ipam.Allocation
}

// readState reads the counter, every object and every allocation in one
// read-only transaction, which etcd serves at a single revision.
func (s *Store) readState(ctx context.Context) (*state, error) {
	resp, err := s.txn(ctx, "read", nil,
		clientv3.OpGet(s.k.counter()),
		clientv3.OpGet(s.k.dir(dirObjects), clientv3.WithPrefix()),
		clientv3.OpGet(s.k.dir(dirAllocations), clientv3.WithPrefix()))
	if err != nil {
		return nil, err
	}
	st := &state{objects: map[string]api.Object{}}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		st.counterMod = kvs[0].ModRevision
		if st.counter, err = strconv.ParseInt(string(kvs[0].Value), 10, 64); err != nil {
			return nil, fmt.Errorf("store: corrupt revision counter %q: %w", kvs[0].Value, err)
		}
	}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		o, err := s.decodeKV(kv)
		if err != nil {
			return nil, err
		}
		st.objects[api.Ref(o)] = o
	}
	if st.allocs, err = decodeAllocs(resp.Responses[2].GetResponseRange().Kvs); err != nil {
		return nil, err
	}
	return st, nil
}

// decodeKV decodes an object from its key (objects/<Kind>/<name>) and value.
func (s *Store) decodeKV(kv *mvccpb.KeyValue) (api.Object, error) {
	rest := strings.TrimPrefix(string(kv.Key), s.k.dir(dirObjects))
	kind, _, _ := strings.Cut(rest, "/")
	return decodeObject(kind, kv.Value)
}

func decodeAllocs(kvs []*mvccpb.KeyValue) (map[string]ipam.Allocation, error) {
	out := make(map[string]ipam.Allocation, len(kvs))
	for _, kv := range kvs {
		var a ipam.Allocation
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			return nil, fmt.Errorf("store: corrupt allocation %s: %w", kv.Key, err)
		}
		out[a.Owner] = a
	}
	return out, nil
}

func decodeHealth(kvs []*mvccpb.KeyValue, prefix string) (map[string][]api.MemberStatus, error) {
	out := make(map[string][]api.MemberStatus, len(kvs))
	for _, kv := range kvs {
		var h healthRecord
		if err := json.Unmarshal(kv.Value, &h); err != nil {
			return nil, fmt.Errorf("store: corrupt health status %s: %w", kv.Key, err)
		}
		out[strings.TrimPrefix(string(kv.Key), prefix)] = h.Members
	}
	return out, nil
}

// Config returns every object at one etcd revision, with status: frontend
// allocations and member health. Consumers (the xDS translator, the
// console) call it whenever Watch notifies them.
func (s *Store) Config(ctx context.Context) (*Snapshot, error) {
	resp, err := s.txn(ctx, "read config", nil,
		clientv3.OpGet(s.k.counter()),
		clientv3.OpGet(s.k.dir(dirObjects), clientv3.WithPrefix()),
		clientv3.OpGet(s.k.dir(dirAllocations), clientv3.WithPrefix()),
		clientv3.OpGet(s.k.dir(dirHealth), clientv3.WithPrefix()))
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{Config: &api.Config{}, EtcdRevision: resp.Header.Revision}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		snap.Revision, _ = strconv.ParseInt(string(kvs[0].Value), 10, 64)
	}
	allocs, err := decodeAllocs(resp.Responses[2].GetResponseRange().Kvs)
	if err != nil {
		return nil, err
	}
	health, err := decodeHealth(resp.Responses[3].GetResponseRange().Kvs, s.k.dir(dirHealth))
	if err != nil {
		return nil, err
	}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		o, err := s.decodeKV(kv)
		if err != nil {
			return nil, err
		}
		fillStatus(o, allocs, health)
		snap.Config.Add(o)
	}
	snap.Config.Sort()
	return snap, nil
}

// fillStatus sets an object's status from its allocation and, for pools,
// the health of each current member in spec order. Stale health entries of
// members that were removed are left out.
func fillStatus(o api.Object, allocs map[string]ipam.Allocation, health map[string][]api.MemberStatus) {
	a, has := allocs[api.Ref(o)]
	setStatus(o, a.Address, a.Port, has)
	p, ok := o.(*api.Pool)
	if !ok {
		return
	}
	if p.Status == nil {
		p.Status = &api.PoolStatus{}
	}
	byAddr := map[string]api.MemberStatus{}
	for _, m := range health[p.Metadata.Name] {
		byAddr[m.Address] = m
	}
	for _, m := range p.Spec.Members {
		ms, ok := byAddr[m.Address]
		if !ok {
			ms = api.MemberStatus{Address: m.Address, Health: api.HealthUnknown}
		}
		p.Status.Members = append(p.Status.Members, ms)
	}
}

// Get returns one object with its status, or ErrNotFound.
func (s *Store) Get(ctx context.Context, kind, name string) (api.Object, error) {
	if _, err := newObject(kind); err != nil {
		return nil, err
	}
	if !validName(name) {
		return nil, notFound("%s/%s", kind, name)
	}
	resp, err := s.txn(ctx, "get", nil,
		clientv3.OpGet(s.k.object(kind, name)),
		clientv3.OpGet(s.k.allocation(kind+"/"+name)),
		clientv3.OpGet(s.k.health(name)))
	if err != nil {
		return nil, err
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return nil, notFound("%s/%s", kind, name)
	}
	o, err := decodeObject(kind, kvs[0].Value)
	if err != nil {
		return nil, err
	}
	allocs, err := decodeAllocs(resp.Responses[1].GetResponseRange().Kvs)
	if err != nil {
		return nil, err
	}
	health, err := decodeHealth(resp.Responses[2].GetResponseRange().Kvs, s.k.dir(dirHealth))
	if err != nil {
		return nil, err
	}
	fillStatus(o, allocs, health)
	return o, nil
}

// List returns one page of the objects of a kind, ordered by name, with
// status. Pages are read at different revisions: an object created or
// deleted between two pages may or may not appear, but no object that
// exists throughout is skipped or repeated.
func (s *Store) List(ctx context.Context, kind string, opt ListOptions) (*ListPage, error) {
	if _, err := newObject(kind); err != nil {
		return nil, err
	}
	start := s.k.objectsOf(kind)
	end := prefixEnd(start)
	if opt.Continue != "" {
		last, err := base64.RawURLEncoding.DecodeString(opt.Continue)
		if err != nil || !validName(string(last)) {
			return nil, fmt.Errorf("store: list %s: bad continue token: %w", kind, ErrInvalid)
		}
		start = s.k.object(kind, string(last)) + "\x00"
	}
	opts := []clientv3.OpOption{clientv3.WithRange(end)}
	if opt.Limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(opt.Limit)))
	}
	for attempt := 0; ; attempt++ {
		page, err := s.listPage(ctx, kind, start, opts)
		// The statuses are read at the page's revision; if etcd compacted
		// it in between, read the page again.
		if errors.Is(err, rpctypes.ErrCompacted) && attempt < 3 {
			continue
		}
		return page, err
	}
}

func (s *Store) listPage(ctx context.Context, kind, start string, opts []clientv3.OpOption) (*ListPage, error) {
	resp, err := s.txn(ctx, "list "+kind, nil, clientv3.OpGet(s.k.counter()), clientv3.OpGet(start, opts...))
	if err != nil {
		return nil, err
	}
	page := &ListPage{}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		page.Revision, _ = strconv.ParseInt(string(kvs[0].Value), 10, 64)
	}
	r := resp.Responses[1].GetResponseRange()
	for _, kv := range r.Kvs {
		o, err := s.decodeKV(kv)
		if err != nil {
			return nil, err
		}
		page.Items = append(page.Items, o)
	}
	if len(page.Items) == 0 {
		return page, nil
	}
	if r.More {
		page.Continue = base64.RawURLEncoding.EncodeToString([]byte(page.Items[len(page.Items)-1].GetMetadata().Name))
	}
	// Statuses of this page only: the allocation and health keys sort by
	// name like the objects, so one range each covers the page.
	first, last := page.Items[0].GetMetadata().Name, page.Items[len(page.Items)-1].GetMetadata().Name
	at := clientv3.WithRev(resp.Header.Revision)
	ops := []clientv3.Op{clientv3.OpGet(s.k.allocation(kind+"/"+first), clientv3.WithRange(s.k.allocation(kind+"/"+last)+"\x00"), at)}
	if kind == api.KindPool {
		ops = append(ops, clientv3.OpGet(s.k.health(first), clientv3.WithRange(s.k.health(last)+"\x00"), at))
	}
	sresp, err := s.txn(ctx, "list "+kind+" status", nil, ops...)
	if err != nil {
		return nil, err
	}
	allocs, err := decodeAllocs(sresp.Responses[0].GetResponseRange().Kvs)
	if err != nil {
		return nil, err
	}
	health := map[string][]api.MemberStatus{}
	if len(sresp.Responses) > 1 {
		if health, err = decodeHealth(sresp.Responses[1].GetResponseRange().Kvs, s.k.dir(dirHealth)); err != nil {
			return nil, err
		}
	}
	for _, o := range page.Items {
		fillStatus(o, allocs, health)
	}
	return page, nil
}

// listJSON reads every key under the directory d and decodes each value
// as JSON into a T, in key order; what names the values in errors.
func listJSON[T any](ctx context.Context, s *Store, what, d string) ([]T, error) {
	resp, err := s.txn(ctx, "list "+what, nil, clientv3.OpGet(s.k.dir(d), clientv3.WithPrefix()))
	if err != nil {
		return nil, err
	}
	var out []T
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("store: corrupt %s %s: %w", what, kv.Key, err)
		}
		out = append(out, v)
	}
	return out, nil
}
