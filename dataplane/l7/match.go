package l7

import (
	"math/rand/v2"
	"net/http"
	"regexp"

	"github.com/fulcrumlb/fulcrum/dataplane/l7/http1"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
)

// reqView is what routing and the filters read of a request, from either
// downstream: the HTTP/1.1 codec (h1 set) or net/http (hh set). Byte slices
// are views; nothing is copied for the HTTP/1.1 path.
type reqView struct {
	method []byte
	mbit   uint16
	host   []byte
	path   []byte
	query  []byte
	h1     http1.Headers
	hh     http.Header
}

// header returns the first value of a header (lower-case name for the
// codec, canonical name for net/http).
func (v *reqView) header(name, canonical string) ([]byte, bool) {
	if v.hh != nil {
		vs, ok := v.hh[canonical]
		if !ok || len(vs) == 0 {
			return nil, false
		}
		return []byte(vs[0]), true
	}
	return v.h1.Lookup(name)
}

// methodBits maps the codec's method IDs to runtime.MethodBit bits.
var methodBits = func() (t [16]uint16) {
	for id := http1.MethodOther; id <= http1.MethodPatch; id++ {
		t[id] = runtime.MethodBit([]byte(id.String()))
	}
	return t
}()

// matcher is a route's match conditions with canonical header names
// precomputed for the net/http path.
type matcher struct {
	path    runtime.PathMatch
	methods uint16
	headers []headerMatch
	query   []runtime.QueryMatch
}

type headerMatch struct {
	runtime.HeaderMatch
	canonical string
}

func compileMatch(rt *runtime.Route) matcher {
	m := matcher{path: rt.Path, methods: rt.Methods, query: rt.Query}
	for _, h := range rt.Headers {
		m.headers = append(m.headers, headerMatch{HeaderMatch: h, canonical: http.CanonicalHeaderKey(h.Name)})
	}
	return m
}

// selectRoute returns the first route of the request's virtual host whose
// conditions all hold, or nil. It allocates nothing on the HTTP/1.1 path.
func (c *lconfig) selectRoute(v *reqView) *route {
	if c.l.Routes == nil {
		return nil
	}
	vh := c.l.Routes.VirtualHost(v.host)
	if vh == nil {
		return nil
	}
	cv := c.routes[vh]
	if cv == nil {
		return nil
	}
	for _, r := range cv.routes {
		if r.match.matches(v) {
			return r
		}
	}
	return nil
}

func (m *matcher) matches(v *reqView) bool {
	if m.methods != 0 && m.methods&v.mbit == 0 {
		return false
	}
	if !matchPath(&m.path, v.path) {
		return false
	}
	for i := range m.headers {
		if !m.headers[i].matches(v) {
			return false
		}
	}
	for i := range m.query {
		if !matchQuery(&m.query[i], v.query) {
			return false
		}
	}
	return true
}

func matchPath(p *runtime.PathMatch, path []byte) bool {
	switch {
	case p.Regex != nil:
		return p.Regex.Match(path)
	case p.Exact != "":
		return string(path) == p.Exact
	}
	n := len(p.Prefix)
	if len(path) < n || string(path[:n]) != p.Prefix {
		return false
	}
	// A segment prefix matches whole segments: /api matches /api and
	// /api/x, never /apis.
	return !p.Segment || len(path) == n || path[n] == '/' || p.Prefix[n-1] == '/'
}

func (h *headerMatch) matches(v *reqView) bool {
	val, ok := v.header(h.Name, h.canonical)
	res := ok && matchValue(h.Exact, h.Regex, h.Present, val)
	if h.Invert {
		return !res
	}
	return res
}

func matchValue(exact string, re *regexp.Regexp, present bool, val []byte) bool {
	switch {
	case re != nil:
		return re.Match(val)
	case present:
		return true
	}
	return string(val) == exact
}

// matchQuery looks for the parameter in the raw query string. Names and
// values are compared as sent (not percent-decoded).
func matchQuery(q *runtime.QueryMatch, query []byte) bool {
	for len(query) > 0 {
		var kv []byte
		if i := indexByte(query, '&'); i >= 0 {
			kv, query = query[:i], query[i+1:]
		} else {
			kv, query = query, nil
		}
		name, val := kv, []byte(nil)
		if i := indexByte(kv, '='); i >= 0 {
			name, val = kv[:i], kv[i+1:]
		}
		if string(name) == q.Name {
			return matchValue(q.Exact, q.Regex, q.Present, val)
		}
	}
	return false
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// pickBackend chooses a backend of the route by weight, at random per
// request (canary splits). It returns -1 when every weight is 0.
func (r *route) pickBackend() int {
	if r.total == 0 {
		return -1
	}
	if len(r.backends) == 1 {
		return 0
	}
	x := rand.Uint32N(r.total)
	for i := range r.backends {
		if x < r.backends[i].cum {
			return i
		}
	}
	return len(r.backends) - 1
}
