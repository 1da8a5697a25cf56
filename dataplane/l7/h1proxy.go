package l7

import (
	"time"

	"github.com/fulcrumlb/fulcrum/dataplane/l7/http1"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
)

// h1body describes the current request's body on the HTTP/1.1 path.
type h1body struct {
	has bool
	// buffered: the whole body is in h.buf and was appended to h.out.
	buffered bool
	// inBuf is the part of a streamed body already in h.buf.
	inBuf []byte
	// left is what a streamed Content-Length body still has to read.
	left int64
}

// handle serves one request whose head is h.buf[h.r:h.r+headLen]. It
// returns whether the connection stays open for another request.
func (h *h1conn) handle(cfg *lconfig, headLen int) bool {
	req := &h.req
	rs := &h.rs
	rs.reset(cfg, time.Now())
	h.view = reqView{method: req.Method, mbit: methodBits[req.MethodID], host: req.Host, path: req.Path, query: req.Query, h1: req.Headers}
	lim := &cfg.l.Limits
	closeAfter := req.Close || h.s.draining.Load() ||
		(lim.MaxRequestsPerConnection > 0 && h.nreq+1 >= lim.MaxRequestsPerConnection)
	if req.MethodID == http1.MethodConnect || req.Form == http1.FormAsterisk && req.MethodID != http1.MethodOptions {
		return h.finishLocal(&local{status: 405, msg: "method not allowed"}, headLen, closeAfter)
	}
	if loc := h.s.prepare(rs, &h.view, req.ContentLength, h.ip); loc != nil {
		return h.finishLocal(loc, headLen, closeAfter)
	}
	defer rs.releaseRequest()
	if rs.ccfg.Protocol != runtime.UpstreamHTTP1 {
		return h.viaGeneric(headLen, closeAfter)
	}
	var body h1body
	if err := h.buildRequest(cfg, headLen, &body); err != nil {
		return h.finishLocal(&local{status: errStatus(err), msg: err.Error()}, 0, true)
	}
	if req.Upgrade == nil {
		h.s.mirrorH1(rs, h, &body)
	}
	h.bodyState = body
	res := h.s.forward(rs, &h.view, h, idempotent(req.MethodID), h.ipRaw)
	return h.complete(&res, closeAfter)
}

// complete writes the response of the last try (or the failure), records
// the request and decides whether the connection goes on.
func (h *h1conn) complete(res *tryResult, closeAfter bool) bool {
	rs := &h.rs
	keep := false
	switch {
	case res.downstream:
		rs.status = 0
		if h.uc != nil {
			h.uc.close()
		}
		if h.bodyErr != nil {
			// A malformed or oversized chunked body: the client gets the
			// codec's status and the connection closes.
			h.writeLocal(&local{status: errStatus(h.bodyErr)}, true)
			h.bodyErr = nil
		}
	case h.uc != nil && res.err == nil:
		keep = h.commit(closeAfter)
	default:
		if h.uc != nil {
			h.uc.close()
		}
		status, reason := failureStatus(res)
		rs.err = res.err
		keep = h.writeLocal(&local{status: status, overloaded: reason}, closeAfter || !h.bodyDone) && !closeAfter && h.bodyDone
	}
	h.setUpstream(nil)
	h.record()
	if len(h.carry) > 0 {
		h.r, h.w = 0, copy(h.buf, h.carry)
		h.carry = h.carry[:0]
	}
	return keep
}

// finishLocal answers a request without an upstream, skipping its body
// when it is already buffered (otherwise the connection closes).
func (h *h1conn) finishLocal(loc *local, headLen int, closeAfter bool) bool {
	h.r += headLen
	consumed := true
	if h.req.HasBody() {
		consumed = false
		if !h.req.Chunked && int64(h.w-h.r) >= h.req.ContentLength {
			h.r += int(h.req.ContentLength)
			consumed = true
		}
	}
	ok := h.writeLocal(loc, closeAfter || !consumed)
	h.record()
	return ok && !closeAfter && consumed
}

// buildRequest renders the upstream request head into h.out and appends
// the body when it is entirely buffered. It returns the error of a chunked
// body already found malformed or over the size limit in the buffer.
func (h *h1conn) buildRequest(cfg *lconfig, headLen int, body *h1body) error {
	req := &h.req
	h.r += headLen
	h.bodyDone = true
	mode := h.forwardEdits(cfg)
	framing := req.Framing()
	if req.Chunked {
		h.chunk.Reset()
		h.chunk.MaxBody = cfg.bodyMax
	}
	conn := http1.ConnDefault
	if req.Upgrade != nil {
		conn = http1.ConnUpgrade
	}
	h.out = http1.AppendRequest(h.out[:0], req, &http1.RequestOptions{
		Framing: framing, ContentLength: req.ContentLength, Edits: &h.edits, XFF: mode, ClientIP: h.ipText,
		Connection: conn,
	})
	if !req.HasBody() {
		return nil
	}
	body.has = true
	avail := h.buf[h.r:h.w]
	switch {
	case !req.Chunked && int64(len(avail)) >= req.ContentLength:
		h.out = append(h.out, avail[:req.ContentLength]...)
		h.r += int(req.ContentLength)
		body.buffered = true
	case !req.Chunked:
		body.inBuf = avail
		body.left = req.ContentLength - int64(len(avail))
		h.r = h.w
		h.bodyDone = false
	default:
		n, done, err := h.chunk.Scan(avail)
		if err != nil {
			return err
		}
		if done {
			h.out = append(h.out, avail[:n]...)
			h.r += n
			body.buffered = true
		} else {
			body.inBuf = avail
			h.r = h.w
			h.bodyDone = false
		}
	}
	return nil
}

// errStatus is the status of a codec error (400 for anything else).
func errStatus(err error) int {
	if pe, ok := err.(*http1.Error); ok {
		return pe.Status
	}
	return 400
}

// idempotent reports whether a method may be retried (RFC 9110 §9.2.2).
func idempotent(m http1.Method) bool {
	switch m {
	case http1.MethodGet, http1.MethodHead, http1.MethodOptions, http1.MethodPut, http1.MethodDelete, http1.MethodTrace:
		return true
	}
	return false
}

// try implements tryer: send the request to ms and read the response head.
// A pooled connection that fails before any response byte is replaced by a
// fresh one once, for idempotent requests without a body.
func (h *h1conn) try(ms *memberState, deadline time.Time) tryResult {
	start := time.Now()
	replayable := !h.bodyState.has && idempotent(h.req.MethodID)
	for fresh := false; ; fresh = true {
		uc, res := h.upstreamConn(ms, start, fresh, replayable)
		if uc == nil {
			return res
		}
		h.setUpstream(uc)
		res = h.send(uc, deadline)
		if res.err == nil && !res.downstream {
			res = h.readResponseHead(uc, res.sent)
		}
		if res.err != nil && uc.reused && !fresh && replayable && uc.w == 0 && !res.timeout {
			uc.close()
			continue
		}
		res.latency = time.Since(start)
		return res
	}
}

// upstreamConn takes an idle pooled connection (checked for liveness when
// the request could not be replayed) or dials a new one.
func (h *h1conn) upstreamConn(ms *memberState, now time.Time, fresh, replayable bool) (*upConn, tryResult) {
	if !fresh && h.req.Upgrade == nil {
		for uc := ms.get(now); uc != nil; uc = ms.get(now) {
			if replayable || uc.alive() {
				return uc, tryResult{}
			}
			uc.close()
		}
	}
	uc, err := ms.newUpConn(h.s.ctx, upstreamDial(h.c))
	if err != nil {
		_, overload := err.(*errOverload)
		return nil, tryResult{err: err, connect: !overload}
	}
	return uc, tryResult{}
}

// send writes the request head and body to uc.
func (h *h1conn) send(uc *upConn, deadline time.Time) tryResult {
	idle := h.rs.cfg.idleTimeout()
	if h.bodyState.has {
		uc.dl.setWrite(uc.c, time.Now().Add(idle), tolerance(idle))
	}
	if _, err := uc.c.Write(h.out); err != nil {
		return tryResult{err: err, sent: h.bodyState.has}
	}
	var res tryResult
	res.sent = h.bodyState.has
	b := &h.bodyState
	if h.bodyState.has && !b.buffered {
		if h.req.Expect100 {
			h.dl.setWrite(h.c, time.Now().Add(idle), tolerance(idle))
			if _, err := h.c.Write([]byte(http1.Continue)); err != nil {
				return tryResult{downstream: true, sent: true}
			}
		}
		if res = h.streamRequestBody(uc, b, idle); res.err != nil || res.downstream {
			return res
		}
		h.bodyDone = true
		res.sent = true
	}
	tol := time.Duration(0)
	if !deadline.IsZero() {
		tol = tolerance(time.Until(deadline))
	}
	uc.dl.setRead(uc.c, deadline, tol)
	return res
}

// readResponseHead reads the response head into uc.buf; interim responses
// other than 100 are passed to the client at once.
func (h *h1conn) readResponseHead(uc *upConn, sent bool) tryResult {
	for {
		if uc.r < uc.w {
			n, err := http1.ParseResponse(uc.buf[uc.r:uc.w], &h.resp, h.req.MethodID, nil)
			if err == nil {
				if h.resp.Interim() {
					h.forwardInterim(uc, n)
					continue
				}
				uc.r += n
				return tryResult{status: h.resp.Status, sent: sent}
			}
			if err != http1.ErrNeedMore {
				return tryResult{err: errBadGateway, sent: sent}
			}
		}
		if uc.w == len(uc.buf) {
			if uc.r == 0 {
				return tryResult{err: errBadGateway, sent: sent}
			}
			uc.w = copy(uc.buf, uc.buf[uc.r:uc.w])
			uc.r = 0
		}
		if uc.w == 0 {
			yieldBeforeRead()
		}
		n, err := uc.rd.Read(uc.buf[uc.w:])
		uc.w += n
		if n == 0 && err != nil {
			return tryResult{err: err, timeout: isTimeout(err), sent: sent}
		}
	}
}

// forwardInterim passes a 1xx response (103 Early Hints and the like) to
// the client; 100 Continue is dropped because the proxy answered the
// client's Expect itself.
func (h *h1conn) forwardInterim(uc *upConn, n int) {
	if h.resp.Status != 100 && h.req.Minor == 1 {
		h.out = http1.AppendResponse(h.out[:0], &h.resp, nil)
		h.c.Write(h.out)
	}
	uc.r += n
}

// discard implements tryer: the response of a try that will be retried is
// dropped with its connection.
func (h *h1conn) discard() {
	if h.uc != nil {
		h.uc.close()
		h.setUpstream(nil)
	}
}
