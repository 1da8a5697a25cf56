package translator

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	proxyprotocolv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/proxy_protocol/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/fulcrumlb/fulcrum/api"
)

// frontendSite is what a listener needs to know about the object that owns
// a frontend.
type frontendSite struct {
	obj  api.Object
	kind string // api.KindPool or api.KindListener
	name string
	path string // JSON path of the frontend: "spec.frontend" or "spec"
	fe   *api.Frontend
	// statusAddress and statusPort are what the control plane allocated.
	statusAddress string
	statusPort    int
	// pool is the pool a tcp/udp frontend sends to: the pool itself or a
	// Listener's defaultPool (nil when unset or unknown).
	pool *api.Pool
}

// listenerName returns the xDS name of the site's listener.
func (s *frontendSite) listenerName() string { return ListenerName(s.kind, s.name) }

// poolListener translates a Pool's own frontend, or returns nil after
// recording an error.
func (t *translation) poolListener(p *api.Pool) *listenerv3.Listener {
	site := &frontendSite{obj: p, kind: api.KindPool, name: p.Metadata.Name, path: "spec.frontend",
		fe: p.Spec.Frontend, pool: p}
	if p.Status != nil {
		site.statusAddress, site.statusPort = p.Status.Address, p.Status.Port
	}
	return t.buildListener(site)
}

// listener translates a Listener object, or returns nil after recording an
// error.
func (t *translation) listener(l *api.Listener) *listenerv3.Listener {
	site := &frontendSite{obj: l, kind: api.KindListener, name: l.Metadata.Name, path: "spec",
		fe: &l.Spec.Frontend}
	if l.Status != nil {
		site.statusAddress, site.statusPort = l.Status.Address, l.Status.Port
	}
	if l.Spec.DefaultPool != "" {
		site.pool = t.pool(l.Spec.DefaultPool)
		if site.pool == nil {
			t.fail(l, "spec.defaultPool", nil, "unknown Pool %q", l.Spec.DefaultPool)
			return nil
		}
	}
	return t.buildListener(site)
}

// buildListener assembles address, metadata, listener filters and filter
// chains by protocol.
func (t *translation) buildListener(s *frontendSite) *listenerv3.Listener {
	addr, ok := t.listenAddress(s)
	if !ok {
		return nil
	}
	fe := s.fe
	name := s.listenerName()
	l := &listenerv3.Listener{
		Name:     name,
		Address:  addr,
		Metadata: toMetadata(listenerMetadata(s)),
	}
	if pp := fe.ProxyProtocol; pp != nil && fe.Protocol != api.ProtocolUDP {
		// Envoy's filter cannot restrict senders: the trusted CIDRs travel
		// in the metadata for Fulcrum's data plane.
		l.ListenerFilters = append(l.ListenerFilters, listenerFilter(ProxyProtocolListenerName, typed(&proxyprotocolv3.ProxyProtocol{})))
	}
	switch fe.Protocol {
	case api.ProtocolHTTP, api.ProtocolHTTPS, api.ProtocolGRPC:
		chain := &listenerv3.FilterChain{Filters: []*listenerv3.Filter{httpConnectionManager(name, fe)}}
		if fe.TLS != nil {
			chain.TransportSocket = downstreamTransportSocket(fe.TLS, fe.Protocol)
		}
		l.FilterChains = []*listenerv3.FilterChain{chain}
	case api.ProtocolTCP:
		if s.pool != nil {
			l.FilterChains = []*listenerv3.FilterChain{{
				Filters: []*listenerv3.Filter{t.tcpProxy(name, fe, weightedPools{{pool: s.pool, weight: 1}})},
			}}
		}
	case api.ProtocolTLS:
		l.ListenerFilters = append(l.ListenerFilters, listenerFilter(TLSInspectorName, typed(&tlsinspectorv3.TlsInspector{})))
		t.sniChains(l, s)
	case api.ProtocolUDP:
		l.UdpListenerConfig = &listenerv3.UdpListenerConfig{}
		if s.pool != nil {
			l.ListenerFilters = append(l.ListenerFilters, udpProxy(name, fe, s.pool))
		}
	default:
		t.fail(s.obj, s.path+".protocol", nil, "unknown protocol %q", fe.Protocol)
		return nil
	}
	return l
}

// listenAddress resolves the frontend's address and port: as written, else
// as allocated in the object's status, else (address only) the default.
func (t *translation) listenAddress(s *frontendSite) (*corev3.Address, bool) {
	host, port := s.fe.Address, s.fe.Port
	if host == "" {
		host = s.statusAddress
	}
	if host == "" {
		host = t.opt.DefaultAddress
	}
	if port == 0 {
		port = s.statusPort
	}
	ok := true
	if host == "" {
		t.fail(s.obj, s.path+".address", ErrUnallocated, "no address given, none allocated and no default address")
		ok = false
	}
	if port <= 0 || port > 65535 {
		t.fail(s.obj, s.path+".port", ErrUnallocated, "no port given and none allocated")
		ok = false
	}
	if !ok {
		return nil, false
	}
	sa := &corev3.SocketAddress{Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)}}
	if s.fe.Protocol == api.ProtocolUDP {
		sa.Protocol = corev3.SocketAddress_UDP
	}
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: sa}}, true
}

// listenerMetadata collects what Envoy's listener fields cannot say.
func listenerMetadata(s *frontendSite) *ListenerMetadata {
	fe := s.fe
	md := &ListenerMetadata{Kind: s.kind, Name: s.name, Protocol: fe.Protocol, AccessLog: fe.AccessLog}
	if fe.ProxyProtocol != nil {
		md.ProxyProtocolTrustedCIDRs = fe.ProxyProtocol.TrustedCIDRs
	}
	if lim := fe.Limits; lim != nil {
		md.MaxHeaderBytes = lim.MaxHeaderBytes
		ll := &ListenerLimits{
			MaxConnections:          lim.MaxConnections,
			MaxConnectionsPerClient: lim.MaxConnectionsPerClient,
			MaxUDPSessions:          lim.MaxUDPSessions,
			DrainTimeout:            lim.DrainTimeout,
		}
		if *ll != (ListenerLimits{}) {
			md.Limits = ll
		}
	}
	return md
}

// listenerFilter wraps a typed config as a listener filter.
func listenerFilter(name string, cfg *anypb.Any) *listenerv3.ListenerFilter {
	return &listenerv3.ListenerFilter{Name: name, ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: cfg}}
}
