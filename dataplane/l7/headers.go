package l7

import (
	"net/http"
	"strconv"

	"github.com/fulcrumlb/fulcrum/dataplane/l7/http1"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
)

const hexDigits = "0123456789abcdef"

// appendRequestID appends a new request id: 16 hex digits of a random
// per-process prefix, '-', and a counter in hex. Unique within the process
// and across restarts with overwhelming probability, and it costs one
// atomic add instead of a crypto/rand read.
func (f *Factory) appendRequestID(dst []byte) []byte {
	for _, b := range f.reqPrefix {
		dst = append(dst, hexDigits[b>>4], hexDigits[b&15])
	}
	dst = append(dst, '-')
	return strconv.AppendUint(dst, f.reqSeq.Add(1), 16)
}

// forwardEdits prepares h.edits for the upstream request: the route's
// edits, then x-request-id (generated when absent), X-Forwarded-Proto,
// X-Forwarded-Host and Forwarded. From a trusted proxy the received
// forwarding headers are kept and extended; from anyone else they are
// replaced. It returns the X-Forwarded-For mode for the codec.
func (h *h1conn) forwardEdits(cfg *lconfig) http1.XFFMode {
	req, rs, re := &h.req, &h.rs, &h.rs.route.reqEdits
	trusted := cfg.trusted(h.ip)
	h.scratch = h.scratch[:0]
	h.set = append(h.set[:0], re.Set...)
	if id, ok := req.Headers.Lookup("x-request-id"); ok && len(id) > 0 {
		rs.reqID = append(rs.reqID[:0], id...)
	} else {
		rs.reqID = h.s.f.appendRequestID(rs.reqID[:0])
		h.set = append(h.set, http1.Header{Name: nameRequestID, Value: rs.reqID})
	}
	proto := cfg.scheme()
	if _, ok := req.Headers.Lookup("x-forwarded-proto"); !trusted || !ok {
		h.set = append(h.set, http1.Header{Name: nameXFP, Value: schemeBytes(proto)})
	}
	if _, ok := req.Headers.Lookup("x-forwarded-host"); !trusted || !ok {
		h.set = append(h.set, http1.Header{Name: nameXFH, Value: req.Host})
	}
	start := len(h.scratch)
	if trusted {
		for i := range req.Headers {
			if hd := &req.Headers[i]; nameIs(hd.Name, "forwarded") && len(hd.Value) > 0 {
				h.scratch = append(h.scratch, hd.Value...)
				h.scratch = append(h.scratch, ", "...)
			}
		}
	}
	h.scratch = appendForwarded(h.scratch, h.ipText, h.ip.Is6(), req.Host, proto)
	h.set = append(h.set, http1.Header{Name: nameForwarded, Value: h.scratch[start:]})
	h.edits = http1.Edits{Remove: re.Remove, Set: h.set, Add: re.Add}
	if req.Expect100 {
		// The proxy answers 100-continue itself.
		h.edits.Remove = append(h.removeBuf[:0], re.Remove...)
		h.edits.Remove = append(h.edits.Remove, nameExpect)
		h.removeBuf = h.edits.Remove
	}
	if trusted {
		return http1.XFFAppend
	}
	return http1.XFFReplace
}

var (
	nameRequestID = []byte("x-request-id")
	nameXFP       = []byte("x-forwarded-proto")
	nameXFH       = []byte("x-forwarded-host")
	nameForwarded = []byte("forwarded")
	nameExpect    = []byte("expect")
	nameSetCookie = []byte("set-cookie")
	bytesHTTP     = []byte("http")
	bytesHTTPS    = []byte("https")
)

func schemeBytes(s string) []byte {
	if s == "https" {
		return bytesHTTPS
	}
	return bytesHTTP
}

// appendForwarded appends one RFC 7239 element: for (IPv6 quoted in
// brackets), host (always quoted: it may carry a port) and proto.
func appendForwarded(dst, ip []byte, v6 bool, host []byte, proto string) []byte {
	dst = append(dst, "for="...)
	if v6 {
		dst = append(dst, `"[`...)
		dst = append(dst, ip...)
		dst = append(dst, `]"`...)
	} else {
		dst = append(dst, ip...)
	}
	if len(host) > 0 {
		dst = append(dst, `;host="`...)
		for _, c := range host {
			if c == '"' || c == '\\' {
				dst = append(dst, '\\')
			}
			dst = append(dst, c)
		}
		dst = append(dst, '"')
	}
	dst = append(dst, ";proto="...)
	return append(dst, proto...)
}

// responseEdits returns the route's response edits, plus Set-Cookie when
// the request was bound to a (new) member by a sticky session.
func (h *h1conn) responseEdits() *http1.Edits {
	rs := &h.rs
	e := &rs.route.respEdits
	if rs.setToken == "" || rs.sticky == nil {
		return e
	}
	start := len(h.scratch)
	h.scratch = rs.sticky.setCookie(h.scratch, rs.setToken)
	h.addBuf = append(append(h.addBuf[:0], e.Add...), http1.Header{Name: nameSetCookie, Value: h.scratch[start:]})
	h.rEdits = http1.Edits{Remove: e.Remove, Set: e.Set, Add: h.addBuf}
	return &h.rEdits
}

// appendRedirect writes a redirect's Location: each part the redirect
// leaves empty keeps the request's value.
func appendRedirect(dst []byte, rd *runtime.Redirect, scheme string, host, path, query []byte) []byte {
	if rd.Scheme != "" {
		scheme = rd.Scheme
	}
	dst = append(dst, scheme...)
	dst = append(dst, "://"...)
	h := host
	if i := hostPort(host); i >= 0 {
		h = host[:i]
	}
	if rd.Host != "" {
		dst = append(dst, rd.Host...)
	} else {
		dst = append(dst, h...)
	}
	if rd.Port != 0 {
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, uint64(rd.Port), 10)
	} else if i := hostPort(host); i >= 0 && rd.Scheme == "" && rd.Host == "" {
		dst = append(dst, host[i:]...)
	}
	if rd.Path != "" {
		dst = append(dst, rd.Path...)
	} else {
		dst = append(dst, path...)
	}
	if !rd.StripQuery && query != nil {
		dst = append(dst, '?')
		dst = append(dst, query...)
	}
	return dst
}

// hostPort returns the index of the ':' before a port in host, or -1.
func hostPort(host []byte) int {
	for i := len(host) - 1; i >= 0; i-- {
		switch c := host[i]; {
		case c == ':':
			return i
		case c < '0' || c > '9':
			return -1
		}
	}
	return -1
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Status"
}

// nameIs compares a field name with a lower-case name, ignoring ASCII case.
func nameIs(name []byte, lower string) bool {
	if len(name) != len(lower) {
		return false
	}
	for i := range len(name) {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
