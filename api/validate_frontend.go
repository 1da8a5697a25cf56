package api

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"slices"
	"time"
)

// FrontendProtocols are the protocols of a Pool's own frontend.
var FrontendProtocols = []string{ProtocolTCP, ProtocolUDP, ProtocolHTTP, ProtocolHTTPS, ProtocolGRPC}

// ListenerProtocols add TLS passthrough to the frontend protocols.
var ListenerProtocols = append(slices.Clone(FrontendProtocols), ProtocolTLS)

func validateListener(e errs, l *Listener, opt ValidateOptions) {
	checkMetadata(e, &l.Metadata)
	validateFrontend(e, "spec", &l.Spec.Frontend, true, opt)
	switch l.Spec.Protocol {
	case ProtocolTCP, ProtocolUDP:
		if l.Spec.DefaultPool == "" {
			e.add("spec.defaultPool", "required for %s listeners (they have no routes)", l.Spec.Protocol)
		}
	case ProtocolTLS:
	default:
		if l.Spec.DefaultPool != "" {
			e.add("spec.defaultPool", "only for tcp, udp and tls listeners; %s listeners send traffic with Routes", l.Spec.Protocol)
		}
	}
}

func validateFrontend(e errs, p string, f *Frontend, listener bool, opt ValidateOptions) {
	protocols := FrontendProtocols
	if listener {
		protocols = ListenerProtocols
	}
	checkEnum(e, child(p, "protocol"), f.Protocol, protocols)
	checkIP(e, child(p, "address"), f.Address)
	checkPort(e, child(p, "port"), f.Port, true)
	switch {
	case f.Protocol == ProtocolHTTPS && f.TLS == nil:
		e.add(child(p, "tls"), "required for https: give at least one certificate")
	case f.TLS != nil && f.Protocol != ProtocolHTTPS && f.Protocol != ProtocolGRPC:
		e.add(child(p, "tls"), "only for https and grpc; %s does not terminate TLS", f.Protocol)
	case f.TLS != nil:
		validateTLS(e, child(p, "tls"), f.TLS, opt)
	}
	checkCIDRs(e, child(p, "trustedProxies"), f.TrustedProxies)
	if len(f.TrustedProxies) > 0 && !isHTTPProtocol(f.Protocol) {
		e.add(child(p, "trustedProxies"), "only for HTTP frontends; use proxyProtocol for %s", f.Protocol)
	}
	if pp := f.ProxyProtocol; pp != nil {
		if f.Protocol == ProtocolUDP {
			e.add(child(p, "proxyProtocol"), "not available on udp frontends")
		}
		if len(pp.TrustedCIDRs) == 0 {
			e.add(child(p, "proxyProtocol.trustedCIDRs"), "required: accepting PROXY headers from anyone lets any client forge its address")
		}
		checkCIDRs(e, child(p, "proxyProtocol.trustedCIDRs"), pp.TrustedCIDRs)
	}
	if al := f.AccessLog; al != nil {
		for i, fld := range al.Fields {
			if !slices.Contains(AccessLogFields, fld) {
				checkEnum(e, index(child(p, "accessLog.fields"), i), fld, AccessLogFields)
			}
		}
	}
	validateLimits(e, child(p, "limits"), f)
}

func validateLimits(e errs, p string, f *Frontend) {
	l := f.Limits
	if l == nil {
		return
	}
	httpOnly := func(field string, set bool) {
		if set && !isHTTPProtocol(f.Protocol) {
			e.add(child(p, field), "only for HTTP frontends, not %s", f.Protocol)
		}
	}
	httpOnly("headerTimeout", l.HeaderTimeout != 0)
	httpOnly("maxHeaderBytes", l.MaxHeaderBytes != 0)
	httpOnly("maxHeaders", l.MaxHeaders != 0)
	httpOnly("maxRequestBodyBytes", l.MaxRequestBodyBytes != 0)
	httpOnly("maxRequestsPerConnection", l.MaxRequestsPerConnection != 0)
	httpOnly("maxConcurrentStreams", l.MaxConcurrentStreams != 0)
	if l.MaxUDPSessions != 0 && f.Protocol != ProtocolUDP {
		e.add(child(p, "maxUDPSessions"), "only for udp frontends")
	}
	if isHTTPProtocol(f.Protocol) {
		if l.HeaderTimeout < Duration(100*time.Millisecond) {
			e.add(child(p, "headerTimeout"), "must be at least 100ms")
		}
		if l.MaxHeaderBytes < 1024 || l.MaxHeaderBytes > 1<<20 {
			e.add(child(p, "maxHeaderBytes"), "must be between 1Ki and 1Mi")
		}
		checkRange(e, child(p, "maxHeaders"), l.MaxHeaders, 1, 1000)
		checkRange(e, child(p, "maxConcurrentStreams"), l.MaxConcurrentStreams, 1, 10000)
	}
	checkRange(e, child(p, "maxConnections"), l.MaxConnections, 0, 1<<24)
	checkRange(e, child(p, "maxConnectionsPerClient"), l.MaxConnectionsPerClient, 0, 1<<24)
	checkRange(e, child(p, "maxRequestsPerConnection"), l.MaxRequestsPerConnection, 0, 1<<30)
	checkRange(e, child(p, "maxUDPSessions"), l.MaxUDPSessions, 0, 1<<24)
}

func validateTLS(e errs, p string, t *TLSSettings, opt ValidateOptions) {
	checkEnum(e, child(p, "minVersion"), t.MinVersion, []string{"1.2", "1.3"})
	if len(t.Certificates) == 0 {
		e.add(child(p, "certificates"), "at least one certificate is required")
	}
	for i, c := range t.Certificates {
		validateCertificate(e, index(child(p, "certificates"), i), c, opt)
	}
}

func validateCertificate(e errs, p string, c Certificate, opt ValidateOptions) {
	files := c.CertFile != "" || c.KeyFile != ""
	inline := c.Cert != "" || c.Key != ""
	switch {
	case files && inline:
		e.add(p, "give certFile and keyFile, or cert and key, not both")
		return
	case files && (c.CertFile == "" || c.KeyFile == ""):
		e.add(p, "certFile and keyFile go together")
		return
	case inline && (c.Cert == "" || c.Key == ""):
		e.add(p, "cert and key go together")
		return
	case !files && !inline:
		e.add(p, "give certFile and keyFile (paths to PEM files) or cert and key (inline PEM)")
		return
	}
	certPEM, keyPEM := []byte(c.Cert), []byte(c.Key)
	if files {
		if !opt.CheckFiles {
			return
		}
		var err error
		if certPEM, err = os.ReadFile(c.CertFile); err != nil {
			e.add(child(p, "certFile"), "cannot read: %v", err)
			return
		}
		if keyPEM, err = os.ReadFile(c.KeyFile); err != nil {
			e.add(child(p, "keyFile"), "cannot read: %v", err)
			return
		}
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		e.add(p, "certificate and key do not form a pair: %v", err)
	}
}

// validateCAFile checks that a CA bundle holds at least one certificate.
func validateCAFile(e errs, p, file string, opt ValidateOptions) {
	if file == "" || !opt.CheckFiles {
		return
	}
	data, err := os.ReadFile(file)
	if err != nil {
		e.add(p, "cannot read: %v", err)
		return
	}
	pool := x509.NewCertPool()
	if block, _ := pem.Decode(data); block == nil || !pool.AppendCertsFromPEM(data) {
		e.add(p, "holds no PEM certificate")
	}
}
