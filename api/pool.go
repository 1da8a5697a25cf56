package api

// Pool is a set of members and how to balance across them. With a Frontend
// it is a complete virtual service, like an LVS virtual server.
type Pool struct {
	TypeMeta `json:",inline"`
	Metadata Metadata    `json:"metadata"`
	Spec     PoolSpec    `json:"spec"`
	Status   *PoolStatus `json:"status,omitempty"`
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
	Members          []Member          `json:"members"`
	HealthCheck      *HealthCheck      `json:"healthCheck,omitempty"`
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
	CircuitBreaker   *CircuitBreaker   `json:"circuitBreaker,omitempty"`
	Timeouts         *Timeouts         `json:"timeouts,omitempty"`
	Retries          *RetryPolicy      `json:"retries,omitempty"`
	StickySession    *StickySession    `json:"stickySession,omitempty"`
	RateLimit        *RateLimit        `json:"rateLimit,omitempty"`
	// Upstream says how to talk to members: protocol, TLS, PROXY protocol.
	Upstream *Upstream `json:"upstream,omitempty"`
}

// RingHashConfig sizes the hash ring and enables bounded loads.
type RingHashConfig struct {
	MinRingSize int `json:"minRingSize,omitempty" fulcrum:"nonzero"`
	MaxRingSize int `json:"maxRingSize,omitempty" fulcrum:"nonzero"`
	// BoundedLoadFactor > 1 caps each member at factor × the average load
	// (consistent hashing with bounded loads); 0 disables it.
	BoundedLoadFactor float64 `json:"boundedLoadFactor,omitempty"`
}

// MaglevConfig sizes the Maglev lookup table; TableSize must be prime.
type MaglevConfig struct {
	TableSize int `json:"tableSize,omitempty" fulcrum:"nonzero"`
}

// Member is one backend. Address is "host:port", or a host with the port
// given separately in Port.
type Member struct {
	Address string `json:"address"`
	Port    int    `json:"port,omitempty"`
	Weight  int    `json:"weight,omitempty" fulcrum:"nonzero"`
	Zone    string `json:"zone,omitempty"`
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
	Type     string   `json:"type"`
	Interval Duration `json:"interval,omitempty" fulcrum:"nonzero"`
	Timeout  Duration `json:"timeout,omitempty" fulcrum:"nonzero"`
	Rise     int      `json:"rise,omitempty" fulcrum:"nonzero"`
	Fall     int      `json:"fall,omitempty" fulcrum:"nonzero"`
	// UnhealthyInterval is the faster re-check period after a failure.
	UnhealthyInterval Duration `json:"unhealthyInterval,omitempty" fulcrum:"nonzero"`
	// Jitter spreads probes: each interval is lengthened by up to this much.
	Jitter Duration `json:"jitter,omitempty" fulcrum:"nonzero"`
	// Port overrides the member's port for the check.
	Port int `json:"port,omitempty"`

	// http
	Path             string            `json:"path,omitempty"`
	Method           string            `json:"method,omitempty"`
	Host             string            `json:"host,omitempty"`
	ExpectedStatuses []string          `json:"expectedStatuses,omitempty"`
	Body             string            `json:"body,omitempty"`
	Headers          map[string]string `json:"headers,omitempty"`
	// TLS makes http and grpc checks use TLS.
	TLS *UpstreamTLS `json:"tls,omitempty"`

	// tcp
	Send   string `json:"send,omitempty"`
	Expect string `json:"expect,omitempty"`

	// mysql: with a user, the check authenticates and runs SELECT 1.
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`

	// grpc
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
	MaxEjectionTime    Duration `json:"maxEjectionTime,omitempty" fulcrum:"nonzero"`
	MaxEjectionPercent int      `json:"maxEjectionPercent,omitempty" fulcrum:"nonzero"`
}

// CircuitBreaker bounds what the pool may have in flight.
type CircuitBreaker struct {
	MaxConnections     int `json:"maxConnections,omitempty" fulcrum:"nonzero"`
	MaxPendingRequests int `json:"maxPendingRequests,omitempty" fulcrum:"nonzero"`
	MaxRequests        int `json:"maxRequests,omitempty" fulcrum:"nonzero"`
	MaxRetries         int `json:"maxRetries,omitempty" fulcrum:"nonzero"`
}

// Timeouts of the pool. Zero Request or Idle means no limit.
type Timeouts struct {
	Connect Duration `json:"connect,omitempty" fulcrum:"nonzero"`
	Idle    Duration `json:"idle,omitempty" fulcrum:"nonzero"`
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
	Attempts int `json:"attempts"`
	// On lists conditions: connect-failure, reset, refused-stream, 5xx,
	// gateway-error, or a status code such as "503".
	On            []string `json:"on,omitempty"`
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
	Percent       int `json:"percent"`
	MinConcurrent int `json:"minConcurrent,omitempty" fulcrum:"nonzero"`
}

// StickySession inserts a cookie naming the member that served a client.
type StickySession struct {
	Cookie string `json:"cookie"`
	// TTL of the cookie; zero makes it a session cookie.
	TTL      Duration `json:"ttl,omitempty"`
	Path     string   `json:"path,omitempty"`
	Secure   bool     `json:"secure,omitempty"`
	SameSite string   `json:"sameSite,omitempty"`
}

// Rate-limit keys.
const (
	PerClientIP = "client_ip"
	PerAll      = "all"
)

// RateLimit is a local token bucket.
type RateLimit struct {
	RequestsPerSecond float64 `json:"requestsPerSecond"`
	Burst             int     `json:"burst,omitempty" fulcrum:"nonzero"`
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
	Protocol string       `json:"protocol,omitempty"`
	TLS      *UpstreamTLS `json:"tls,omitempty"`
	// ProxyProtocol sends a PROXY protocol header (v1 or v2) to members.
	ProxyProtocol string `json:"proxyProtocol,omitempty"`
	// MaxIdleConnections kept open per member for reuse.
	MaxIdleConnections int `json:"maxIdleConnections,omitempty" fulcrum:"nonzero"`
}

// UpstreamTLS configures TLS towards members (or health-check targets).
type UpstreamTLS struct {
	ServerName         string `json:"serverName,omitempty"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`
	CAFile             string `json:"caFile,omitempty"`
}

// PoolStatus is written by the control plane.
type PoolStatus struct {
	// Address and Port of the frontend, as allocated when the spec left them empty.
	Address string         `json:"address,omitempty"`
	Port    int            `json:"port,omitempty"`
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
	Address        string `json:"address"`
	Health         string `json:"health"`
	Reason         string `json:"reason,omitempty"`
	Successes      int64  `json:"successes"`
	Failures       int64  `json:"failures"`
	LastCheck      string `json:"lastCheck,omitempty"`
	LastTransition string `json:"lastTransition,omitempty"`
}

// GetKind implements Object.
func (p *Pool) GetKind() string { return KindPool }

// GetMetadata implements Object.
func (p *Pool) GetMetadata() *Metadata { return &p.Metadata }

// DeepCopyObject implements Object.
func (p *Pool) DeepCopyObject() Object { return deepCopy(p) }
