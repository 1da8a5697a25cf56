package api

import (
	"math"
	"net"
	"slices"
	"strconv"
	"time"
)

// Default values, exported so that documentation and other packages refer
// to one definition.
const (
	DefaultHealthInterval       = 2 * time.Second
	DefaultHealthTimeout        = 1 * time.Second
	DefaultHealthRise           = 2
	DefaultHealthFall           = 3
	DefaultConsecutiveErrors    = 5
	DefaultOutlierInterval      = 10 * time.Second
	DefaultBaseEjectionTime     = 30 * time.Second
	DefaultMaxEjectionTime      = 300 * time.Second
	DefaultMaxEjectionPercent   = 50
	DefaultCircuitLimit         = 1024
	DefaultMaxRetries           = 3
	DefaultConnectTimeout       = 2 * time.Second
	DefaultUpstreamIdleTimeout  = 60 * time.Second
	DefaultRequestTimeout       = 30 * time.Second
	DefaultRetryAttempts        = 2
	DefaultRetryBudgetPercent   = 20
	DefaultRetryBudgetMin       = 3
	DefaultMaxIdleConnections   = 64
	DefaultMinRingSize          = 1024
	DefaultMaxRingSize          = 8 << 20
	DefaultMaglevTableSize      = 65537
	DefaultHeaderTimeout        = 10 * time.Second
	DefaultHTTPIdleTimeout      = 60 * time.Second
	DefaultTCPIdleTimeout       = time.Hour
	DefaultUDPIdleTimeout       = 60 * time.Second
	DefaultMaxHeaderBytes       = 64 << 10
	DefaultMaxHeaders           = 100
	DefaultMaxRequestBodyBytes  = 100 << 20
	DefaultMaxRequestsPerConn   = 10000
	DefaultMaxConnections       = 65536
	DefaultMaxConcurrentStreams = 100
	DefaultMaxUDPSessions       = 65536
	DefaultDrainTimeout         = 30 * time.Second
	DefaultRedirectCode         = 302
)

// SetDefaults fills every unset field of every object with its default, so
// that what runs is what `fulcrum validate -o yaml` prints.
func SetDefaults(c *Config) {
	for _, p := range c.Pools {
		defaultPool(p)
	}
	for _, l := range c.Listeners {
		defaultFrontend(&l.Spec.Frontend)
	}
	for _, r := range c.Routes {
		proto := ProtocolHTTP
		if l := c.Listener(r.Spec.Listener); l != nil {
			proto = l.Spec.Protocol
		}
		defaultRoute(r, isHTTPProtocol(proto))
	}
}

func defaultPool(p *Pool) {
	s := &p.Spec
	if s.Frontend != nil {
		defaultFrontend(s.Frontend)
	}
	setStr(&s.Algorithm, RoundRobin)
	if slices.Contains(HashAlgorithms, s.Algorithm) {
		setStr(&s.HashOn, "source_ip")
	}
	if s.Algorithm == RingHash || s.Algorithm == SourceHash {
		if s.RingHash == nil {
			s.RingHash = &RingHashConfig{}
		}
		setInt(&s.RingHash.MinRingSize, DefaultMinRingSize)
		setInt(&s.RingHash.MaxRingSize, max(DefaultMaxRingSize, s.RingHash.MinRingSize))
	}
	if s.Algorithm == Maglev {
		if s.Maglev == nil {
			s.Maglev = &MaglevConfig{}
		}
		setInt(&s.Maglev.TableSize, DefaultMaglevTableSize)
	}
	if s.Members == nil {
		s.Members = []Member{}
	}
	for i := range s.Members {
		defaultMember(&s.Members[i])
	}
	s.HealthCheck = defaultHealthCheck(s.HealthCheck)
	s.OutlierDetection = defaultOutlier(s.OutlierDetection)
	if s.CircuitBreaker == nil {
		s.CircuitBreaker = &CircuitBreaker{}
	}
	cb := s.CircuitBreaker
	setInt(&cb.MaxConnections, DefaultCircuitLimit)
	setInt(&cb.MaxPendingRequests, DefaultCircuitLimit)
	setInt(&cb.MaxRequests, DefaultCircuitLimit)
	setInt(&cb.MaxRetries, DefaultMaxRetries)
	if s.Timeouts == nil {
		s.Timeouts = &Timeouts{}
	}
	setDur(&s.Timeouts.Connect, DefaultConnectTimeout)
	setDur(&s.Timeouts.Idle, DefaultUpstreamIdleTimeout)
	if s.Frontend == nil || isHTTPProtocol(s.Frontend.Protocol) {
		setDur(&s.Timeouts.Request, DefaultRequestTimeout)
	}
	if s.Retries == nil {
		s.Retries = &RetryPolicy{Attempts: DefaultRetryAttempts, On: []string{RetryConnectFailure, RetryReset}}
	}
	defaultRetries(s.Retries)
	if ss := s.StickySession; ss != nil {
		setStr(&ss.Path, "/")
		setStr(&ss.SameSite, "Lax")
	}
	defaultRateLimit(s.RateLimit, PerAll)
	defaultUpstream(s)
}

func defaultMember(m *Member) {
	setInt(&m.Weight, 1)
	setStr(&m.State, StateEnabled)
	// Fold a separate port into the address so that every later stage sees
	// one form; a port that does not fit is left for validation to report.
	if m.Port > 0 && m.Port <= 65535 {
		if _, _, err := net.SplitHostPort(m.Address); err != nil && m.Address != "" {
			m.Address = net.JoinHostPort(m.Address, strconv.Itoa(m.Port))
			m.Port = 0
		}
	}
}

func defaultHealthCheck(hc *HealthCheck) *HealthCheck {
	if hc == nil {
		return &HealthCheck{Type: CheckNone}
	}
	if hc.Type == CheckNone || hc.Type == "" {
		return hc
	}
	setDur(&hc.Interval, DefaultHealthInterval)
	setDur(&hc.Timeout, min(DefaultHealthTimeout, hc.Interval.D()))
	setDur(&hc.UnhealthyInterval, min(time.Second, hc.Interval.D()))
	setDur(&hc.Jitter, hc.Interval.D()/10)
	setInt(&hc.Rise, DefaultHealthRise)
	setInt(&hc.Fall, DefaultHealthFall)
	if hc.Type == CheckHTTP {
		setStr(&hc.Path, "/")
		setStr(&hc.Method, "GET")
		if len(hc.ExpectedStatuses) == 0 {
			hc.ExpectedStatuses = []string{"200-399"}
		}
	}
	return hc
}

func defaultOutlier(od *OutlierDetection) *OutlierDetection {
	if od == nil {
		od = &OutlierDetection{}
	}
	if od.ConsecutiveErrors == nil {
		n := DefaultConsecutiveErrors
		od.ConsecutiveErrors = &n
	}
	setDur(&od.Interval, DefaultOutlierInterval)
	setDur(&od.BaseEjectionTime, DefaultBaseEjectionTime)
	setDur(&od.MaxEjectionTime, max(DefaultMaxEjectionTime, od.BaseEjectionTime.D()))
	setInt(&od.MaxEjectionPercent, DefaultMaxEjectionPercent)
	return od
}

func defaultRetries(r *RetryPolicy) {
	if r.Attempts > 0 && len(r.On) == 0 {
		r.On = []string{RetryConnectFailure, RetryReset}
	}
	if r.Budget == nil {
		r.Budget = &RetryBudget{Percent: DefaultRetryBudgetPercent}
	}
	setInt(&r.Budget.MinConcurrent, DefaultRetryBudgetMin)
}

func defaultRateLimit(rl *RateLimit, per string) {
	if rl == nil {
		return
	}
	setStr(&rl.Per, per)
	if rl.Burst == 0 && rl.RequestsPerSecond > 0 {
		rl.Burst = int(math.Ceil(rl.RequestsPerSecond))
	}
}

func defaultUpstream(s *PoolSpec) {
	if s.Frontend != nil && (s.Frontend.Protocol == ProtocolTCP || s.Frontend.Protocol == ProtocolUDP) {
		return // L4 pools speak no HTTP upstream protocol
	}
	if s.Upstream == nil {
		s.Upstream = &Upstream{}
	}
	u := s.Upstream
	if s.Frontend != nil && s.Frontend.Protocol == ProtocolGRPC {
		setStr(&u.Protocol, UpstreamH2C)
	}
	setStr(&u.Protocol, UpstreamHTTP1)
	setInt(&u.MaxIdleConnections, DefaultMaxIdleConnections)
}

// defaultFrontend sets the edge limits appropriate to the protocol.
func defaultFrontend(f *Frontend) {
	if f.TLS != nil {
		setStr(&f.TLS.MinVersion, "1.2")
	}
	if f.Limits == nil {
		f.Limits = &Limits{}
	}
	l := f.Limits
	switch {
	case isHTTPProtocol(f.Protocol):
		setDur(&l.HeaderTimeout, DefaultHeaderTimeout)
		setDur(&l.IdleTimeout, DefaultHTTPIdleTimeout)
		setBytes(&l.MaxHeaderBytes, DefaultMaxHeaderBytes)
		setInt(&l.MaxHeaders, DefaultMaxHeaders)
		setBytes(&l.MaxRequestBodyBytes, DefaultMaxRequestBodyBytes)
		setInt(&l.MaxRequestsPerConnection, DefaultMaxRequestsPerConn)
		setInt(&l.MaxConnections, DefaultMaxConnections)
		setInt(&l.MaxConcurrentStreams, DefaultMaxConcurrentStreams)
		setDur(&l.DrainTimeout, DefaultDrainTimeout)
	case f.Protocol == ProtocolTCP || f.Protocol == ProtocolTLS:
		setDur(&l.IdleTimeout, DefaultTCPIdleTimeout)
		setInt(&l.MaxConnections, DefaultMaxConnections)
		setDur(&l.DrainTimeout, DefaultDrainTimeout)
	case f.Protocol == ProtocolUDP:
		setDur(&l.IdleTimeout, DefaultUDPIdleTimeout)
		setInt(&l.MaxUDPSessions, DefaultMaxUDPSessions)
	}
}

// defaultRoute fills a route's defaults; routes of tcp and tls listeners
// match on SNI only, so they get no path default.
func defaultRoute(r *Route, http bool) {
	s := &r.Spec
	if http && s.Match == nil {
		s.Match = &RouteMatch{}
	}
	if http && s.Match.Path == nil {
		s.Match.Path = &PathMatch{Prefix: "/"}
	}
	for i := range s.Backends {
		if s.Backends[i].Weight == nil {
			w := 1
			s.Backends[i].Weight = &w
		}
	}
	if s.Redirect != nil {
		setInt(&s.Redirect.Code, DefaultRedirectCode)
	}
	if s.DirectResponse != nil {
		setStr(&s.DirectResponse.ContentType, "text/plain; charset=utf-8")
	}
	if s.Retries != nil {
		defaultRetries(s.Retries)
	}
	defaultRateLimit(s.RateLimit, PerAll)
}

// isHTTPProtocol reports whether a frontend protocol carries HTTP.
func isHTTPProtocol(p string) bool {
	return p == ProtocolHTTP || p == ProtocolHTTPS || p == ProtocolGRPC
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setDur(p *Duration, v time.Duration) {
	if *p == 0 {
		*p = Duration(v)
	}
}

func setBytes(p *ByteSize, v int64) {
	if *p == 0 {
		*p = ByteSize(v)
	}
}
