package runtime

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	bodyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/body_size_limit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	udpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"
	xffv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/original_ip_detection/xff/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/translator"
)

// mozillaIntermediate are the TLS 1.2 suites of Mozilla's "intermediate"
// profile; TLS 1.3 suites are not configurable in Go and are all good.
var mozillaIntermediate = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

func buildListener(l *listenerv3.Listener, routes map[string]*routev3.RouteConfiguration) (*Listener, error) {
	md, err := translator.ListenerMeta(l)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", l.GetName(), err)
	}
	out := &Listener{Name: l.GetName(), Kind: md.Kind, Object: md.Name, Protocol: md.Protocol}
	sa := l.GetAddress().GetSocketAddress()
	ip, err := netip.ParseAddr(sa.GetAddress())
	if err != nil {
		return nil, fmt.Errorf("listener %s: address %q is not an IP address", l.GetName(), sa.GetAddress())
	}
	out.Address = netip.AddrPortFrom(ip, uint16(sa.GetPortValue()))
	if out.Protocol == "" {
		out.Protocol = inferProtocol(l)
	}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(buildListenerExtras(md, out))
	switch out.Protocol {
	case ProtoHTTP, ProtoHTTPS, ProtoGRPC:
		add(buildHTTPListener(l, routes, out))
	case ProtoTCP:
		add(buildTCPListener(l, out))
	case ProtoTLS:
		add(buildSNIListener(l, out))
	case ProtoUDP:
		add(buildUDPListener(l, out))
	default:
		add(fmt.Errorf("unknown protocol %q", out.Protocol))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("listener %s: %w", l.GetName(), errors.Join(errs...))
	}
	return out, nil
}

// inferProtocol reads the protocol from the filters, for listeners that did
// not come from Fulcrum's translator.
func inferProtocol(l *listenerv3.Listener) string {
	if l.GetAddress().GetSocketAddress().GetProtocol() == corev3.SocketAddress_UDP {
		return ProtoUDP
	}
	for _, fc := range l.GetFilterChains() {
		for _, f := range fc.GetFilters() {
			if f.GetName() == translator.HTTPConnectionManagerName {
				if fc.GetTransportSocket() != nil {
					return ProtoHTTPS
				}
				return ProtoHTTP
			}
		}
		if len(fc.GetFilterChainMatch().GetServerNames()) > 0 {
			return ProtoTLS
		}
	}
	return ProtoTCP
}

func buildListenerExtras(md *translator.ListenerMetadata, out *Listener) error {
	if lim := md.Limits; lim != nil {
		out.Limits.MaxConnections = lim.MaxConnections
		out.Limits.MaxConnectionsPerClient = lim.MaxConnectionsPerClient
		out.Limits.MaxUDPSessions = lim.MaxUDPSessions
		out.Limits.DrainTimeout = lim.DrainTimeout.D()
	}
	out.Limits.MaxHeaderBytes = int(md.MaxHeaderBytes)
	if al := md.AccessLog; al != nil {
		out.AccessLog = AccessLog{Enabled: al.Enabled, Fields: al.Fields}
	}
	if md.ProxyProtocolTrustedCIDRs != nil {
		prefixes, err := parsePrefixes(md.ProxyProtocolTrustedCIDRs)
		if err != nil {
			return fmt.Errorf("proxyProtocolTrustedCIDRs: %w", err)
		}
		out.ProxyProtocolFrom = prefixes
	}
	return nil
}

// parsePrefixes accepts CIDRs and bare addresses.
func parsePrefixes(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func buildHTTPListener(l *listenerv3.Listener, routes map[string]*routev3.RouteConfiguration, out *Listener) error {
	chains := l.GetFilterChains()
	if len(chains) != 1 || len(chains[0].GetFilters()) != 1 || chains[0].GetFilters()[0].GetName() != translator.HTTPConnectionManagerName {
		return fmt.Errorf("an HTTP listener needs exactly one filter chain with one %s", translator.HTTPConnectionManagerName)
	}
	fc := chains[0]
	if ts := fc.GetTransportSocket(); ts != nil {
		t, err := downstreamTLS(ts)
		if err != nil {
			return err
		}
		out.TLS = t
	}
	var hcm hcmv3.HttpConnectionManager
	if err := unpack(translator.HTTPConnectionManagerName, fc.GetFilters()[0].GetTypedConfig(), &hcm); err != nil {
		return err
	}
	if err := hcmLimits(&hcm, out); err != nil {
		return err
	}
	var rc *routev3.RouteConfiguration
	switch {
	case hcm.GetRds() != nil:
		rc = routes[hcm.GetRds().GetRouteConfigName()]
		if rc == nil {
			return fmt.Errorf("route configuration %q is missing", hcm.GetRds().GetRouteConfigName())
		}
	case hcm.GetRouteConfig() != nil:
		rc = hcm.GetRouteConfig()
	default:
		return errors.New("http_connection_manager has neither rds nor route_config")
	}
	table, err := buildRouteTable(rc)
	if err != nil {
		return err
	}
	out.Routes = table
	return nil
}

// hcmLimits reads the edge limits and the HTTP filters.
func hcmLimits(hcm *hcmv3.HttpConnectionManager, out *Listener) error {
	lim := &out.Limits
	lim.HeaderTimeout = durOf(hcm.GetRequestHeadersTimeout())
	cho := hcm.GetCommonHttpProtocolOptions()
	lim.IdleTimeout = durOf(cho.GetIdleTimeout())
	lim.MaxHeaders = int(cho.GetMaxHeadersCount().GetValue())
	lim.MaxRequestsPerConnection = int(cho.GetMaxRequestsPerConnection().GetValue())
	if lim.MaxHeaderBytes == 0 {
		if kb := hcm.GetMaxRequestHeadersKb(); kb != nil {
			lim.MaxHeaderBytes = int(kb.GetValue()) << 10
		} else {
			lim.MaxHeaderBytes = 60 << 10 // Envoy's default
		}
	}
	lim.MaxConcurrentStreams = int(hcm.GetHttp2ProtocolOptions().GetMaxConcurrentStreams().GetValue())
	for _, ext := range hcm.GetOriginalIpDetectionExtensions() {
		if ext.GetName() != translator.XFFOriginalIPDetectionName {
			return fmt.Errorf("original_ip_detection_extensions: %q is not supported", ext.GetName())
		}
		var xff xffv3.XffConfig
		if err := unpack(ext.GetName(), ext.GetTypedConfig(), &xff); err != nil {
			return err
		}
		for _, c := range xff.GetXffTrustedCidrs().GetCidrs() {
			a, err := netip.ParseAddr(c.GetAddressPrefix())
			if err != nil {
				return fmt.Errorf("xff_trusted_cidrs: %q is not an address", c.GetAddressPrefix())
			}
			out.TrustedProxies = append(out.TrustedProxies, netip.PrefixFrom(a, int(c.GetPrefixLen().GetValue())).Masked())
		}
	}
	for _, f := range hcm.GetHttpFilters() {
		switch f.GetName() {
		case translator.RouterName, translator.LocalRateLimitName, translator.StatefulSessionName:
		case translator.BodySizeLimitName:
			var bl bodyv3.BodySizeLimit
			if err := unpack(translator.BodySizeLimitName, f.GetTypedConfig(), &bl); err != nil {
				return err
			}
			lim.MaxRequestBodyBytes = int64(bl.GetMaxRequestBytes().GetValue())
		default:
			return fmt.Errorf("http filter %q is not supported", f.GetName())
		}
	}
	return nil
}

func downstreamTLS(ts *corev3.TransportSocket) (*TLSSettings, error) {
	if ts.GetName() != translator.TLSTransportSocketName {
		return nil, fmt.Errorf("transport_socket %q is not supported", ts.GetName())
	}
	var dt tlsv3.DownstreamTlsContext
	if err := unpack(ts.GetName(), ts.GetTypedConfig(), &dt); err != nil {
		return nil, err
	}
	ctc := dt.GetCommonTlsContext()
	out := &TLSSettings{MinVersion: tls.VersionTLS12, NextProtos: ctc.GetAlpnProtocols(), CipherSuites: mozillaIntermediate}
	if ctc.GetTlsParams().GetTlsMinimumProtocolVersion() == tlsv3.TlsParameters_TLSv1_3 {
		out.MinVersion = tls.VersionTLS13
	}
	for i, c := range ctc.GetTlsCertificates() {
		certPEM, err := dataSource(c.GetCertificateChain())
		if err != nil {
			return nil, fmt.Errorf("tls_certificates[%d].certificate_chain: %w", i, err)
		}
		keyPEM, err := dataSource(c.GetPrivateKey())
		if err != nil {
			return nil, fmt.Errorf("tls_certificates[%d].private_key: %w", i, err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("tls_certificates[%d]: %w", i, err)
		}
		out.Certificates = append(out.Certificates, cert)
	}
	if len(out.Certificates) == 0 {
		return nil, errors.New("tls: no certificate")
	}
	return out, nil
}

func buildTCPListener(l *listenerv3.Listener, out *Listener) error {
	chains := l.GetFilterChains()
	if len(chains) != 1 {
		return fmt.Errorf("a tcp listener needs exactly one filter chain, got %d", len(chains))
	}
	r, err := tcpRoute(chains[0])
	if err != nil {
		return err
	}
	out.TCP = r
	out.Limits.IdleTimeout = r.IdleTimeout
	return nil
}

func tcpRoute(fc *listenerv3.FilterChain) (*TCPRoute, error) {
	fs := fc.GetFilters()
	if len(fs) != 1 || fs[0].GetName() != translator.TCPProxyName {
		return nil, fmt.Errorf("filter chain %q: want one %s", fc.GetName(), translator.TCPProxyName)
	}
	var tp tcpv3.TcpProxy
	if err := unpack(translator.TCPProxyName, fs[0].GetTypedConfig(), &tp); err != nil {
		return nil, err
	}
	r := &TCPRoute{IdleTimeout: durOf(tp.GetIdleTimeout()), MaxConnectAttempts: int(tp.GetMaxConnectAttempts().GetValue())}
	if r.MaxConnectAttempts == 0 {
		r.MaxConnectAttempts = 1
	}
	if c := tp.GetCluster(); c != "" {
		r.Backends = []WeightedCluster{{Cluster: c, Weight: 1}}
	}
	for _, wc := range tp.GetWeightedClusters().GetClusters() {
		r.Backends = append(r.Backends, WeightedCluster{Cluster: wc.GetName(), Weight: wc.GetWeight()})
	}
	if len(r.Backends) == 0 {
		return nil, errors.New("tcp_proxy has no cluster")
	}
	for _, hp := range tp.GetHashPolicy() {
		if hp.GetSourceIp() != nil {
			r.HashSourceIP = true
		}
	}
	return r, nil
}

func buildSNIListener(l *listenerv3.Listener, out *Listener) error {
	for _, fc := range l.GetFilterChains() {
		r, err := tcpRoute(fc)
		if err != nil {
			return err
		}
		names := fc.GetFilterChainMatch().GetServerNames()
		if len(names) == 0 {
			return fmt.Errorf("filter chain %q of a tls listener has no server_names", fc.GetName())
		}
		md, err := translator.FilterChainMeta(fc)
		if err != nil {
			return err
		}
		name := md.Route
		if name == "" {
			name = fc.GetName()
		}
		out.SNI = append(out.SNI, &SNIRoute{Name: name, ServerNames: names, Route: *r})
		out.Limits.IdleTimeout = r.IdleTimeout
	}
	if dfc := l.GetDefaultFilterChain(); dfc != nil {
		r, err := tcpRoute(dfc)
		if err != nil {
			return err
		}
		out.TCP = r
		out.Limits.IdleTimeout = r.IdleTimeout
	}
	return nil
}

func buildUDPListener(l *listenerv3.Listener, out *Listener) error {
	for _, lf := range l.GetListenerFilters() {
		if lf.GetName() != translator.UDPProxyName {
			continue
		}
		var up udpv3.UdpProxyConfig
		if err := unpack(translator.UDPProxyName, lf.GetTypedConfig(), &up); err != nil {
			return err
		}
		r := &UDPRoute{Cluster: translator.UDPProxyCluster(&up), IdleTimeout: durOf(up.GetIdleTimeout())}
		if r.Cluster == "" {
			return errors.New("udp_proxy: the matcher must end in a route action naming a cluster")
		}
		if r.IdleTimeout == 0 {
			r.IdleTimeout = api.DefaultUDPIdleTimeout
		}
		for _, hp := range up.GetHashPolicies() {
			if hp.GetSourceIp() {
				r.HashSourceIP = true
			}
		}
		out.UDP = r
		out.Limits.IdleTimeout = r.IdleTimeout
		return nil
	}
	return fmt.Errorf("a udp listener needs a %s listener filter", translator.UDPProxyName)
}
