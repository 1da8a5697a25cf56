package api

import (
	"strings"
)

// HTTPMethods are the methods a route may match.
var HTTPMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

// MaxDirectResponseBody bounds a direct response body.
const MaxDirectResponseBody = 64 << 10

// validateRoute checks a route on its own; listenerProto is the protocol of
// its listener, or "" when the listener is unknown.
func validateRoute(e errs, r *Route, listenerProto string) {
	checkMetadata(e, &r.Metadata)
	s := &r.Spec
	checkRef(e, "spec.listener", s.Listener)
	for i, h := range s.Hosts {
		checkHostPattern(e, index("spec.hosts", i), h)
	}
	checkRange(e, "spec.priority", s.Priority, -1000, 1000)
	if listenerProto == ProtocolTCP || listenerProto == ProtocolUDP {
		e.add("spec.listener", "%s listeners have no routes: they send everything to their defaultPool", listenerProto)
		return
	}
	if listenerProto == ProtocolTLS {
		validateSNIRoute(e, s)
		return
	}
	if s.Match != nil {
		validateMatch(e, "spec.match", s.Match)
	}
	validateAction(e, s)
	if m := s.Mirror; m != nil {
		checkRef(e, "spec.mirror.pool", m.Pool)
		if m.Percent <= 0 || m.Percent > 100 {
			e.add("spec.mirror.percent", "must be greater than 0 and at most 100")
		}
	}
	validateRetries(e, "spec.retries", s.Retries)
	validateRateLimit(e, "spec.rateLimit", s.RateLimit)
	if h := s.Headers; h != nil {
		validateHeaderEdits(e, "spec.headers.request", h.Request)
		validateHeaderEdits(e, "spec.headers.response", h.Response)
	}
}

// validateSNIRoute checks a route of a tls (passthrough) listener: it can
// only choose pools by SNI, since the proxy never sees inside the stream.
func validateSNIRoute(e errs, s *RouteSpec) {
	if len(s.Hosts) == 0 {
		e.add("spec.hosts", "required on a tls listener: the SNI names this route takes")
	}
	notHere := func(field string, set bool) {
		if set {
			e.add("spec."+field, "not available on a tls (passthrough) listener: the proxy does not decrypt the stream")
		}
	}
	notHere("match", s.Match != nil)
	notHere("redirect", s.Redirect != nil)
	notHere("directResponse", s.DirectResponse != nil)
	notHere("mirror", s.Mirror != nil)
	notHere("retries", s.Retries != nil)
	notHere("timeout", s.Timeout != 0)
	notHere("rateLimit", s.RateLimit != nil)
	notHere("headers", s.Headers != nil)
	if len(s.Backends) == 0 {
		e.add("spec.backends", "required: the pools for these SNI names")
	}
	validateBackends(e, s.Backends)
}

func validateMatch(e errs, p string, m *RouteMatch) {
	if pm := m.Path; pm != nil {
		n := 0
		for _, set := range []bool{pm.Exact != "", pm.Prefix != "", pm.Regex != ""} {
			if set {
				n++
			}
		}
		if n != 1 {
			e.add(p+".path", "give exactly one of exact, prefix and regex")
		}
		if pm.Exact != "" {
			checkURLPath(e, p+".path.exact", pm.Exact)
		}
		if pm.Prefix != "" {
			checkURLPath(e, p+".path.prefix", pm.Prefix)
		}
		if pm.Regex != "" {
			checkRegex(e, p+".path.regex", pm.Regex)
		}
	}
	for i, h := range m.Headers {
		hp := index(p+".headers", i)
		checkHeaderName(e, hp+".name", h.Name)
		checkValueMatch(e, hp, h.Exact, h.Regex, h.Present)
	}
	for i, q := range m.Query {
		qp := index(p+".query", i)
		switch {
		case q.Name == "":
			e.add(qp+".name", "required")
		case len(q.Name) > 1024:
			e.add(qp+".name", "is %d bytes; the limit is 1024", len(q.Name))
		default:
			checkHeaderValue(e, qp+".name", q.Name)
		}
		checkValueMatch(e, qp, q.Exact, q.Regex, q.Present)
	}
	seen := map[string]bool{}
	for i, meth := range m.Methods {
		checkEnum(e, index(p+".methods", i), meth, HTTPMethods)
		if seen[meth] {
			e.add(index(p+".methods", i), "%s is listed twice", meth)
		}
		seen[meth] = true
	}
}

func checkValueMatch(e errs, p, exact, regex string, present bool) {
	n := 0
	for _, set := range []bool{exact != "", regex != "", present} {
		if set {
			n++
		}
	}
	if n != 1 {
		e.add(p, "give exactly one of exact, regex and present")
	}
	if regex != "" {
		checkRegex(e, p+".regex", regex)
	}
}

func validateAction(e errs, s *RouteSpec) {
	n := 0
	for _, set := range []bool{len(s.Backends) > 0, s.Redirect != nil, s.DirectResponse != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		e.add("spec", "give exactly one of backends, redirect and directResponse")
	}
	validateBackends(e, s.Backends)
	if rd := s.Redirect; rd != nil {
		if rd.Scheme != "" && rd.Scheme != "http" && rd.Scheme != "https" {
			e.add("spec.redirect.scheme", "%q must be http or https", rd.Scheme)
		}
		if rd.Host != "" {
			checkHost(e, "spec.redirect.host", rd.Host)
		}
		checkPort(e, "spec.redirect.port", rd.Port, true)
		if rd.Path != "" {
			checkURLPath(e, "spec.redirect.path", rd.Path)
		}
		switch rd.Code {
		case 301, 302, 303, 307, 308:
		default:
			e.add("spec.redirect.code", "%d must be 301, 302, 303, 307 or 308", rd.Code)
		}
	}
	if dr := s.DirectResponse; dr != nil {
		checkRange(e, "spec.directResponse.status", dr.Status, 200, 599)
		if len(dr.Body) > MaxDirectResponseBody {
			e.add("spec.directResponse.body", "is %d bytes; the limit is %d", len(dr.Body), MaxDirectResponseBody)
		}
		checkHeaderValue(e, "spec.directResponse.contentType", dr.ContentType)
	}
	if s.DirectResponse != nil || s.Redirect != nil {
		if s.Mirror != nil {
			e.add("spec.mirror", "needs backends: a redirect or direct response sends nothing to mirror")
		}
		if s.Retries != nil {
			e.add("spec.retries", "needs backends: a redirect or direct response is never retried")
		}
	}
}

func validateBackends(e errs, backends []Backend) {
	total := 0
	seen := map[string]int{}
	for i, b := range backends {
		bp := index("spec.backends", i)
		checkRef(e, bp+".pool", b.Pool)
		checkRange(e, bp+".weight", b.W(), 0, MaxWeight)
		total += b.W()
		if prev, dup := seen[b.Pool]; dup && b.Pool != "" {
			e.add(bp+".pool", "%q is also backends[%d]", b.Pool, prev)
		}
		seen[b.Pool] = i
	}
	if len(backends) > 0 && total == 0 {
		e.add("spec.backends", "at least one backend needs a weight above 0")
	}
}

func validateHeaderEdits(e errs, p string, h *HeaderEdits) {
	if h == nil {
		return
	}
	for _, k := range sortedStringKeys(h.Set) {
		checkHeaderName(e, key(p+".set", k), k)
		checkHeaderValue(e, key(p+".set", k), h.Set[k])
		checkNotHopByHop(e, key(p+".set", k), k)
	}
	for _, k := range sortedStringKeys(h.Add) {
		checkHeaderName(e, key(p+".add", k), k)
		checkHeaderValue(e, key(p+".add", k), h.Add[k])
		checkNotHopByHop(e, key(p+".add", k), k)
		if _, both := h.Set[k]; both {
			e.add(key(p+".add", k), "also in set: set replaces and add appends; choose one")
		}
	}
	for i, k := range h.Remove {
		checkHeaderName(e, index(p+".remove", i), k)
	}
}

// hopByHop headers describe one connection; editing them would break the
// framing the proxy itself maintains.
var hopByHop = []string{"connection", "keep-alive", "proxy-connection", "te", "trailer",
	"transfer-encoding", "upgrade", "content-length", "host"}

func checkNotHopByHop(e errs, p, name string) {
	for _, h := range hopByHop {
		if strings.EqualFold(h, name) {
			e.add(p, "%s is managed by the proxy and cannot be set", name)
			return
		}
	}
}
