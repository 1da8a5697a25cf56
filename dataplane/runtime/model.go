// Package runtime turns xDS resources into the data plane's immutable
// configuration (a Snapshot) and keeps the state that must outlive any one
// configuration: listening sockets, upstream clusters with their connection
// pools and counters, and health.
//
// A Snapshot is built beside the running one and published with an atomic
// swap; the request path only ever reads snapshots, so no request waits on a
// configuration change (architecture rule 1). The same Build serves the
// standalone proxy (file → api → translator → xDS → Build) and the proxy fed
// by a control plane over ADS.
package runtime

import (
	"crypto/tls"
	"net/netip"
	"regexp"
	"time"

	"github.com/fulcrumlb/fulcrum/balancer"
	"github.com/fulcrumlb/fulcrum/health"
)

// Snapshot is one complete, immutable data-plane configuration.
type Snapshot struct {
	// Version identifies the configuration (the xDS version, or a hash of
	// the file for the standalone proxy).
	Version string
	// Listeners by xDS name, and in name order.
	Listeners     map[string]*Listener
	ListenerNames []string
	// Clusters by name.
	Clusters map[string]*Cluster
}

// Listener protocols, as in the Fulcrum API.
const (
	ProtoHTTP  = "http"
	ProtoHTTPS = "https"
	ProtoGRPC  = "grpc"
	ProtoTCP   = "tcp"
	ProtoTLS   = "tls"
	ProtoUDP   = "udp"
)

// Listener is one socket and what it serves.
type Listener struct {
	// Name is the xDS name: listener/NAME or pool/NAME.
	Name string
	// Kind and Object name the Fulcrum object it came from.
	Kind, Object string
	// Address to bind.
	Address netip.AddrPort
	// Protocol is one of the Proto* constants.
	Protocol string
	// TLS terminates TLS (https, grpc with certificates).
	TLS *TLSSettings
	// Limits protect the listener.
	Limits Limits
	// TrustedProxies are believed in X-Forwarded-For and Forwarded.
	TrustedProxies []netip.Prefix
	// ProxyProtocolFrom lists the peers allowed to send a PROXY header; nil
	// means PROXY headers are not expected.
	ProxyProtocolFrom []netip.Prefix
	// AccessLog, when Enabled, writes one JSON line per request or connection.
	AccessLog AccessLog

	// Routes serve http, https and grpc listeners.
	Routes *RouteTable
	// TCP serves tcp listeners, and tls listeners' connections without a matching SNI route.
	TCP *TCPRoute
	// SNI routes tls (passthrough) listeners, in order.
	SNI []*SNIRoute
	// UDP serves udp listeners.
	UDP *UDPRoute
}

// IsHTTP reports whether the listener speaks HTTP.
func (l *Listener) IsHTTP() bool {
	return l.Protocol == ProtoHTTP || l.Protocol == ProtoHTTPS || l.Protocol == ProtoGRPC
}

// SocketKey identifies what the listening socket depends on; a listener
// whose SocketKey is unchanged keeps its socket across configurations.
func (l *Listener) SocketKey() string {
	network := "tcp"
	if l.Protocol == ProtoUDP {
		network = "udp"
	}
	return network + "/" + l.Address.String()
}

// TLSSettings are a listener's loaded certificates and parameters.
type TLSSettings struct {
	// Certificates are ready to serve; Go picks one by SNI, the first is the default.
	Certificates []tls.Certificate
	MinVersion   uint16
	// NextProtos is the ALPN list offered ("h2", "http/1.1").
	NextProtos []string
	// CipherSuites for TLS 1.2 (Mozilla intermediate).
	CipherSuites []uint16
}

// Config returns a tls.Config for a server with these settings.
func (t *TLSSettings) Config() *tls.Config {
	return &tls.Config{
		Certificates: t.Certificates,
		MinVersion:   t.MinVersion,
		NextProtos:   t.NextProtos,
		CipherSuites: t.CipherSuites,
	}
}

// Limits bound what clients can make a listener do. Zero means "no limit"
// only where the API allows it (MaxConnectionsPerClient).
type Limits struct {
	HeaderTimeout            time.Duration
	IdleTimeout              time.Duration
	MaxHeaderBytes           int
	MaxHeaders               int
	MaxRequestBodyBytes      int64
	MaxRequestsPerConnection int
	MaxConnections           int
	MaxConnectionsPerClient  int
	MaxConcurrentStreams     int
	MaxUDPSessions           int
	DrainTimeout             time.Duration
}

// AccessLog configures access logging.
type AccessLog struct {
	Enabled bool
	Fields  []string
}

// RouteTable is an HTTP listener's routing: virtual hosts by domain, each
// with its routes in precedence order (the translator already ordered them).
type RouteTable struct {
	Name string
	// VirtualHosts in name order, for display.
	VirtualHosts []*VirtualHost
	exact        map[string]*VirtualHost
	// suffixes holds wildcard hosts longest suffix first ("*.a.example.com"
	// before "*.example.com").
	suffixes []suffixHost
	// any is the "*" virtual host, or nil.
	any *VirtualHost
}

type suffixHost struct {
	suffix string // ".example.com"
	vh     *VirtualHost
}

// VirtualHost groups the routes that apply to a set of domains.
type VirtualHost struct {
	Name    string
	Domains []string
	Routes  []*Route
}

// Route is one match → action.
type Route struct {
	// Name is the Fulcrum Route name (or pool/NAME for a pool's frontend).
	Name string
	// Match conditions; all must hold.
	Path    PathMatch
	Headers []HeaderMatch
	// Methods is a bit set over the method indexes of MethodBit; 0 matches any.
	Methods uint16
	Query   []QueryMatch

	// Exactly one action.
	Backends    []WeightedCluster
	totalWeight uint32
	Redirect    *Redirect
	Direct      *DirectResponse

	Mirrors   []Mirror
	Retry     *RetryPolicy
	Timeout   time.Duration
	Hash      []HashPolicy
	RateLimit *RateLimit
	Sticky    *StickySession
	// RequestHeaders and ResponseHeaders are edits with lower-case names.
	RequestHeaders  HeaderEdits
	ResponseHeaders HeaderEdits
}

// PathMatch has one kind set.
type PathMatch struct {
	Exact string
	// Prefix matches a string prefix; with Segment it matches whole path
	// segments only (/api matches /api and /api/x but not /apis).
	Prefix  string
	Segment bool
	Regex   *regexp.Regexp
}

// HeaderMatch matches one request header (lower-case name).
type HeaderMatch struct {
	Name    string
	Exact   string
	Regex   *regexp.Regexp
	Present bool
	Invert  bool
}

// QueryMatch matches one query parameter.
type QueryMatch struct {
	Name    string
	Exact   string
	Regex   *regexp.Regexp
	Present bool
}

// WeightedCluster is a backend of a route.
type WeightedCluster struct {
	Cluster string
	Weight  uint32
}

// Redirect answers with a redirect; empty fields keep the request's value.
type Redirect struct {
	Scheme     string
	Host       string
	Port       uint32
	Path       string
	StripQuery bool
	Code       int
}

// DirectResponse answers without a backend.
type DirectResponse struct {
	Status      int
	Body        []byte
	ContentType string
}

// Mirror sends a share (per million) of requests to a shadow cluster.
type Mirror struct {
	Cluster    string
	PerMillion uint32
}

// Retry conditions, as a bit set.
const (
	RetryConnectFailure uint32 = 1 << iota
	RetryReset
	RetryRefusedStream
	Retry5xx
	RetryGatewayError
	RetryStatusCodes
)

// RetryPolicy says when a request is tried again elsewhere.
type RetryPolicy struct {
	Attempts      int
	On            uint32
	StatusCodes   []int
	PerTryTimeout time.Duration
	// IdempotentOnly limits retries to GET, HEAD, OPTIONS, PUT, DELETE, TRACE.
	IdempotentOnly bool
}

// Hash sources.
const (
	HashSourceIP = iota
	HashHeader
	HashCookie
)

// HashPolicy says what a request hashes on.
type HashPolicy struct {
	Kind int
	// Name is the lower-case header name, or the cookie name.
	Name string
}

// RateLimit is a token bucket, per route or per client address.
type RateLimit struct {
	RequestsPerSecond float64
	Burst             int
	PerClientIP       bool
}

// StickySession binds a client to a member with a cookie.
type StickySession struct {
	Cookie   string
	TTL      time.Duration
	Path     string
	Secure   bool
	SameSite string
}

// HeaderEdits change headers: Set replaces, Add appends, Remove deletes.
// Names are lower case.
type HeaderEdits struct {
	Set    [][2]string
	Add    [][2]string
	Remove []string
}

// Empty reports whether there is nothing to do.
func (h *HeaderEdits) Empty() bool { return len(h.Set) == 0 && len(h.Add) == 0 && len(h.Remove) == 0 }

// TCPRoute sends connections to a cluster (or several, weighted).
type TCPRoute struct {
	Backends           []WeightedCluster
	IdleTimeout        time.Duration
	MaxConnectAttempts int
	HashSourceIP       bool
}

// SNIRoute sends TLS connections whose SNI matches to its backends.
type SNIRoute struct {
	Name        string
	ServerNames []string
	Route       TCPRoute
}

// UDPRoute sends datagrams to a cluster, in sessions per client.
type UDPRoute struct {
	Cluster      string
	IdleTimeout  time.Duration
	HashSourceIP bool
}

// Upstream protocols.
const (
	UpstreamHTTP1 = "http1"
	UpstreamH2    = "h2"
	UpstreamH2C   = "h2c"
)

// Cluster is a pool of members and how to reach and balance them.
type Cluster struct {
	Name string
	// Balancer holds the algorithm and its tuning; Members are filled from
	// the ClusterLoadAssignment.
	Balancer balancer.Config
	// HashOn is the pool's hashOn (source_ip, header:NAME, cookie:NAME).
	HashOn  string
	Members []Member

	ConnectTimeout time.Duration
	IdleTimeout    time.Duration
	RequestTimeout time.Duration
	DrainTimeout   time.Duration

	Circuit CircuitBreaker
	Outlier OutlierDetection
	// HealthCheck is set when the data plane probes members itself.
	HealthCheck *health.Config
	// HealthCheckPort overrides the member port for probes (0: the member's).
	HealthCheckPort uint32
	// HealthCheckType is the configured type, for display, even when the
	// control plane runs the checks.
	HealthCheckType string

	// Upstream protocol and transport.
	Protocol           string
	TLS                *tls.Config
	ProxyProtocol      int // 0 none, 1 or 2
	MaxIdleConnections int

	Sticky    *StickySession
	RateLimit *RateLimit
	// Labels and Annotations of the Pool.
	Labels, Annotations map[string]string
}

// Member is one backend of a cluster.
type Member struct {
	Address string
	Weight  uint32
	Zone    string
	State   balancer.AdminState
	// Health is what the control plane reported (EDS health_status);
	// HealthUnknown when the data plane checks members itself.
	Health       balancer.Health
	HealthReason string
}

// CircuitBreaker bounds a cluster's concurrency.
type CircuitBreaker struct {
	MaxConnections     int
	MaxPendingRequests int
	MaxRequests        int
	MaxRetries         int
	// RetryBudgetPercent of active requests may be retries, but at least
	// RetryBudgetMin at once; a negative percent means no budget.
	RetryBudgetPercent float64
	RetryBudgetMin     int
}

// OutlierDetection ejects members from real traffic's errors.
type OutlierDetection struct {
	Consecutive5xx     int // 0: off
	ConsecutiveGateway int // 0: off
	Interval           time.Duration
	BaseEjectionTime   time.Duration
	MaxEjectionTime    time.Duration
	MaxEjectionPercent int
}
