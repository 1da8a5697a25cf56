package api

// Pool is a set of members and how to balance across them. With a Frontend
// it is a complete virtual service, like an LVS virtual server.
type Pool struct {
	TypeMeta `json:",inline"`
	// Metadata names the pool.
	Metadata Metadata `json:"metadata"`
	// Spec is the desired state.
	Spec PoolSpec `json:"spec"`
	// Status is the allocated frontend and the live health of the members.
	Status *PoolStatus `json:"status,omitempty"`
}

// Algorithm names, as in product.md.
const (
	RoundRobin         = "round_robin"
	WeightedRoundRobin = "weighted_round_robin"
	LeastConn          = "least_conn"
	WeightedLeastConn  = "weighted_least_conn"
	Random             = "random"
	LeastRequest       = "least_request"
	PeakEWMA           = "peak_ewma"
	SourceHash         = "source_hash"
	RingHash           = "ring_hash"
	Maglev             = "maglev"
)

// Algorithms lists every balancing algorithm name.
var Algorithms = []string{RoundRobin, WeightedRoundRobin, LeastConn, WeightedLeastConn, Random,
	LeastRequest, PeakEWMA, SourceHash, RingHash, Maglev}

// HashAlgorithms are the algorithms that use spec.hashOn.
var HashAlgorithms = []string{SourceHash, RingHash, Maglev}

// Frontend protocols.
const (
	ProtocolTCP   = "tcp"
	ProtocolUDP   = "udp"
	ProtocolHTTP  = "http"
	ProtocolHTTPS = "https"
	ProtocolGRPC  = "grpc"
	// ProtocolTLS is TLS passthrough: the listener reads the SNI of the
	// ClientHello and routes the still-encrypted stream. Listeners only.
	ProtocolTLS = "tls"
)

// Member states.
const (
	StateEnabled  = "enabled"
	StateDrain    = "drain"
	StateDisabled = "disabled"
)

// PoolSpec is the desired state of a Pool.
type PoolSpec struct {
	// Frontend makes the pool a virtual service of its own.
	Frontend *Frontend `json:"frontend,omitempty"`
	// Algorithm is one of Algorithms; default round_robin.
	Algorithm string `json:"algorithm,omitempty"`
	// HashOn is source_ip, header:NAME or cookie:NAME; used by hash algorithms.
	HashOn string `json:"hashOn,omitempty"`
	// RingHash tunes ring_hash (and source_hash, which is a ring too).
	RingHash *RingHashConfig `json:"ringHash,omitempty"`
	// Maglev tunes maglev.
	Maglev *MaglevConfig `json:"maglev,omitempty"`
	// Members are the backends.
	Members []Member `json:"members"`
	// HealthCheck probes every member actively.
	HealthCheck *HealthCheck `json:"healthCheck,omitempty"`
	// OutlierDetection ejects members that fail real traffic.
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
	// CircuitBreaker bounds what the pool may have in flight.
	CircuitBreaker *CircuitBreaker `json:"circuitBreaker,omitempty"`
	// Timeouts of connections and requests to members.
	Timeouts *Timeouts `json:"timeouts,omitempty"`
	// Retries of requests that failed on one member.
	Retries *RetryPolicy `json:"retries,omitempty"`
	// StickySession binds clients to members with a cookie.
	StickySession *StickySession `json:"stickySession,omitempty"`
	// RateLimit limits requests sent to the pool.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
	// Upstream says how to talk to members: protocol, TLS, PROXY protocol.
	Upstream *Upstream `json:"upstream,omitempty"`
}

// RingHashConfig sizes the hash ring and enables bounded loads.
type RingHashConfig struct {
	// MinRingSize is the smallest number of points on the ring.
	MinRingSize int `json:"minRingSize,omitempty" fulcrum:"nonzero"`
	// MaxRingSize caps the points on the ring.
	MaxRingSize int `json:"maxRingSize,omitempty" fulcrum:"nonzero"`
	// BoundedLoadFactor > 1 caps each member at factor × the average load
	// (consistent hashing with bounded loads); 0 disables it.
	BoundedLoadFactor float64 `json:"boundedLoadFactor,omitempty"`
}

// MaglevConfig sizes the Maglev lookup table; TableSize must be prime.
type MaglevConfig struct {
	// TableSize is the Maglev lookup table size M, a prime at least 100 × members.
	TableSize int `json:"tableSize,omitempty" fulcrum:"nonzero"`
}

// Member is one backend. Address is "host:port", or a host with the port
// given separately in Port.
type Member struct {
	// Address is "host:port" (IPv6 in brackets), or a host when Port is given.
	Address string `json:"address"`
	// Port, when the address has none.
	Port int `json:"port,omitempty"`
	// Weight is the member's relative share, 1 to 10000.
	Weight int `json:"weight,omitempty" fulcrum:"nonzero"`
	// Zone groups members by failure domain (a locality in xDS).
	Zone string `json:"zone,omitempty"`
	// State is enabled, drain (no new traffic, existing traffic finishes)
	// or disabled (no traffic at all).
	State string `json:"state,omitempty"`
}

// Health-check types.
const (
	CheckHTTP  = "http"
	CheckTCP   = "tcp"
	CheckMySQL = "mysql"
	CheckGRPC  = "grpc"
	CheckNone  = "none"
)

// HealthCheck configures active checks of every member.
type HealthCheck struct {
	// Type is http, tcp, mysql, grpc or none.
	Type string `json:"type"`
	// Interval between probes of a healthy member.
	Interval Duration `json:"interval,omitempty" fulcrum:"nonzero"`
	// Timeout of one probe.
	Timeout Duration `json:"timeout,omitempty" fulcrum:"nonzero"`
	// Rise is the number of consecutive successes that bring a member back.
	Rise int `json:"rise,omitempty" fulcrum:"nonzero"`
	// Fall is the number of consecutive failures that take a member out.
	Fall int `json:"fall,omitempty" fulcrum:"nonzero"`
	// UnhealthyInterval is the faster re-check period after a failure.
	UnhealthyInterval Duration `json:"unhealthyInterval,omitempty" fulcrum:"nonzero"`
	// Jitter spreads probes: each interval is lengthened by up to this much.
	Jitter Duration `json:"jitter,omitempty" fulcrum:"nonzero"`
	// Port overrides the member's port for the check.
	Port int `json:"port,omitempty"`

	// http
	// Path (and optional query) of an http check.
	Path string `json:"path,omitempty"`
	// Method of an http check.
	Method string `json:"method,omitempty"`
	// Host header of an http check; default: the member address.
	Host string `json:"host,omitempty"`
	// ExpectedStatuses are the healthy statuses: codes ("204"), classes ("2xx") or ranges ("200-399").
	ExpectedStatuses []string `json:"expectedStatuses,omitempty"`
	// Body is a regular expression the http response body must match.
	Body string `json:"body,omitempty"`
	// Headers added to an http check request.
	Headers map[string]string `json:"headers,omitempty"`
	// TLS makes http and grpc checks use TLS.
	TLS *UpstreamTLS `json:"tls,omitempty"`

	// tcp
	// Send is written after a tcp check connects.
	Send string `json:"send,omitempty"`
	// Expect is a regular expression the tcp check's reply must match.
	Expect string `json:"expect,omitempty"`

	// mysql: with a user, the check authenticates and runs SELECT 1.
	// User a mysql check logs in as (then runs SELECT 1).
	User string `json:"user,omitempty"`
	// Password of the mysql check's user; redacted in every output.
	Password string `json:"password,omitempty"`

	// grpc
	// Service name asked about by a grpc check; empty asks about the server.
	Service string `json:"service,omitempty"`
}

// OutlierDetection ejects members passively, from the errors real traffic sees.
type OutlierDetection struct {
	// ConsecutiveErrors (5xx, resets, connect failures) before ejection; 0 disables.
	ConsecutiveErrors *int `json:"consecutiveErrors,omitempty"`
	// ConsecutiveGatewayErrors (502, 503, 504, connect failures) before ejection; 0 disables.
	ConsecutiveGatewayErrors int `json:"consecutiveGatewayErrors,omitempty"`
	// Interval between ejection sweeps.
	Interval Duration `json:"interval,omitempty" fulcrum:"nonzero"`
	// BaseEjectionTime × the number of times the member was ejected.
	BaseEjectionTime Duration `json:"baseEjectionTime,omitempty" fulcrum:"nonzero"`
	// MaxEjectionTime caps the growing ejection time.
	MaxEjectionTime Duration `json:"maxEjectionTime,omitempty" fulcrum:"nonzero"`
	// MaxEjectionPercent caps the share of members ejected at once (one
	// member can always be ejected).
	MaxEjectionPercent int `json:"maxEjectionPercent,omitempty" fulcrum:"nonzero"`
}

// CircuitBreaker bounds what the pool may have in flight.
type CircuitBreaker struct {
	// MaxConnections open to all members at once.
	MaxConnections int `json:"maxConnections,omitempty" fulcrum:"nonzero"`
	// MaxPendingRequests waiting for a connection.
	MaxPendingRequests int `json:"maxPendingRequests,omitempty" fulcrum:"nonzero"`
	// MaxRequests in flight; beyond it requests get 503 with x-fulcrum-overloaded.
	MaxRequests int `json:"maxRequests,omitempty" fulcrum:"nonzero"`
	// MaxRetries in flight at once.
	MaxRetries int `json:"maxRetries,omitempty" fulcrum:"nonzero"`
}

// Timeouts of the pool. Zero Request or Idle means no limit.
type Timeouts struct {
	// Connect bounds establishing a connection to a member.
	Connect Duration `json:"connect,omitempty" fulcrum:"nonzero"`
	// Idle closes upstream connections unused this long.
	Idle Duration `json:"idle,omitempty" fulcrum:"nonzero"`
	// Request bounds the wait for the response head.
	Request Duration `json:"request,omitempty" fulcrum:"nonzero"`
	// Drain, when set, closes connections to drained or removed members
	// that are still open after this long. Zero lets them finish.
	Drain Duration `json:"drain,omitempty"`
}

// Retry conditions.
const (
	RetryConnectFailure = "connect-failure"
	RetryReset          = "reset"
	RetryRefusedStream  = "refused-stream"
	Retry5xx            = "5xx"
	RetryGatewayError   = "gateway-error"
)

// RetryPolicy says when a request is tried again on another member.
type RetryPolicy struct {
	// Attempts is the number of retries after the first try (0 disables).
	Attempts int `json:"attempts"`
	// On lists conditions: connect-failure, reset, refused-stream, 5xx,
	// gateway-error, or a status code such as "503".
	On []string `json:"on,omitempty"`
	// PerTryTimeout bounds each try; 0 means only the request timeout applies.
	PerTryTimeout Duration `json:"perTryTimeout,omitempty"`
	// NonIdempotent allows retrying POST, PATCH and the like. Even then a
	// request whose body already reached a member is never retried.
	NonIdempotent bool `json:"nonIdempotent,omitempty"`
	// Budget caps retries as a share of active requests.
	Budget *RetryBudget `json:"budget,omitempty"`
}

// RetryBudget limits retries to Percent of active requests, but always
// allows MinConcurrent retries at once.
type RetryBudget struct {
	// Percent of active requests that may be retries.
	Percent int `json:"percent"`
	// MinConcurrent retries are always allowed.
	MinConcurrent int `json:"minConcurrent,omitempty" fulcrum:"nonzero"`
}

// StickySession inserts a cookie naming the member that served a client.
type StickySession struct {
	// Cookie is the name of the cookie.
	Cookie string `json:"cookie"`
	// TTL of the cookie; zero makes it a session cookie.
	TTL Duration `json:"ttl,omitempty"`
	// Path attribute of the cookie.
	Path string `json:"path,omitempty"`
	// Secure sends the cookie over HTTPS only.
	Secure bool `json:"secure,omitempty"`
	// SameSite is Lax, Strict or None.
	SameSite string `json:"sameSite,omitempty"`
}

// Rate-limit keys.
const (
	PerClientIP = "client_ip"
	PerAll      = "all"
)

// RateLimit is a local token bucket.
type RateLimit struct {
	// RequestsPerSecond refills the bucket.
	RequestsPerSecond float64 `json:"requestsPerSecond"`
	// Burst is the bucket size: requests allowed at once.
	Burst int `json:"burst,omitempty" fulcrum:"nonzero"`
	// Per is client_ip (one bucket per client address, bounded) or all.
	Per string `json:"per,omitempty"`
}

// Upstream protocols.
const (
	UpstreamHTTP1 = "http1"
	UpstreamH2    = "h2"
	UpstreamH2C   = "h2c"
)

// Upstream says how the proxy talks to members.
type Upstream struct {
	// Protocol is http1, h2 (over TLS) or h2c; for http pools only.
	Protocol string `json:"protocol,omitempty"`
	// TLS to members.
	TLS *UpstreamTLS `json:"tls,omitempty"`
	// ProxyProtocol sends a PROXY protocol header (v1 or v2) to members.
	ProxyProtocol string `json:"proxyProtocol,omitempty"`
	// MaxIdleConnections kept open per member for reuse.
	MaxIdleConnections int `json:"maxIdleConnections,omitempty" fulcrum:"nonzero"`
}

// UpstreamTLS configures TLS towards members (or health-check targets).
type UpstreamTLS struct {
	// ServerName is sent as SNI and verified; default: the member host.
	ServerName string `json:"serverName,omitempty"`
	// InsecureSkipVerify accepts any certificate: for tests only.
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
	// CAFile holds the PEM certificates to trust; default: the system's.
	CAFile string `json:"caFile,omitempty"`
}

// PoolStatus is written by the control plane.
type PoolStatus struct {
	// Address and Port of the frontend, as allocated when the spec left them empty.
	Address string `json:"address,omitempty"`
	Port    int    `json:"port,omitempty"`
	// Members is the health of every member.
	Members []MemberStatus `json:"members,omitempty"`
}

// Health states of a member.
const (
	HealthUnknown   = "unknown"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// MemberStatus is the live health of one member.
type MemberStatus struct {
	// Address of the member.
	Address string `json:"address"`
	// Health is healthy, unhealthy or unknown.
	Health string `json:"health"`
	// Reason explains an unhealthy member in words.
	Reason string `json:"reason,omitempty"`
	// Successes counts passed checks.
	Successes int64 `json:"successes"`
	// Failures counts failed checks.
	Failures int64 `json:"failures"`
	// LastCheck is when the member was last probed (RFC 3339).
	LastCheck string `json:"lastCheck,omitempty"`
	// LastTransition is when Health last changed (RFC 3339).
	LastTransition string `json:"lastTransition,omitempty"`
}

// GetKind implements Object.
func (p *Pool) GetKind() string { return KindPool }

// GetMetadata implements Object.
func (p *Pool) GetMetadata() *Metadata { return &p.Metadata }

// DeepCopyObject implements Object.
func (p *Pool) DeepCopyObject() Object { return deepCopy(p) }
