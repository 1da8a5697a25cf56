package l7

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/fulcrumlb/fulcrum/dataplane/l7/http1"
)

// viaGeneric serves an HTTP/1.1 request whose pool speaks h2 or h2c: the
// request becomes an *http.Request (its body read from the connection as
// it arrives) and goes through the net/http path; the response is written
// back as HTTP/1.1 (chunked when its length is unknown; trailers dropped).
func (h *h1conn) viaGeneric(headLen int, closeAfter bool) bool {
	req := &h.req
	h.r += headLen
	hdr := make(http.Header, len(req.Headers))
	for i := range req.Headers {
		k := http.CanonicalHeaderKey(string(req.Headers[i].Name))
		hdr[k] = append(hdr[k], string(req.Headers[i].Value))
	}
	u := &url.URL{Path: string(req.Path), RawQuery: string(req.Query)}
	if p, err := url.PathUnescape(u.Path); err == nil && p != u.Path {
		u.RawPath, u.Path = u.Path, p
	}
	r := &http.Request{Method: string(req.Method), URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: int(req.Minor),
		Header: hdr, Host: string(req.Host), ContentLength: max(req.ContentLength, 0), RemoteAddr: h.c.RemoteAddr().String()}
	if req.Chunked {
		r.ContentLength = -1
	}
	br := &h1BodyReader{h: h, left: req.ContentLength, chunked: req.Chunked, done: !req.HasBody()}
	if req.Chunked {
		h.chunk.Reset()
		h.chunk.MaxBody = h.rs.cfg.bodyMax
	}
	r.Body = br
	if !req.HasBody() {
		r.Body = http.NoBody
	}
	r = r.WithContext(h.s.ctx)
	w := &h1Writer{h: h, header: http.Header{}, closeAfter: closeAfter || req.Minor == 0 && req.Close}
	h.s.proxyHTTP(w, r, &h.rs, &h.view, h.ip)
	h.rs.releaseRequest()
	w.finish()
	br.drain()
	h.bodyDone = br.done
	h.record()
	if len(h.carry) > 0 {
		h.r, h.w = 0, copy(h.buf, h.carry)
		h.carry = h.carry[:0]
	}
	return !w.closeAfter && !w.failed && br.done
}

// h1BodyReader reads a request body from the client connection: the bytes
// buffered with the head first, then the socket (into a buffer of its own,
// so the head's views stay valid), decoding chunks when needed.
type h1BodyReader struct {
	h       *h1conn
	left    int64
	chunked bool
	done    bool
	bp      *iobuf
	raw     []byte // unread socket bytes
	rest    []byte
}

func (b *h1BodyReader) Read(p []byte) (int, error) {
	h := b.h
	for !b.done {
		src := &b.raw
		if h.r < h.w {
			in := h.buf[h.r:h.w]
			n, err := b.consume(p, in)
			h.r += len(in) - len(b.rest)
			if n > 0 || err != nil || b.done {
				return n, err
			}
			continue
		}
		if len(*src) == 0 {
			if b.bp == nil {
				b.bp = getBuf()
			}
			idle := h.rs.cfg.idleTimeout()
			h.dl.setRead(h.c, time.Now().Add(idle), tolerance(idle))
			n, err := h.rd.Read(b.bp[:])
			if n == 0 {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return 0, err
			}
			b.raw = b.bp[:n]
		}
		n, err := b.consume(p, b.raw)
		b.raw = b.rest
		if b.done && len(b.raw) > 0 {
			h.carry = append(h.carry[:0], b.raw...)
			b.raw = nil
		}
		if n > 0 || err != nil || b.done {
			return n, err
		}
	}
	return 0, io.EOF
}

// consume decodes body bytes from in into p and leaves the unused input in
// b.rest. At most len(p) input bytes are decoded at once, so the data
// always fits p.
func (b *h1BodyReader) consume(p, in []byte) (int, error) {
	if !b.chunked {
		n := copy(p, in[:min(int64(len(in)), b.left)])
		b.left -= int64(n)
		b.done = b.left == 0
		b.rest = in[n:]
		return n, nil
	}
	data, n, done, err := b.h.chunk.Decode(in[:min(len(in), len(p))])
	b.rest = in[n:]
	b.done = done
	if err != nil {
		return 0, err
	}
	return copy(p, data), nil
}

// drain reads what the upstream did not, so the connection stays usable.
func (b *h1BodyReader) drain() {
	var sink [512]byte
	for i := 0; i < 64 && !b.done; i++ {
		if _, err := b.Read(sink[:]); err != nil {
			break
		}
	}
	putBuf(b.bp)
	b.bp = nil
}

func (b *h1BodyReader) Close() error { return nil }

// h1Writer is an http.ResponseWriter over the client's HTTP/1.1 connection.
type h1Writer struct {
	h          *h1conn
	header     http.Header
	wrote      bool
	chunked    bool
	closeAfter bool
	failed     bool
	buf        []byte
}

func (w *h1Writer) Header() http.Header { return w.header }

func (w *h1Writer) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	removeHopByHop(w.header, false)
	b := append(w.buf[:0], "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, statusText(code)...)
	b = append(b, "\r\n"...)
	for k, vv := range w.header {
		for _, v := range vv {
			if http1.ValidFieldValue([]byte(v)) {
				b = appendHeader(b, k, v)
			}
		}
	}
	_, hasLen := w.header["Content-Length"]
	switch {
	case hasLen || code == 204 || code == 304 || w.h.req.MethodID == http1.MethodHead:
	case w.h.req.Minor == 1:
		w.chunked = true
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	default:
		w.closeAfter = true
	}
	if w.closeAfter {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	w.buf = b
	w.h.rs.status = code
	w.send(b)
}

func (w *h1Writer) send(b []byte) {
	if w.failed {
		return
	}
	idle := w.h.rs.cfg.idleTimeout()
	w.h.dl.setWrite(w.h.c, time.Now().Add(idle), tolerance(idle))
	if _, err := w.h.c.Write(b); err != nil {
		w.failed = true
	}
	w.h.rs.bytesOut += int64(len(b))
}

func (w *h1Writer) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.failed {
		return 0, errClientGone
	}
	if w.chunked {
		if len(p) == 0 {
			return 0, nil
		}
		w.send(http1.AppendChunkHeader(w.buf[:0], len(p)))
		w.send(p)
		w.send([]byte(http1.CRLF))
	} else {
		w.send(p)
	}
	if w.failed {
		return 0, errClientGone
	}
	return len(p), nil
}

// Flush implements http.Flusher; writes are not buffered.
func (w *h1Writer) Flush() {}

func (w *h1Writer) finish() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.chunked {
		w.send([]byte(http1.LastChunk))
	}
}
