package l7

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
)

// serveHTTP serves a request of the net/http path (HTTP/2, gRPC): the same
// filters and retry loop as the HTTP/1.1 path, with net/http types.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	cfg := s.cfg.Load()
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	ip := ap.Addr().Unmap()
	rs := &reqState{}
	rs.reset(cfg, time.Now())
	rs.grpc = isGRPC(r)
	v := httpView(r)
	if loc := s.prepare(rs, v, r.ContentLength, ip); loc != nil {
		s.writeLocalHTTP(w, r, rs, loc)
	} else {
		s.proxyHTTP(w, r, rs, v, ip)
		rs.releaseRequest()
	}
	s.recordHTTP(rs, r, ip)
}

func httpView(r *http.Request) *reqView {
	v := &reqView{method: []byte(r.Method), host: []byte(r.Host), path: []byte(r.URL.EscapedPath()), hh: r.Header}
	v.mbit = runtime.MethodBit(v.method)
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		v.query = []byte(r.URL.RawQuery)
	}
	return v
}

func isGRPC(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

// proxyHTTP sends the request upstream (after prepare) and writes the
// response or the failure.
func (s *Server) proxyHTTP(w http.ResponseWriter, r *http.Request, rs *reqState, v *reqView, ip netip.Addr) {
	out := s.outgoing(r, rs, ip)
	if len(rs.route.rt.Mirrors) > 0 {
		s.mirrorHTTP(rs, out)
	}
	g := &genTry{s: s, r: out}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		body := io.ReadCloser(r.Body)
		if max := rs.cfg.bodyMax; max > 0 {
			body = http.MaxBytesReader(w, body, max)
		}
		g.body = &countingBody{r: body}
		out.Body = g.body
	} else {
		out.Body = http.NoBody
	}
	var raw []byte
	if ip.IsValid() {
		raw = ip.AsSlice()
	}
	res := s.forward(rs, v, g, idempotentMethod(r.Method), raw)
	switch {
	case g.resp != nil && res.err == nil:
		s.copyResponse(w, rs, g)
	case res.downstream:
		s.writeLocalHTTP(w, r, rs, &local{status: 413, msg: "request body too large"})
	default:
		status, why := failureStatus(&res)
		rs.err = res.err
		s.writeLocalHTTP(w, r, rs, &local{status: status, overloaded: why, msg: errText(res.err)})
	}
	g.discard()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func idempotentMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE":
		return true
	}
	return false
}

// hopHeaders are the connection-specific fields never forwarded
// (RFC 9110 §7.6.1); TE is kept when it is "trailers" (gRPC needs it).
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Te", "Trailer"}

func removeHopByHop(h http.Header, request bool) {
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				h.Del(f)
			}
		}
	}
	te := h.Get("Te")
	for _, n := range hopHeaders {
		delete(h, n)
	}
	if request && strings.EqualFold(strings.TrimSpace(te), "trailers") {
		h.Set("Te", "trailers")
	}
}

// outgoing builds the upstream request: hop-by-hop fields stripped, route
// edits, then the forwarding headers and x-request-id as on the HTTP/1.1
// path.
func (s *Server) outgoing(r *http.Request, rs *reqState, ip netip.Addr) *http.Request {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.Close = false
	h := out.Header
	removeHopByHop(h, true)
	rt := rs.route
	for _, n := range rt.reqRemove {
		delete(h, n)
	}
	for _, kv := range rt.reqSet {
		h.Set(kv[0], kv[1])
	}
	for _, kv := range rt.reqAdd {
		h.Add(kv[0], kv[1])
	}
	if id := h.Get("X-Request-Id"); id != "" {
		rs.reqID = append(rs.reqID[:0], id...)
	} else {
		rs.reqID = s.f.appendRequestID(rs.reqID[:0])
		h.Set("X-Request-Id", string(rs.reqID))
	}
	trusted := rs.cfg.trusted(ip)
	ipText := ip.String()
	proto := rs.cfg.scheme()
	if prior := h.Values("X-Forwarded-For"); trusted && len(prior) > 0 {
		h.Set("X-Forwarded-For", strings.Join(prior, ", ")+", "+ipText)
	} else {
		h.Set("X-Forwarded-For", ipText)
	}
	if !trusted || h.Get("X-Forwarded-Proto") == "" {
		h.Set("X-Forwarded-Proto", proto)
	}
	if !trusted || h.Get("X-Forwarded-Host") == "" {
		h.Set("X-Forwarded-Host", r.Host)
	}
	elem := string(appendForwarded(nil, []byte(ipText), ip.Is6(), []byte(r.Host), proto))
	if prior := h.Values("Forwarded"); trusted && len(prior) > 0 {
		elem = strings.Join(prior, ", ") + ", " + elem
	}
	h.Set("Forwarded", elem)
	return out
}

// genTry is the tryer of the net/http path.
type genTry struct {
	s      *Server
	r      *http.Request
	body   *countingBody
	resp   *http.Response
	cancel context.CancelFunc
}

// countingBody counts the request body bytes read (a body that reached a
// member is never retried) and ignores Close, so a transport that gives up
// does not close the client's body under a retry.
type countingBody struct {
	r io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return nil }

func (g *genTry) try(ms *memberState, deadline time.Time) tryResult {
	g.discard()
	cfg := ms.m.Cluster().Config()
	if cfg.Protocol == runtime.UpstreamHTTP1 {
		// The codec client applies the deadline to the connection itself.
		out := *g.r
		setTarget(&out, ms, cfg)
		resp, res := g.s.roundTripH1(ms, cfg, &out, g.body, deadline)
		g.resp = resp
		return res
	}
	ctx, cancel := context.WithCancel(g.r.Context())
	var timedOut atomic.Bool
	var timer *time.Timer
	if !deadline.IsZero() {
		timer = time.AfterFunc(time.Until(deadline), func() { timedOut.Store(true); cancel() })
	}
	out := g.r.WithContext(ctx)
	setTarget(out, ms, cfg)
	start := time.Now()
	resp, err := ms.roundTripper(cfg).RoundTrip(out)
	if timer != nil {
		timer.Stop()
	}
	sent := g.body != nil && g.body.n.Load() > 0
	if err != nil {
		cancel()
		res := classify(err, timedOut.Load())
		res.sent, res.latency = sent, time.Since(start)
		return res
	}
	g.resp, g.cancel = resp, cancel
	return tryResult{status: resp.StatusCode, sent: sent, latency: time.Since(start)}
}

func (g *genTry) discard() {
	if g.resp != nil {
		g.resp.Body.Close()
		g.resp = nil
	}
	if g.cancel != nil {
		g.cancel()
		g.cancel = nil
	}
}

// copyResponse writes the member's response: fields minus hop-by-hop ones,
// the route's edits and Set-Cookie, the body (flushed as it arrives, for
// streams), then the trailers (gRPC status travels there).
func (s *Server) copyResponse(w http.ResponseWriter, rs *reqState, g *genTry) {
	resp := g.resp
	h := w.Header()
	for k, vv := range resp.Header {
		h[k] = vv
	}
	removeHopByHop(h, false)
	rt := rs.route
	for _, n := range rt.respRemove {
		delete(h, n)
	}
	for _, kv := range rt.respSet {
		h.Set(kv[0], kv[1])
	}
	for _, kv := range rt.respAdd {
		h.Add(kv[0], kv[1])
	}
	if rs.setToken != "" && rs.sticky != nil {
		h.Add("Set-Cookie", string(rs.sticky.setCookie(nil, rs.setToken)))
	}
	for k := range resp.Trailer {
		h.Add("Trailer", k)
	}
	rs.status = resp.StatusCode
	w.WriteHeader(resp.StatusCode)
	stream := resp.ContentLength < 0 || rs.grpc
	rs.bytesOut += copyBody(w, resp.Body, rs.cfg.idleTimeout(), stream)
	for k, vv := range resp.Trailer {
		if _, announced := h[k]; !announced {
			k = http.TrailerPrefix + k
		}
		h[k] = vv
	}
}

// copyBody copies a response body. Streams (unknown length, gRPC) are
// flushed after every read so that messages reach the client as they are
// produced; bodies of known length are left to the server's buffering,
// which sends the head, the data and the end of the stream together for
// small responses (flushing each would cost a write per frame).
func copyBody(w http.ResponseWriter, body io.Reader, idle time.Duration, stream bool) int64 {
	bp := getBuf()
	defer putBuf(bp)
	rc := http.NewResponseController(w)
	var total int64
	deadline := time.Time{}
	for {
		n, err := body.Read(bp[:])
		if n > 0 {
			if now := time.Now(); deadline.Sub(now) < idle-tolerance(idle) {
				deadline = now.Add(idle)
				rc.SetWriteDeadline(deadline)
			}
			if _, werr := w.Write(bp[:n]); werr != nil {
				return total
			}
			total += int64(n)
			if stream {
				rc.Flush()
			}
		}
		if err != nil {
			return total
		}
	}
}

// writeLocalHTTP writes a response the proxy makes itself; gRPC requests
// get a trailers-only response with grpc-status and grpc-message.
func (s *Server) writeLocalHTTP(w http.ResponseWriter, r *http.Request, rs *reqState, loc *local) {
	rs.status = loc.status
	h := w.Header()
	if len(rs.reqID) > 0 {
		h.Set("X-Request-Id", string(rs.reqID))
	}
	if loc.overloaded != "" {
		h.Set("X-Fulcrum-Overloaded", loc.overloaded)
	}
	if loc.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(loc.retryAfter))
	}
	if rs.grpc && !loc.direct {
		h.Set("Content-Type", "application/grpc")
		h.Set("Grpc-Status", strconv.Itoa(grpcCode(loc)))
		h.Set("Grpc-Message", grpcEscape(grpcMessage(loc)))
		w.WriteHeader(http.StatusOK)
		return
	}
	if rd := loc.redirect; rd != nil {
		var q []byte
		if r.URL.RawQuery != "" {
			q = []byte(r.URL.RawQuery)
		}
		h.Set("Location", string(appendRedirect(nil, rd, rs.cfg.scheme(), []byte(r.Host), []byte(r.URL.EscapedPath()), q)))
	}
	if loc.direct && rs.route != nil {
		d := rs.route.rt.Direct
		if d.ContentType != "" && len(d.Body) > 0 {
			h.Set("Content-Type", d.ContentType)
		}
		for _, kv := range rs.route.respSet {
			h.Set(kv[0], kv[1])
		}
		for _, kv := range rs.route.respAdd {
			h.Add(kv[0], kv[1])
		}
		h.Set("Content-Length", strconv.Itoa(len(d.Body)))
		w.WriteHeader(loc.status)
		if r.Method != http.MethodHead {
			n, _ := w.Write(d.Body)
			rs.bytesOut += int64(n)
		}
		return
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(loc.status)
}

// grpcCode maps a local failure to a gRPC status code.
func grpcCode(loc *local) int {
	if loc.grpcCode != 0 {
		return loc.grpcCode
	}
	switch loc.status {
	case 429, 413:
		return 8 // RESOURCE_EXHAUSTED
	case 504:
		return 4 // DEADLINE_EXCEEDED
	case 502, 503:
		return 14 // UNAVAILABLE
	case 404:
		return 12 // UNIMPLEMENTED
	case 401:
		return 16
	case 403:
		return 7
	}
	return 2 // UNKNOWN
}

func grpcMessage(loc *local) string {
	if loc.msg != "" {
		return "fulcrum: " + loc.msg
	}
	return "fulcrum: " + strings.ToLower(http.StatusText(loc.status))
}

// grpcEscape percent-encodes a grpc-message value (gRPC over HTTP/2 spec).
func grpcEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c <= 0x7e && c != '%' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)|0x100, 16)[1:]))
	}
	return b.String()
}

func (s *Server) recordHTTP(rs *reqState, r *http.Request, ip netip.Addr) {
	end := time.Now()
	observe(rs, end)
	if lg := rs.cfg.log; lg != nil {
		lg.write(rs, &logEntry{client: ip, method: []byte(r.Method), host: []byte(r.Host), path: []byte(r.URL.EscapedPath()),
			protocol: r.Proto, userAgent: []byte(r.UserAgent())}, end)
	}
}

var errClientGone = errors.New("client went away")
