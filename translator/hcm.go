package translator

import (
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	bodysizelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/body_size_limit/v3"
	localratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	statefulsessionv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/stateful_session/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	xffv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/original_ip_detection/xff/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/fulcrumlb/fulcrum/api"
)

// HTTP/2 flow-control windows: Envoy's recommendation for edge proxies.
const (
	initialStreamWindow     = 65536
	initialConnectionWindow = 1048576
)

// intermediateCiphers are Mozilla's "intermediate" TLS 1.2 cipher suites
// that BoringSSL implements (it has no DHE), in Mozilla's order.
var intermediateCiphers = []string{
	"ECDHE-ECDSA-AES128-GCM-SHA256",
	"ECDHE-RSA-AES128-GCM-SHA256",
	"ECDHE-ECDSA-AES256-GCM-SHA384",
	"ECDHE-RSA-AES256-GCM-SHA384",
	"ECDHE-ECDSA-CHACHA20-POLY1305",
	"ECDHE-RSA-CHACHA20-POLY1305",
}

// httpConnectionManager builds the HCM of an http, https or grpc frontend.
func httpConnectionManager(name string, fe *api.Frontend) *listenerv3.Filter {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: name,
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: name,
			ConfigSource:    adsSource(),
		}},
		NormalizePath:                wrapperspb.Bool(true),
		MergeSlashes:                 true,
		PathWithEscapedSlashesAction: hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT,
		StripPortMode:                &hcmv3.HttpConnectionManager_StripAnyHostPort{StripAnyHostPort: true},
		GenerateRequestId:            wrapperspb.Bool(true),
		HttpFilters:                  httpFilters(fe.Limits),
	}
	if len(fe.TrustedProxies) > 0 {
		// Envoy refuses original_ip_detection_extensions together with
		// use_remote_address; the XFF extension then decides the client
		// address, and XFF still gets the peer appended.
		hcm.OriginalIpDetectionExtensions = []*corev3.TypedExtensionConfig{{
			Name: XFFOriginalIPDetectionName,
			TypedConfig: typed(&xffv3.XffConfig{
				XffTrustedCidrs: &xffv3.XffTrustedCidrs{Cidrs: cidrRanges(fe.TrustedProxies)},
				SkipXffAppend:   wrapperspb.Bool(false),
			}),
		}}
	} else {
		hcm.UseRemoteAddress = wrapperspb.Bool(true)
	}
	setHCMLimits(hcm, fe.Limits)
	return &listenerv3.Filter{Name: HTTPConnectionManagerName, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: typed(hcm)}}
}

// setHCMLimits maps the edge limits of an HTTP frontend.
func setHCMLimits(hcm *hcmv3.HttpConnectionManager, lim *api.Limits) {
	if lim == nil {
		return
	}
	if lim.HeaderTimeout > 0 {
		hcm.RequestHeadersTimeout = dur(lim.HeaderTimeout.D())
	}
	common := &corev3.HttpProtocolOptions{}
	if lim.IdleTimeout > 0 {
		common.IdleTimeout = dur(lim.IdleTimeout.D())
	}
	if lim.MaxHeaders > 0 {
		common.MaxHeadersCount = u32(lim.MaxHeaders)
	}
	if lim.MaxRequestsPerConnection > 0 {
		common.MaxRequestsPerConnection = u32(lim.MaxRequestsPerConnection)
	}
	hcm.CommonHttpProtocolOptions = common
	if lim.MaxHeaderBytes > 0 {
		hcm.MaxRequestHeadersKb = u32(int((lim.MaxHeaderBytes + 1023) / 1024))
	}
	if lim.MaxConcurrentStreams > 0 {
		hcm.Http2ProtocolOptions = &corev3.Http2ProtocolOptions{
			MaxConcurrentStreams:        u32(lim.MaxConcurrentStreams),
			InitialStreamWindowSize:     u32(initialStreamWindow),
			InitialConnectionWindowSize: u32(initialConnectionWindow),
		}
	}
}

// httpFilters are the HTTP filters in their one fixed order. Rate limiting
// and sticky sessions are configured empty here and enabled per route.
func httpFilters(lim *api.Limits) []*hcmv3.HttpFilter {
	body := &bodysizelimitv3.BodySizeLimit{}
	if lim != nil && lim.MaxRequestBodyBytes > 0 {
		body.MaxRequestBytes = wrapperspb.UInt64(uint64(lim.MaxRequestBodyBytes))
	}
	filter := func(name string, cfg *anypb.Any) *hcmv3.HttpFilter {
		return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: cfg}}
	}
	return []*hcmv3.HttpFilter{
		filter(BodySizeLimitName, typed(body)),
		filter(LocalRateLimitName, typed(&localratelimitv3.LocalRateLimit{StatPrefix: LocalRateLimitStatPrefix})),
		filter(StatefulSessionName, typed(&statefulsessionv3.StatefulSession{})),
		filter(RouterName, typed(&routerv3.Router{})),
	}
}

// cidrRanges converts validated CIDRs or bare addresses, masked.
func cidrRanges(cidrs []string) []*corev3.CidrRange {
	var out []*corev3.CidrRange
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			a, err := netip.ParseAddr(c)
			if err != nil {
				continue // validation rejects these
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		p = p.Masked()
		out = append(out, &corev3.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: u32(p.Bits())})
	}
	return out
}

// downstreamTransportSocket terminates TLS with every certificate (Envoy
// picks one by SNI) and the ALPN of the protocol.
func downstreamTransportSocket(t *api.TLSSettings, proto string) *corev3.TransportSocket {
	minVersion := tlsv3.TlsParameters_TLSv1_2
	if t.MinVersion == "1.3" {
		minVersion = tlsv3.TlsParameters_TLSv1_3
	}
	common := &tlsv3.CommonTlsContext{
		TlsParams: &tlsv3.TlsParameters{
			TlsMinimumProtocolVersion: minVersion,
			CipherSuites:              intermediateCiphers,
		},
		AlpnProtocols: []string{"h2", "http/1.1"},
	}
	if proto == api.ProtocolGRPC {
		common.AlpnProtocols = []string{"h2"}
	}
	for _, c := range t.Certificates {
		common.TlsCertificates = append(common.TlsCertificates, &tlsv3.TlsCertificate{
			CertificateChain: inlineOrFile(c.Cert, c.CertFile),
			PrivateKey:       inlineOrFile(c.Key, c.KeyFile),
		})
	}
	ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: common}
	return &corev3.TransportSocket{
		Name:       TLSTransportSocketName,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: typed(ctx)},
	}
}
