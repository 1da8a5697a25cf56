package http1

import "encoding/binary"

// Byte classes, one bit each, looked up in a 256-entry table so every scan
// loop is a load and a test per byte.
const (
	cToken  = 1 << iota // tchar, RFC 9110 §5.6.2
	cValue              // field-vchar / SP / HTAB, RFC 9110 §5.5
	cTarget             // request-target byte: VCHAR except '#'
	cHost               // reg-name byte: unreserved / sub-delims, RFC 3986 §3.2.2
	cHex                // HEXDIG
	cQDText             // qdtext, RFC 9110 §5.6.4
)

var class = buildClass()

// lower maps ASCII upper-case letters to lower case and every other byte to
// itself, for case-insensitive comparisons that work on any input.
var lower = buildLower()

func buildClass() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		alnum := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
		if alnum || contains("!#$%&'*+-.^_`|~", b) {
			t[c] |= cToken
		}
		if b == '\t' || (b >= 0x20 && b != 0x7f) {
			t[c] |= cValue
		}
		if b > 0x20 && b < 0x7f && b != '#' {
			t[c] |= cTarget
		}
		if alnum || contains("-._~!$&'()*+,;=", b) {
			t[c] |= cHost
		}
		if '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F' {
			t[c] |= cHex
		}
		if b == '\t' || b == ' ' || b == 0x21 || (b >= 0x23 && b <= 0x5b) || (b >= 0x5d && b <= 0x7e) || b >= 0x80 {
			t[c] |= cQDText
		}
	}
	return t
}

func buildLower() (t [256]byte) {
	for c := 0; c < 256; c++ {
		t[c] = byte(c)
		if 'A' <= c && c <= 'Z' {
			t[c] = byte(c) + ('a' - 'A')
		}
	}
	return t
}

func contains(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if class[c]&cToken == 0 {
			return false
		}
	}
	return true
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

// equalFold compares b with s ignoring ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lower[b[i]] != lower[s[i]] {
			return false
		}
	}
	return true
}

// equalFoldBytes compares a with b ignoring ASCII case.
func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if lower[a[i]] != lower[b[i]] {
			return false
		}
	}
	return true
}

// tokenIs compares a token (letters, digits and tchar punctuation) with a
// lower-case literal of letters and '-'. OR-ing 0x20 lower-cases letters and
// maps no other tchar onto a letter or '-', so one OR replaces a table load.
func tokenIs(b []byte, lit string) bool {
	if len(b) != len(lit) {
		return false
	}
	for i := 0; i < len(lit); i++ {
		if b[i]|0x20 != lit[i] {
			return false
		}
	}
	return true
}

// trimOWS removes optional whitespace (SP, HTAB) from both ends.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && isOWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isOWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// nextListElem splits the first element off a comma-separated list
// (RFC 9110 §5.6.1), trimming OWS around it. Empty elements come back empty.
func nextListElem(list []byte) (elem, rest []byte) {
	i := 0
	for i < len(list) && list[i] != ',' {
		i++
	}
	elem = trimOWS(list[:i])
	if i < len(list) {
		return elem, list[i+1:]
	}
	return elem, nil
}

// parseDecimal parses 1*DIGIT into a non-negative int64, rejecting signs,
// spaces and anything above MaxInt64.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

func hexVal(c byte) int64 {
	switch {
	case c <= '9':
		return int64(c - '0')
	case c >= 'a':
		return int64(c-'a') + 10
	default:
		return int64(c-'A') + 10
	}
}

// SWAR constants: every byte 0x01, every byte 0x80.
const (
	swarLo = 0x0101010101010101
	swarHi = 0x8080808080808080
)

// swarLess reports whether any byte of x is below n (n <= 0x80). The test
// can flag the wrong byte through a borrow, but never misses or invents
// the existence of one, which is all the scanners need.
func swarLess(x uint64, n uint64) bool { return (x-swarLo*n)&^x&swarHi != 0 }

// swarHas reports whether any byte of x equals c.
func swarHas(x uint64, c uint64) bool { return swarLess(x^(swarLo*c), 1) }

// scanValue returns the end of the field-value bytes (field-vchar, SP,
// HTAB) starting at buf[p]. Eight bytes at a time it skips words free of
// CTLs and DEL, then finishes byte by byte with the table.
func scanValue(buf []byte, p int) int {
	for p+8 <= len(buf) {
		x := binary.LittleEndian.Uint64(buf[p:])
		if swarLess(x, 0x20) || swarHas(x, 0x7f) {
			break
		}
		p += 8
	}
	for p < len(buf) && class[buf[p]]&cValue != 0 {
		p++
	}
	return p
}

// scanTarget returns the end of the request-target bytes (VCHAR except
// '#') starting at b[p], eight bytes at a time where it can.
func scanTarget(b []byte, p int) int {
	for p+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[p:])
		if x&swarHi != 0 || swarLess(x, 0x21) || swarHas(x, 0x7f) || swarHas(x, '#') {
			break
		}
		p += 8
	}
	for p < len(b) && class[b[p]]&cTarget != 0 {
		p++
	}
	return p
}
