package http1

import "strconv"

// ConnectionMode selects the Connection field a writer emits.
type ConnectionMode uint8

// Connection modes.
const (
	// ConnDefault writes no Connection field: HTTP/1.1 persistence.
	ConnDefault ConnectionMode = iota
	// ConnClose writes "Connection: close".
	ConnClose
	// ConnKeepAlive writes "Connection: keep-alive", which HTTP/1.0
	// clients need to keep the connection.
	ConnKeepAlive
	// ConnUpgrade writes "Connection: upgrade" and the message's Upgrade
	// field, when proxying a protocol switch (WebSocket, h2c).
	ConnUpgrade
)

// XFFMode says how a request writer treats X-Forwarded-For.
type XFFMode uint8

// X-Forwarded-For modes.
const (
	// XFFKeep forwards X-Forwarded-For fields as received.
	XFFKeep XFFMode = iota
	// XFFAppend writes one field: the received values joined by ", ",
	// then ClientIP. Use it when the downstream peer is trusted.
	XFFAppend
	// XFFReplace drops received values and writes ClientIP alone. Use it
	// when the downstream peer is not trusted.
	XFFReplace
)

// Edits are header changes configured on a route. Names compare ASCII-case-
// insensitively; Set and Add fields are written with the name as given, so
// precompute them in lower case. Names and values must have been validated
// (ValidFieldName, ValidFieldValue) when the configuration was loaded: the
// writers copy them verbatim.
type Edits struct {
	// Remove names fields to drop.
	Remove [][]byte
	// Set replaces every received field of the same name.
	Set []Header
	// Add appends fields, keeping received ones.
	Add []Header
}

// RequestOptions controls AppendRequest. The zero value forwards the
// request with no body, persistent, unedited.
type RequestOptions struct {
	// Target overrides the request-target; nil writes the origin-form of
	// the parsed target (absolute-form is reduced to path and query).
	Target []byte
	// Framing and ContentLength choose the framing field: Content-Length
	// for FramingLength, Transfer-Encoding: chunked for FramingChunked,
	// nothing otherwise.
	Framing       Framing
	ContentLength int64
	// Connection selects the Connection field.
	Connection ConnectionMode
	// Edits are applied after hop-by-hop fields are removed; may be nil.
	Edits *Edits
	// XFF and ClientIP control X-Forwarded-For.
	XFF      XFFMode
	ClientIP []byte
}

// AppendRequest appends an HTTP/1.1 request head for req to dst and returns
// the extended slice. It writes the request line, Host first (req.Host, the
// target's authority for absolute-form, unless Edits sets "host"), the
// received fields minus hop-by-hop ones (Connection and the fields it
// names, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
// Upgrade) and minus Content-Length, then the edits, X-Forwarded-For, the
// framing field and the Connection field. It allocates only if dst must grow.
func AppendRequest(dst []byte, req *Request, o *RequestOptions) []byte {
	if o == nil {
		o = &RequestOptions{}
	}
	dst = append(dst, req.Method...)
	dst = append(dst, ' ')
	switch {
	case o.Target != nil:
		dst = append(dst, o.Target...)
	case req.Form == FormAbsolute:
		if len(req.Path) == 0 {
			dst = append(dst, '/')
		}
		dst = append(dst, req.Path...)
		if req.Query != nil {
			dst = append(dst, '?')
			dst = append(dst, req.Query...)
		}
	default:
		dst = append(dst, req.Target...)
	}
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	host, setHost := o.Edits.setValue("host")
	if !setHost {
		host = req.Host
	}
	dst = append(dst, host...)
	dst = append(dst, '\r', '\n')
	for i := range req.Headers {
		h := &req.Headers[i]
		k := h.kind
		if k == kindHost || hopByHop(k) || (k == kindXFF && o.XFF != XFFKeep) || o.Edits.drops(h.Name) {
			continue
		}
		dst = appendField(dst, h.Name, h.Value)
	}
	dst = o.Edits.appendNew(dst, true)
	if o.XFF != XFFKeep {
		dst = appendXFF(dst, req.Headers, o.XFF, o.ClientIP)
	}
	dst = appendFraming(dst, o.Framing, o.ContentLength)
	dst = appendConnection(dst, o.Connection, req.Upgrade)
	return append(dst, '\r', '\n')
}

// ResponseOptions controls AppendResponse.
type ResponseOptions struct {
	// Framing and ContentLength choose the framing field as for requests.
	// FramingUntilClose writes none and forces "Connection: close". For a
	// HEAD or 304 response pass the received declaration (FramingLength
	// and resp.ContentLength) to keep it.
	Framing       Framing
	ContentLength int64
	// Connection selects the Connection field.
	Connection ConnectionMode
	// Edits are applied after hop-by-hop fields are removed; may be nil.
	Edits *Edits
}

// AppendResponse appends an HTTP/1.1 response head for resp to dst: the
// status line, the received fields minus hop-by-hop ones and minus
// Content-Length, the edits, the framing field and the Connection field.
// It allocates only if dst must grow.
func AppendResponse(dst []byte, resp *Response, o *ResponseOptions) []byte {
	if o == nil {
		o = &ResponseOptions{}
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(resp.Status), 10)
	dst = append(dst, ' ')
	dst = append(dst, resp.Reason...)
	dst = append(dst, '\r', '\n')
	for i := range resp.Headers {
		h := &resp.Headers[i]
		if hopByHop(h.kind) || o.Edits.drops(h.Name) {
			continue
		}
		dst = appendField(dst, h.Name, h.Value)
	}
	dst = o.Edits.appendNew(dst, false)
	dst = appendFraming(dst, o.Framing, o.ContentLength)
	conn := o.Connection
	if o.Framing == FramingUntilClose {
		conn = ConnClose
	}
	dst = appendConnection(dst, conn, resp.Upgrade)
	return append(dst, '\r', '\n')
}

// Continue is the interim response that answers "Expect: 100-continue".
const Continue = "HTTP/1.1 100 Continue\r\n\r\n"

// AppendError appends a complete, empty response with the given status
// and "Connection: close", for answering a parser *Error.
func AppendError(dst []byte, status int) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, statusText(status)...)
	return append(dst, "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"...)
}

func statusText(status int) string {
	switch status {
	case 400:
		return "Bad Request"
	case 408:
		return "Request Timeout"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 417:
		return "Expectation Failed"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Error"
}

// ValidFieldName reports whether b is a valid field name (a token).
func ValidFieldName(b []byte) bool { return isToken(b) }

// ValidFieldValue reports whether b is a valid field value: field-vchars,
// SP and HTAB, without leading or trailing whitespace.
func ValidFieldValue(b []byte) bool {
	for _, c := range b {
		if class[c]&cValue == 0 {
			return false
		}
	}
	return len(b) == 0 || (!isOWS(b[0]) && !isOWS(b[len(b)-1]))
}

func appendField(dst, name, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ':', ' ')
	dst = append(dst, value...)
	return append(dst, '\r', '\n')
}

func appendFraming(dst []byte, f Framing, n int64) []byte {
	switch f {
	case FramingLength:
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, n, 10)
		return append(dst, '\r', '\n')
	case FramingChunked:
		return append(dst, "Transfer-Encoding: chunked\r\n"...)
	}
	return dst
}

func appendConnection(dst []byte, m ConnectionMode, upgrade []byte) []byte {
	switch m {
	case ConnClose:
		return append(dst, "Connection: close\r\n"...)
	case ConnKeepAlive:
		return append(dst, "Connection: keep-alive\r\n"...)
	case ConnUpgrade:
		if len(upgrade) > 0 {
			dst = append(dst, "Connection: upgrade\r\nUpgrade: "...)
			dst = append(dst, upgrade...)
			return append(dst, '\r', '\n')
		}
	}
	return dst
}

// appendXFF writes X-Forwarded-For from the received (not hop-by-hop)
// values and the client address.
func appendXFF(dst []byte, hs Headers, mode XFFMode, ip []byte) []byte {
	dst = append(dst, "X-Forwarded-For: "...)
	if mode == XFFAppend {
		for i := range hs {
			if hs[i].kind == kindXFF && len(hs[i].Value) > 0 {
				dst = append(dst, hs[i].Value...)
				dst = append(dst, ',', ' ')
			}
		}
	}
	dst = append(dst, ip...)
	return append(dst, '\r', '\n')
}

// drops reports whether a received field named name is removed or replaced.
func (e *Edits) drops(name []byte) bool {
	if e == nil {
		return false
	}
	for _, r := range e.Remove {
		if equalFoldBytes(name, r) {
			return true
		}
	}
	for i := range e.Set {
		if equalFoldBytes(name, e.Set[i].Name) {
			return true
		}
	}
	return false
}

// setValue returns the value Set gives to name, if any.
func (e *Edits) setValue(name string) ([]byte, bool) {
	if e == nil {
		return nil, false
	}
	for i := range e.Set {
		if equalFold(e.Set[i].Name, name) {
			return e.Set[i].Value, true
		}
	}
	return nil, false
}

// appendNew writes the Set and Add fields. Host is skipped in requests
// because AppendRequest writes it first; framing fields are always skipped
// so that no configuration can make the writer emit a second, conflicting
// framing.
func (e *Edits) appendNew(dst []byte, request bool) []byte {
	if e == nil {
		return dst
	}
	for i := range e.Set {
		if editAllowed(e.Set[i].Name, request) {
			dst = appendField(dst, e.Set[i].Name, e.Set[i].Value)
		}
	}
	for i := range e.Add {
		if editAllowed(e.Add[i].Name, request) {
			dst = appendField(dst, e.Add[i].Name, e.Add[i].Value)
		}
	}
	return dst
}

func editAllowed(name []byte, request bool) bool {
	switch classify(name) {
	case kindContentLength, kindTransferEncoding:
		return false
	case kindHost:
		return !request
	}
	return true
}
