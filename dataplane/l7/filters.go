package l7

import (
	"errors"
	"net/netip"
	"time"

	"github.com/fulcrumlb/fulcrum/balancer"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
)

// reqState is what one request carries through the filters, for both
// downstream protocols; it is reset, not reallocated, per request.
type reqState struct {
	start   time.Time
	cfg     *lconfig
	route   *route
	bidx    int // backend index, -1 before a backend is chosen
	cluster *upstream.Cluster
	ccfg    *runtime.Cluster
	sticky  *sticky
	// cookieToken is the sticky cookie the request carried; setToken the
	// one to set in the response (empty: none).
	cookieToken []byte
	setToken    string
	member      string
	status      int
	retries     int
	bytesIn     int64
	bytesOut    int64
	upstreamDur time.Duration
	err         error
	reqID       []byte
	grpc        bool
	released    bool
	recorded    bool
}

func (rs *reqState) reset(cfg *lconfig, start time.Time) {
	*rs = reqState{start: start, cfg: cfg, bidx: -1, cookieToken: rs.cookieToken[:0], reqID: rs.reqID[:0]}
}

// local is a response the proxy makes itself.
type local struct {
	status     int
	retryAfter int
	overloaded string
	redirect   *runtime.Redirect
	direct     bool
	// grpcCode is the gRPC status for gRPC requests (0: derive from status).
	grpcCode int
	msg      string
}

// Errors the proxy answers for, mapped to statuses and gRPC codes.
var (
	errNoRoute    = errors.New("no route")
	errNoMember   = errors.New("no healthy member")
	errTimeout    = errors.New("upstream timeout")
	errBadGateway = errors.New("bad gateway")
)

// prepare runs the filters that come before an upstream exchange, in their
// fixed order: route found, body size limit, rate limit (route, then
// pool), redirect or direct response, weighted backend, circuit breaker,
// sticky session. It returns a local response, or nil to go upstream.
// The circuit-breaker request slot taken here is returned by finish.
func (s *Server) prepare(rs *reqState, v *reqView, contentLength int64, ip netip.Addr) *local {
	cfg := rs.cfg
	r := cfg.selectRoute(v)
	if r == nil {
		rs.err = errNoRoute
		return &local{status: 404, msg: "no route"}
	}
	rs.route = r
	if cfg.bodyMax > 0 && contentLength > cfg.bodyMax {
		return &local{status: 413, msg: "request body too large"}
	}
	if r.limiter != nil {
		if ok, wait := r.limiter.allow(ip, rs.start); !ok {
			r.metrics.rateLimited.Inc()
			return &local{status: 429, retryAfter: retryAfterSeconds(wait), msg: "rate limited"}
		}
	}
	switch {
	case r.rt.Redirect != nil:
		return &local{status: r.rt.Redirect.Code, redirect: r.rt.Redirect}
	case r.rt.Direct != nil:
		return &local{status: r.rt.Direct.Status, direct: true}
	}
	return s.chooseBackend(rs, v, ip)
}

// chooseBackend picks the weighted backend, applies the pool's own rate
// limit and circuit breaker, and reads the sticky cookie.
func (s *Server) chooseBackend(rs *reqState, v *reqView, ip netip.Addr) *local {
	r := rs.route
	rs.bidx = r.pickBackend()
	if rs.bidx < 0 {
		rs.err = errNoMember
		return &local{status: 503, grpcCode: 14, msg: "no backend with weight"}
	}
	ups := s.f.ups
	cl := ups.Cluster(r.backends[rs.bidx].cluster)
	if cl == nil {
		rs.err = errNoMember
		return &local{status: 503, grpcCode: 14, msg: "pool not found"}
	}
	rs.cluster = cl
	rs.ccfg = cl.Config()
	if r.limiter == nil {
		if l := s.f.clusterLimiter(rs.ccfg); l != nil {
			if ok, wait := l.allow(ip, rs.start); !ok {
				r.metrics.rateLimited.Inc()
				return &local{status: 429, retryAfter: retryAfterSeconds(wait), msg: "rate limited"}
			}
		}
	}
	if ok, why := cl.AcquireRequest(); !ok {
		return &local{status: 503, overloaded: why, grpcCode: 8, msg: "circuit breaker open: " + why}
	}
	rs.released = false
	rs.sticky = r.sticky
	if cs := rs.ccfg.Sticky; cs != nil && (rs.sticky == nil || rs.sticky.cookie == cookieName(cs)) {
		// The chosen pool's own settings win: a route with several
		// backends carries only its first pool's sticky cookie.
		rs.sticky = s.f.stickyFor(rs.ccfg)
	}
	if rs.sticky != nil {
		if c, ok := v.cookie(rs.sticky.cookie); ok {
			rs.cookieToken = append(rs.cookieToken[:0], c...)
		}
	}
	return nil
}

// releaseRequest returns the circuit-breaker slot taken by chooseBackend.
func (rs *reqState) releaseRequest() {
	if rs.cluster != nil && !rs.released {
		rs.released = true
		rs.cluster.ReleaseRequest()
	}
}

// tryer is one downstream protocol's way to send a request to a member and
// read the response head; the retry loop (forward) is shared.
type tryer interface {
	// try sends the request to ms and reads the response head; the
	// deadline bounds the time until the head (zero: none).
	try(ms *memberState, deadline time.Time) tryResult
	// discard drops the response of a try that will be retried.
	discard()
}

// tryResult is the outcome of one try.
type tryResult struct {
	status int
	err    error
	// connect says the failure happened before a connection existed.
	connect bool
	// sent says request body bytes reached the member: never retried.
	sent    bool
	timeout bool
	// refused is an HTTP/2 REFUSED_STREAM: the member did not process it.
	refused bool
	// downstream says the client failed (went away, sent a bad body):
	// nothing to hold against the member.
	downstream bool
	latency    time.Duration
}

// forward sends the request to members until one answers acceptably or
// the retry policy, the retry budget or the members run out. It reports
// every outcome to the cluster (balancing feedback, outlier detection).
func (s *Server) forward(rs *reqState, v *reqView, t tryer, idempotent bool, ipRaw []byte) tryResult {
	cl, r := rs.cluster, rs.route
	var info balancer.PickInfo
	if isHashAlgorithm(rs.ccfg.Balancer.Algorithm) {
		info.Hash, info.HasHash = affinityHash(r.rt.Hash, v, ipRaw)
	}
	var deadline time.Time
	if d := r.rt.Timeout; d > 0 {
		deadline = rs.start.Add(d)
	}
	policy := r.rt.Retry
	retrySlot := false
	defer func() {
		if retrySlot {
			cl.ReleaseRetry()
		}
	}()
	var last tryResult
	for attempt := 0; ; attempt++ {
		pick, ms, res, ok := s.pick(rs, cl, &info, attempt)
		if !ok {
			if attempt > 0 {
				// Every member was tried: the last failure stands.
				rs.err = last.err
				return last
			}
			return res
		}
		tryDeadline := deadline
		if policy != nil && policy.PerTryTimeout > 0 {
			if pt := time.Now().Add(policy.PerTryTimeout); deadline.IsZero() || pt.Before(deadline) {
				tryDeadline = pt
			}
		}
		res = t.try(ms, tryDeadline)
		if res.downstream {
			pick.Done(upstream.Outcome{})
			return res
		}
		pick.Done(upstream.Outcome{Latency: res.latency, Status: res.status, Err: res.err, ConnectFailure: res.connect})
		ms.metrics.codes[classOf(res.status)].Inc()
		if res.latency > 0 {
			ms.metrics.latency.Observe(res.latency.Seconds())
			rs.upstreamDur += res.latency
		}
		if retrySlot {
			cl.ReleaseRetry()
			retrySlot = false
		}
		rs.member = ms.m.Address
		if rs.sticky != nil && string(rs.cookieToken) != ms.stickyToken {
			rs.setToken = ms.stickyToken
		}
		if !shouldRetry(policy, &res, attempt, idempotent) || (!deadline.IsZero() && !time.Now().Before(deadline)) {
			return res
		}
		if ok, _ := cl.AcquireRetry(); !ok {
			return res
		}
		retrySlot = true
		last = res
		t.discard()
		pick.Tried(&info.Tried)
		rs.retries++
		r.metrics.retries.Inc()
	}
}

// pick chooses the member for an attempt: the sticky cookie's member on
// the first one if it may still take the session, else the balancer.
func (s *Server) pick(rs *reqState, cl *upstream.Cluster, info *balancer.PickInfo, attempt int) (upstream.Pick, *memberState, tryResult, bool) {
	for range 3 {
		var pick upstream.Pick
		ok := false
		if attempt == 0 && len(rs.cookieToken) > 0 {
			pick, ok = s.f.stickyMember(cl, rs.cookieToken)
		}
		if !ok {
			var err error
			if pick, err = cl.Pick(info); err != nil {
				rs.err = errNoMember
				return pick, nil, tryResult{status: 503, err: errNoMember}, false
			}
		}
		ms := s.f.memberState(pick.Member)
		if ms != nil {
			return pick, ms, tryResult{}, true
		}
		// The member left the cluster between the pick and now.
		pick.Done(upstream.Outcome{})
		pick.Tried(&info.Tried)
	}
	rs.err = errNoMember
	return upstream.Pick{}, nil, tryResult{status: 503, err: errNoMember}, false
}

// shouldRetry applies the retry policy (Envoy's conditions): 5xx covers
// 5xx statuses, resets, timeouts, connect failures and refused streams;
// gateway-error covers 502, 503, 504, timeouts and connect failures. A
// request whose body reached a member is never retried.
func shouldRetry(p *runtime.RetryPolicy, res *tryResult, attempt int, idempotent bool) bool {
	if p == nil || attempt >= p.Attempts || res.sent || (p.IdempotentOnly && !idempotent) {
		return false
	}
	if res.err != nil && unretriable(res.err) {
		return false
	}
	on := p.On
	switch {
	case res.connect:
		return on&(runtime.RetryConnectFailure|runtime.Retry5xx|runtime.RetryGatewayError) != 0
	case res.refused:
		return on&(runtime.RetryRefusedStream|runtime.Retry5xx) != 0
	case res.timeout:
		return on&(runtime.Retry5xx|runtime.RetryGatewayError) != 0
	case res.err != nil:
		return on&(runtime.RetryReset|runtime.Retry5xx) != 0
	}
	st := res.status
	if st >= 500 && on&runtime.Retry5xx != 0 {
		return true
	}
	if (st == 502 || st == 503 || st == 504) && on&runtime.RetryGatewayError != 0 {
		return true
	}
	if on&runtime.RetryStatusCodes != 0 {
		for _, c := range p.StatusCodes {
			if c == st {
				return true
			}
		}
	}
	return false
}

// unretriable reports errors no other member would fix: no member left,
// or a circuit breaker open.
func unretriable(err error) bool {
	var ov *errOverload
	return errors.Is(err, errNoMember) || errors.As(err, &ov)
}

// failureStatus maps a failed exchange to the status the client gets.
func failureStatus(res *tryResult) (int, string) {
	var ov *errOverload
	switch {
	case errors.As(res.err, &ov):
		return 503, ov.reason
	case errors.Is(res.err, errNoMember):
		return 503, ""
	case res.timeout:
		return 504, ""
	case res.err == nil && res.status >= 500:
		// The last try's own 5xx, whose response was dropped for a retry
		// that found no member left.
		return res.status, ""
	}
	return 502, ""
}

// stickyFor returns the compiled sticky settings of a pool.
func (f *Factory) stickyFor(cfg *runtime.Cluster) *sticky {
	if e, ok := f.stickies.Load(cfg.Name); ok && e.(*clusterSticky).cfg == cfg {
		return e.(*clusterSticky).s
	}
	st := newSticky(cfg.Sticky)
	f.stickies.Store(cfg.Name, &clusterSticky{cfg: cfg, s: st})
	return st
}

type clusterSticky struct {
	cfg *runtime.Cluster
	s   *sticky
}
