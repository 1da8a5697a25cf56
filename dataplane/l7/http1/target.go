package http1

// TargetForm is the form of a request-target (RFC 9112 §3.2).
type TargetForm uint8

// The four request-target forms.
const (
	// FormOrigin is "/path?query", what clients send to servers.
	FormOrigin TargetForm = iota
	// FormAbsolute is "http://authority/path?query", what clients send to
	// forward proxies. Only the http and https schemes are accepted.
	FormAbsolute
	// FormAuthority is "host:port", used only by CONNECT.
	FormAuthority
	// FormAsterisk is "*", used only by server-wide OPTIONS.
	FormAsterisk
)

// String returns the RFC name of the form.
func (f TargetForm) String() string {
	switch f {
	case FormOrigin:
		return "origin-form"
	case FormAbsolute:
		return "absolute-form"
	case FormAuthority:
		return "authority-form"
	case FormAsterisk:
		return "asterisk-form"
	}
	return "unknown-form"
}

// parseTarget classifies req.Target (already checked to be VCHARs without
// '#') and splits it into scheme, authority, path and query.
func parseTarget(req *Request) errCode {
	t := req.Target
	switch {
	case t[0] == '/':
		if req.MethodID == MethodConnect {
			return codeTarget
		}
		req.Form = FormOrigin
		req.Path, req.Query = splitPathQuery(t)
	case req.MethodID == MethodConnect:
		// RFC 9110 §9.3.6: CONNECT names host and port, nothing else.
		if !validAuthority(t, true) {
			return codeTarget
		}
		req.Form = FormAuthority
		req.Authority = t
		return codeOK
	case len(t) == 1 && t[0] == '*':
		if req.MethodID != MethodOptions {
			return codeTarget
		}
		req.Form = FormAsterisk
		req.Path = t
		return codeOK
	default:
		if code := parseAbsolute(req, t); code != codeOK {
			return code
		}
	}
	if !validPath(req.Path) {
		return codeTarget
	}
	return codeOK
}

// parseAbsolute handles absolute-form: scheme "://" authority path-abempty
// [ "?" query ]. The authority must not be empty or carry userinfo
// (RFC 9110 §4.2.1, §4.2.4).
func parseAbsolute(req *Request, t []byte) errCode {
	var n int
	switch {
	case len(t) > 7 && equalFold(t[:7], "http://"):
		n = 4
	case len(t) > 8 && equalFold(t[:8], "https://"):
		n = 5
	default:
		return codeTarget
	}
	req.Scheme = t[:n]
	rest := t[n+3:]
	i := 0
	for i < len(rest) && rest[i] != '/' && rest[i] != '?' {
		i++
	}
	if !validAuthority(rest[:i], false) {
		return codeTarget
	}
	req.Form = FormAbsolute
	req.Authority = rest[:i]
	req.Path, req.Query = splitPathQuery(rest[i:])
	return codeOK
}

// splitPathQuery splits at the first '?'. The query is nil when there is
// no '?', and empty but non-nil for a bare trailing '?'.
func splitPathQuery(b []byte) (path, query []byte) {
	for i, c := range b {
		if c == '?' {
			return b[:i], b[i+1:]
		}
	}
	return b, nil
}

// validPath checks that every '%' starts a pct-encoded triplet
// (RFC 3986 §2.1); other bytes were checked by the request-line scan.
func validPath(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] == '%' {
			if i+2 >= len(b) || class[b[i+1]]&cHex == 0 || class[b[i+2]]&cHex == 0 {
				return false
			}
			i += 2
		}
	}
	return true
}

// validAuthority checks host [ ":" port ] where host is a reg-name without
// percent-encoding or a bracketed IPv6 address, and port is at most 65535.
// needPort requires a non-empty port, as CONNECT does.
func validAuthority(b []byte, needPort bool) bool {
	i := 0
	if len(b) > 0 && b[0] == '[' {
		for i < len(b) && b[i] != ']' {
			i++
		}
		if i == len(b) || !validIPv6(b[1:i]) {
			return false
		}
		i++
	} else {
		for i < len(b) && class[b[i]]&cHost != 0 {
			i++
		}
		if i == 0 {
			return false
		}
	}
	if i == len(b) {
		return !needPort
	}
	if b[i] != ':' {
		return false
	}
	port := b[i+1:]
	if len(port) == 0 {
		return !needPort
	}
	n, ok := parseDecimal(port)
	return ok && len(port) <= 5 && n <= 65535
}

// validHost checks a Host field value: empty (RFC 9112 §3.2 allows it when
// the target has no authority) or an authority without userinfo.
func validHost(b []byte) bool {
	return len(b) == 0 || validAuthority(b, false)
}

// validIPv6 checks the text of an IPv6 address of hex groups only (no
// embedded IPv4, no zone): at most eight groups of one to four digits, and
// at most one "::" standing for at least one zero group.
func validIPv6(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	groups, ellipsis, i := 0, false, 0
	if b[0] == ':' {
		if b[1] != ':' {
			return false
		}
		ellipsis, i = true, 2
	}
	for i < len(b) {
		n := 0
		for i < len(b) && class[b[i]]&cHex != 0 {
			i++
			n++
		}
		if n == 0 || n > 4 {
			return false
		}
		groups++
		if i == len(b) {
			break
		}
		if b[i] != ':' || i+1 == len(b) {
			return false
		}
		i++
		if b[i] == ':' {
			if ellipsis {
				return false
			}
			ellipsis = true
			i++
		}
	}
	if ellipsis {
		return groups <= 7
	}
	return groups == 8
}
