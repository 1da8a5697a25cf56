package xdsclient

import (
	"fmt"
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/fulcrumlb/fulcrum/internal/xdsproto"
)

// resourceWrapper is the type of discovery.Resource, in which a server may
// wrap resources (TTLs, heartbeats).
const resourceWrapper = "type.googleapis.com/envoy.service.discovery.v3.Resource"

// content is the resources of one type as received: indexed, sorted, and
// with the names they reference (listeners' route configurations,
// clusters' endpoints) worked out once, because an assembly runs on every
// response.
type content struct {
	byName map[string]*entry
	byRaw  map[string]*entry // by serialized form, to reuse decoded resources
	sorted []proto.Message
	refs   []string
}

// entry is one resource with its serialized form and references.
type entry struct {
	msg  proto.Message
	raw  string
	refs []string
}

// decode unmarshals the resources of one response. State of the world
// resends every resource of a type when one changes; a resource whose
// bytes equal one in prev is not decoded again (servers marshal
// deterministically), so a client's work follows what changed.
func decode(kind xdsproto.Kind, anys []*anypb.Any, prev *content) (*content, error) {
	c := &content{byName: make(map[string]*entry, len(anys)), byRaw: make(map[string]*entry, len(anys))}
	for i, a := range anys {
		if a.GetTypeUrl() == resourceWrapper {
			w := &discoveryv3.Resource{}
			if err := a.UnmarshalTo(w); err != nil {
				return nil, fmt.Errorf("resource %d: %w", i, err)
			}
			if a = w.GetResource(); a == nil {
				continue // a heartbeat: nothing to apply
			}
		}
		if a.GetTypeUrl() != kind.TypeURL() {
			return nil, fmt.Errorf("resource %d: type %s in a %s response", i, a.GetTypeUrl(), kind)
		}
		e := prev.reuse(a.GetValue())
		if e == nil {
			m := newMessage(kind)
			if err := a.UnmarshalTo(m); err != nil {
				return nil, fmt.Errorf("resource %d: %w", i, err)
			}
			e = &entry{msg: m, raw: string(a.GetValue()), refs: references(m)}
		}
		name := nameOf(e.msg)
		if name == "" {
			return nil, fmt.Errorf("resource %d: no name", i)
		}
		if _, dup := c.byName[name]; dup {
			return nil, fmt.Errorf("%s %s: sent twice", kind, name)
		}
		c.byName[name] = e
		c.byRaw[e.raw] = e
	}
	c.index()
	return c, nil
}

// reuse returns the entry of prev serialized as raw, or nil.
func (c *content) reuse(raw []byte) *entry {
	if c == nil {
		return nil
	}
	return c.byRaw[string(raw)]
}

// index sorts the resources by name and gathers their references.
func (c *content) index() {
	names := make([]string, 0, len(c.byName))
	refs := map[string]bool{}
	for name, e := range c.byName {
		names = append(names, name)
		for _, r := range e.refs {
			refs[r] = true
		}
	}
	sort.Strings(names)
	c.sorted = make([]proto.Message, len(names))
	for i, n := range names {
		c.sorted[i] = c.byName[n].msg
	}
	c.refs = make([]string, 0, len(refs))
	for r := range refs {
		c.refs = append(c.refs, r)
	}
	sort.Strings(c.refs)
}

// references returns the names a listener or cluster loads over RDS or EDS.
func references(m proto.Message) []string {
	switch r := m.(type) {
	case *listenerv3.Listener:
		return xdsproto.RouteNames([]*listenerv3.Listener{r})
	case *clusterv3.Cluster:
		return xdsproto.EndpointNames([]*clusterv3.Cluster{r})
	}
	return nil
}

func newMessage(kind xdsproto.Kind) proto.Message {
	switch kind {
	case xdsproto.Listeners:
		return &listenerv3.Listener{}
	case xdsproto.Routes:
		return &routev3.RouteConfiguration{}
	case xdsproto.Clusters:
		return &clusterv3.Cluster{}
	}
	return &endpointv3.ClusterLoadAssignment{}
}

func nameOf(m proto.Message) string {
	switch r := m.(type) {
	case *listenerv3.Listener:
		return r.GetName()
	case *routev3.RouteConfiguration:
		return r.GetName()
	case *clusterv3.Cluster:
		return r.GetName()
	case *endpointv3.ClusterLoadAssignment:
		return r.GetClusterName()
	}
	return ""
}

// get returns the named resource; a nil content holds nothing.
func (c *content) get(name string) (proto.Message, bool) {
	if c == nil {
		return nil, false
	}
	e, ok := c.byName[name]
	if !ok {
		return nil, false
	}
	return e.msg, true
}

// lacks reports whether any of names is missing.
func (c *content) lacks(names []string) bool {
	for _, n := range names {
		if _, ok := c.get(n); !ok {
			return true
		}
	}
	return false
}

// references returns the names the content's resources reference.
func (c *content) references() []string {
	if c == nil {
		return nil
	}
	return c.refs
}

// list returns the resources sorted by name.
func (c *content) list() []proto.Message {
	if c == nil {
		return nil
	}
	return c.sorted
}
