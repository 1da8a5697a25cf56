package l7

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/fulcrumlb/fulcrum/dataplane/l7/http1"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
)

// trackUp records the upstream connections the net/http path is using, so
// that Drain's deadline can close them.
func (s *Server) trackUp(uc *upConn, add bool) {
	s.mu.Lock()
	if add {
		s.upInUse[uc] = struct{}{}
	} else {
		delete(s.upInUse, uc)
	}
	s.mu.Unlock()
}

// roundTripH1 sends an *http.Request (the net/http path: HTTP/2 clients,
// mirrors) to an HTTP/1.1 member over the same pooled connections and
// strict codec as the fast path, without net/http's per-connection
// goroutines. The response body reads from the connection, which returns
// to the pool when the body ended cleanly.
func (s *Server) roundTripH1(ms *memberState, cfg *runtime.Cluster, out *http.Request, body *countingBody, deadline time.Time) (*http.Response, tryResult) {
	start := time.Now()
	hasBody := body != nil
	replayable := !hasBody && idempotentMethod(out.Method)
	for fresh := false; ; fresh = true {
		uc, res := s.h1Conn(out.Context(), ms, start, fresh, replayable)
		if uc == nil {
			return nil, res
		}
		// Drain's deadline closes connections still in use (forceClose);
		// a client that resets its stream is bounded by the timeouts.
		s.trackUp(uc, true)
		resp, res := s.exchangeH1(uc, out, body, deadline, cfg)
		if res.err != nil {
			s.trackUp(uc, false)
			uc.close()
			if uc.reused && !fresh && replayable && uc.w == 0 && !res.timeout {
				continue
			}
			res.latency = time.Since(start)
			return nil, res
		}
		res.latency = time.Since(start)
		return resp, res
	}
}

// h1Conn takes a pooled connection (probed when the request could not be
// replayed) or dials one.
func (s *Server) h1Conn(ctx context.Context, ms *memberState, now time.Time, fresh, replayable bool) (*upConn, tryResult) {
	if !fresh {
		for uc := ms.get(now); uc != nil; uc = ms.get(now) {
			if replayable || uc.alive() {
				return uc, tryResult{}
			}
			uc.close()
		}
	}
	uc, err := ms.newUpConn(ctx, upstream.DialOptions{})
	if err != nil {
		_, overload := err.(*errOverload)
		return nil, tryResult{err: err, connect: !overload}
	}
	return uc, tryResult{}
}

func (s *Server) exchangeH1(uc *upConn, out *http.Request, body *countingBody, deadline time.Time, cfg *runtime.Cluster) (*http.Response, tryResult) {
	idle := idleOf(cfg)
	uc.dl.setWrite(uc.c, time.Now().Add(idle), tolerance(idle))
	head := appendHTTPRequest(uc.buf[:0], out, body != nil)
	if _, err := uc.c.Write(head); err != nil {
		return nil, tryResult{err: err}
	}
	if body != nil {
		if err := writeRequestBody(uc, out.ContentLength, body, idle); err != nil {
			return nil, tryResult{err: err, sent: body.n.Load() > 0, downstream: err == errClientBody}
		}
	}
	sent := body != nil && body.n.Load() > 0
	uc.dl.setRead(uc.c, deadline, 0)
	var r http1.Response
	method := methodID(out.Method)
	for {
		if uc.r < uc.w {
			n, err := http1.ParseResponse(uc.buf[uc.r:uc.w], &r, method, nil)
			if err == nil && r.Interim() {
				uc.r += n
				continue
			}
			if err == nil {
				uc.r += n
				break
			}
			if err != http1.ErrNeedMore || uc.w == len(uc.buf) && uc.r == 0 {
				return nil, tryResult{err: errBadGateway, sent: sent}
			}
		}
		if uc.w == len(uc.buf) {
			uc.w = copy(uc.buf, uc.buf[uc.r:uc.w])
			uc.r = 0
		}
		n, err := uc.rd.Read(uc.buf[uc.w:])
		uc.w += n
		if n == 0 && err != nil {
			return nil, tryResult{err: err, timeout: isTimeout(err), sent: sent}
		}
	}
	if r.Framing == http1.FramingTunnel {
		return nil, tryResult{err: errBadGateway, sent: sent}
	}
	return httpResponse(&r, uc, cfg, out, s), tryResult{status: r.Status, sent: sent}
}

var errClientBody = &http1.Error{Status: 400, Reason: "request body could not be read"}

// appendHTTPRequest writes an HTTP/1.1 request head for out: Host first,
// fields that are valid (hop-by-hop ones were removed already), and the
// framing this proxy chooses.
func appendHTTPRequest(b []byte, out *http.Request, hasBody bool) []byte {
	b = append(b, out.Method...)
	b = append(b, ' ')
	b = append(b, out.URL.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, out.Host...)
	b = append(b, "\r\n"...)
	for k, vv := range out.Header {
		if k == "Host" || k == "Content-Length" || k == "Transfer-Encoding" || k == "Te" || !http1.ValidFieldName([]byte(k)) {
			continue
		}
		for _, v := range vv {
			if http1.ValidFieldValue([]byte(v)) {
				b = appendHeader(b, k, v)
			}
		}
	}
	switch {
	case !hasBody:
	case out.ContentLength > 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, out.ContentLength, 10)
		b = append(b, "\r\n"...)
	default:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	return append(b, "\r\n"...)
}

// writeRequestBody sends the body: exactly Content-Length bytes, or
// re-chunked when the length is unknown.
func writeRequestBody(uc *upConn, length int64, body io.Reader, idle time.Duration) error {
	bp := getBuf()
	defer putBuf(bp)
	chunked := length <= 0
	var sent int64
	for {
		room := bp[16 : len(bp)-2]
		n, err := body.Read(room)
		if n > 0 {
			frame := room[:n]
			if chunked {
				h := http1.AppendChunkHeader(bp[:0], n)
				start := 16 - len(h)
				copy(bp[start:], h)
				frame = append(bp[start:16+n], "\r\n"...)
			}
			uc.dl.setWrite(uc.c, time.Now().Add(idle), tolerance(idle))
			if _, werr := uc.c.Write(frame); werr != nil {
				return werr
			}
			sent += int64(n)
		}
		if err == io.EOF {
			if chunked {
				_, werr := uc.c.Write([]byte(http1.LastChunk))
				return werr
			}
			if sent != length {
				return errClientBody
			}
			return nil
		}
		if err != nil {
			return errClientBody
		}
	}
}

func methodID(m string) http1.Method {
	for id := http1.MethodGet; id <= http1.MethodPatch; id++ {
		if id.String() == m {
			return id
		}
	}
	return http1.MethodOther
}

// hopResponse are response fields never passed to the client.
var hopResponse = map[string]bool{"Connection": true, "Keep-Alive": true, "Proxy-Connection": true,
	"Transfer-Encoding": true, "Upgrade": true, "Te": true, "Trailer": true}

// httpResponse turns a parsed head into an *http.Response whose body reads
// the rest of the message from uc.
func httpResponse(r *http1.Response, uc *upConn, cfg *runtime.Cluster, out *http.Request, s *Server) *http.Response {
	h := make(http.Header, len(r.Headers))
	for i := range r.Headers {
		k := http.CanonicalHeaderKey(string(r.Headers[i].Name))
		if hopResponse[k] {
			continue
		}
		h[k] = append(h[k], string(r.Headers[i].Value))
	}
	resp := &http.Response{StatusCode: r.Status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Request: out}
	b := &upBody{uc: uc, framing: r.Framing, left: r.ContentLength, keep: !r.Close, cfg: cfg, s: s}
	switch r.Framing {
	case http1.FramingNone:
		resp.ContentLength = 0
		b.done = true
	case http1.FramingLength:
		resp.ContentLength = r.ContentLength
		b.done = r.ContentLength == 0
	default:
		resp.ContentLength = -1
		delete(h, "Content-Length")
	}
	resp.Body = b
	if b.done {
		b.finish()
	}
	return resp
}

// upBody is a response body read from a pooled connection with the codec's
// framing; the connection goes back to the pool at a clean end.
type upBody struct {
	uc      *upConn
	framing http1.Framing
	left    int64
	chunk   http1.ChunkedParser
	done    bool
	keep    bool
	cfg     *runtime.Cluster
	s       *Server
}

func (b *upBody) Read(p []byte) (int, error) {
	for !b.done {
		uc := b.uc
		if uc.r == uc.w {
			idle := idleOf(b.cfg)
			uc.dl.setRead(uc.c, time.Now().Add(idle), tolerance(idle))
			uc.r = 0
			n, err := uc.rd.Read(uc.buf)
			uc.w = n
			if n == 0 {
				if err == io.EOF && b.framing == http1.FramingUntilClose {
					b.done, b.keep = true, false
					b.finish()
					return 0, io.EOF
				}
				b.abort()
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return 0, err
			}
		}
		in := uc.buf[uc.r:uc.w]
		switch b.framing {
		case http1.FramingLength:
			n := copy(p, in[:min(int64(len(in)), b.left)])
			uc.r += n
			b.left -= int64(n)
			if b.left == 0 {
				b.done = true
				b.finish()
			}
			return n, nil
		case http1.FramingChunked:
			data, n, done, err := b.chunk.Decode(in[:min(len(in), len(p))])
			uc.r += n
			if err != nil {
				b.abort()
				return 0, err
			}
			m := copy(p, data)
			if done {
				b.done = true
				b.finish()
			}
			if m > 0 || b.done {
				return m, nil
			}
		default:
			n := copy(p, in)
			uc.r += n
			return n, nil
		}
	}
	return 0, io.EOF
}

// finish returns the connection to its pool if the message ended cleanly
// with nothing after it, or closes it.
func (b *upBody) finish() {
	uc := b.uc
	if uc == nil {
		return
	}
	b.uc = nil
	// A connection force-closed by Drain fails its next use and is
	// dropped then.
	b.s.trackUp(uc, false)
	if b.keep && uc.r == uc.w {
		uc.ms.put(uc, b.cfg, time.Now())
		return
	}
	uc.close()
}

func (b *upBody) abort() {
	if b.uc != nil {
		b.s.trackUp(b.uc, false)
		b.uc.close()
		b.uc = nil
	}
	b.done = true
}

// Close drops an unfinished body with its connection.
func (b *upBody) Close() error {
	if !b.done {
		b.abort()
	}
	return nil
}
