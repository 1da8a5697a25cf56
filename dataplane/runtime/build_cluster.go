package runtime

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	ppv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/proxy_protocol/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/balancer"
	"github.com/fulcrumlb/fulcrum/translator"
)

// buildCluster turns a Cluster and its ClusterLoadAssignment into a runtime
// Cluster, with every error naming the field.
func buildCluster(c *clusterv3.Cluster, cla *endpointv3.ClusterLoadAssignment) (*Cluster, error) {
	md, err := translator.ClusterMeta(c)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", c.GetName(), err)
	}
	out := &Cluster{
		Name:               c.GetName(),
		ConnectTimeout:     durOf(c.GetConnectTimeout()),
		HashOn:             md.HashOn,
		Protocol:           UpstreamHTTP1,
		RequestTimeout:     md.RequestTimeout.D(),
		DrainTimeout:       md.DrainTimeout.D(),
		IdleTimeout:        md.IdleTimeout.D(),
		MaxIdleConnections: md.MaxIdleConnections,
		Labels:             md.Labels,
		Annotations:        md.Annotations,
	}
	if out.ConnectTimeout <= 0 {
		out.ConnectTimeout = api.DefaultConnectTimeout
	}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(buildBalancer(c, md, &out.Balancer))
	buildCircuit(c.GetCircuitBreakers(), &out.Circuit)
	buildOutlier(c.GetOutlierDetection(), &out.Outlier)
	if out.MaxIdleConnections == 0 {
		out.MaxIdleConnections = api.DefaultMaxIdleConnections
	}
	add(buildProtocolOptions(c, out))
	add(buildTransport(c.GetTransportSocket(), md, out))
	add(buildHealthCheck(c, md, out))
	buildPoolExtras(md, out)
	out.Members, err = buildMembers(cla)
	add(err)
	if len(errs) > 0 {
		return nil, fmt.Errorf("cluster %s: %w", c.GetName(), errors.Join(errs...))
	}
	return out, nil
}

func buildBalancer(c *clusterv3.Cluster, md *translator.ClusterMetadata, bc *balancer.Config) error {
	bc.Algorithm = md.Algorithm
	if bc.Algorithm == "" {
		switch c.GetLbPolicy() {
		case clusterv3.Cluster_ROUND_ROBIN:
			bc.Algorithm = balancer.WeightedRoundRobin
		case clusterv3.Cluster_LEAST_REQUEST:
			bc.Algorithm = balancer.LeastRequest
		case clusterv3.Cluster_RANDOM:
			bc.Algorithm = balancer.Random
		case clusterv3.Cluster_RING_HASH:
			bc.Algorithm = balancer.RingHash
		case clusterv3.Cluster_MAGLEV:
			bc.Algorithm = balancer.Maglev
		default:
			return fmt.Errorf("lb_policy %s is not supported", c.GetLbPolicy())
		}
	}
	if rh := c.GetRingHashLbConfig(); rh != nil {
		bc.RingMinSize = int(rh.GetMinimumRingSize().GetValue())
		bc.RingMaxSize = int(rh.GetMaximumRingSize().GetValue())
	}
	bc.BoundedLoadFactor = md.BoundedLoadFactor
	if mg := c.GetMaglevLbConfig(); mg != nil {
		bc.MaglevTableSize = int(mg.GetTableSize().GetValue())
	}
	return nil
}

func buildCircuit(cb *clusterv3.CircuitBreakers, out *CircuitBreaker) {
	*out = CircuitBreaker{
		MaxConnections: api.DefaultCircuitLimit, MaxPendingRequests: api.DefaultCircuitLimit,
		MaxRequests: api.DefaultCircuitLimit, MaxRetries: api.DefaultMaxRetries, RetryBudgetPercent: -1,
	}
	for _, t := range cb.GetThresholds() {
		if t.GetPriority() != corev3.RoutingPriority_DEFAULT {
			continue
		}
		if v := t.GetMaxConnections(); v != nil {
			out.MaxConnections = int(v.GetValue())
		}
		if v := t.GetMaxPendingRequests(); v != nil {
			out.MaxPendingRequests = int(v.GetValue())
		}
		if v := t.GetMaxRequests(); v != nil {
			out.MaxRequests = int(v.GetValue())
		}
		if v := t.GetMaxRetries(); v != nil {
			out.MaxRetries = int(v.GetValue())
		}
		if rb := t.GetRetryBudget(); rb != nil {
			out.RetryBudgetPercent = 20
			if p := rb.GetBudgetPercent(); p != nil {
				out.RetryBudgetPercent = p.GetValue()
			}
			out.RetryBudgetMin = 3
			if m := rb.GetMinRetryConcurrency(); m != nil {
				out.RetryBudgetMin = int(m.GetValue())
			}
		}
	}
}

func buildOutlier(od *clusterv3.OutlierDetection, out *OutlierDetection) {
	if od == nil {
		return // Envoy's semantics: no outlier detection without the message
	}
	*out = OutlierDetection{
		Consecutive5xx: 5, Interval: api.DefaultOutlierInterval, BaseEjectionTime: api.DefaultBaseEjectionTime,
		MaxEjectionTime: api.DefaultMaxEjectionTime, MaxEjectionPercent: 10,
	}
	if v := od.GetConsecutive_5Xx(); v != nil {
		out.Consecutive5xx = int(v.GetValue())
	}
	if v := od.GetEnforcingConsecutive_5Xx(); v != nil && v.GetValue() == 0 {
		out.Consecutive5xx = 0
	}
	if v := od.GetConsecutiveGatewayFailure(); v != nil {
		out.ConsecutiveGateway = int(v.GetValue())
	}
	if v := od.GetEnforcingConsecutiveGatewayFailure(); v == nil || v.GetValue() == 0 {
		out.ConsecutiveGateway = 0 // Envoy enforces gateway failures only when asked
	}
	if d := durOf(od.GetInterval()); d > 0 {
		out.Interval = d
	}
	if d := durOf(od.GetBaseEjectionTime()); d > 0 {
		out.BaseEjectionTime = d
	}
	if d := durOf(od.GetMaxEjectionTime()); d > 0 {
		out.MaxEjectionTime = d
	}
	if v := od.GetMaxEjectionPercent(); v != nil {
		out.MaxEjectionPercent = int(v.GetValue())
	}
}

func buildProtocolOptions(c *clusterv3.Cluster, out *Cluster) error {
	a, ok := c.GetTypedExtensionProtocolOptions()[translator.HTTPProtocolOptionsName]
	if !ok {
		return nil
	}
	var po httpv3.HttpProtocolOptions
	if err := unpack(translator.HTTPProtocolOptionsName, a, &po); err != nil {
		return err
	}
	if d := durOf(po.GetCommonHttpProtocolOptions().GetIdleTimeout()); d > 0 {
		out.IdleTimeout = d
	}
	if ex := po.GetExplicitHttpConfig(); ex != nil && ex.GetHttp2ProtocolOptions() != nil {
		out.Protocol = UpstreamH2C // becomes h2 when the transport is TLS
	}
	return nil
}

// buildTransport reads the upstream transport: raw, TLS, or a PROXY
// protocol header around either.
func buildTransport(ts *corev3.TransportSocket, md *translator.ClusterMetadata, out *Cluster) error {
	if ts == nil {
		return nil
	}
	switch ts.GetName() {
	case translator.RawBufferTransportSocketName:
		return nil
	case translator.ProxyProtocolTransportSocketName:
		var pp ppv3.ProxyProtocolUpstreamTransport
		if err := unpack(ts.GetName(), ts.GetTypedConfig(), &pp); err != nil {
			return err
		}
		out.ProxyProtocol = int(pp.GetConfig().GetVersion()) + 1 // V1 = 0, V2 = 1
		return buildTransport(pp.GetTransportSocket(), md, out)
	case translator.TLSTransportSocketName:
		var ut tlsv3.UpstreamTlsContext
		if err := unpack(ts.GetName(), ts.GetTypedConfig(), &ut); err != nil {
			return err
		}
		cfg, err := upstreamTLS(&ut, md.InsecureSkipVerify)
		if err != nil {
			return err
		}
		out.TLS = cfg
		if out.Protocol == UpstreamH2C {
			out.Protocol = UpstreamH2
		}
		return nil
	}
	return fmt.Errorf("transport_socket %q is not supported", ts.GetName())
}

func upstreamTLS(ut *tlsv3.UpstreamTlsContext, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: ut.GetSni(), MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}
	if insecure {
		return cfg, nil
	}
	ca := ut.GetCommonTlsContext().GetValidationContext().GetTrustedCa()
	if ca == nil {
		return cfg, nil // system roots
	}
	pem, err := dataSource(ca)
	if err != nil {
		return nil, fmt.Errorf("trusted_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("trusted_ca: no PEM certificate found")
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// buildPoolExtras reads the settings only Fulcrum understands.
func buildPoolExtras(md *translator.ClusterMetadata, out *Cluster) {
	if s := md.StickySession; s != nil {
		out.Sticky = &StickySession{Cookie: s.Cookie, TTL: s.TTL.D(), Path: s.Path, Secure: s.Secure, SameSite: s.SameSite}
	}
	out.RateLimit = rateLimit(md.RateLimit)
}

func rateLimit(rl *api.RateLimit) *RateLimit {
	if rl == nil {
		return nil
	}
	return &RateLimit{RequestsPerSecond: rl.RequestsPerSecond, Burst: rl.Burst, PerClientIP: rl.Per == api.PerClientIP}
}

// buildMembers reads the endpoints; members the control plane left out
// (disabled) are simply absent.
func buildMembers(cla *endpointv3.ClusterLoadAssignment) ([]Member, error) {
	var out []Member
	seen := map[string]bool{}
	for _, loc := range cla.GetEndpoints() {
		for _, ep := range loc.GetLbEndpoints() {
			sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
			if sa == nil {
				return nil, errors.New("endpoint without a socket address")
			}
			addr := net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))
			if seen[addr] {
				return nil, fmt.Errorf("endpoint %s listed twice", addr)
			}
			seen[addr] = true
			m := Member{Address: addr, Weight: 1, Zone: loc.GetLocality().GetZone()}
			if w := ep.GetLoadBalancingWeight(); w != nil && w.GetValue() > 0 {
				m.Weight = w.GetValue()
			}
			switch ep.GetHealthStatus() {
			case corev3.HealthStatus_HEALTHY:
				m.Health = balancer.Healthy
			case corev3.HealthStatus_UNHEALTHY, corev3.HealthStatus_TIMEOUT:
				m.Health = balancer.Unhealthy
			case corev3.HealthStatus_DRAINING:
				m.State = balancer.Draining
			}
			em, err := translator.EndpointMeta(ep)
			if err != nil {
				return nil, fmt.Errorf("endpoint %s: %w", addr, err)
			}
			m.HealthReason = em.HealthReason
			out = append(out, m)
		}
	}
	return out, nil
}
