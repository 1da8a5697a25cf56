package http1

import "bytes"

// Framing says how a message body is delimited (RFC 9112 §6.3). The parsers
// report it; the writers take it to generate the framing fields.
type Framing uint8

// Body framings.
const (
	// FramingNone: no body follows the head.
	FramingNone Framing = iota
	// FramingLength: exactly ContentLength bytes follow.
	FramingLength
	// FramingChunked: a chunked body follows; see ChunkedParser.
	FramingChunked
	// FramingUntilClose: the body runs until the upstream closes the
	// connection (responses only), which therefore cannot be reused.
	FramingUntilClose
	// FramingTunnel: after the head the connection carries another
	// protocol (101 Switching Protocols, 2xx to CONNECT).
	FramingTunnel
)

// String returns a short name for logs.
func (f Framing) String() string {
	switch f {
	case FramingNone:
		return "none"
	case FramingLength:
		return "length"
	case FramingChunked:
		return "chunked"
	case FramingUntilClose:
		return "until-close"
	case FramingTunnel:
		return "tunnel"
	}
	return "unknown"
}

// Response is a parsed response head. Every []byte field is a view into the
// buffer given to ParseResponse. Reuse it across responses; ParseResponse
// resets it and keeps the Headers capacity.
type Response struct {
	// Minor is the minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
	Minor uint8
	// Status is the three-digit status code, 100 to 599.
	Status int
	// Reason is the reason phrase, possibly empty.
	Reason []byte
	// Headers are the field lines in order.
	Headers Headers
	// ContentLength is the declared Content-Length, or -1. For HEAD and
	// 304 responses it describes the representation, not a body.
	ContentLength int64
	// Chunked is set when Transfer-Encoding: chunked was declared.
	Chunked bool
	// Framing is how the body that follows this head is delimited.
	Framing Framing
	// Close is set when the upstream connection cannot be reused after this
	// response: "Connection: close", HTTP/1.0 without keep-alive, or a body
	// delimited by close.
	Close bool
	// Upgrade is the Upgrade field value of a 101 response.
	Upgrade []byte
}

// Reset clears the response for reuse, keeping the Headers capacity.
func (r *Response) Reset() {
	hs := r.Headers[:0]
	*r = Response{Headers: hs, ContentLength: -1}
}

// Interim reports whether this is a 1xx response other than 101: another
// head (the final response) follows it on the same connection.
func (r *Response) Interim() bool { return r.Status >= 100 && r.Status < 200 && r.Status != 101 }

// ParseResponse parses the response head at the start of buf, received for
// a request with the given method (HEAD and CONNECT change the framing), and
// returns the head length. It returns ErrNeedMore for a valid incomplete
// head and an *Error (Status 502) for anything else, after which the
// upstream connection must be closed. It never allocates once resp.Headers
// has grown to the number of fields. A nil lim means DefaultLimits.
func ParseResponse(buf []byte, resp *Response, method Method, lim *Limits) (headLen int, err error) {
	resp.Reset()
	l := lim.effective()
	p, code := parseStatusLine(buf, resp, &l)
	if code != codeOK {
		return 0, responseError(code)
	}
	var fi fieldIndex
	n, code := parseFields(buf, p, &resp.Headers, &l, &fi)
	if code == codeOK {
		code = resp.deriveFraming(&fi, method)
	}
	if code != codeOK {
		return 0, responseError(code)
	}
	return n, nil
}

// parseStatusLine parses HTTP-version SP 3DIGIT SP reason-phrase CRLF
// (RFC 9112 §4). A missing reason phrase with its SP is tolerated: it is
// common and carries no framing risk.
func parseStatusLine(buf []byte, resp *Response, lim *Limits) (int, errCode) {
	lf := bytes.IndexByte(buf, '\n')
	if lf < 0 {
		if len(buf) >= lim.MaxRequestLine {
			return 0, codeHeadTooLarge
		}
		return 0, codeNeedMore
	}
	if lf+1 > lim.MaxRequestLine {
		return 0, codeHeadTooLarge
	}
	if lf == 0 || buf[lf-1] != '\r' {
		return 0, codeBareLF
	}
	line := buf[:lf-1]
	if len(line) < 12 || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return 0, codeStatusLine
	}
	minor, code := parseVersion(line[:8])
	if code != codeOK {
		return 0, code
	}
	d := line[9:12]
	if d[0] < '1' || d[0] > '5' || !isDigit(d[1]) || !isDigit(d[2]) {
		return 0, codeStatusLine
	}
	resp.Minor = minor
	resp.Status = int(d[0]-'0')*100 + int(d[1]-'0')*10 + int(d[2]-'0')
	if len(line) > 12 {
		resp.Reason = line[13:]
		for _, c := range resp.Reason {
			if class[c]&cValue == 0 {
				return 0, codeStatusLine
			}
		}
	}
	return lf + 1, codeOK
}

// deriveFraming applies RFC 9112 §6.3 to a response. Content-Length and
// Transfer-Encoding are validated whatever the status, because a desynced
// upstream connection must never be reused.
func (r *Response) deriveFraming(fi *fieldIndex, method Method) errCode {
	te := fi.count[kindTransferEncoding] > 0
	if te {
		if r.Minor == 0 {
			return codeTEHTTP10
		}
		if fi.count[kindContentLength] > 0 {
			return codeCLAndTE
		}
		if code := checkTE(r.Headers, fi); code != codeOK {
			return code
		}
		r.Chunked = true
	}
	cl, code := contentLength(r.Headers, fi)
	if code != codeOK {
		return code
	}
	r.ContentLength = cl
	// RFC 9110 §8.6, §6.4.1, §9.3.6: 1xx, 204 and 2xx-to-CONNECT must not
	// carry framing fields; "Content-Length: 0" is common and harmless.
	noFraming := te || cl > 0
	switch {
	case r.Status < 200:
		if noFraming {
			return codeNoBodyAllowed
		}
		r.Framing = FramingNone
		if r.Status == 101 {
			r.Framing = FramingTunnel
		}
	case method == MethodConnect && r.Status < 300:
		if noFraming {
			return codeNoBodyAllowed
		}
		r.Framing = FramingTunnel
	case r.Status == 204:
		if noFraming {
			return codeNoBodyAllowed
		}
		r.Framing = FramingNone
	case method == MethodHead || r.Status == 304:
		r.Framing = FramingNone
	case te:
		r.Framing = FramingChunked
	case cl >= 0:
		r.Framing = FramingLength
	default:
		r.Framing = FramingUntilClose
	}
	return r.deriveConnection(fi)
}

func (r *Response) deriveConnection(fi *fieldIndex) errCode {
	opts, code := parseConnection(r.Headers, fi)
	if code != codeOK {
		return code
	}
	r.Close = opts.close || (r.Minor == 0 && !opts.keepAlive) || r.Framing == FramingUntilClose
	if fi.count[kindUpgrade] > 1 {
		return codeUpgrade
	}
	if r.Status == 101 {
		// RFC 9110 §15.2.2: a 101 names the protocol it switches to.
		if fi.count[kindUpgrade] == 0 || r.Minor == 0 {
			return codeUpgrade
		}
		r.Upgrade = r.Headers[fi.first[kindUpgrade]].Value
		if len(r.Upgrade) == 0 {
			return codeUpgrade
		}
	}
	return codeOK
}
