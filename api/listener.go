package api

// Listener is a frontend shared by several Routes.
type Listener struct {
	TypeMeta `json:",inline"`
	// Metadata names the listener.
	Metadata Metadata `json:"metadata"`
	// Spec is the desired state.
	Spec ListenerSpec `json:"spec"`
	// Status is the allocated address and port.
	Status *ListenerStatus `json:"status,omitempty"`
}

// ListenerStatus is written by the control plane.
type ListenerStatus struct {
	// Address and Port, as allocated when the spec left them empty.
	Address string `json:"address,omitempty"`
	Port    int    `json:"port,omitempty"`
}

// ListenerSpec is a Frontend plus, for tcp and tls listeners, the pool that
// takes connections no route claims.
type ListenerSpec struct {
	Frontend `json:",inline"`
	// DefaultPool serves tcp listeners, and tls listeners' connections whose
	// SNI matches no route.
	DefaultPool string `json:"defaultPool,omitempty"`
}

// Frontend is where clients connect: an address, a port and a protocol, with
// the limits that keep the edge safe.
type Frontend struct {
	// Address to listen on; empty means "allocate one from the VIP pool"
	// (control plane) or 127.0.0.1 (standalone proxy).
	Address string `json:"address,omitempty"`
	// Port to listen on; 0 means "allocate one from the port pool".
	Port int `json:"port,omitempty"`
	// Protocol is tcp, udp, http, https or grpc (and tls for Listeners).
	Protocol string `json:"protocol"`
	// TLS terminates TLS (https, and grpc over TLS).
	TLS *TLSSettings `json:"tls,omitempty"`
	// Limits protect the listener; defaults are safe for the open internet.
	Limits *Limits `json:"limits,omitempty"`
	// TrustedProxies are the CIDRs whose X-Forwarded-For and Forwarded
	// headers are believed; from anyone else they are replaced.
	TrustedProxies []string `json:"trustedProxies,omitempty"`
	// ProxyProtocol accepts a PROXY protocol header from these sources.
	ProxyProtocol *ProxyProtocolAccept `json:"proxyProtocol,omitempty"`
	// AccessLog writes one JSON line per request or connection.
	AccessLog *AccessLog `json:"accessLog,omitempty"`
}

// TLSSettings terminate TLS. The certificate is chosen by SNI among
// Certificates; the first one is the default.
type TLSSettings struct {
	// Certificates to serve; the first is the default when no SNI matches.
	Certificates []Certificate `json:"certificates"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `json:"minVersion,omitempty" fulcrum:"nonzero"`
}

// Certificate is a PEM certificate chain and key, as files or inline.
type Certificate struct {
	// CertFile is a PEM certificate chain file.
	CertFile string `json:"certFile,omitempty"`
	// KeyFile is the PEM private key file.
	KeyFile string `json:"keyFile,omitempty"`
	// Cert is an inline PEM certificate chain.
	Cert string `json:"cert,omitempty"`
	// Key is an inline PEM private key; redacted in every output.
	Key string `json:"key,omitempty"`
}

// Limits bound what one client can make the listener do.
type Limits struct {
	// HeaderTimeout bounds the time to receive a request head.
	HeaderTimeout Duration `json:"headerTimeout,omitempty" fulcrum:"nonzero"`
	// IdleTimeout closes connections with no request in flight.
	IdleTimeout Duration `json:"idleTimeout,omitempty" fulcrum:"nonzero"`
	// MaxHeaderBytes bounds the request head (request line + headers).
	MaxHeaderBytes ByteSize `json:"maxHeaderBytes,omitempty" fulcrum:"nonzero"`
	// MaxHeaders bounds the number of request header fields.
	MaxHeaders int `json:"maxHeaders,omitempty" fulcrum:"nonzero"`
	// MaxRequestBodyBytes bounds a request body; larger ones get 413.
	MaxRequestBodyBytes ByteSize `json:"maxRequestBodyBytes,omitempty" fulcrum:"nonzero"`
	// MaxRequestsPerConnection closes a keep-alive connection after this
	// many requests.
	MaxRequestsPerConnection int `json:"maxRequestsPerConnection,omitempty" fulcrum:"nonzero"`
	// MaxConnections on the listener.
	MaxConnections int `json:"maxConnections,omitempty" fulcrum:"nonzero"`
	// MaxConnectionsPerClient caps connections from one client address;
	// 0 (the default) means no cap, since many clients may share one NAT address.
	MaxConnectionsPerClient int `json:"maxConnectionsPerClient,omitempty"`
	// MaxConcurrentStreams per HTTP/2 connection.
	MaxConcurrentStreams int `json:"maxConcurrentStreams,omitempty" fulcrum:"nonzero"`
	// MaxUDPSessions caps the UDP session table (LRU eviction beyond it).
	MaxUDPSessions int `json:"maxUDPSessions,omitempty" fulcrum:"nonzero"`
	// DrainTimeout bounds how long a removed listener waits for in-flight work.
	DrainTimeout Duration `json:"drainTimeout,omitempty" fulcrum:"nonzero"`
}

// ProxyProtocolAccept says which peers may send a PROXY protocol header.
type ProxyProtocolAccept struct {
	// TrustedCIDRs may send a PROXY header; others may not.
	TrustedCIDRs []string `json:"trustedCIDRs"`
}

// AccessLog configures access logging of a listener.
type AccessLog struct {
	// Enabled turns the access log on.
	Enabled bool `json:"enabled"`
	// Fields to write; empty means the default set.
	Fields []string `json:"fields,omitempty"`
}

// AccessLogFields lists the fields an access log line can carry.
var AccessLogFields = []string{"time", "listener", "route", "pool", "member", "client", "method",
	"host", "path", "protocol", "status", "bytes_in", "bytes_out", "duration_ms",
	"upstream_ms", "request_id", "user_agent", "retries", "error"}

// GetKind implements Object.
func (l *Listener) GetKind() string { return KindListener }

// GetMetadata implements Object.
func (l *Listener) GetMetadata() *Metadata { return &l.Metadata }

// DeepCopyObject implements Object.
func (l *Listener) DeepCopyObject() Object { return deepCopy(l) }
