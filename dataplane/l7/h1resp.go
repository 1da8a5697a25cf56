package l7

import (
	"io"
	"net"
	"strconv"
	"time"

	"github.com/fulcrumlb/fulcrum/dataplane/l7/http1"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
)

// coalesceMax is the largest body part appended to the head in one write.
const coalesceMax = 8 << 10

// commit writes the response whose head is in h.resp (body bytes follow in
// h.uc) to the client, returns the upstream connection to its pool when
// the exchange ended cleanly, and reports whether the client connection
// goes on.
func (h *h1conn) commit(closeAfter bool) bool {
	uc, resp, req := h.uc, &h.resp, &h.req
	rs := &h.rs
	rs.status = resp.Status
	if resp.Framing == http1.FramingTunnel {
		if resp.Status == 101 && req.Upgrade != nil {
			return h.switchProtocols(uc)
		}
		// A 101 or 2xx-to-CONNECT the client did not ask for.
		uc.close()
		rs.status = 502
		return h.writeLocal(&local{status: 502}, true) && false
	}
	opts := http1.ResponseOptions{Framing: resp.Framing, ContentLength: resp.ContentLength, Edits: h.responseEdits()}
	decode := false
	if resp.Framing == http1.FramingChunked && req.Minor == 0 {
		// An HTTP/1.0 client cannot read chunks: decode, end by close.
		decode, opts.Framing = true, http1.FramingUntilClose
	}
	if resp.Framing == http1.FramingNone && resp.ContentLength >= 0 && (req.MethodID == http1.MethodHead || resp.Status == 304) {
		opts.Framing = http1.FramingLength
	}
	if opts.Framing == http1.FramingUntilClose || h.s.draining.Load() {
		closeAfter = true
	}
	switch {
	case closeAfter:
		opts.Connection = http1.ConnClose
	case req.Minor == 0:
		opts.Connection = http1.ConnKeepAlive
	}
	h.out = http1.AppendResponse(h.out[:0], resp, &opts)
	idle := rs.cfg.idleTimeout()
	now := time.Now()
	h.dl.setWrite(h.c, now.Add(idle), tolerance(idle))
	reusable, clientOK := h.writeBody(uc, decode)
	if reusable && !resp.Close && !h.s.draining.Load() {
		uc.ms.put(uc, rs.ccfg, now)
	} else {
		uc.close()
	}
	return clientOK && !closeAfter
}

// writeBody writes h.out (the head) and the body. The first body bytes,
// already read with the head, go out in the same write when small.
func (h *h1conn) writeBody(uc *upConn, decode bool) (reusable, clientOK bool) {
	resp := &h.resp
	avail := uc.buf[uc.r:uc.w]
	switch resp.Framing {
	case http1.FramingNone:
		uc.r = uc.w
		_, err := h.c.Write(h.out)
		h.rs.bytesOut += int64(len(h.out))
		return len(avail) == 0, err == nil
	case http1.FramingLength:
		if int64(len(avail)) >= resp.ContentLength && resp.ContentLength <= coalesceMax {
			h.out = append(h.out, avail[:resp.ContentLength]...)
			_, err := h.c.Write(h.out)
			h.rs.bytesOut += int64(len(h.out))
			return int64(len(avail)) == resp.ContentLength, err == nil
		}
	}
	if _, err := h.c.Write(h.out); err != nil {
		return false, false
	}
	h.rs.bytesOut += int64(len(h.out))
	cw := countingWriter{w: h.c, n: &h.rs.bytesOut}
	reusable, werr, rerr := streamBody(uc, resp, &cw, decode, &h.chunk, h.rs.cfg.idleTimeout())
	return reusable && werr == nil && rerr == nil, werr == nil && rerr == nil
}

// countingWriter counts what reaches the client.
type countingWriter struct {
	w io.Writer
	n *int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

// streamBody copies a response body from uc (starting with the bytes
// already in uc.buf[uc.r:uc.w]) to w according to the response framing,
// refreshing the read deadline with the idle timeout. It reports whether
// the upstream connection ended the message cleanly with nothing extra
// (reusable), and the write and read errors.
func streamBody(uc *upConn, resp *http1.Response, w io.Writer, decode bool, chunk *http1.ChunkedParser, idle time.Duration) (reusable bool, werr, rerr error) {
	switch resp.Framing {
	case http1.FramingNone:
		return uc.r == uc.w, nil, nil
	case http1.FramingLength:
		return copyLength(uc, resp.ContentLength, w, idle)
	case http1.FramingChunked:
		chunk.Reset()
		chunk.MaxBody = 0
		return copyChunked(uc, w, decode, chunk, idle)
	}
	// Until close: the member ends the body by closing.
	for {
		if uc.r < uc.w {
			if _, err := w.Write(uc.buf[uc.r:uc.w]); err != nil {
				return false, err, nil
			}
			uc.r = uc.w
		}
		uc.r, uc.w = 0, 0
		uc.dl.setRead(uc.c, time.Now().Add(idle), tolerance(idle))
		n, err := uc.rd.Read(uc.buf)
		uc.w = n
		if n == 0 && err != nil {
			if err == io.EOF {
				return false, nil, nil
			}
			return false, nil, err
		}
	}
}

func copyLength(uc *upConn, left int64, w io.Writer, idle time.Duration) (bool, error, error) {
	for {
		if uc.r < uc.w {
			n := min(int64(uc.w-uc.r), left)
			if _, err := w.Write(uc.buf[uc.r : uc.r+int(n)]); err != nil {
				return false, err, nil
			}
			uc.r += int(n)
			left -= n
		}
		if left == 0 {
			return uc.r == uc.w, nil, nil
		}
		uc.r, uc.w = 0, 0
		uc.dl.setRead(uc.c, time.Now().Add(idle), tolerance(idle))
		n, err := uc.rd.Read(uc.buf[:min(int64(len(uc.buf)), left)])
		uc.w = n
		if n == 0 && err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return false, nil, err
		}
	}
}

func copyChunked(uc *upConn, w io.Writer, decode bool, chunk *http1.ChunkedParser, idle time.Duration) (bool, error, error) {
	for {
		for uc.r < uc.w {
			p := uc.buf[uc.r:uc.w]
			if decode {
				data, n, done, err := chunk.Decode(p)
				uc.r += n
				if err != nil {
					return false, nil, err
				}
				if len(data) > 0 {
					if _, err := w.Write(data); err != nil {
						return false, err, nil
					}
				}
				if done {
					return uc.r == uc.w, nil, nil
				}
				continue
			}
			n, done, err := chunk.Scan(p)
			if n > 0 {
				if _, werr := w.Write(p[:n]); werr != nil {
					return false, werr, nil
				}
			}
			uc.r += n
			if err != nil {
				return false, nil, err
			}
			if done {
				return uc.r == uc.w, nil, nil
			}
		}
		uc.r, uc.w = 0, 0
		uc.dl.setRead(uc.c, time.Now().Add(idle), tolerance(idle))
		n, err := uc.rd.Read(uc.buf)
		uc.w = n
		if n == 0 && err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return false, nil, err
		}
	}
}

// streamRequestBody sends the rest of a request body that was not
// entirely buffered: the buffered part, then what the client sends, read
// into uc.buf (which is free until the response arrives).
func (h *h1conn) streamRequestBody(uc *upConn, b *h1body, idle time.Duration) tryResult {
	req := &h.req
	pending := b.inBuf
	if !req.Chunked {
		if len(pending) > 0 {
			if _, err := uc.c.Write(pending); err != nil {
				return tryResult{err: err, sent: true}
			}
		}
		for left := b.left; left > 0; {
			h.dl.setRead(h.c, time.Now().Add(idle), tolerance(idle))
			n, err := h.rd.Read(uc.buf[:min(int64(len(uc.buf)), left)])
			if n > 0 {
				if _, werr := uc.c.Write(uc.buf[:n]); werr != nil {
					return tryResult{err: werr, sent: true}
				}
				left -= int64(n)
				h.rs.bytesIn += int64(n)
			}
			if err != nil && left > 0 {
				return tryResult{downstream: true, sent: true}
			}
		}
		return tryResult{sent: true}
	}
	// Chunked: pending was scanned already (not done); forward it, then
	// scan and forward what follows until the last chunk.
	if _, err := uc.c.Write(pending); err != nil {
		return tryResult{err: err, sent: true}
	}
	for {
		h.dl.setRead(h.c, time.Now().Add(idle), tolerance(idle))
		n, err := h.rd.Read(uc.buf)
		if n > 0 {
			m, done, serr := h.chunk.Scan(uc.buf[:n])
			if m > 0 {
				if _, werr := uc.c.Write(uc.buf[:m]); werr != nil {
					return tryResult{err: werr, sent: true}
				}
			}
			if serr != nil {
				h.bodyErr = serr
				return tryResult{downstream: true, sent: true}
			}
			if done {
				h.carry = append(h.carry[:0], uc.buf[m:n]...)
				return tryResult{sent: true}
			}
		}
		if err != nil {
			return tryResult{downstream: true, sent: true}
		}
	}
}

// upstreamDial describes the downstream connection for a PROXY header.
func upstreamDial(c net.Conn) upstream.DialOptions {
	return upstream.DialOptions{Client: c.RemoteAddr(), Local: c.LocalAddr()}
}

// writeLocal writes a response the proxy generates (errors, redirects,
// direct responses, 429, 503 with x-fulcrum-overloaded) and returns
// whether the write succeeded.
func (h *h1conn) writeLocal(loc *local, closeConn bool) bool {
	rs := &h.rs
	rs.status = loc.status
	b := h.out[:0]
	if loc.direct && rs.route != nil {
		b = append(b, rs.route.direct...)
	} else {
		b = append(b, "HTTP/1.1 "...)
		b = strconv.AppendInt(b, int64(loc.status), 10)
		b = append(b, ' ')
		b = append(b, statusText(loc.status)...)
		b = append(b, "\r\n"...)
		b = h.appendLocalFields(b, loc)
		b = append(b, "Content-Length: 0\r\n"...)
	}
	if len(rs.reqID) > 0 {
		b = appendHeader(b, nameRequestID, rs.reqID)
	}
	if closeConn {
		b = append(b, "Connection: close\r\n"...)
	} else if h.req.Minor == 0 {
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	b = append(b, "\r\n"...)
	if loc.direct && rs.route != nil && h.req.MethodID != http1.MethodHead {
		b = append(b, rs.route.rt.Direct.Body...)
	}
	h.out = b
	idle := max(time.Second, rs.cfg.idleTimeout())
	h.dl.setWrite(h.c, time.Now().Add(idle), tolerance(idle))
	_, err := h.c.Write(b)
	rs.bytesOut += int64(len(b))
	return err == nil
}

func (h *h1conn) appendLocalFields(b []byte, loc *local) []byte {
	if loc.retryAfter > 0 {
		b = append(b, "Retry-After: "...)
		b = strconv.AppendInt(b, int64(loc.retryAfter), 10)
		b = append(b, "\r\n"...)
	}
	if loc.overloaded != "" {
		b = appendHeader(b, "x-fulcrum-overloaded", loc.overloaded)
	}
	if rd := loc.redirect; rd != nil {
		b = append(b, "Location: "...)
		b = appendRedirect(b, rd, h.rs.cfg.scheme(), h.req.Host, h.req.Path, h.req.Query)
		b = append(b, "\r\n"...)
	}
	return b
}
