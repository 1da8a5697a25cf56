package translator

import (
	"sort"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"

	"github.com/fulcrumlb/fulcrum/api"
)

// anyHost is the virtual host of routes without hosts.
const anyHost = "*"

// routeConfig translates the routes of an HTTP Listener. Routes are grouped
// into one virtual host per host pattern; each virtual host also carries
// every route whose hosts cover it (no hosts, or a covering wildcard),
// because Envoy picks exactly one virtual host per request.
func (t *translation) routeConfig(l *api.Listener) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: RouteConfigName(api.KindListener, l.Metadata.Name)}
	built := map[*api.Route]*routev3.Route{}
	patterns := map[string]bool{}
	var routes []*api.Route
	for _, r := range t.routes[l.Metadata.Name] {
		x, ok := t.route(r)
		if !ok {
			continue
		}
		built[r] = x
		routes = append(routes, r)
		if len(r.Spec.Hosts) == 0 {
			patterns[anyHost] = true
		}
		for _, h := range r.Spec.Hosts {
			patterns[lowerHost(h)] = true
		}
	}
	names := make([]string, 0, len(patterns))
	for p := range patterns {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		vh := &routev3.VirtualHost{Name: p, Domains: []string{p}}
		for _, r := range routesFor(routes, p) {
			vh.Routes = append(vh.Routes, proto.Clone(built[r]).(*routev3.Route))
		}
		rc.VirtualHosts = append(rc.VirtualHosts, vh)
	}
	return rc
}

// routesFor returns the routes a virtual host carries, in precedence order.
func routesFor(routes []*api.Route, pattern string) []*api.Route {
	type entry struct {
		r    *api.Route
		host hostRank
	}
	var in []entry
	for _, r := range routes {
		if h, ok := rankHost(r, pattern); ok {
			in = append(in, entry{r, h})
		}
	}
	sort.SliceStable(in, func(i, j int) bool { return precedes(in[i].r, in[j].r, in[i].host, in[j].host) })
	out := make([]*api.Route, len(in))
	for i, e := range in {
		out[i] = e.r
	}
	return out
}

// hostRank says how specifically a route names a virtual host's pattern:
// tier 0 names it, tier 1 covers it with a wildcard of length wild, tier 2
// has no hosts.
type hostRank struct {
	tier int
	wild int
}

// rankHost reports whether a route belongs to the virtual host of pattern,
// and how specifically.
func rankHost(r *api.Route, pattern string) (hostRank, bool) {
	if len(r.Spec.Hosts) == 0 {
		return hostRank{tier: 2}, true
	}
	best, ok := hostRank{tier: 3}, false
	for _, h := range r.Spec.Hosts {
		h = lowerHost(h)
		switch {
		case h == pattern:
			return hostRank{tier: 0}, true
		case covers(h, pattern) && (!ok || len(h) > best.wild):
			best, ok = hostRank{tier: 1, wild: len(h)}, true
		}
	}
	return best, ok
}

// covers reports whether the wildcard w ("*.example.com") matches every
// host that pattern p (a name or a wildcard) matches.
func covers(w, p string) bool {
	if !strings.HasPrefix(w, "*.") || w == p {
		return false
	}
	suffix := w[1:] // ".example.com"
	if rest, ok := strings.CutPrefix(p, "*."); ok {
		return rest == w[2:] || strings.HasSuffix(rest, suffix)
	}
	return strings.HasSuffix(p, suffix) && len(p) > len(suffix)
}

// precedes orders the routes of one virtual host: priority (higher first);
// path kind (exact, regex, prefix) and longer prefix first; routes with
// methods first; more header matches, then more query matches first; the
// route naming the virtual host's pattern before one covering it by
// wildcard (longer wildcard first) before one without hosts; name.
func precedes(a, b *api.Route, ha, hb hostRank) bool {
	if a.Spec.Priority != b.Spec.Priority {
		return a.Spec.Priority > b.Spec.Priority
	}
	ka, la := pathRank(a.Spec.Match)
	kb, lb := pathRank(b.Spec.Match)
	if ka != kb {
		return ka < kb
	}
	if la != lb {
		return la > lb
	}
	ma, ha2, qa := matchCounts(a.Spec.Match)
	mb, hb2, qb := matchCounts(b.Spec.Match)
	if ma != mb {
		return ma
	}
	if ha2 != hb2 {
		return ha2 > hb2
	}
	if qa != qb {
		return qa > qb
	}
	if ha.tier != hb.tier {
		return ha.tier < hb.tier
	}
	if ha.wild != hb.wild {
		return ha.wild > hb.wild
	}
	return a.Metadata.Name < b.Metadata.Name
}

// pathRank returns 0 for exact, 1 for regex and 2 for prefix paths, and
// the prefix length (0 for the others).
func pathRank(m *api.RouteMatch) (kind, length int) {
	switch p := pathOf(m); {
	case p == nil:
		return 2, 0
	case p.Exact != "":
		return 0, 0
	case p.Regex != "":
		return 1, 0
	default:
		return 2, len(p.Prefix)
	}
}

// matchCounts returns whether a match has methods, and its numbers of
// header and query matches.
func matchCounts(m *api.RouteMatch) (methods bool, headers, query int) {
	if m == nil {
		return false, 0, 0
	}
	return len(m.Methods) > 0, len(m.Headers), len(m.Query)
}

func pathOf(m *api.RouteMatch) *api.PathMatch {
	if m == nil {
		return nil
	}
	return m.Path
}

// poolRouteConfig is the RouteConfiguration of a Pool's own HTTP frontend:
// one virtual host "*" with one route to the pool.
func (t *translation) poolRouteConfig(p *api.Pool) *routev3.RouteConfiguration {
	name := PoolRouteName(p.Metadata.Name)
	r := &routev3.Route{
		Name:     name,
		Match:    &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		Action:   &routev3.Route_Route{Route: routeAction(nil, weightedPools{{pool: p, weight: 1}})},
		Metadata: toMetadata(&RouteMetadata{Route: name}),
	}
	perFilter := perFilterConfig(p.Spec.RateLimit, p.Spec.StickySession)
	if len(perFilter) > 0 {
		r.TypedPerFilterConfig = perFilter
	}
	return &routev3.RouteConfiguration{
		Name: RouteConfigName(api.KindPool, p.Metadata.Name),
		VirtualHosts: []*routev3.VirtualHost{{
			Name: anyHost, Domains: []string{anyHost}, Routes: []*routev3.Route{r},
		}},
	}
}
