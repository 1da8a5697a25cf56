package l7

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/fulcrumlb/fulcrum/dataplane/l7/http1"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
)

// lconfig is one listener configuration compiled for the request path. It
// is immutable once published; every request loads it once, at its start.
type lconfig struct {
	l       *runtime.Listener
	name    string
	routes  map[*runtime.VirtualHost]*vhost
	limits  http1.Limits
	bodyMax int64
	// notFound counts requests no route matched.
	notFound *routeMetrics
	log      *accessLog
	all      []*route
	tls      *tls.Config
}

// vhost is a virtual host's routes, compiled, in precedence order.
type vhost struct {
	routes []*route
}

// route is a runtime.Route with what the request path needs precomputed:
// header edits in the codec's form, the direct response bytes, metric
// handles, the limiter and the sticky cookie attributes.
type route struct {
	rt       *runtime.Route
	name     string
	backends []backend
	total    uint32
	match    matcher

	reqEdits  http1.Edits
	respEdits http1.Edits
	// canonical names for the net/http path
	reqSet, reqAdd, respSet, respAdd [][2]string
	reqRemove, respRemove            []string

	limiter *limiter
	sticky  *sticky
	metrics *routeMetrics
	// direct is the complete HTTP/1.1 response of a direct-response route
	// (without the Connection field), built once.
	direct []byte
}

// backend is one weighted cluster of a route; cum is the running weight
// sum up to and including it, for the weighted pick.
type backend struct {
	cluster string
	cum     uint32
}

// compile builds the request path's view of l. Limiters come from the
// factory's registry so that their state survives reloads.
func (f *Factory) compile(l *runtime.Listener) (*lconfig, error) {
	c := &lconfig{l: l, name: l.Name, routes: map[*runtime.VirtualHost]*vhost{}}
	lim := l.Limits
	c.limits = http1.Limits{MaxHeadBytes: lim.MaxHeaderBytes, MaxHeaders: lim.MaxHeaders, MaxBodyLength: lim.MaxRequestBodyBytes}
	c.bodyMax = lim.MaxRequestBodyBytes
	c.notFound = f.metrics.route(l.Name, "", nil)
	c.log = f.newAccessLog(l)
	if l.TLS != nil {
		c.tls = l.TLS.Config()
		if len(c.tls.NextProtos) == 0 {
			c.tls.NextProtos = []string{"h2", "http/1.1"}
		}
	}
	if l.Routes == nil {
		return c, nil
	}
	for _, vh := range l.Routes.VirtualHosts {
		cv := &vhost{}
		for _, rt := range vh.Routes {
			r, err := f.compileRoute(l, rt)
			if err != nil {
				return nil, fmt.Errorf("l7: listener %s: route %s: %w", l.Name, rt.Name, err)
			}
			cv.routes = append(cv.routes, r)
			c.all = append(c.all, r)
		}
		c.routes[vh] = cv
	}
	return c, nil
}

func (f *Factory) compileRoute(l *runtime.Listener, rt *runtime.Route) (*route, error) {
	r := &route{rt: rt, name: rt.Name}
	var pools []string
	for _, b := range rt.Backends {
		r.total += b.Weight
		r.backends = append(r.backends, backend{cluster: b.Cluster, cum: r.total})
		pools = append(pools, b.Cluster)
	}
	r.metrics = f.metrics.route(l.Name, rt.Name, pools)
	r.match = compileMatch(rt)
	var err error
	if r.reqEdits, err = codecEdits(rt.RequestHeaders); err != nil {
		return nil, err
	}
	if r.respEdits, err = codecEdits(rt.ResponseHeaders); err != nil {
		return nil, err
	}
	r.reqSet, r.reqAdd, r.reqRemove = canonicalEdits(rt.RequestHeaders)
	r.respSet, r.respAdd, r.respRemove = canonicalEdits(rt.ResponseHeaders)
	if rt.RateLimit != nil {
		r.limiter = f.limiters.get("route/"+l.Name+"/"+rt.Name, rt.RateLimit)
	}
	if rt.Sticky != nil {
		r.sticky = newSticky(rt.Sticky)
	}
	if d := rt.Direct; d != nil {
		r.direct = directResponse(d, &r.respEdits)
	}
	return r, nil
}

// codecEdits converts configured edits to the codec's form, validating
// names and values so that the writers can copy them verbatim.
func codecEdits(h runtime.HeaderEdits) (http1.Edits, error) {
	var e http1.Edits
	for _, n := range h.Remove {
		e.Remove = append(e.Remove, []byte(n))
	}
	conv := func(kvs [][2]string) ([]http1.Header, error) {
		var out []http1.Header
		for _, kv := range kvs {
			if !http1.ValidFieldName([]byte(kv[0])) || !http1.ValidFieldValue([]byte(kv[1])) {
				return nil, fmt.Errorf("invalid header edit %q: %q", kv[0], kv[1])
			}
			out = append(out, http1.Header{Name: []byte(kv[0]), Value: []byte(kv[1])})
		}
		return out, nil
	}
	var err error
	if e.Set, err = conv(h.Set); err != nil {
		return e, err
	}
	e.Add, err = conv(h.Add)
	return e, err
}

func canonicalEdits(h runtime.HeaderEdits) (set, add [][2]string, remove []string) {
	for _, kv := range h.Set {
		set = append(set, [2]string{http.CanonicalHeaderKey(kv[0]), kv[1]})
	}
	for _, kv := range h.Add {
		add = append(add, [2]string{http.CanonicalHeaderKey(kv[0]), kv[1]})
	}
	for _, n := range h.Remove {
		remove = append(remove, http.CanonicalHeaderKey(n))
	}
	return set, add, remove
}

// directResponse renders a direct response once, with the route's response
// edits applied.
func directResponse(d *runtime.DirectResponse, edits *http1.Edits) []byte {
	var b []byte
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(d.Status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(d.Status)...)
	b = append(b, "\r\n"...)
	if d.ContentType != "" && len(d.Body) > 0 {
		b = append(b, "Content-Type: "...)
		b = append(b, d.ContentType...)
		b = append(b, "\r\n"...)
	}
	b = appendEditsOnly(b, edits)
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(d.Body)), 10)
	b = append(b, "\r\n"...)
	return b
}

// appendEditsOnly writes the Set and Add fields of edits (a response
// generated by the proxy has nothing to remove).
func appendEditsOnly(b []byte, e *http1.Edits) []byte {
	for _, h := range e.Set {
		b = appendHeader(b, h.Name, h.Value)
	}
	for _, h := range e.Add {
		b = appendHeader(b, h.Name, h.Value)
	}
	return b
}

func appendHeader[T string | []byte](b []byte, name, value T) []byte {
	b = append(b, name...)
	b = append(b, ':', ' ')
	b = append(b, value...)
	return append(b, '\r', '\n')
}

// trusted reports whether a peer may speak for the client in
// X-Forwarded-For and Forwarded.
func (c *lconfig) trusted(ip netip.Addr) bool {
	for _, p := range c.l.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// tlsConfig returns the listener's server TLS configuration.
func (c *lconfig) tlsConfig() *tls.Config { return c.tls }

// idleTimeout returns the listener's idle timeout (60 s if unset).
func (c *lconfig) idleTimeout() time.Duration {
	if d := c.l.Limits.IdleTimeout; d > 0 {
		return d
	}
	return 60 * time.Second
}

// headerTimeout returns the time allowed to receive a request head.
func (c *lconfig) headerTimeout() time.Duration {
	if d := c.l.Limits.HeaderTimeout; d > 0 {
		return d
	}
	return 10 * time.Second
}

// scheme is the scheme clients used to reach the listener.
func (c *lconfig) scheme() string {
	if c.l.TLS != nil {
		return "https"
	}
	return "http"
}

// routeNames lists route names, to drop the metric series of routes that
// leave the configuration.
func (c *lconfig) routeNames() map[string]bool {
	out := map[string]bool{}
	for _, r := range c.all {
		out[r.name] = true
	}
	return out
}
