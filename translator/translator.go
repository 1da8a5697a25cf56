// Package translator turns a validated, defaulted Fulcrum configuration
// (api.Config) into Envoy v3 xDS resources: Listeners, RouteConfigurations,
// Clusters and ClusterLoadAssignments. The control plane pushes the result
// over ADS; the standalone proxy runs the same translation in-process. The
// mapping of every field is specified in docs/xds.md.
//
// The package imports nothing of the control plane or etcd, only the api
// package and Envoy's protos, so the data plane may import it to read
// Fulcrum metadata back and to share the naming conventions.
package translator

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/fulcrumlb/fulcrum/api"
)

// Options tune a translation.
type Options struct {
	// ActiveHealthChecks adds Cluster.health_checks and keeps the MySQL
	// password in metadata: the standalone proxy probes members itself.
	// The control plane leaves it off, probes once, and reports health in
	// the endpoints' health_status.
	ActiveHealthChecks bool
	// DefaultAddress is the listen address of a frontend whose address is
	// empty and not allocated (status.address). The standalone proxy passes
	// "127.0.0.1"; "" makes such a frontend an error.
	DefaultAddress string
}

// Resources are the xDS resources of one configuration, each list sorted by
// resource name.
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
}

// ErrUnallocated is wrapped by errors about a frontend whose address or port
// is empty and has not been allocated yet: the configuration is valid, the
// control plane has simply not caught up.
var ErrUnallocated = errors.New("not allocated")

// Error is one translation error, naming the object and the field.
type Error struct {
	// Ref is "Kind/name" of the object.
	Ref string
	// Path is the JSON path of the field, e.g. "spec.frontend.port".
	Path string
	// Reason says what is wrong.
	Reason string
	// Err is an underlying cause such as ErrUnallocated, or nil.
	Err error
}

// Error formats the error as "translator: Kind/name: path: reason".
func (e *Error) Error() string {
	return "translator: " + e.Ref + ": " + e.Path + ": " + e.Reason
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Translate turns a validated and defaulted configuration (the output of
// api.Load, or a store snapshot that went through the same checks) into xDS
// resources. It does not modify cfg. Every error found is returned, joined.
func Translate(cfg *api.Config, opt Options) (*Resources, error) {
	t := newTranslation(cfg, opt)
	out := &Resources{}
	for _, p := range t.pools {
		out.Clusters = append(out.Clusters, t.cluster(p))
		out.Endpoints = append(out.Endpoints, t.endpoints(p))
		if p.Spec.Frontend == nil {
			continue
		}
		if l := t.poolListener(p); l != nil {
			out.Listeners = append(out.Listeners, l)
		}
		if isHTTP(p.Spec.Frontend.Protocol) {
			out.Routes = append(out.Routes, t.poolRouteConfig(p))
		}
	}
	for _, l := range t.listeners {
		if x := t.listener(l); x != nil {
			out.Listeners = append(out.Listeners, x)
		}
		if isHTTP(l.Spec.Protocol) {
			out.Routes = append(out.Routes, t.routeConfig(l))
		}
	}
	if len(t.errs) > 0 {
		return nil, errors.Join(t.errs...)
	}
	out.sort()
	return out, nil
}

// translation carries the state of one Translate call.
type translation struct {
	opt       Options
	pools     []*api.Pool
	listeners []*api.Listener
	routes    map[string][]*api.Route // by listener name, sorted by route name
	poolByNm  map[string]*api.Pool
	errs      []error
}

func newTranslation(cfg *api.Config, opt Options) *translation {
	t := &translation{opt: opt, routes: map[string][]*api.Route{}, poolByNm: map[string]*api.Pool{}}
	// Copy before sorting: the caller's slices keep their order.
	t.pools = append([]*api.Pool(nil), cfg.Pools...)
	t.listeners = append([]*api.Listener(nil), cfg.Listeners...)
	routes := append([]*api.Route(nil), cfg.Routes...)
	sort.SliceStable(t.pools, func(i, j int) bool { return t.pools[i].Metadata.Name < t.pools[j].Metadata.Name })
	sort.SliceStable(t.listeners, func(i, j int) bool { return t.listeners[i].Metadata.Name < t.listeners[j].Metadata.Name })
	sort.SliceStable(routes, func(i, j int) bool { return routes[i].Metadata.Name < routes[j].Metadata.Name })
	for _, p := range t.pools {
		t.poolByNm[p.Metadata.Name] = p
	}
	for _, r := range routes {
		t.routes[r.Spec.Listener] = append(t.routes[r.Spec.Listener], r)
	}
	return t
}

// fail records an error about a field of an object.
func (t *translation) fail(o api.Object, path string, cause error, format string, args ...any) {
	t.errs = append(t.errs, &Error{Ref: api.Ref(o), Path: path, Reason: fmt.Sprintf(format, args...), Err: cause})
}

// pool returns the named pool, or nil.
func (t *translation) pool(name string) *api.Pool { return t.poolByNm[name] }

func (r *Resources) sort() {
	sort.Slice(r.Listeners, func(i, j int) bool { return r.Listeners[i].Name < r.Listeners[j].Name })
	sort.Slice(r.Routes, func(i, j int) bool { return r.Routes[i].Name < r.Routes[j].Name })
	sort.Slice(r.Clusters, func(i, j int) bool { return r.Clusters[i].Name < r.Clusters[j].Name })
	sort.Slice(r.Endpoints, func(i, j int) bool { return r.Endpoints[i].ClusterName < r.Endpoints[j].ClusterName })
}

// isHTTP reports whether a frontend protocol carries HTTP.
func isHTTP(proto string) bool {
	return proto == api.ProtocolHTTP || proto == api.ProtocolHTTPS || proto == api.ProtocolGRPC
}

// isHashAlgorithm reports whether an algorithm hashes on spec.hashOn.
func isHashAlgorithm(alg string) bool { return slices.Contains(api.HashAlgorithms, alg) }

// isL4Pool reports whether a pool's own frontend is tcp or udp: such pools
// speak no HTTP to their members.
func isL4Pool(p *api.Pool) bool {
	f := p.Spec.Frontend
	return f != nil && (f.Protocol == api.ProtocolTCP || f.Protocol == api.ProtocolUDP)
}

// lowerHost lower-cases host patterns: Envoy matches domains without case
// and rejects two virtual hosts whose domains differ only in case.
func lowerHost(h string) string { return strings.ToLower(h) }
