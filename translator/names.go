package translator

import (
	"strings"

	"github.com/fulcrumlb/fulcrum/api"
)

// MetadataKey is the filter_metadata key under which Fulcrum-only settings
// travel in Cluster, Listener, FilterChain, Route and LbEndpoint metadata.
const MetadataKey = "fulcrum"

// Extension names the translator emits. They are exported so that the data
// plane recognises exactly these and rejects anything else with a NACK.
const (
	HTTPConnectionManagerName = "envoy.filters.network.http_connection_manager"
	TCPProxyName              = "envoy.filters.network.tcp_proxy"
	UDPProxyName              = "envoy.filters.udp_listener.udp_proxy"
	TLSInspectorName          = "envoy.filters.listener.tls_inspector"
	ProxyProtocolListenerName = "envoy.filters.listener.proxy_protocol"

	BodySizeLimitName   = "envoy.filters.http.body_size_limit"
	LocalRateLimitName  = "envoy.filters.http.local_ratelimit"
	StatefulSessionName = "envoy.filters.http.stateful_session"
	RouterName          = "envoy.filters.http.router"

	TLSTransportSocketName           = "envoy.transport_sockets.tls"
	RawBufferTransportSocketName     = "envoy.transport_sockets.raw_buffer"
	ProxyProtocolTransportSocketName = "envoy.transport_sockets.upstream_proxy_protocol"

	// HTTPProtocolOptionsName keys Cluster.typed_extension_protocol_options.
	HTTPProtocolOptionsName = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	// XFFOriginalIPDetectionName is the HCM original IP detection extension.
	XFFOriginalIPDetectionName = "envoy.http.original_ip_detection.xff"
	// CookieSessionStateName is the stateful_session cookie session state.
	CookieSessionStateName = "envoy.http.stateful_session.cookie"
	// PreviousHostsPredicateName makes retries avoid hosts already tried.
	PreviousHostsPredicateName = "envoy.retry_host_predicates.previous_hosts"
	// MySQLHealthCheckerName is the custom health checker of mysql checks.
	MySQLHealthCheckerName = "fulcrum.health_checkers.mysql"
	// UDPRouteActionName names the only action of a UDP proxy's matcher.
	UDPRouteActionName = "route"
)

// LocalRateLimitStatPrefix is the stat_prefix of every local_ratelimit
// config, the filter's own and each route's (Envoy requires one).
const LocalRateLimitStatPrefix = "fulcrum_local_rate_limit"

// Listener-name prefixes: a Listener object's listener and a Pool's own
// frontend live in separate namespaces, so a Pool and a Listener may share
// a name.
const (
	listenerPrefix = "listener/"
	poolPrefix     = "pool/"
)

// ListenerName returns the xDS Listener name of a Listener object
// (kind api.KindListener) or of a Pool's own frontend (kind api.KindPool).
func ListenerName(kind, name string) string {
	if kind == api.KindPool {
		return poolPrefix + name
	}
	return listenerPrefix + name
}

// RouteConfigName returns the RouteConfiguration name of an HTTP listener:
// the same as its Listener's name.
func RouteConfigName(kind, name string) string { return ListenerName(kind, name) }

// ClusterName returns the Cluster (and ClusterLoadAssignment) name of a pool.
func ClusterName(pool string) string { return pool }

// PoolRouteName returns the name of the one route a Pool with an HTTP
// frontend gets in its RouteConfiguration.
func PoolRouteName(pool string) string { return poolPrefix + pool }

// ParseListenerName reverses ListenerName: it returns api.KindPool or
// api.KindListener and the object name, or ok false for a name the
// translator does not produce.
func ParseListenerName(s string) (kind, name string, ok bool) {
	switch {
	case strings.HasPrefix(s, poolPrefix) && len(s) > len(poolPrefix):
		return api.KindPool, s[len(poolPrefix):], true
	case strings.HasPrefix(s, listenerPrefix) && len(s) > len(listenerPrefix):
		return api.KindListener, s[len(listenerPrefix):], true
	}
	return "", "", false
}
