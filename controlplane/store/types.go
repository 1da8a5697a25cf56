package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/fulcrumlb/fulcrum/api"
)

// Ref names an object. In ApplyRequest.Deletes a non-zero Revision is a
// precondition, like metadata.revision on an applied object.
type Ref struct {
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Revision int64  `json:"revision,omitempty"`
}

// String returns "Kind/name", the form api.Ref uses.
func (r Ref) String() string { return r.Kind + "/" + r.Name }

// Op says what a change did to one object.
type Op string

// The operations of a Change. OpUnchanged appears only in an ApplyResult:
// revision records hold real changes only.
const (
	OpCreated   Op = "created"
	OpUpdated   Op = "updated"
	OpUnchanged Op = "unchanged"
	OpDeleted   Op = "deleted"
)

// Action says what kind of mutation made a revision.
type Action string

// The actions of a revision.
const (
	ActionApply       Action = "apply"
	ActionDelete      Action = "delete"
	ActionRollback    Action = "rollback"
	ActionMemberState Action = "member-state"
)

// Change is what happened to one object. Before is nil for a creation,
// After nil for a deletion. Objects carry secrets (TLS keys, health-check
// passwords): pass them through api.Redact before showing them to anyone.
type Change struct {
	Kind   string
	Name   string
	Op     Op
	Before api.Object
	After  api.Object
}

// Ref returns the changed object's reference.
func (c Change) Ref() Ref { return Ref{Kind: c.Kind, Name: c.Name} }

type changeJSON struct {
	Kind   string          `json:"kind"`
	Name   string          `json:"name"`
	Op     Op              `json:"op"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// MarshalJSON writes before and after as the objects' own JSON.
func (c Change) MarshalJSON() ([]byte, error) {
	out := changeJSON{Kind: c.Kind, Name: c.Name, Op: c.Op}
	var err error
	if c.Before != nil {
		if out.Before, err = json.Marshal(c.Before); err != nil {
			return nil, err
		}
	}
	if c.After != nil {
		if out.After, err = json.Marshal(c.After); err != nil {
			return nil, err
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON decodes before and after by the change's kind.
func (c *Change) UnmarshalJSON(data []byte) error {
	var in changeJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	*c = Change{Kind: in.Kind, Name: in.Name, Op: in.Op}
	var err error
	if len(in.Before) > 0 {
		if c.Before, err = decodeObject(in.Kind, in.Before); err != nil {
			return err
		}
	}
	if len(in.After) > 0 {
		if c.After, err = decodeObject(in.Kind, in.After); err != nil {
			return err
		}
	}
	return nil
}

// Revision is one entry of the operation log: who changed what, when, and
// how. Objects in a revision record carry no status.
type Revision struct {
	Number int64     `json:"revision"`
	Actor  string    `json:"actor"`
	Time   time.Time `json:"time"`
	Action Action    `json:"action"`
	// RollbackTo is the revision a rollback restored.
	RollbackTo int64    `json:"rollbackTo,omitempty"`
	Changes    []Change `json:"changes"`
}

// ApplyRequest is one all-or-nothing change.
type ApplyRequest struct {
	// Objects are created or updated. A non-zero metadata.revision must be
	// the stored object's revision (0 and a missing object do not match).
	// The other metadata fields the store maintains, and status, are
	// ignored. The objects are not modified.
	Objects []api.Object
	// Deletes are removed; each must exist.
	Deletes []Ref
	// Actor is who asks: a token name, "cli", "console:alice". Required.
	Actor string
	// DryRun computes and validates everything and writes nothing.
	DryRun bool
	// Sources optionally says where each object came from (api.Loaded's
	// Sources), so that errors name the file and document.
	Sources map[api.Object]api.Source
}

// ApplyResult says what an apply did, or would do for a dry run.
type ApplyResult struct {
	// Revision is the revision written; 0 for a dry run or when nothing
	// changed.
	Revision int64 `json:"revision"`
	// Changes lists every object of the request, pools first, then
	// listeners, then routes, each kind by name. Before and After carry
	// status.address/port (the frontend allocations) but no health.
	Changes []Change `json:"changes"`
	// Warnings are advice about the request's objects.
	Warnings api.ErrorList `json:"warnings,omitempty"`
	// DryRun is set when nothing was written on purpose.
	DryRun bool `json:"dryRun,omitempty"`
}

// NoOp reports whether the request changed nothing.
func (r *ApplyResult) NoOp() bool {
	for _, c := range r.Changes {
		if c.Op != OpUnchanged {
			return false
		}
	}
	return true
}

// ListOptions page a List.
type ListOptions struct {
	// Limit is the page size; 0 means everything.
	Limit int
	// Continue is the token of the previous page's ListPage.Continue.
	Continue string
}

// ListPage is one page of objects, ordered by name.
type ListPage struct {
	Items []api.Object
	// Continue fetches the next page; empty on the last page.
	Continue string
	// Revision is the Fulcrum revision at which the page was read.
	Revision int64
}

// HistoryQuery selects revisions, newest first. With Kind and Name it is one
// object's history: each revision then holds only that object's change.
// Without them it is the global operation log.
type HistoryQuery struct {
	Kind, Name string
	// Limit is the page size; 0 means 50.
	Limit int
	// Before returns only revisions older than this one; 0 starts at the
	// newest.
	Before int64
}

// HistoryPage is one page of history.
type HistoryPage struct {
	Revisions []Revision `json:"revisions"`
	// Next is the Before of the next page; 0 on the last page.
	Next int64 `json:"next,omitempty"`
}

// Snapshot is the whole configuration at one etcd revision.
type Snapshot struct {
	// Config holds every object, sorted, with status filled in: frontend
	// allocations, and the health of every member (unknown when no check
	// result is stored).
	Config *api.Config
	// Revision is the Fulcrum revision: it moves with configuration changes.
	Revision int64
	// EtcdRevision moves with every change the snapshot reflects, health
	// included; it never goes backwards, across control-plane replicas too,
	// so it makes a good xDS version.
	EtcdRevision int64
}

// newObject returns an empty object of a Fulcrum kind.
func newObject(kind string) (api.Object, error) {
	switch kind {
	case api.KindPool:
		return &api.Pool{}, nil
	case api.KindListener:
		return &api.Listener{}, nil
	case api.KindRoute:
		return &api.Route{}, nil
	}
	return nil, fmt.Errorf("store: unknown kind %q: want one of %v: %w", kind, api.Kinds, ErrInvalid)
}

// decodeObject decodes stored JSON. It is lenient, unlike api.Decode:
// what the store holds was validated when written, and a newer Fulcrum may
// have added fields an older replica does not know yet.
func decodeObject(kind string, data []byte) (api.Object, error) {
	o, err := newObject(kind)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, o); err != nil {
		return nil, fmt.Errorf("store: decoding %s: %w", kind, err)
	}
	return o, nil
}

// setStatus clears status (nil alloc) or sets its address and port.
func setStatus(o api.Object, addr string, port int, has bool) {
	switch v := o.(type) {
	case *api.Pool:
		v.Status = nil
		if has {
			v.Status = &api.PoolStatus{Address: addr, Port: port}
		}
	case *api.Listener:
		v.Status = nil
		if has {
			v.Status = &api.ListenerStatus{Address: addr, Port: port}
		}
	}
}
