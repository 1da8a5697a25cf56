package translator

import (
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/fulcrumlb/fulcrum/api"
)

// route translates one Route of an HTTP listener, or returns false after
// recording an error.
func (t *translation) route(r *api.Route) (*routev3.Route, bool) {
	s := &r.Spec
	out := &routev3.Route{
		Name:     r.Metadata.Name,
		Match:    routeMatch(s.Match),
		Metadata: toMetadata(&RouteMetadata{Route: r.Metadata.Name, RateLimit: s.RateLimit, Retries: s.Retries}),
	}
	var sticky *api.StickySession
	switch {
	case s.Redirect != nil:
		out.Action = &routev3.Route_Redirect{Redirect: redirect(s.Redirect)}
	case s.DirectResponse != nil:
		dr := s.DirectResponse
		action := &routev3.DirectResponseAction{Status: clampU32(dr.Status)}
		if dr.Body != "" {
			action.Body = inlineOrFile(dr.Body, "")
		}
		out.Action = &routev3.Route_DirectResponse{DirectResponse: action}
		if dr.ContentType != "" {
			out.ResponseHeadersToAdd = append(out.ResponseHeadersToAdd,
				header("content-type", dr.ContentType, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD))
		}
	default:
		backends, ok := t.routeBackends(r)
		if !ok {
			if len(s.Backends) == 0 {
				t.fail(r, "spec", nil, "no backends, redirect or directResponse")
			}
			return nil, false
		}
		action := routeAction(s, backends)
		if m := s.Mirror; m != nil {
			if t.pool(m.Pool) == nil {
				t.fail(r, "spec.mirror.pool", nil, "unknown Pool %q", m.Pool)
				return nil, false
			}
			action.RequestMirrorPolicies = []*routev3.RouteAction_RequestMirrorPolicy{{
				Cluster: ClusterName(m.Pool),
				RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{
					Numerator:   percentMillionths(m.Percent),
					Denominator: typev3.FractionalPercent_MILLION,
				}},
			}}
		}
		out.Action = &routev3.Route_Route{Route: action}
		sticky = backends[0].pool.Spec.StickySession
	}
	if h := s.Headers; h != nil {
		out.RequestHeadersToAdd, out.RequestHeadersToRemove = headerEdits(nil, h.Request)
		out.ResponseHeadersToAdd, out.ResponseHeadersToRemove = headerEdits(out.ResponseHeadersToAdd, h.Response)
	}
	if pf := perFilterConfig(s.RateLimit, sticky); len(pf) > 0 {
		out.TypedPerFilterConfig = pf
	}
	return out, true
}

// percentMillionths converts a percentage to millionths, rounded, clamped
// to 100%, and at least one millionth for a positive percentage (which
// promises that some requests are mirrored).
func percentMillionths(p float64) uint32 {
	v := p*10000 + 0.5
	switch {
	case p <= 0:
		return 0
	case v < 1:
		return 1
	case v > 1e6:
		return 1e6
	}
	return uint32(v)
}

// routeAction sends to the backends. The first backend's pool supplies the
// timeout and retries a route does not set itself, and its hash policy.
// spec is nil for a pool's own route.
func routeAction(spec *api.RouteSpec, backends weightedPools) *routev3.RouteAction {
	a := &routev3.RouteAction{}
	if len(backends) == 1 {
		a.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: ClusterName(backends[0].pool.Metadata.Name)}
	} else {
		wc := &routev3.WeightedCluster{}
		for _, b := range backends {
			wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{
				Name:   ClusterName(b.pool.Metadata.Name),
				Weight: u32(b.weight),
			})
		}
		a.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	}
	first := &backends[0].pool.Spec
	var timeout api.Duration
	var retries *api.RetryPolicy
	if spec != nil {
		timeout, retries = spec.Timeout, spec.Retries
	}
	if timeout == 0 && first.Timeouts != nil {
		timeout = first.Timeouts.Request
	}
	if retries == nil {
		retries = first.Retries
	}
	// Always explicit: Envoy's default is 15s, Fulcrum's zero is no limit.
	a.Timeout = dur(timeout.D())
	a.RetryPolicy = retryPolicy(retries)
	if isHashAlgorithm(first.Algorithm) {
		if hp := hashPolicy(first.HashOn); hp != nil {
			a.HashPolicy = []*routev3.RouteAction_HashPolicy{hp}
		}
	}
	return a
}

// hashPolicy maps hashOn: source_ip, header:NAME or cookie:NAME.
func hashPolicy(on string) *routev3.RouteAction_HashPolicy {
	kind, name, _ := strings.Cut(on, ":")
	switch {
	case on == "" || on == "source_ip":
		return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_ConnectionProperties_{
			ConnectionProperties: &routev3.RouteAction_HashPolicy_ConnectionProperties{SourceIp: true}}}
	case kind == "header" && name != "":
		return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{
			Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: name}}}
	case kind == "cookie" && name != "":
		return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{
			Cookie: &routev3.RouteAction_HashPolicy_Cookie{Name: name}}}
	}
	return nil
}

// redirect maps a Redirect; empty fields keep the request's value.
func redirect(rd *api.Redirect) *routev3.RedirectAction {
	out := &routev3.RedirectAction{
		HostRedirect: rd.Host,
		PortRedirect: clampU32(rd.Port),
		StripQuery:   rd.StripQuery,
		ResponseCode: redirectCode(rd.Code),
	}
	if rd.Scheme != "" {
		out.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: rd.Scheme}
	}
	if rd.Path != "" {
		out.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: rd.Path}
	}
	return out
}

func redirectCode(code int) routev3.RedirectAction_RedirectResponseCode {
	switch code {
	case 301:
		return routev3.RedirectAction_MOVED_PERMANENTLY
	case 303:
		return routev3.RedirectAction_SEE_OTHER
	case 307:
		return routev3.RedirectAction_TEMPORARY_REDIRECT
	case 308:
		return routev3.RedirectAction_PERMANENT_REDIRECT
	}
	return routev3.RedirectAction_FOUND
}

// headerEdits maps set (overwrite), add (append), each sorted by name, and
// remove, appending to add.
func headerEdits(add []*corev3.HeaderValueOption, e *api.HeaderEdits) ([]*corev3.HeaderValueOption, []string) {
	if e == nil {
		return add, nil
	}
	for _, k := range sortedKeys(e.Set) {
		add = append(add, header(k, e.Set[k], corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD))
	}
	for _, k := range sortedKeys(e.Add) {
		add = append(add, header(k, e.Add[k], corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD))
	}
	return add, append([]string(nil), e.Remove...)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// routeMatch maps the path, header, method and query conditions.
func routeMatch(m *api.RouteMatch) *routev3.RouteMatch {
	out := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
	if m == nil {
		return out
	}
	if p := m.Path; p != nil {
		switch {
		case p.Exact != "":
			out.PathSpecifier = &routev3.RouteMatch_Path{Path: p.Exact}
		case p.Regex != "":
			out.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: regex(p.Regex)}
		case strings.HasSuffix(p.Prefix, "/"):
			out.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: p.Prefix}
		case p.Prefix != "":
			out.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: p.Prefix}
		}
	}
	for _, h := range m.Headers {
		hm := &routev3.HeaderMatcher{Name: h.Name, InvertMatch: h.Invert}
		if h.Present {
			hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
		} else {
			hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: stringMatch(h.Exact, h.Regex)}
		}
		out.Headers = append(out.Headers, hm)
	}
	if len(m.Methods) > 0 {
		out.Headers = append(out.Headers, &routev3.HeaderMatcher{
			Name: ":method",
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: stringMatch("",
				"^("+strings.Join(m.Methods, "|")+")$")},
		})
	}
	for _, q := range m.Query {
		qm := &routev3.QueryParameterMatcher{Name: q.Name}
		if q.Present {
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}
		} else {
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: stringMatch(q.Exact, q.Regex)}
		}
		out.QueryParameters = append(out.QueryParameters, qm)
	}
	return out
}

// stringMatch matches exactly, or by regex when exact is empty.
func stringMatch(exact, re string) *matcherv3.StringMatcher {
	if re != "" {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: regex(re)}}
	}
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: exact}}
}

func regex(re string) *matcherv3.RegexMatcher { return &matcherv3.RegexMatcher{Regex: re} }
