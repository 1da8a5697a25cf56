// Package xdsproto holds what Fulcrum's xDS server (controlplane/xds) and
// its client (dataplane/xdsclient) must agree on: the four resource types
// and their order, how a node describes itself, and which RDS and EDS names
// a set of listeners and clusters references. It imports only Envoy's
// protos, so the data plane may use it without pulling in the control plane.
package xdsproto

import (
	"sort"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// Kind is one of the four resource types Fulcrum serves.
type Kind int

// The kinds, in the order in which an ADS server sends them and a client
// subscribes (Envoy's order): a cluster before its endpoints, a listener
// before its route configuration, and clusters before the listeners that
// use them.
const (
	Clusters Kind = iota
	Endpoints
	Listeners
	Routes
	// NumKinds is the number of kinds, for arrays indexed by Kind.
	NumKinds
)

// Type URLs of the four kinds (the same strings as go-control-plane's
// resource package, repeated here so the data plane need not import it).
const (
	ClusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	EndpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	RouteType    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
)

var typeURLs = [NumKinds]string{ClusterType, EndpointType, ListenerType, RouteType}
var names = [NumKinds]string{"clusters", "endpoints", "listeners", "routes"}

// TypeURL returns the kind's xDS type URL.
func (k Kind) TypeURL() string { return typeURLs[k] }

// String returns the kind's short plural name ("listeners"), as used in
// metrics labels, logs and JSON.
func (k Kind) String() string {
	if k < 0 || k >= NumKinds {
		return "unknown"
	}
	return names[k]
}

// KindOf returns the kind of a type URL, or false for a type Fulcrum does
// not serve.
func KindOf(typeURL string) (Kind, bool) {
	for k, u := range typeURLs {
		if u == typeURL {
			return Kind(k), true
		}
	}
	return 0, false
}

// Parent returns the kind whose resources name k's resources (Listeners for
// Routes, Clusters for Endpoints), and false for the wildcard kinds.
func (k Kind) Parent() (Kind, bool) {
	switch k {
	case Routes:
		return Listeners, true
	case Endpoints:
		return Clusters, true
	}
	return 0, false
}

// Versions are per-kind version strings: the version a node acknowledged,
// or the version a snapshot carries.
type Versions struct {
	Listeners string `json:"listeners,omitempty"`
	Routes    string `json:"routes,omitempty"`
	Clusters  string `json:"clusters,omitempty"`
	Endpoints string `json:"endpoints,omitempty"`
}

// Get returns the version of kind k.
func (v *Versions) Get(k Kind) string { return *v.field(k) }

// Set sets the version of kind k.
func (v *Versions) Set(k Kind, s string) { *v.field(k) = s }

func (v *Versions) field(k Kind) *string {
	switch k {
	case Listeners:
		return &v.Listeners
	case Routes:
		return &v.Routes
	case Clusters:
		return &v.Clusters
	}
	return &v.Endpoints
}

// UserAgent is the user_agent_name of every Fulcrum data plane.
const UserAgent = "fulcrum"

// NewNode returns the node a Fulcrum data plane presents on its ADS stream:
// its id, its zone as locality.zone, and its build as the user agent
// version, so that the control plane can show all three per proxy.
func NewNode(id, zone, build string) *corev3.Node {
	n := &corev3.Node{
		Id:                   id,
		UserAgentName:        UserAgent,
		UserAgentVersionType: &corev3.Node_UserAgentVersion{UserAgentVersion: build},
	}
	if zone != "" {
		n.Locality = &corev3.Locality{Zone: zone}
	}
	return n
}

// NodeBuild returns the build version a node presented.
func NodeBuild(n *corev3.Node) string {
	return n.GetUserAgentVersion()
}

// RouteNames returns the sorted names of the RouteConfigurations that the
// listeners' HTTP connection managers load over RDS.
func RouteNames(listeners []*listenerv3.Listener) []string {
	set := map[string]bool{}
	for _, l := range listeners {
		for _, fc := range l.GetFilterChains() {
			chainRoutes(fc, set)
		}
		if fc := l.GetDefaultFilterChain(); fc != nil {
			chainRoutes(fc, set)
		}
	}
	return sortedKeys(set)
}

func chainRoutes(fc *listenerv3.FilterChain, set map[string]bool) {
	for _, f := range fc.GetFilters() {
		tc := f.GetTypedConfig()
		if tc == nil || tc.MessageName() != "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager" {
			continue
		}
		hcm := &hcmv3.HttpConnectionManager{}
		if err := tc.UnmarshalTo(hcm); err != nil {
			// A malformed manager is the data plane's to reject when it
			// builds the listener; it references nothing we could fetch.
			continue
		}
		if name := hcm.GetRds().GetRouteConfigName(); name != "" {
			set[name] = true
		}
	}
}

// EndpointNames returns the sorted names of the ClusterLoadAssignments that
// EDS clusters load (eds_cluster_config.service_name, else the cluster's
// name) — the same rule go-control-plane's consistency check applies.
func EndpointNames(clusters []*clusterv3.Cluster) []string {
	set := map[string]bool{}
	for _, c := range clusters {
		if c.GetType() != clusterv3.Cluster_EDS {
			continue
		}
		if sn := c.GetEdsClusterConfig().GetServiceName(); sn != "" {
			set[sn] = true
		} else {
			set[c.GetName()] = true
		}
	}
	return sortedKeys(set)
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// FormatVersion returns the version_info Fulcrum's server sends for a type
// that changed in snapshot number seq of the configuration version:
// "version@seq". Types keep their string while their content is unchanged,
// so the string names the content; the sequence number lets a client tell
// which of its types changed last, and so label a set with the snapshot
// version it is (see ParseVersion).
func FormatVersion(version string, seq uint64) string {
	return version + "@" + strconv.FormatUint(seq, 10)
}

// ParseVersion splits a version_info made by FormatVersion. For any other
// string it returns the string itself, 0 and false.
func ParseVersion(s string) (version string, seq uint64, ok bool) {
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return s, 0, false
	}
	n, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return s, 0, false
	}
	return s[:i], n, true
}

// DisplayVersion returns the configuration version part of a version_info
// (what operators compare), or the string itself.
func DisplayVersion(s string) string {
	v, _, _ := ParseVersion(s)
	return v
}
