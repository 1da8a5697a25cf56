package runtime

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	lrlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	ssv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/stateful_session/v3"
	cookiev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/stateful_session/cookie/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/fulcrumlb/fulcrum/translator"
	"google.golang.org/protobuf/types/known/anypb"
)

// Methods in the order of their bit in Route.Methods.
var methodNames = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

// MethodBit returns the bit of a method in Route.Methods, or 0 for a method
// no route can name (which then matches only routes without methods).
func MethodBit(method []byte) uint16 {
	for i, m := range methodNames {
		if string(method) == m {
			return 1 << i
		}
	}
	return 0
}

func buildRouteTable(rc *routev3.RouteConfiguration) (*RouteTable, error) {
	t := &RouteTable{Name: rc.GetName(), exact: map[string]*VirtualHost{}}
	var errs []error
	for _, vh := range rc.GetVirtualHosts() {
		v := &VirtualHost{Name: vh.GetName(), Domains: vh.GetDomains()}
		for i, r := range vh.GetRoutes() {
			rt, err := buildRoute(r)
			if err != nil {
				errs = append(errs, fmt.Errorf("virtual_hosts[%s].routes[%d]: %w", vh.GetName(), i, err))
				continue
			}
			v.Routes = append(v.Routes, rt)
		}
		for _, d := range v.Domains {
			d = strings.ToLower(d)
			switch {
			case d == "*":
				if t.any != nil {
					errs = append(errs, fmt.Errorf("domain * appears in two virtual hosts"))
				}
				t.any = v
			case strings.HasPrefix(d, "*."):
				t.suffixes = append(t.suffixes, suffixHost{suffix: d[1:], vh: v})
			case strings.Contains(d, "*"):
				errs = append(errs, fmt.Errorf("domain %q: only exact names, *.suffix and * are supported", d))
			default:
				if t.exact[d] != nil {
					errs = append(errs, fmt.Errorf("domain %q appears in two virtual hosts", d))
				}
				t.exact[d] = v
			}
		}
		t.VirtualHosts = append(t.VirtualHosts, v)
	}
	sort.SliceStable(t.suffixes, func(i, j int) bool { return len(t.suffixes[i].suffix) > len(t.suffixes[j].suffix) })
	if len(errs) > 0 {
		return nil, fmt.Errorf("route configuration %s: %w", rc.GetName(), errors.Join(errs...))
	}
	return t, nil
}

// VirtualHost returns the virtual host for a Host header value (any case,
// with or without a port): an exact domain first, then the longest
// wildcard suffix, then "*". It does not allocate for hosts up to 255 bytes.
func (t *RouteTable) VirtualHost(host []byte) *VirtualHost {
	if i := hostPortIndex(host); i >= 0 {
		host = host[:i]
	}
	var buf [255]byte
	if len(host) <= len(buf) {
		n := copy(buf[:], host)
		for i := 0; i < n; i++ {
			if c := buf[i]; c >= 'A' && c <= 'Z' {
				buf[i] = c + 'a' - 'A'
			}
		}
		host = buf[:n]
	}
	if vh := t.exact[string(host)]; vh != nil {
		return vh
	}
	for _, s := range t.suffixes {
		if len(host) > len(s.suffix) && string(host[len(host)-len(s.suffix):]) == s.suffix {
			return s.vh
		}
	}
	return t.any
}

// hostPortIndex returns the index of the ':' before a port, or -1; IPv6
// literals keep their colons inside brackets.
func hostPortIndex(h []byte) int {
	for i := len(h) - 1; i >= 0; i-- {
		switch h[i] {
		case ':':
			return i
		case ']':
			return -1
		}
		if h[i] < '0' || h[i] > '9' {
			return -1
		}
	}
	return -1
}

func buildRoute(r *routev3.Route) (*Route, error) {
	out := &Route{Name: r.GetName()}
	md, err := translator.RouteMeta(r)
	if err != nil {
		return nil, err
	}
	if md.Route != "" {
		out.Name = md.Route
	}
	if err := buildMatch(r.GetMatch(), out); err != nil {
		return nil, err
	}
	switch {
	case r.GetRoute() != nil:
		if err := buildAction(r.GetRoute(), out); err != nil {
			return nil, err
		}
	case r.GetRedirect() != nil:
		out.Redirect = buildRedirect(r.GetRedirect())
	case r.GetDirectResponse() != nil:
		dr := r.GetDirectResponse()
		body, _ := dataSource(dr.GetBody())
		out.Direct = &DirectResponse{Status: int(dr.GetStatus()), Body: body}
	default:
		return nil, fmt.Errorf("route %q has no supported action", r.GetName())
	}
	out.RequestHeaders = headerEdits(r.GetRequestHeadersToAdd(), r.GetRequestHeadersToRemove())
	out.ResponseHeaders = headerEdits(r.GetResponseHeadersToAdd(), r.GetResponseHeadersToRemove())
	if out.Direct != nil {
		// The content type travels as a response header; keep it with the body.
		for i, kv := range out.ResponseHeaders.Set {
			if kv[0] == "content-type" {
				out.Direct.ContentType = kv[1]
				out.ResponseHeaders.Set = append(out.ResponseHeaders.Set[:i:i], out.ResponseHeaders.Set[i+1:]...)
				break
			}
		}
	}
	if err := buildPerFilter(r.GetTypedPerFilterConfig(), out); err != nil {
		return nil, err
	}
	if md.RateLimit != nil {
		out.RateLimit = rateLimit(md.RateLimit) // exact, where the token bucket may round
	}
	return out, nil
}

func buildMatch(m *routev3.RouteMatch, out *Route) error {
	switch p := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		out.Path.Prefix = p.Prefix
	case *routev3.RouteMatch_Path:
		out.Path.Exact = p.Path
	case *routev3.RouteMatch_PathSeparatedPrefix:
		out.Path.Prefix, out.Path.Segment = p.PathSeparatedPrefix, true
	case *routev3.RouteMatch_SafeRegex:
		re, err := compileRegex(p.SafeRegex.GetRegex())
		if err != nil {
			return fmt.Errorf("match.safe_regex: %w", err)
		}
		out.Path.Regex = re
	default:
		return fmt.Errorf("match: unsupported path specifier %T", p)
	}
	for _, h := range m.GetHeaders() {
		if h.GetName() == ":method" {
			bits, err := methodBits(h)
			if err != nil {
				return err
			}
			out.Methods = bits
			continue
		}
		hm := HeaderMatch{Name: strings.ToLower(h.GetName()), Present: h.GetPresentMatch(), Invert: h.GetInvertMatch()}
		if sm := h.GetStringMatch(); sm != nil {
			var err error
			if hm.Exact, hm.Regex, err = stringMatch(sm); err != nil {
				return fmt.Errorf("match.headers[%s]: %w", h.GetName(), err)
			}
		}
		out.Headers = append(out.Headers, hm)
	}
	for _, q := range m.GetQueryParameters() {
		qm := QueryMatch{Name: q.GetName(), Present: q.GetPresentMatch()}
		if sm := q.GetStringMatch(); sm != nil {
			var err error
			if qm.Exact, qm.Regex, err = stringMatch(sm); err != nil {
				return fmt.Errorf("match.query_parameters[%s]: %w", q.GetName(), err)
			}
		}
		out.Query = append(out.Query, qm)
	}
	return nil
}

// methodBits reads a ":method" matcher: an exact method or "^(A|B)$".
func methodBits(h *routev3.HeaderMatcher) (uint16, error) {
	sm := h.GetStringMatch()
	names := []string{sm.GetExact()}
	if re := sm.GetSafeRegex().GetRegex(); re != "" {
		inner := strings.TrimSuffix(strings.TrimPrefix(re, "^("), ")$")
		names = strings.Split(inner, "|")
	}
	var bits uint16
	for _, n := range names {
		b := MethodBit([]byte(n))
		if b == 0 {
			return 0, fmt.Errorf("match.headers[:method]: %q is not a method list this data plane understands", n)
		}
		bits |= b
	}
	return bits, nil
}

func stringMatch(sm *matcherv3.StringMatcher) (string, *regexp.Regexp, error) {
	switch p := sm.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		return p.Exact, nil, nil
	case *matcherv3.StringMatcher_SafeRegex:
		re, err := compileRegex(p.SafeRegex.GetRegex())
		return "", re, err
	}
	return "", nil, fmt.Errorf("unsupported string matcher %T", sm.GetMatchPattern())
}

// compileRegex anchors the pattern: Envoy's safe_regex matches the whole value.
func compileRegex(re string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + re + ")$")
}

func buildAction(a *routev3.RouteAction, out *Route) error {
	if c := a.GetCluster(); c != "" {
		out.Backends = []WeightedCluster{{Cluster: c, Weight: 1}}
	}
	for _, wc := range a.GetWeightedClusters().GetClusters() {
		out.Backends = append(out.Backends, WeightedCluster{Cluster: wc.GetName(), Weight: wc.GetWeight().GetValue()})
	}
	if len(out.Backends) == 0 {
		return errors.New("route action has no cluster")
	}
	for _, b := range out.Backends {
		out.totalWeight += b.Weight
	}
	out.Timeout = durOf(a.GetTimeout())
	for _, mp := range a.GetRequestMirrorPolicies() {
		out.Mirrors = append(out.Mirrors, Mirror{Cluster: mp.GetCluster(), PerMillion: perMillion(mp.GetRuntimeFraction().GetDefaultValue())})
	}
	for _, hp := range a.GetHashPolicy() {
		switch {
		case hp.GetConnectionProperties().GetSourceIp():
			out.Hash = append(out.Hash, HashPolicy{Kind: HashSourceIP})
		case hp.GetHeader() != nil:
			out.Hash = append(out.Hash, HashPolicy{Kind: HashHeader, Name: strings.ToLower(hp.GetHeader().GetHeaderName())})
		case hp.GetCookie() != nil:
			out.Hash = append(out.Hash, HashPolicy{Kind: HashCookie, Name: hp.GetCookie().GetName()})
		default:
			return errors.New("hash_policy: only source_ip, header and cookie are supported")
		}
	}
	if rp := a.GetRetryPolicy(); rp != nil {
		p, err := buildRetry(rp)
		if err != nil {
			return err
		}
		out.Retry = p
	}
	return nil
}

func perMillion(fp *typev3.FractionalPercent) uint32 {
	n := fp.GetNumerator()
	switch fp.GetDenominator() {
	case typev3.FractionalPercent_HUNDRED:
		n *= 10000
	case typev3.FractionalPercent_TEN_THOUSAND:
		n *= 100
	}
	return min(n, 1000000)
}

func buildRetry(rp *routev3.RetryPolicy) (*RetryPolicy, error) {
	p := &RetryPolicy{Attempts: int(rp.GetNumRetries().GetValue()), PerTryTimeout: durOf(rp.GetPerTryTimeout())}
	if rp.GetNumRetries() == nil {
		p.Attempts = 1 // Envoy's default
	}
	for _, on := range strings.Split(rp.GetRetryOn(), ",") {
		switch strings.TrimSpace(on) {
		case "connect-failure":
			p.On |= RetryConnectFailure
		case "reset":
			p.On |= RetryReset
		case "refused-stream":
			p.On |= RetryRefusedStream
		case "5xx":
			p.On |= Retry5xx
		case "gateway-error":
			p.On |= RetryGatewayError
		case "retriable-status-codes":
			p.On |= RetryStatusCodes
		case "":
		default:
			return nil, fmt.Errorf("retry_on %q is not supported", on)
		}
	}
	for _, c := range rp.GetRetriableStatusCodes() {
		p.StatusCodes = append(p.StatusCodes, int(c))
	}
	for _, h := range rp.GetRetriableRequestHeaders() {
		if h.GetName() == ":method" {
			p.IdempotentOnly = true
		}
	}
	return p, nil
}

func buildRedirect(r *routev3.RedirectAction) *Redirect {
	out := &Redirect{Host: r.GetHostRedirect(), Port: r.GetPortRedirect(), Path: r.GetPathRedirect(), StripQuery: r.GetStripQuery()}
	out.Scheme = r.GetSchemeRedirect()
	if r.GetHttpsRedirect() {
		out.Scheme = "https"
	}
	out.Code = map[routev3.RedirectAction_RedirectResponseCode]int{
		routev3.RedirectAction_MOVED_PERMANENTLY: 301, routev3.RedirectAction_FOUND: 302, routev3.RedirectAction_SEE_OTHER: 303,
		routev3.RedirectAction_TEMPORARY_REDIRECT: 307, routev3.RedirectAction_PERMANENT_REDIRECT: 308,
	}[r.GetResponseCode()]
	return out
}

func headerEdits(add []*corev3.HeaderValueOption, remove []string) HeaderEdits {
	var h HeaderEdits
	for _, hv := range add {
		kv := [2]string{strings.ToLower(hv.GetHeader().GetKey()), hv.GetHeader().GetValue()}
		if hv.GetAppendAction() == corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			h.Set = append(h.Set, kv)
		} else {
			h.Add = append(h.Add, kv)
		}
	}
	for _, r := range remove {
		h.Remove = append(h.Remove, strings.ToLower(r))
	}
	return h
}

// buildPerFilter reads the per-route configuration of the local rate limit
// and stateful session filters.
func buildPerFilter(cfgs map[string]*anypb.Any, out *Route) error {
	if a, ok := cfgs[translator.LocalRateLimitName]; ok {
		var lrl lrlv3.LocalRateLimit
		if err := unpack(translator.LocalRateLimitName, a, &lrl); err != nil {
			return err
		}
		tb := lrl.GetTokenBucket()
		interval := durOf(tb.GetFillInterval())
		if interval <= 0 {
			return errors.New("local_ratelimit: fill_interval must be positive")
		}
		out.RateLimit = &RateLimit{
			RequestsPerSecond: float64(tb.GetTokensPerFill().GetValue()) / interval.Seconds(),
			Burst:             int(tb.GetMaxTokens()),
			PerClientIP:       len(lrl.GetRateLimits()) > 0,
		}
	}
	if a, ok := cfgs[translator.StatefulSessionName]; ok {
		var per ssv3.StatefulSessionPerRoute
		if err := unpack(translator.StatefulSessionName, a, &per); err != nil {
			return err
		}
		if ss := per.GetStatefulSession().GetSessionState(); ss != nil {
			var cs cookiev3.CookieBasedSessionState
			if err := unpack(ss.GetName(), ss.GetTypedConfig(), &cs); err != nil {
				return err
			}
			c := cs.GetCookie()
			out.Sticky = &StickySession{Cookie: c.GetName(), TTL: durOf(c.GetTtl()), Path: c.GetPath()}
			for _, a := range c.GetAttributes() {
				switch strings.ToLower(a.GetName()) {
				case "samesite":
					out.Sticky.SameSite = a.GetValue()
				case "secure":
					out.Sticky.Secure = true
				}
			}
		}
	}
	return nil
}
