package translator

import (
	"net/netip"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	proxyprotocolv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/proxy_protocol/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/fulcrumlb/fulcrum/api"
)

// panicThreshold makes Envoy spread traffic over every member only when no
// member is healthy: 0 would disable panic mode, the default 50% would
// overload the healthy half.
const panicThreshold = 0.0001

// leastRequestChoices is the "power of two choices" of least_request and
// peak_ewma.
const leastRequestChoices = 2

// cluster translates a Pool into its Cluster.
func (t *translation) cluster(p *api.Pool) *clusterv3.Cluster {
	s := &p.Spec
	c := &clusterv3.Cluster{
		Name:                 ClusterName(p.Metadata.Name),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{
			EdsConfig:   adsSource(),
			ServiceName: ClusterName(p.Metadata.Name),
		},
		CommonLbConfig: &clusterv3.Cluster_CommonLbConfig{
			HealthyPanicThreshold: &typev3.Percent{Value: panicThreshold},
		},
		OutlierDetection: outlierDetection(s.OutlierDetection),
		CircuitBreakers:  circuitBreakers(s.CircuitBreaker, s.Retries),
		Metadata:         toMetadata(t.clusterMetadata(p)),
	}
	setLbPolicy(c, s)
	if to := s.Timeouts; to != nil && to.Connect > 0 {
		c.ConnectTimeout = dur(to.Connect.D())
	}
	if t.opt.ActiveHealthChecks {
		if hc := healthCheck(s.HealthCheck); hc != nil {
			c.HealthChecks = append(c.HealthChecks, hc)
		}
	}
	if !isL4Pool(p) {
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{
			HTTPProtocolOptionsName: typed(httpProtocolOptions(s)),
		}
	}
	c.TransportSocket = upstreamTransportSocket(s.Upstream)
	return c
}

// setLbPolicy maps the algorithm to lb_policy and its tuning.
func setLbPolicy(c *clusterv3.Cluster, s *api.PoolSpec) {
	switch s.Algorithm {
	case api.LeastConn, api.WeightedLeastConn:
		c.LbPolicy = clusterv3.Cluster_LEAST_REQUEST
	case api.LeastRequest, api.PeakEWMA:
		c.LbPolicy = clusterv3.Cluster_LEAST_REQUEST
		c.LbConfig = &clusterv3.Cluster_LeastRequestLbConfig_{LeastRequestLbConfig: &clusterv3.Cluster_LeastRequestLbConfig{
			ChoiceCount: u32(leastRequestChoices),
		}}
	case api.Random:
		c.LbPolicy = clusterv3.Cluster_RANDOM
	case api.SourceHash, api.RingHash:
		c.LbPolicy = clusterv3.Cluster_RING_HASH
		rh := &clusterv3.Cluster_RingHashLbConfig{HashFunction: clusterv3.Cluster_RingHashLbConfig_XX_HASH}
		if r := s.RingHash; r != nil {
			rh.MinimumRingSize = wrapperspb.UInt64(uint64(max(r.MinRingSize, 0)))
			rh.MaximumRingSize = wrapperspb.UInt64(uint64(max(r.MaxRingSize, 0)))
		}
		c.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: rh}
	case api.Maglev:
		c.LbPolicy = clusterv3.Cluster_MAGLEV
		mg := &clusterv3.Cluster_MaglevLbConfig{}
		if s.Maglev != nil {
			mg.TableSize = wrapperspb.UInt64(uint64(max(s.Maglev.TableSize, 0)))
		}
		c.LbConfig = &clusterv3.Cluster_MaglevLbConfig_{MaglevLbConfig: mg}
	default: // round_robin, weighted_round_robin: Envoy's round robin is weighted.
		c.LbPolicy = clusterv3.Cluster_ROUND_ROBIN
	}
}

// clusterMetadata collects what Envoy's cluster fields cannot say.
func (t *translation) clusterMetadata(p *api.Pool) *ClusterMetadata {
	s := &p.Spec
	md := &ClusterMetadata{
		Algorithm:     s.Algorithm,
		HashOn:        s.HashOn,
		HealthCheck:   metadataHealthCheck(s.HealthCheck, t.opt.ActiveHealthChecks),
		Retries:       s.Retries,
		StickySession: s.StickySession,
		RateLimit:     s.RateLimit,
		Labels:        p.Metadata.Labels,
		Annotations:   p.Metadata.Annotations,
	}
	if s.RingHash != nil {
		md.BoundedLoadFactor = s.RingHash.BoundedLoadFactor
	}
	if to := s.Timeouts; to != nil {
		if isL4Pool(p) {
			md.IdleTimeout = to.Idle
		}
		md.RequestTimeout = to.Request
		md.DrainTimeout = to.Drain
	}
	if u := s.Upstream; u != nil {
		md.MaxIdleConnections = u.MaxIdleConnections
		md.InsecureSkipVerify = u.TLS != nil && u.TLS.InsecureSkipVerify
	}
	return md
}

// outlierDetection maps passive health checking. A threshold of 0 disables
// its kind of ejection by enforcing it 0% of the time.
func outlierDetection(od *api.OutlierDetection) *clusterv3.OutlierDetection {
	if od == nil {
		return nil
	}
	consecutive := api.DefaultConsecutiveErrors
	if od.ConsecutiveErrors != nil {
		consecutive = *od.ConsecutiveErrors
	}
	out := &clusterv3.OutlierDetection{
		Consecutive_5Xx:                    u32(consecutive),
		EnforcingConsecutive_5Xx:           u32(enforcing(consecutive)),
		ConsecutiveGatewayFailure:          u32(od.ConsecutiveGatewayErrors),
		EnforcingConsecutiveGatewayFailure: u32(enforcing(od.ConsecutiveGatewayErrors)),
		MaxEjectionPercent:                 u32(od.MaxEjectionPercent),
		EnforcingSuccessRate:               u32(0),
	}
	if od.Interval > 0 {
		out.Interval = dur(od.Interval.D())
	}
	if od.BaseEjectionTime > 0 {
		out.BaseEjectionTime = dur(od.BaseEjectionTime.D())
	}
	if od.MaxEjectionTime > 0 {
		out.MaxEjectionTime = dur(od.MaxEjectionTime.D())
	}
	return out
}

func enforcing(threshold int) int {
	if threshold > 0 {
		return 100
	}
	return 0
}

// circuitBreakers maps the limits of the DEFAULT priority and the pool's
// retry budget.
func circuitBreakers(cb *api.CircuitBreaker, r *api.RetryPolicy) *clusterv3.CircuitBreakers {
	if cb == nil && (r == nil || r.Budget == nil) {
		return nil
	}
	th := &clusterv3.CircuitBreakers_Thresholds{Priority: corev3.RoutingPriority_DEFAULT}
	if cb != nil {
		th.MaxConnections = u32(cb.MaxConnections)
		th.MaxPendingRequests = u32(cb.MaxPendingRequests)
		th.MaxRequests = u32(cb.MaxRequests)
		th.MaxRetries = u32(cb.MaxRetries)
	}
	if r != nil && r.Budget != nil {
		th.RetryBudget = &clusterv3.CircuitBreakers_Thresholds_RetryBudget{
			BudgetPercent:       &typev3.Percent{Value: float64(min(max(r.Budget.Percent, 0), 100))},
			MinRetryConcurrency: u32(r.Budget.MinConcurrent),
		}
	}
	return &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{th}}
}

// httpProtocolOptions says how an HTTP pool talks to its members.
func httpProtocolOptions(s *api.PoolSpec) *upstreamhttpv3.HttpProtocolOptions {
	explicit := &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{}
	proto := api.UpstreamHTTP1
	if s.Upstream != nil && s.Upstream.Protocol != "" {
		proto = s.Upstream.Protocol
	}
	if proto == api.UpstreamH2 || proto == api.UpstreamH2C {
		explicit.ProtocolConfig = &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
			Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
		}
	} else {
		explicit.ProtocolConfig = &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{
			HttpProtocolOptions: &corev3.Http1ProtocolOptions{},
		}
	}
	out := &upstreamhttpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: explicit},
	}
	if s.Timeouts != nil && s.Timeouts.Idle > 0 {
		out.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{IdleTimeout: dur(s.Timeouts.Idle.D())}
	}
	return out
}

// upstreamTransportSocket wraps TLS and the PROXY protocol header, or
// returns nil for plain TCP.
func upstreamTransportSocket(u *api.Upstream) *corev3.TransportSocket {
	if u == nil {
		return nil
	}
	var inner *corev3.TransportSocket
	if u.TLS != nil {
		inner = &corev3.TransportSocket{
			Name:       TLSTransportSocketName,
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: typed(upstreamTLS(u))},
		}
	}
	if u.ProxyProtocol == "" {
		return inner
	}
	if inner == nil {
		inner = &corev3.TransportSocket{
			Name:       RawBufferTransportSocketName,
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: typed(&rawbufferv3.RawBuffer{})},
		}
	}
	version := corev3.ProxyProtocolConfig_V1
	if u.ProxyProtocol == "v2" {
		version = corev3.ProxyProtocolConfig_V2
	}
	pp := &proxyprotocolv3.ProxyProtocolUpstreamTransport{
		Config:          &corev3.ProxyProtocolConfig{Version: version},
		TransportSocket: inner,
	}
	return &corev3.TransportSocket{
		Name:       ProxyProtocolTransportSocketName,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: typed(pp)},
	}
}

// upstreamTLS builds the UpstreamTlsContext. Without caFile the system
// roots are asked for; with a caFile and a serverName the certificate must
// also name the server (Envoy checks no name unless told to).
func upstreamTLS(u *api.Upstream) *tlsv3.UpstreamTlsContext {
	t := u.TLS
	ctx := &tlsv3.UpstreamTlsContext{Sni: t.ServerName, CommonTlsContext: &tlsv3.CommonTlsContext{}}
	if u.Protocol == api.UpstreamH2 {
		// HTTP/2 over TLS is negotiated by ALPN; most servers speak
		// HTTP/1.1 to a client that does not offer h2.
		ctx.CommonTlsContext.AlpnProtocols = []string{"h2"}
	}
	if t.InsecureSkipVerify {
		return ctx
	}
	vc := &tlsv3.CertificateValidationContext{}
	if t.CAFile != "" {
		vc.TrustedCa = inlineOrFile("", t.CAFile)
		if t.ServerName != "" {
			vc.MatchTypedSubjectAltNames = []*tlsv3.SubjectAltNameMatcher{sanMatcher(t.ServerName)}
		}
	} else {
		vc.SystemRootCerts = &tlsv3.CertificateValidationContext_SystemRootCerts{}
	}
	ctx.CommonTlsContext.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: vc}
	return ctx
}

// sanMatcher matches a server name against the certificate's DNS or IP
// subject alternative names.
func sanMatcher(serverName string) *tlsv3.SubjectAltNameMatcher {
	typ := tlsv3.SubjectAltNameMatcher_DNS
	if _, err := netip.ParseAddr(serverName); err == nil {
		typ = tlsv3.SubjectAltNameMatcher_IP_ADDRESS
	}
	return &tlsv3.SubjectAltNameMatcher{
		SanType: typ,
		Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: serverName}},
	}
}
