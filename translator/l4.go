package translator

import (
	"slices"
	"sort"
	"strconv"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	udpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/fulcrumlb/fulcrum/api"
)

// weightedPool is one backend of an L4 proxy.
type weightedPool struct {
	pool   *api.Pool
	weight int
}

type weightedPools []weightedPool

// tcpProxy builds the TCP proxy network filter towards backends. The first
// backend's pool decides connect retries and hashing.
func (t *translation) tcpProxy(stat string, fe *api.Frontend, backends weightedPools) *listenerv3.Filter {
	tp := &tcpproxyv3.TcpProxy{StatPrefix: stat}
	var live []*tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight
	for _, b := range backends {
		// Envoy's TCP proxy refuses weight 0; such a backend gets nothing anyway.
		if b.weight > 0 {
			live = append(live, &tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{
				Name: ClusterName(b.pool.Metadata.Name), Weight: clampU32(b.weight)})
		}
	}
	switch len(live) {
	case 0:
		return nil
	case 1:
		tp.ClusterSpecifier = &tcpproxyv3.TcpProxy_Cluster{Cluster: live[0].Name}
	default:
		tp.ClusterSpecifier = &tcpproxyv3.TcpProxy_WeightedClusters{WeightedClusters: &tcpproxyv3.TcpProxy_WeightedCluster{Clusters: live}}
	}
	if fe.Limits != nil && fe.Limits.IdleTimeout > 0 {
		tp.IdleTimeout = dur(fe.Limits.IdleTimeout.D())
	}
	first := backends[0].pool.Spec
	if r := first.Retries; r != nil && slices.Contains(r.On, api.RetryConnectFailure) {
		tp.MaxConnectAttempts = u32(r.Attempts + 1)
	}
	if isHashAlgorithm(first.Algorithm) {
		tp.HashPolicy = []*typev3.HashPolicy{{PolicySpecifier: &typev3.HashPolicy_SourceIp_{SourceIp: &typev3.HashPolicy_SourceIp{}}}}
	}
	return &listenerv3.Filter{Name: TCPProxyName, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: typed(tp)}}
}

// udpProxy builds the UDP proxy listener filter. Its cluster is named by
// the matcher's on_no_match action, the form that replaces Envoy's
// deprecated UdpProxyConfig.cluster.
func udpProxy(stat string, fe *api.Frontend, p *api.Pool) *listenerv3.ListenerFilter {
	up := &udpproxyv3.UdpProxyConfig{
		StatPrefix: stat,
		RouteSpecifier: &udpproxyv3.UdpProxyConfig_Matcher{Matcher: &xdsmatcherv3.Matcher{
			OnNoMatch: &xdsmatcherv3.Matcher_OnMatch{OnMatch: &xdsmatcherv3.Matcher_OnMatch_Action{
				Action: &xdscorev3.TypedExtensionConfig{
					Name:        UDPRouteActionName,
					TypedConfig: typed(&udpproxyv3.Route{Cluster: ClusterName(p.Metadata.Name)}),
				},
			}},
		}},
	}
	if fe.Limits != nil && fe.Limits.IdleTimeout > 0 {
		up.IdleTimeout = dur(fe.Limits.IdleTimeout.D())
	}
	if isHashAlgorithm(p.Spec.Algorithm) {
		up.HashPolicies = []*udpproxyv3.UdpProxyConfig_HashPolicy{{PolicySpecifier: &udpproxyv3.UdpProxyConfig_HashPolicy_SourceIp{SourceIp: true}}}
	}
	return listenerFilter(UDPProxyName, typed(up))
}

// UDPProxyCluster returns the cluster a UDP proxy config sends to: the
// on_no_match route action the translator writes, or "" for any other shape.
func UDPProxyCluster(cfg *udpproxyv3.UdpProxyConfig) string {
	action := cfg.GetMatcher().GetOnNoMatch().GetAction()
	if action.GetName() != UDPRouteActionName || action.GetTypedConfig() == nil {
		return ""
	}
	r := &udpproxyv3.Route{}
	if err := action.GetTypedConfig().UnmarshalTo(r); err != nil {
		return ""
	}
	return r.GetCluster()
}

// sniRoute is a tls listener route with the SNI names it keeps.
type sniRoute struct {
	route *api.Route
	hosts []string
}

// sniChains adds one filter chain per route of a tls listener, matched by
// SNI, and the default chain to the defaultPool. Envoy refuses two chains
// with the same server name, so each name goes to one route only: the one
// with the highest priority, then the first by name.
func (t *translation) sniChains(l *listenerv3.Listener, s *frontendSite) {
	routes := slices.Clone(t.routes[s.name])
	sort.SliceStable(routes, func(i, j int) bool { return routes[i].Spec.Priority > routes[j].Spec.Priority })
	taken := map[string]bool{}
	var kept []sniRoute
	for _, r := range routes {
		sr := sniRoute{route: r}
		for _, h := range r.Spec.Hosts {
			h = lowerHost(h)
			if !taken[h] {
				taken[h] = true
				sr.hosts = append(sr.hosts, h)
			}
		}
		if len(sr.hosts) > 0 {
			kept = append(kept, sr)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].route.Metadata.Name < kept[j].route.Metadata.Name })
	for _, sr := range kept {
		backends, ok := t.routeBackends(sr.route)
		if !ok {
			continue
		}
		f := t.tcpProxy(l.Name, s.fe, backends)
		if f == nil {
			continue
		}
		sort.Strings(sr.hosts)
		l.FilterChains = append(l.FilterChains, &listenerv3.FilterChain{
			Name:             sr.route.Metadata.Name,
			FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: sr.hosts},
			Filters:          []*listenerv3.Filter{f},
			Metadata:         toMetadata(&RouteMetadata{Route: sr.route.Metadata.Name}),
		})
	}
	if s.pool != nil {
		l.DefaultFilterChain = &listenerv3.FilterChain{
			Filters: []*listenerv3.Filter{t.tcpProxy(l.Name, s.fe, weightedPools{{pool: s.pool, weight: 1}})},
		}
	}
}

// routeBackends resolves a route's backends to pools, recording an error
// for an unknown pool.
func (t *translation) routeBackends(r *api.Route) (weightedPools, bool) {
	var out weightedPools
	for i, b := range r.Spec.Backends {
		p := t.pool(b.Pool)
		if p == nil {
			t.fail(r, "spec.backends["+strconv.Itoa(i)+"].pool", nil, "unknown Pool %q", b.Pool)
			return nil, false
		}
		out = append(out, weightedPool{pool: p, weight: b.W()})
	}
	return out, len(out) > 0
}
