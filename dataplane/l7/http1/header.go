package http1

// Header is one field line. Name and Value are views into the parsed buffer
// (Value without surrounding whitespace); they stay valid only as long as
// the buffer is not reused.
type Header struct {
	Name  []byte
	Value []byte

	kind uint8 // known-field classification plus the kindListed flag
}

// Headers is an ordered list of field lines. Lookups compare names
// ASCII-case-insensitively and never allocate.
type Headers []Header

// Get returns the value of the first field named name, or nil.
func (hs Headers) Get(name string) []byte {
	v, _ := hs.Lookup(name)
	return v
}

// Lookup returns the value of the first field named name and whether there
// is one, which distinguishes an empty value from an absent field.
func (hs Headers) Lookup(name string) ([]byte, bool) {
	for i := range hs {
		if equalFold(hs[i].Name, name) {
			return hs[i].Value, true
		}
	}
	return nil, false
}

// Count returns how many fields are named name.
func (hs Headers) Count(name string) int {
	n := 0
	for i := range hs {
		if equalFold(hs[i].Name, name) {
			n++
		}
	}
	return n
}

// Known field names, classified once while parsing so that framing
// decisions and hop-by-hop filtering never compare names again.
const (
	kindOther uint8 = iota
	kindHost
	kindContentLength
	kindTransferEncoding
	kindConnection
	kindUpgrade
	kindExpect
	kindKeepAlive
	kindProxyConnection
	kindTE
	kindTrailer
	kindXFF
	kindLookalike // a framing field name spelt with '_' for '-'
	kindCount

	// kindListed marks a field named by a Connection option: it is
	// hop-by-hop for this message (RFC 9110 §7.6.1).
	kindListed uint8 = 0x80
	kindMask   uint8 = 0x7f
)

// underscoreFraming reports whether name is lit with some '-' written as
// '_' ("Content_Length"). Servers that map '_' to '-' (CGI environments do)
// would see a second framing field the proxy did not, so such names are
// rejected outright.
func underscoreFraming(name []byte, lit string) bool {
	for i := 0; i < len(lit); i++ {
		c := name[i]
		if c == '_' && lit[i] == '-' {
			continue
		}
		if c|0x20 != lit[i] {
			return false
		}
	}
	return true
}

func classify(name []byte) uint8 {
	switch len(name) {
	case 2:
		if tokenIs(name, "te") {
			return kindTE
		}
	case 4:
		if tokenIs(name, "host") {
			return kindHost
		}
	case 6:
		if tokenIs(name, "expect") {
			return kindExpect
		}
	case 7:
		if tokenIs(name, "upgrade") {
			return kindUpgrade
		}
		if tokenIs(name, "trailer") {
			return kindTrailer
		}
	case 10:
		if tokenIs(name, "connection") {
			return kindConnection
		}
		if tokenIs(name, "keep-alive") {
			return kindKeepAlive
		}
	case 14:
		if tokenIs(name, "content-length") {
			return kindContentLength
		}
		if underscoreFraming(name, "content-length") {
			return kindLookalike
		}
	case 15:
		if tokenIs(name, "x-forwarded-for") {
			return kindXFF
		}
	case 16:
		if tokenIs(name, "proxy-connection") {
			return kindProxyConnection
		}
	case 17:
		if tokenIs(name, "transfer-encoding") {
			return kindTransferEncoding
		}
		if underscoreFraming(name, "transfer-encoding") {
			return kindLookalike
		}
	}
	return kindOther
}

// hopByHop reports whether a field of this kind is never forwarded as is:
// the connection-specific fields of RFC 9110 §7.6.1 and the framing fields,
// which the writer regenerates from the caller's framing choice.
func hopByHop(kind uint8) bool {
	if kind&kindListed != 0 {
		return true
	}
	switch kind {
	case kindContentLength, kindTransferEncoding, kindConnection, kindUpgrade,
		kindKeepAlive, kindProxyConnection, kindTE, kindTrailer:
		return true
	}
	return false
}

// fieldIndex records, per known kind, how many fields were seen and the
// index of the first one.
type fieldIndex struct {
	count [kindCount]uint16
	first [kindCount]uint16
}

func (fi *fieldIndex) note(kind uint8, i int) {
	if fi.count[kind] == 0 {
		fi.first[kind] = uint16(i)
	}
	fi.count[kind]++
}

// parseFields parses field lines from buf[p:] up to and including the empty
// line, appending them to hs. It returns the offset just past the head.
func parseFields(buf []byte, p int, hs *Headers, lim *Limits, fi *fieldIndex) (int, errCode) {
	for {
		if p >= len(buf) {
			return 0, incomplete(buf, lim)
		}
		switch buf[p] {
		case '\r':
			if p+1 >= len(buf) {
				return 0, incomplete(buf, lim)
			}
			if buf[p+1] != '\n' {
				return 0, codeBareCR
			}
			if p+2 > lim.MaxHeadBytes {
				return 0, codeHeadTooLarge
			}
			return p + 2, codeOK
		case '\n':
			return 0, codeBareLF
		case ' ', '\t':
			// obs-fold, or whitespace between the start line and the first
			// field (RFC 9112 §2.2, §5.2): both are rejected.
			return 0, codeObsFold
		}
		ns := p
		for p < len(buf) && class[buf[p]]&cToken != 0 {
			p++
		}
		if p >= len(buf) {
			return 0, incomplete(buf, lim)
		}
		if buf[p] != ':' || p == ns {
			return 0, fieldNameError(buf[p])
		}
		name := buf[ns:p]
		p++
		for p < len(buf) && isOWS(buf[p]) {
			p++
		}
		vs := p
		p = scanValue(buf, p)
		if p+1 >= len(buf) {
			if p < len(buf) && buf[p] != '\r' {
				return 0, valueEndError(buf[p])
			}
			return 0, incomplete(buf, lim)
		}
		if buf[p] != '\r' {
			return 0, valueEndError(buf[p])
		}
		if buf[p+1] != '\n' {
			return 0, codeBareCR
		}
		ve := p
		for ve > vs && isOWS(buf[ve-1]) {
			ve--
		}
		p += 2
		if p > lim.MaxHeadBytes {
			return 0, codeHeadTooLarge
		}
		if len(*hs) >= lim.MaxHeaders {
			return 0, codeTooManyHeaders
		}
		kind := classify(name)
		if kind == kindLookalike {
			return 0, codeFieldName
		}
		fi.note(kind, len(*hs))
		*hs = append(*hs, Header{Name: name, Value: buf[vs:ve], kind: kind})
	}
}

func incomplete(buf []byte, lim *Limits) errCode {
	if len(buf) >= lim.MaxHeadBytes {
		return codeHeadTooLarge
	}
	return codeNeedMore
}

func fieldNameError(c byte) errCode {
	switch c {
	case '\n':
		return codeBareLF
	case '\r':
		return codeBareCR
	}
	return codeFieldName
}

func valueEndError(c byte) errCode {
	if c == '\n' {
		return codeBareLF
	}
	return codeFieldValue
}

// connOptions is what the Connection fields of a message say.
type connOptions struct {
	close, keepAlive, upgrade bool
}

// maxConnOptions bounds the extension options one message may list in
// Connection, so that marking listed fields stays cheap (options × fields).
const maxConnOptions = 16

// parseConnection reads every Connection field (RFC 9110 §7.6.1), strictly
// as a list of tokens, and marks the fields named by extension options as
// hop-by-hop. Options naming Host or the framing fields mark nothing: Host
// is never dropped and framing fields are always regenerated.
func parseConnection(hs Headers, fi *fieldIndex) (connOptions, errCode) {
	var o connOptions
	n := int(fi.count[kindConnection])
	if n == 0 {
		return o, codeOK
	}
	listed := 0
	for i := int(fi.first[kindConnection]); i < len(hs) && n > 0; i++ {
		if hs[i].kind&kindMask != kindConnection {
			continue
		}
		n--
		for rest := hs[i].Value; ; {
			var opt []byte
			opt, rest = nextListElem(rest)
			switch {
			case len(opt) == 0:
				// Empty list elements are allowed (RFC 9110 §5.6.1).
			case !isToken(opt):
				return o, codeConnection
			case tokenIs(opt, "close"):
				o.close = true
			case tokenIs(opt, "keep-alive"):
				o.keepAlive = true
			case tokenIs(opt, "upgrade"):
				o.upgrade = true
			default:
				listed++
				if listed > maxConnOptions {
					return o, codeConnection
				}
				markListed(hs, opt)
			}
			if rest == nil {
				break
			}
		}
	}
	return o, codeOK
}

func markListed(hs Headers, opt []byte) {
	for i := range hs {
		switch hs[i].kind & kindMask {
		case kindHost, kindContentLength, kindTransferEncoding:
			continue
		}
		if equalFoldBytes(hs[i].Name, opt) {
			hs[i].kind |= kindListed
		}
	}
}

// checkTE validates every Transfer-Encoding field (RFC 9112 §6.1). Only a
// single field whose value is exactly "chunked" is accepted. Anything else
// is classified: malformed lists and chunked applied twice or not last are
// 400 (the length cannot be determined, RFC 9112 §6.3 rule 4); well-formed
// lists that end in chunked but involve other codings are 501.
func checkTE(hs Headers, fi *fieldIndex) errCode {
	n := int(fi.count[kindTransferEncoding])
	first := int(fi.first[kindTransferEncoding])
	if n == 1 && equalFold(hs[first].Value, "chunked") {
		return codeOK
	}
	chunked, lastChunked := 0, false
	for i := first; i < len(hs) && n > 0; i++ {
		if hs[i].kind&kindMask != kindTransferEncoding {
			continue
		}
		n--
		for rest := hs[i].Value; ; {
			var coding []byte
			coding, rest = nextListElem(rest)
			name, ok := parseCoding(coding)
			if !ok {
				return codeTEMalformed
			}
			lastChunked = equalFold(name, "chunked")
			if lastChunked {
				chunked++
			}
			if rest == nil {
				break
			}
		}
	}
	switch {
	case chunked > 1 || !lastChunked:
		if chunked > 1 {
			return codeTEMalformed
		}
		return codeTENotFinal
	default:
		return codeTEUnsupported
	}
}

// parseCoding checks transfer-coding = token *( OWS ";" OWS token "="
// ( token / quoted-string ) ) and returns the coding name.
func parseCoding(b []byte) ([]byte, bool) {
	i := 0
	for i < len(b) && class[b[i]]&cToken != 0 {
		i++
	}
	if i == 0 {
		return nil, false
	}
	name := b[:i]
	for i < len(b) {
		for i < len(b) && isOWS(b[i]) {
			i++
		}
		if i == len(b) || b[i] != ';' {
			return nil, false
		}
		i++
		for i < len(b) && isOWS(b[i]) {
			i++
		}
		s := i
		for i < len(b) && class[b[i]]&cToken != 0 {
			i++
		}
		if i == s || i == len(b) || b[i] != '=' {
			return nil, false
		}
		i++
		n, ok := paramValue(b[i:])
		if !ok {
			return nil, false
		}
		i += n
	}
	return name, true
}

// paramValue measures a token or quoted-string at the start of b.
func paramValue(b []byte) (int, bool) {
	if len(b) > 0 && b[0] == '"' {
		for i := 1; i < len(b); i++ {
			switch {
			case b[i] == '"':
				return i + 1, true
			case b[i] == '\\':
				if i+1 == len(b) || class[b[i+1]]&cValue == 0 {
					return 0, false
				}
				i++
			case class[b[i]]&cQDText == 0:
				return 0, false
			}
		}
		return 0, false
	}
	i := 0
	for i < len(b) && class[b[i]]&cToken != 0 {
		i++
	}
	return i, i > 0
}

// contentLength validates the Content-Length fields: exactly one, pure
// digits, no overflow (RFC 9110 §8.6). Identical duplicates and comma lists,
// which RFC 9110 lets recipients collapse, are rejected: different hops
// collapsing differently is a classic desync.
func contentLength(hs Headers, fi *fieldIndex) (int64, errCode) {
	switch fi.count[kindContentLength] {
	case 0:
		return -1, codeOK
	case 1:
		n, ok := parseDecimal(hs[fi.first[kindContentLength]].Value)
		if !ok {
			return 0, codeBadCL
		}
		return n, codeOK
	}
	return 0, codeDupCL
}
