package http1

import "bytes"

// Method identifies the standard methods without comparing strings.
type Method uint8

// Standard methods (RFC 9110 §9 and RFC 5789). Methods are case-sensitive;
// any other valid token is MethodOther and is proxied as is.
const (
	MethodOther Method = iota
	MethodGet
	MethodHead
	MethodPost
	MethodPut
	MethodDelete
	MethodConnect
	MethodOptions
	MethodTrace
	MethodPatch
)

var methodNames = [...]string{"", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

// String returns the method name, or "" for MethodOther.
func (m Method) String() string {
	if int(m) < len(methodNames) {
		return methodNames[m]
	}
	return ""
}

func methodID(b []byte) Method {
	switch len(b) {
	case 3:
		if string(b) == "GET" {
			return MethodGet
		}
		if string(b) == "PUT" {
			return MethodPut
		}
	case 4:
		if string(b) == "POST" {
			return MethodPost
		}
		if string(b) == "HEAD" {
			return MethodHead
		}
	case 5:
		if string(b) == "PATCH" {
			return MethodPatch
		}
		if string(b) == "TRACE" {
			return MethodTrace
		}
	case 6:
		if string(b) == "DELETE" {
			return MethodDelete
		}
	case 7:
		if string(b) == "OPTIONS" {
			return MethodOptions
		}
		if string(b) == "CONNECT" {
			return MethodConnect
		}
	}
	return MethodOther
}

// Request is a parsed request head. Every []byte field is a view into the
// buffer given to ParseRequest. A Request is reused across requests of a
// connection: ParseRequest resets it and keeps the Headers capacity.
type Request struct {
	// Method is the method token; MethodID classifies it.
	Method   []byte
	MethodID Method
	// Target is the raw request-target, Form its form.
	Target []byte
	Form   TargetForm
	// Scheme ("http" or "https", as sent) is set for absolute-form only.
	Scheme []byte
	// Authority is the target's host[:port] for absolute- and
	// authority-form; nil for origin- and asterisk-form.
	Authority []byte
	// Path is the path of origin- and absolute-form targets (possibly empty
	// for absolute-form), "*" for asterisk-form, nil for authority-form.
	// It is not percent-decoded.
	Path []byte
	// Query is what follows the first '?', nil when there is no '?'.
	Query []byte
	// Minor is the minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
	Minor uint8
	// Headers are the field lines in order, including framing and
	// hop-by-hop fields.
	Headers Headers
	// Host is the effective authority: the target's authority when there
	// is one (RFC 9112 §3.2.2, it wins over the Host field), else the Host
	// field value (possibly empty, or nil for HTTP/1.0 without Host).
	Host []byte
	// ContentLength is the declared length, or -1 when there is none.
	ContentLength int64
	// Chunked is set when the body uses the chunked transfer coding.
	Chunked bool
	// Close is set when the client connection must close after this
	// exchange: "Connection: close", or HTTP/1.0 without keep-alive.
	Close bool
	// Upgrade is the Upgrade field value when an HTTP/1.1 request asks to
	// switch protocols (Connection lists "upgrade"); nil otherwise.
	Upgrade []byte
	// Expect100 is set when an HTTP/1.1 request with a body carries
	// "Expect: 100-continue" (RFC 9110 §10.1.1).
	Expect100 bool
}

// Reset clears the request for reuse, keeping the Headers capacity.
func (r *Request) Reset() {
	hs := r.Headers[:0]
	*r = Request{Headers: hs, ContentLength: -1}
}

// HasBody reports whether a body follows the head.
func (r *Request) HasBody() bool { return r.Chunked || r.ContentLength > 0 }

// Framing returns how the request body is delimited: FramingChunked,
// FramingLength, or FramingNone (RFC 9112 §6.3 rule 7: no body).
func (r *Request) Framing() Framing {
	switch {
	case r.Chunked:
		return FramingChunked
	case r.ContentLength >= 0:
		return FramingLength
	}
	return FramingNone
}

// ParseRequest parses the request head at the start of buf into req and
// returns the head length, so the body (if any) starts at buf[headLen:].
// It returns ErrNeedMore when buf holds a valid prefix of a head, and an
// *Error for anything else; it never allocates once req.Headers has grown
// to the number of fields. A nil lim means DefaultLimits.
//
// Re-parsing from the start after every read is cheap for the usual case
// of a head arriving in one read; to bound the work on slow senders, call
// it only after a read that delivered a '\n' or filled the buffer.
func ParseRequest(buf []byte, req *Request, lim *Limits) (headLen int, err error) {
	req.Reset()
	l := lim.effective()
	n, code := parseRequest(buf, req, &l)
	if code != codeOK {
		return 0, requestError(code)
	}
	return n, nil
}

func parseRequest(buf []byte, req *Request, lim *Limits) (int, errCode) {
	p, code := parseRequestLine(buf, req, lim)
	if code != codeOK {
		return 0, code
	}
	if code := parseTarget(req); code != codeOK {
		return 0, code
	}
	var fi fieldIndex
	n, code := parseFields(buf, p, &req.Headers, lim, &fi)
	if code != codeOK {
		return 0, code
	}
	if code := req.deriveFraming(&fi, lim); code != codeOK {
		return 0, code
	}
	return n, req.deriveConnection(&fi)
}

// parseRequestLine parses method SP request-target SP HTTP-version CRLF
// (RFC 9112 §3) and returns the offset of the first field line.
func parseRequestLine(buf []byte, req *Request, lim *Limits) (int, errCode) {
	start := 0
	// RFC 9112 §2.2: a server SHOULD ignore empty lines (CRLF only)
	// received before the request-line.
	for start+1 < len(buf) && buf[start] == '\r' && buf[start+1] == '\n' && start < lim.MaxRequestLine {
		start += 2
	}
	lf := bytes.IndexByte(buf[start:], '\n')
	if lf < 0 {
		if len(buf)-start >= lim.MaxRequestLine {
			return 0, codeURITooLong
		}
		return 0, codeNeedMore
	}
	end := start + lf + 1
	if end-start > lim.MaxRequestLine {
		return 0, codeURITooLong
	}
	if lf == 0 || buf[end-2] != '\r' {
		return 0, codeBareLF
	}
	line := buf[start : end-2]
	p := 0
	for p < len(line) && class[line[p]]&cToken != 0 {
		p++
	}
	if p == len(line) || line[p] != ' ' || p == 0 {
		if p == len(line) || line[p] == '\r' {
			return 0, codeRequestLine
		}
		return 0, codeMethod
	}
	req.Method = line[:p]
	req.MethodID = methodID(req.Method)
	p++
	ts := p
	p = scanTarget(line, p)
	if p == len(line) || p == ts {
		// No second SP: HTTP/0.9 "GET /", or an empty target.
		return 0, codeRequestLine
	}
	if line[p] != ' ' {
		return 0, codeTarget
	}
	req.Target = line[ts:p]
	minor, code := parseVersion(line[p+1:])
	if code != codeOK {
		return 0, code
	}
	req.Minor = minor
	return end, codeOK
}

// parseVersion accepts exactly "HTTP/1.0" or "HTTP/1.1" (RFC 9112 §2.3: the
// name is case-sensitive); other well-formed versions get 505.
func parseVersion(v []byte) (uint8, errCode) {
	if len(v) == 8 && string(v[:7]) == "HTTP/1." && (v[7] == '0' || v[7] == '1') {
		return v[7] - '0', codeOK
	}
	if len(v) == 8 && string(v[:5]) == "HTTP/" && isDigit(v[5]) && v[6] == '.' && isDigit(v[7]) {
		return 0, codeVersionUnsupported
	}
	return 0, codeVersion
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// deriveFraming applies RFC 9112 §6 to the request: Transfer-Encoding must
// be exactly chunked, must not meet Content-Length, and is not allowed in
// HTTP/1.0; without either, there is no body.
func (r *Request) deriveFraming(fi *fieldIndex, lim *Limits) errCode {
	if fi.count[kindTransferEncoding] > 0 {
		// RFC 9112 §6.1: HTTP/1.0 framing with TE is faulty; and a message
		// with both TE and CL is a smuggling attempt, whatever the RFC says
		// about TE overriding CL.
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
		return codeOK
	}
	n, code := contentLength(r.Headers, fi)
	if code != codeOK {
		return code
	}
	if lim.MaxBodyLength > 0 && n > lim.MaxBodyLength {
		return codeBodyTooLarge
	}
	r.ContentLength = n
	return codeOK
}

// deriveConnection checks Host, Connection, Upgrade and Expect.
func (r *Request) deriveConnection(fi *fieldIndex) errCode {
	// RFC 9112 §3.2: exactly one valid Host in HTTP/1.1.
	switch fi.count[kindHost] {
	case 0:
		if r.Minor == 1 {
			return codeHostMissing
		}
	case 1:
		h := r.Headers[fi.first[kindHost]].Value
		if !validHost(h) {
			return codeHostInvalid
		}
		r.Host = h
	default:
		return codeHostMultiple
	}
	if r.Authority != nil {
		r.Host = r.Authority
	}
	opts, code := parseConnection(r.Headers, fi)
	if code != codeOK {
		return code
	}
	r.Close = opts.close || (r.Minor == 0 && !opts.keepAlive)
	switch fi.count[kindUpgrade] {
	case 0:
	case 1:
		// RFC 9110 §7.8: Upgrade is ignored in HTTP/1.0 and means
		// nothing unless Connection lists it.
		v := r.Headers[fi.first[kindUpgrade]].Value
		if len(v) == 0 {
			return codeUpgrade
		}
		if opts.upgrade && r.Minor == 1 {
			r.Upgrade = v
		}
	default:
		return codeUpgrade
	}
	return r.deriveExpect(fi)
}

// deriveExpect implements RFC 9110 §10.1.1: 100-continue is the only
// expectation; anything else gets 417. 100-continue is ignored in HTTP/1.0
// and on requests without a body, where there is nothing to wait for.
func (r *Request) deriveExpect(fi *fieldIndex) errCode {
	n := int(fi.count[kindExpect])
	cont := false
	for i := int(fi.first[kindExpect]); i < len(r.Headers) && n > 0; i++ {
		h := &r.Headers[i]
		if h.kind&kindMask != kindExpect {
			continue
		}
		n--
		switch {
		case len(h.Value) == 0:
		case equalFold(h.Value, "100-continue"):
			cont = true
		default:
			return codeExpect
		}
	}
	r.Expect100 = cont && r.Minor == 1 && r.HasBody()
	return codeOK
}
