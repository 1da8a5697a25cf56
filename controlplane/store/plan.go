package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/controlplane/ipam"
)

// plan is what one attempt of a mutation would write.
type plan struct {
	result       *ApplyResult
	record       Revision // Changes hold real changes only, without status
	allocPuts    map[string]ipam.Allocation
	allocDeletes []string
}

// item is one object of a request, copied so the caller's is untouched.
type item struct {
	ref  string
	obj  api.Object
	want int64 // the metadata.revision precondition, 0 for none
	src  api.Source
}

// plan merges the mutation into the state, validates the merged
// configuration, allocates, and computes the changes.
func (s *Store) plan(st *state, m mutation, now time.Time) (*plan, error) {
	objects, deletes, err := m.build(st)
	if err != nil {
		return nil, err
	}
	items, bad, err := prepare(objects, deletes, m.sources)
	if err != nil {
		return nil, err
	}
	if err := checkPreconditions(st, items, deletes); err != nil {
		return nil, err
	}
	cfg, sources := merge(st, items, deletes)
	api.SetDefaults(cfg)
	errs, warns := api.Validate(cfg, sources, s.validate)
	// Report the request's own mistakes and the configuration's together:
	// every error in one answer.
	if errs = append(bad, errs...); len(errs) > 0 {
		return nil, invalid(errs)
	}
	allocs, errs := ipam.Plan(s.ipam, st.allocs, wants(cfg))
	if len(errs) > 0 {
		return nil, invalid(errs)
	}
	p := &plan{
		result:    &ApplyResult{DryRun: m.dryRun, Warnings: ownWarnings(warns, items)},
		record:    Revision{Number: st.counter + 1, Actor: m.actor, Time: now, Action: m.action, RollbackTo: m.rollbackTo},
		allocPuts: map[string]ipam.Allocation{},
	}
	for _, it := range items {
		if err := p.addItem(st, it, allocs); err != nil {
			return nil, err
		}
	}
	for _, d := range deletes {
		ref := d.String()
		before := withStatus(st.objects[ref], st.allocs)
		p.result.Changes = append(p.result.Changes, Change{Kind: d.Kind, Name: d.Name, Op: OpDeleted, Before: before})
		p.record.Changes = append(p.record.Changes, Change{Kind: d.Kind, Name: d.Name, Op: OpDeleted, Before: st.objects[ref]})
	}
	sortChanges(p.result.Changes)
	sortChanges(p.record.Changes)
	if !p.result.DryRun && !p.result.NoOp() {
		p.result.Revision = p.record.Number
	}
	for owner, a := range allocs {
		if old, ok := st.allocs[owner]; !ok || old != a {
			p.allocPuts[owner] = a
		}
	}
	for owner := range st.allocs {
		if _, ok := allocs[owner]; !ok {
			p.allocDeletes = append(p.allocDeletes, owner)
		}
	}
	return p, nil
}

// addItem compares one request object with the stored one and records the
// change, stamping the metadata the store maintains.
func (p *plan) addItem(st *state, it item, allocs map[string]ipam.Allocation) error {
	before := st.objects[it.ref]
	after := it.obj
	md := after.GetMetadata()
	op := OpCreated
	if before != nil {
		same, err := sameContent(before, after)
		if err != nil {
			return err
		}
		op = OpUpdated
		if same {
			op = OpUnchanged
			after = before
		} else {
			md.CreatedAt = before.GetMetadata().CreatedAt
		}
	}
	if op != OpUnchanged {
		md.Revision = p.record.Number
		md.UpdatedAt = p.record.Time.Format(time.RFC3339)
		md.UpdatedBy = p.record.Actor
		if md.CreatedAt == "" {
			md.CreatedAt = md.UpdatedAt
		}
		p.record.Changes = append(p.record.Changes, Change{Kind: it.obj.GetKind(), Name: md.Name, Op: op, Before: before, After: after})
	}
	p.result.Changes = append(p.result.Changes, Change{Kind: it.obj.GetKind(), Name: md.Name, Op: op,
		Before: withStatus(before, st.allocs), After: withStatus(after, allocs)})
	return nil
}

// prepare copies and checks the request's objects: known kinds, no
// duplicates, nothing both applied and deleted. Duplicates and conflicting
// deletes come back as field errors (the first copy is kept), so that
// validation can still report everything else.
func prepare(objects []api.Object, deletes []Ref, sources map[api.Object]api.Source) ([]item, api.ErrorList, error) {
	var list api.ErrorList
	seen := map[string]bool{}
	var items []item
	for i, o := range objects {
		switch o.(type) {
		case *api.Pool, *api.Listener, *api.Route:
		default:
			return nil, nil, fmt.Errorf("store: apply: object %d is a %T, not a Pool, Listener or Route: %w", i, o, ErrInvalid)
		}
		src := sources[o]
		c := o.DeepCopyObject()
		md := c.GetMetadata()
		it := item{ref: api.Ref(c), obj: c, want: md.Revision, src: src}
		md.Revision, md.CreatedAt, md.UpdatedAt, md.UpdatedBy = 0, "", "", ""
		setStatus(c, "", 0, false)
		setTypeMeta(c)
		if seen[it.ref] {
			list = append(list, &api.FieldError{Source: src, Ref: it.ref, Path: "metadata.name", Reason: "duplicate: the request holds this object twice"})
			continue
		}
		seen[it.ref] = true
		items = append(items, it)
	}
	for _, d := range deletes {
		if _, err := newObject(d.Kind); err != nil {
			return nil, nil, err
		}
		if seen[d.String()] {
			list = append(list, &api.FieldError{Ref: d.String(), Reason: "the request both applies and deletes this object"})
		}
		seen[d.String()] = true
	}
	return items, list, nil
}

func setTypeMeta(o api.Object) {
	tm := api.TypeMeta{APIVersion: api.APIVersion, Kind: o.GetKind()}
	switch v := o.(type) {
	case *api.Pool:
		v.TypeMeta = tm
	case *api.Listener:
		v.TypeMeta = tm
	case *api.Route:
		v.TypeMeta = tm
	}
}

// checkPreconditions enforces metadata.revision and Ref.Revision (If-Match)
// and that deleted objects exist.
func checkPreconditions(st *state, items []item, deletes []Ref) error {
	stored := func(ref string) int64 {
		if o := st.objects[ref]; o != nil {
			return o.GetMetadata().Revision
		}
		return 0
	}
	for _, it := range items {
		if it.want != 0 && it.want != stored(it.ref) {
			return &ConflictError{Ref: it.ref, Expected: it.want, Actual: stored(it.ref)}
		}
	}
	for _, d := range deletes {
		have := stored(d.String())
		if !validName(d.Name) || st.objects[d.String()] == nil {
			return notFound("delete %s", d)
		}
		if d.Revision != 0 && d.Revision != have {
			return &ConflictError{Ref: d.String(), Expected: d.Revision, Actual: have}
		}
	}
	return nil
}

// merge builds the configuration as it would be after the change.
func merge(st *state, items []item, deletes []Ref) (*api.Config, map[api.Object]api.Source) {
	drop := map[string]bool{}
	for _, d := range deletes {
		drop[d.String()] = true
	}
	for _, it := range items {
		drop[it.ref] = true
	}
	cfg := &api.Config{}
	for ref, o := range st.objects {
		if !drop[ref] {
			cfg.Add(o)
		}
	}
	sources := map[api.Object]api.Source{}
	for _, it := range items {
		cfg.Add(it.obj)
		sources[it.obj] = it.src
	}
	return cfg, sources
}

// wants lists what every frontend of the merged configuration asks of IPAM.
func wants(cfg *api.Config) []ipam.Want {
	var out []ipam.Want
	for _, p := range cfg.Pools {
		if f := p.Spec.Frontend; f != nil {
			out = append(out, ipam.Want{Owner: api.Ref(p), Path: "spec.frontend", Address: f.Address, Port: f.Port,
				Transport: ipam.TransportOf(f.Protocol)})
		}
	}
	for _, l := range cfg.Listeners {
		f := &l.Spec.Frontend
		out = append(out, ipam.Want{Owner: api.Ref(l), Path: "spec", Address: f.Address, Port: f.Port,
			Transport: ipam.TransportOf(f.Protocol)})
	}
	return out
}

// ownWarnings keeps the warnings about the request's objects: advice about
// objects nobody touched is noise in this apply's answer.
func ownWarnings(warns api.ErrorList, items []item) api.ErrorList {
	mine := map[string]bool{}
	for _, it := range items {
		mine[it.ref] = true
	}
	var out api.ErrorList
	for _, w := range warns {
		if mine[w.Ref] {
			out = append(out, w)
		}
	}
	return out
}

// sameContent compares two objects, ignoring the metadata the store
// maintains and status.
func sameContent(a, b api.Object) (bool, error) {
	ca, err := canonical(a)
	if err != nil {
		return false, err
	}
	cb, err := canonical(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(ca, cb), nil
}

func canonical(o api.Object) ([]byte, error) {
	c := o.DeepCopyObject()
	md := c.GetMetadata()
	md.Revision, md.CreatedAt, md.UpdatedAt, md.UpdatedBy = 0, "", "", ""
	setStatus(c, "", 0, false)
	data, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("store: encoding %s: %w", api.Ref(o), err)
	}
	return data, nil
}

// withStatus returns a copy of o with its frontend allocation as status.
func withStatus(o api.Object, allocs map[string]ipam.Allocation) api.Object {
	if o == nil {
		return nil
	}
	c := o.DeepCopyObject()
	a, has := allocs[api.Ref(o)]
	setStatus(c, a.Address, a.Port, has)
	return c
}

var kindOrder = map[string]int{api.KindPool: 0, api.KindListener: 1, api.KindRoute: 2}

func sortChanges(cs []Change) {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Kind != cs[j].Kind {
			return kindOrder[cs[i].Kind] < kindOrder[cs[j].Kind]
		}
		return cs[i].Name < cs[j].Name
	})
}
