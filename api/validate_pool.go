package api

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxMembers bounds the members of one pool.
const MaxMembers = 10000

// MaxWeight bounds a member's weight.
const MaxWeight = 10000

func validatePool(e errs, p *Pool, opt ValidateOptions) {
	checkMetadata(e, &p.Metadata)
	s := &p.Spec
	if s.Frontend != nil {
		validateFrontend(e, "spec.frontend", s.Frontend, false, opt)
	}
	validateAlgorithm(e, s)
	validateMembers(e, s.Members)
	validateHealthCheck(e, "spec.healthCheck", s.HealthCheck)
	validateOutlier(e, "spec.outlierDetection", s.OutlierDetection)
	if cb := s.CircuitBreaker; cb != nil {
		checkRange(e, "spec.circuitBreaker.maxConnections", cb.MaxConnections, 1, 1<<30)
		checkRange(e, "spec.circuitBreaker.maxPendingRequests", cb.MaxPendingRequests, 1, 1<<30)
		checkRange(e, "spec.circuitBreaker.maxRequests", cb.MaxRequests, 1, 1<<30)
		checkRange(e, "spec.circuitBreaker.maxRetries", cb.MaxRetries, 0, 1<<30)
	}
	if t := s.Timeouts; t != nil {
		checkPositive(e, "spec.timeouts.connect", t.Connect)
	}
	validateRetries(e, "spec.retries", s.Retries)
	validateSticky(e, "spec.stickySession", s)
	validateRateLimit(e, "spec.rateLimit", s.RateLimit)
	validateUpstream(e, "spec.upstream", s)
}

func validateAlgorithm(e errs, s *PoolSpec) {
	if !checkEnum(e, "spec.algorithm", s.Algorithm, Algorithms) {
		return
	}
	if s.HashOn != "" {
		checkHashOn(e, "spec.hashOn", s.HashOn)
		if !slices.Contains(HashAlgorithms, s.Algorithm) {
			e.warn("spec.hashOn", "ignored: only %s hash; algorithm %s does not", strings.Join(HashAlgorithms, ", "), s.Algorithm)
		}
	}
	if s.HashOn != "" && s.HashOn != "source_ip" && s.Frontend != nil && !isHTTPProtocol(s.Frontend.Protocol) {
		e.add("spec.hashOn", "%q needs an HTTP frontend; %s frontends can hash on source_ip only", s.HashOn, s.Frontend.Protocol)
	}
	if rh := s.RingHash; rh != nil {
		if s.Algorithm != RingHash && s.Algorithm != SourceHash {
			e.add("spec.ringHash", "only used by ring_hash and source_hash")
		}
		checkRange(e, "spec.ringHash.minRingSize", rh.MinRingSize, 1, 1<<23)
		checkRange(e, "spec.ringHash.maxRingSize", rh.MaxRingSize, 1, 1<<23)
		if rh.MaxRingSize < rh.MinRingSize {
			e.add("spec.ringHash.maxRingSize", "must not be less than minRingSize (%d)", rh.MinRingSize)
		}
		if f := rh.BoundedLoadFactor; f != 0 && (f < 1 || f > 100) {
			e.add("spec.ringHash.boundedLoadFactor", "must be 0 (off) or between 1 and 100, e.g. 1.25")
		}
	}
	if mg := s.Maglev; mg != nil {
		if s.Algorithm != Maglev {
			e.add("spec.maglev", "only used by maglev")
		}
		if mg.TableSize < 3 || mg.TableSize > 5000011 || !isPrime(mg.TableSize) {
			e.add("spec.maglev.tableSize", "%d must be a prime between 3 and 5000011 (default 65537)", mg.TableSize)
		} else if n := len(s.Members); n > 0 && mg.TableSize < 100*n {
			e.add("spec.maglev.tableSize", "%d is too small for %d members: use a prime of at least 100 × members", mg.TableSize, n)
		}
	}
}

func checkHashOn(e errs, path, h string) {
	if h == "source_ip" {
		return
	}
	kind, name, ok := strings.Cut(h, ":")
	if !ok || (kind != "header" && kind != "cookie") {
		e.add(path, "%q must be source_ip, header:NAME or cookie:NAME", h)
		return
	}
	if !isToken(name) {
		e.add(path, "%q is not a valid %s name", name, kind)
	}
}

func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

func validateMembers(e errs, members []Member) {
	if len(members) > MaxMembers {
		e.add("spec.members", "%d members; the limit is %d", len(members), MaxMembers)
		return
	}
	seen := map[string]int{}
	for i, m := range members {
		p := index("spec.members", i)
		validateMember(e, p, m)
		if prev, dup := seen[m.Address]; dup && m.Address != "" {
			e.add(child(p, "address"), "%s is also members[%d]", m.Address, prev)
		}
		seen[m.Address] = i
	}
}

func validateMember(e errs, p string, m Member) {
	switch {
	case m.Address == "":
		e.add(child(p, "address"), "required")
	case m.Port != 0:
		// The port was not folded into the address: either it is out of
		// range or the address already has one.
		if _, _, err := net.SplitHostPort(m.Address); err == nil {
			e.add(child(p, "port"), "the address already has a port; give it once")
		} else {
			checkHost(e, child(p, "address"), m.Address)
		}
		checkPort(e, child(p, "port"), m.Port, false)
	default:
		if _, _, err := net.SplitHostPort(m.Address); err != nil {
			e.add(child(p, "address"), "%q has no port: write host:port or give port", m.Address)
		} else {
			checkHostPort(e, child(p, "address"), m.Address)
		}
	}
	checkRange(e, child(p, "weight"), m.Weight, 1, MaxWeight)
	if m.Zone != "" && !labelValueRE.MatchString(m.Zone) {
		e.add(child(p, "zone"), "%q is not a valid zone name: letters, digits, '-', '_' or '.'", m.Zone)
	}
	checkEnum(e, child(p, "state"), m.State, []string{StateEnabled, StateDrain, StateDisabled})
}

// CheckTypes lists the health-check types.
var CheckTypes = []string{CheckHTTP, CheckTCP, CheckMySQL, CheckGRPC, CheckNone}

func validateHealthCheck(e errs, p string, hc *HealthCheck) {
	if hc == nil || !checkEnum(e, child(p, "type"), hc.Type, CheckTypes) {
		return
	}
	if hc.Type == CheckNone {
		return
	}
	if hc.Interval < Duration(100*time.Millisecond) {
		e.add(child(p, "interval"), "must be at least 100ms")
	}
	checkPositive(e, child(p, "timeout"), hc.Timeout)
	if hc.UnhealthyInterval != 0 && hc.UnhealthyInterval < Duration(100*time.Millisecond) {
		e.add(child(p, "unhealthyInterval"), "must be at least 100ms")
	}
	checkRange(e, child(p, "rise"), hc.Rise, 1, 100)
	checkRange(e, child(p, "fall"), hc.Fall, 1, 100)
	checkPort(e, child(p, "port"), hc.Port, true)
	only := func(field string, set bool, types ...string) {
		if set && !slices.Contains(types, hc.Type) {
			e.add(child(p, field), "only used by %s checks, not %s", strings.Join(types, " and "), hc.Type)
		}
	}
	only("path", hc.Path != "", CheckHTTP)
	only("method", hc.Method != "", CheckHTTP)
	only("host", hc.Host != "", CheckHTTP)
	only("expectedStatuses", len(hc.ExpectedStatuses) > 0, CheckHTTP)
	only("body", hc.Body != "", CheckHTTP)
	only("headers", len(hc.Headers) > 0, CheckHTTP)
	only("tls", hc.TLS != nil, CheckHTTP, CheckGRPC)
	if hc.TLS != nil {
		checkServerName(e, child(p, "tls.serverName"), hc.TLS.ServerName)
	}
	only("send", hc.Send != "", CheckTCP)
	only("expect", hc.Expect != "", CheckTCP)
	only("user", hc.User != "", CheckMySQL)
	only("password", hc.Password != "", CheckMySQL)
	only("service", hc.Service != "", CheckGRPC)
	if hc.Type == CheckHTTP {
		validateHTTPCheck(e, p, hc)
	}
	if hc.Expect != "" {
		checkRegex(e, child(p, "expect"), hc.Expect)
	}
	if hc.Password != "" && hc.User == "" {
		e.add(child(p, "password"), "needs user")
	}
}

func validateHTTPCheck(e errs, p string, hc *HealthCheck) {
	if path, _, _ := strings.Cut(hc.Path, "?"); !strings.HasPrefix(path, "/") {
		e.add(child(p, "path"), "%q must start with /", hc.Path)
	} else {
		checkHeaderValue(e, child(p, "path"), hc.Path)
	}
	if hc.Method == "CONNECT" || !slices.Contains(HTTPMethods, hc.Method) {
		e.add(child(p, "method"), "%q is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE", hc.Method)
	}
	if hc.Host != "" {
		checkHost(e, child(p, "host"), hc.Host)
	}
	for i, s := range hc.ExpectedStatuses {
		if _, _, err := ParseStatusRange(s); err != nil {
			e.add(index(child(p, "expectedStatuses"), i), "%v", err)
		}
	}
	if hc.Body != "" {
		checkRegex(e, child(p, "body"), hc.Body)
	}
	for _, k := range sortedStringKeys(hc.Headers) {
		checkHeaderName(e, key(child(p, "headers"), k), k)
		checkHeaderValue(e, key(child(p, "headers"), k), hc.Headers[k])
	}
}

// ParseStatusRange parses "200", "2xx" or "200-399" into an inclusive range.
func ParseStatusRange(s string) (lo, hi int, err error) {
	bad := fmt.Errorf("%q is not a status code, a class such as 2xx, or a range such as 200-399", s)
	if len(s) == 3 && s[1:] == "xx" && s[0] >= '1' && s[0] <= '5' {
		lo = int(s[0]-'0') * 100
		return lo, lo + 99, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = strconv.Atoi(a); err != nil {
		return 0, 0, bad
	}
	hi = lo
	if isRange {
		if hi, err = strconv.Atoi(b); err != nil {
			return 0, 0, bad
		}
	}
	if lo < 100 || hi > 599 || lo > hi {
		return 0, 0, bad
	}
	return lo, hi, nil
}

func validateOutlier(e errs, p string, od *OutlierDetection) {
	if od == nil {
		return
	}
	if od.ConsecutiveErrors != nil {
		checkRange(e, child(p, "consecutiveErrors"), *od.ConsecutiveErrors, 0, 1000)
	}
	checkRange(e, child(p, "consecutiveGatewayErrors"), od.ConsecutiveGatewayErrors, 0, 1000)
	checkPositive(e, child(p, "interval"), od.Interval)
	checkPositive(e, child(p, "baseEjectionTime"), od.BaseEjectionTime)
	if od.MaxEjectionTime < od.BaseEjectionTime {
		e.add(child(p, "maxEjectionTime"), "must not be less than baseEjectionTime")
	}
	checkRange(e, child(p, "maxEjectionPercent"), od.MaxEjectionPercent, 0, 100)
}

// RetryConditions lists the named retry conditions.
var RetryConditions = []string{RetryConnectFailure, RetryReset, RetryRefusedStream, Retry5xx, RetryGatewayError}

func validateRetries(e errs, p string, r *RetryPolicy) {
	if r == nil {
		return
	}
	checkRange(e, child(p, "attempts"), r.Attempts, 0, 10)
	for i, on := range r.On {
		if slices.Contains(RetryConditions, on) {
			continue
		}
		if code, err := strconv.Atoi(on); err != nil || code < 400 || code > 599 {
			e.add(index(child(p, "on"), i), "%q is not one of %s or a status code from 400 to 599", on, strings.Join(RetryConditions, ", "))
		}
	}
	if b := r.Budget; b != nil {
		checkRange(e, child(p, "budget.percent"), b.Percent, 0, 100)
		checkRange(e, child(p, "budget.minConcurrent"), b.MinConcurrent, 0, 1<<20)
	}
}

func validateSticky(e errs, p string, s *PoolSpec) {
	ss := s.StickySession
	if ss == nil {
		return
	}
	if s.Frontend != nil && !isHTTPProtocol(s.Frontend.Protocol) {
		e.add(p, "needs an HTTP frontend (a cookie), not %s; use a hash algorithm on source_ip", s.Frontend.Protocol)
	}
	if !isToken(ss.Cookie) {
		e.add(child(p, "cookie"), "%q is not a valid cookie name", ss.Cookie)
	}
	if !strings.HasPrefix(ss.Path, "/") {
		e.add(child(p, "path"), "must start with /")
	}
	checkEnum(e, child(p, "sameSite"), ss.SameSite, []string{"Lax", "Strict", "None"})
	if ss.SameSite == "None" && !ss.Secure {
		e.add(child(p, "sameSite"), "None requires secure: true (browsers drop the cookie otherwise)")
	}
}

func validateRateLimit(e errs, p string, rl *RateLimit) {
	if rl == nil {
		return
	}
	if rl.RequestsPerSecond <= 0 || rl.RequestsPerSecond > 1e9 {
		e.add(child(p, "requestsPerSecond"), "must be greater than 0")
	}
	checkRange(e, child(p, "burst"), rl.Burst, 1, 1<<30)
	checkEnum(e, child(p, "per"), rl.Per, []string{PerClientIP, PerAll})
}

func validateUpstream(e errs, p string, s *PoolSpec) {
	u := s.Upstream
	if u == nil {
		return
	}
	l4 := s.Frontend != nil && (s.Frontend.Protocol == ProtocolTCP || s.Frontend.Protocol == ProtocolUDP)
	if u.Protocol != "" {
		if l4 {
			e.add(child(p, "protocol"), "only for HTTP pools; this pool's frontend is %s", s.Frontend.Protocol)
		} else if checkEnum(e, child(p, "protocol"), u.Protocol, []string{UpstreamHTTP1, UpstreamH2, UpstreamH2C}) &&
			s.Frontend != nil && s.Frontend.Protocol == ProtocolGRPC && u.Protocol == UpstreamHTTP1 {
			e.add(child(p, "protocol"), "gRPC needs h2 or h2c upstreams, not http1")
		}
	}
	if u.TLS != nil {
		checkServerName(e, child(p, "tls.serverName"), u.TLS.ServerName)
	}
	if u.Protocol == UpstreamH2 && u.TLS == nil {
		e.add(child(p, "tls"), "required for protocol h2 (h2 is HTTP/2 over TLS; use h2c for cleartext)")
	}
	if u.Protocol == UpstreamH2C && u.TLS != nil {
		e.add(child(p, "tls"), "h2c is cleartext: use protocol h2 with tls")
	}
	if u.ProxyProtocol != "" {
		checkEnum(e, child(p, "proxyProtocol"), u.ProxyProtocol, []string{"v1", "v2"})
		if s.Frontend != nil && s.Frontend.Protocol == ProtocolUDP && u.ProxyProtocol == "v1" {
			e.add(child(p, "proxyProtocol"), "v1 cannot describe UDP: use v2")
		}
	}
	checkRange(e, child(p, "maxIdleConnections"), u.MaxIdleConnections, 0, 1<<20)
}
