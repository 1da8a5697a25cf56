package translator

import (
	"encoding/json"
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/fulcrumlb/fulcrum/api"
)

// Fulcrum metadata is written from, and read back into, the structs below.
// Values have the JSON form of the api package (durations as "30s", sizes as
// "64Ki"), so the data plane decodes them with the api types it already
// knows; keys are the camelCase names of the Fulcrum fields. Empty values are
// left out.

// ClusterMetadata is metadata.filter_metadata["fulcrum"] of a Cluster.
type ClusterMetadata struct {
	Algorithm         string           `json:"algorithm"`
	HashOn            string           `json:"hashOn,omitempty"`
	BoundedLoadFactor float64          `json:"boundedLoadFactor,omitempty"`
	HealthCheck       *api.HealthCheck `json:"healthCheck,omitempty"`
	// IdleTimeout is set for tcp and udp pools only; HTTP pools carry it in
	// HttpProtocolOptions.
	IdleTimeout        api.Duration       `json:"idleTimeout,omitempty"`
	RequestTimeout     api.Duration       `json:"requestTimeout,omitempty"`
	DrainTimeout       api.Duration       `json:"drainTimeout,omitempty"`
	Retries            *api.RetryPolicy   `json:"retries,omitempty"`
	StickySession      *api.StickySession `json:"stickySession,omitempty"`
	RateLimit          *api.RateLimit     `json:"rateLimit,omitempty"`
	InsecureSkipVerify bool               `json:"insecureSkipVerify,omitempty"`
	MaxIdleConnections int                `json:"maxIdleConnections,omitempty"`
	Labels             map[string]string  `json:"labels,omitempty"`
	Annotations        map[string]string  `json:"annotations,omitempty"`
}

// ListenerMetadata is metadata.filter_metadata["fulcrum"] of a Listener.
type ListenerMetadata struct {
	// Kind is api.KindPool (a pool's own frontend) or api.KindListener.
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	// MaxHeaderBytes is exact; the HCM's max_request_headers_kb is rounded up.
	MaxHeaderBytes            api.ByteSize    `json:"maxHeaderBytes,omitempty"`
	Limits                    *ListenerLimits `json:"limits,omitempty"`
	ProxyProtocolTrustedCIDRs []string        `json:"proxyProtocolTrustedCIDRs,omitempty"`
	AccessLog                 *api.AccessLog  `json:"accessLog,omitempty"`
}

// ListenerLimits are the limits Envoy's listener fields cannot say.
type ListenerLimits struct {
	MaxConnections          int          `json:"maxConnections,omitempty"`
	MaxConnectionsPerClient int          `json:"maxConnectionsPerClient,omitempty"`
	MaxUDPSessions          int          `json:"maxUDPSessions,omitempty"`
	DrainTimeout            api.Duration `json:"drainTimeout,omitempty"`
}

// RouteMetadata is metadata.filter_metadata["fulcrum"] of a Route, and of a
// tls listener's per-route FilterChain.
type RouteMetadata struct {
	// Route is the Fulcrum Route's name, or PoolRouteName for a pool's own
	// HTTP frontend.
	Route string `json:"route"`
	// RateLimit is the route's own rate limit, exact (the token bucket of
	// the local_ratelimit config may round requestsPerSecond).
	RateLimit *api.RateLimit `json:"rateLimit,omitempty"`
	// Retries is the route's own retry policy, with what Envoy's
	// retry_policy cannot say (the budget).
	Retries *api.RetryPolicy `json:"retries,omitempty"`
}

// EndpointMetadata is metadata.filter_metadata["fulcrum"] of an LbEndpoint.
type EndpointMetadata struct {
	HealthReason string `json:"healthReason,omitempty"`
}

// toMetadata encodes v as the fulcrum filter metadata, or nil when every
// field is empty. The api types marshal without error; a failure is a bug.
func toMetadata(v any) *corev3.Metadata {
	js, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("translator: metadata %T: %v", v, err))
	}
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		panic(fmt.Sprintf("translator: metadata %T: %v", v, err))
	}
	if len(m) == 0 {
		return nil
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic(fmt.Sprintf("translator: metadata %T: %v", v, err))
	}
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{MetadataKey: s}}
}

// FulcrumMetadata returns the fulcrum filter metadata as a plain map, or nil
// when there is none.
func FulcrumMetadata(md *corev3.Metadata) map[string]any {
	s := md.GetFilterMetadata()[MetadataKey]
	if s == nil {
		return nil
	}
	return s.AsMap()
}

// DecodeMetadata decodes the fulcrum filter metadata into v (a pointer to
// one of the *Metadata structs). Missing metadata leaves v unchanged.
func DecodeMetadata(md *corev3.Metadata, v any) error {
	m := FulcrumMetadata(md)
	if m == nil {
		return nil
	}
	js, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("translator: metadata: %w", err)
	}
	if err := json.Unmarshal(js, v); err != nil {
		return fmt.Errorf("translator: metadata: %w", err)
	}
	return nil
}

// ClusterMeta reads the Fulcrum metadata of a Cluster.
func ClusterMeta(c *clusterv3.Cluster) (*ClusterMetadata, error) {
	out := &ClusterMetadata{}
	return out, DecodeMetadata(c.GetMetadata(), out)
}

// ListenerMeta reads the Fulcrum metadata of a Listener.
func ListenerMeta(l *listenerv3.Listener) (*ListenerMetadata, error) {
	out := &ListenerMetadata{}
	return out, DecodeMetadata(l.GetMetadata(), out)
}

// RouteMeta reads the Fulcrum metadata of a Route.
func RouteMeta(r *routev3.Route) (*RouteMetadata, error) {
	out := &RouteMetadata{}
	return out, DecodeMetadata(r.GetMetadata(), out)
}

// FilterChainMeta reads the Fulcrum metadata of a tls listener's per-route
// filter chain.
func FilterChainMeta(fc *listenerv3.FilterChain) (*RouteMetadata, error) {
	out := &RouteMetadata{}
	return out, DecodeMetadata(fc.GetMetadata(), out)
}

// EndpointMeta reads the Fulcrum metadata of an LbEndpoint.
func EndpointMeta(e *endpointv3.LbEndpoint) (*EndpointMetadata, error) {
	out := &EndpointMetadata{}
	return out, DecodeMetadata(e.GetMetadata(), out)
}
