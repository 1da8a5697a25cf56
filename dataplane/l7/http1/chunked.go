package http1

import "strconv"

// Chunked coding limits. They follow Go's net/http chunked reader, so that
// anything this package accepts, an upstream or client built on net/http
// accepts as well.
const (
	// MaxChunkLine bounds a chunk-size line without its CRLF: the size
	// digits plus extensions.
	MaxChunkLine = 1024
	// MaxTrailerBytes bounds the trailer section including its final CRLF.
	MaxTrailerBytes = 8 << 10
	// maxChunkSize keeps sizes where net/http's overhead accounting does
	// not overflow (it doubles the size); 4 EiB is no real limit.
	maxChunkSize = 1<<62 - 1
	// maxChunkDigits bounds hex digits in a chunk size, leading zeros
	// included, as net/http does.
	maxChunkDigits = 16
)

// LastChunk is the last-chunk and the empty trailer section that end a
// chunked body written by the proxy.
const LastChunk = "0\r\n\r\n"

// CRLF ends every chunk's data.
const CRLF = "\r\n"

// AppendChunkHeader appends the chunk-size line for a chunk of n bytes
// (hex digits and CRLF). The caller then writes the n data bytes and CRLF.
// n must be positive: a zero size is the last chunk (use LastChunk).
func AppendChunkHeader(dst []byte, n int) []byte {
	dst = strconv.AppendUint(dst, uint64(n), 16)
	return append(dst, '\r', '\n')
}

// Parser states, in the order a chunk walks through them.
const (
	stSize          uint8 = iota // at the first hex digit of a size line
	stSizeDigits                 // in the hex digits
	stExtBWS                     // after ';', before an extension name
	stExtName                    // in an extension name
	stExtNameBWS                 // whitespace after a name, before '=' or ';'
	stExtValBWS                  // after '=', before the value
	stExtToken                   // in a token value
	stExtQuoted                  // in a quoted-string value
	stExtQuotedEsc               // after a backslash in a quoted-string
	stExtAfterValue              // after a quoted value
	stExtValWS                   // whitespace after a value, before ';'
	stSizeLF                     // the CR of the size line was read
	stData                       // in chunk data
	stDataCR                     // after data, expecting CR
	stDataLF                     // after data and CR, expecting LF
	stTrailerStart               // at the start of a trailer line
	stTrailerName                // in a trailer field name
	stTrailerValue               // in a trailer field value
	stTrailerLF                  // the CR of a trailer line was read
	stEndLF                      // the CR of the final empty line was read
	stDone                       // the message ended
	stFailed                     // an error was returned
)

// ChunkedParser is an incremental, strict parser of a chunked body
// (RFC 9112 §7.1). Feed it the body bytes in fragments of any size; it keeps
// its position across calls and never allocates. The zero value is ready;
// set MaxBody to bound the decoded size. Use Scan to validate bytes that are
// forwarded verbatim, or Decode to extract the data for re-framing; do not
// mix the two on one body.
//
// Rejected: anything but 1 to 16 hex digits as a size (no sign, no "0x", no
// whitespace before the CRLF or ';'), sizes of 2^62 or more, malformed
// extensions, size lines over MaxChunkLine, a missing CRLF after data, bare
// CR or LF, malformed trailer fields, trailer sections over MaxTrailerBytes,
// and, as in net/http, more than 16 KiB of framing beyond 16 bytes per
// chunk plus twice its data (tiny chunks with long extensions).
//
// Errors are *Error values with the status for a request body (400, 413,
// 431). On a response body the proxy cannot answer the client any more
// once the head is out: it closes both connections (or answers 502 if
// nothing was sent yet) and never reuses the upstream connection.
type ChunkedParser struct {
	// MaxBody, when positive, bounds the total data bytes; a chunk that
	// would exceed it fails with 413 before any of its data is returned.
	MaxBody int64

	state   uint8
	digits  uint8
	line    int   // bytes of the current size line, or of the trailer section
	size    int64 // size being parsed
	remain  int64 // data bytes left in the current chunk
	total   int64 // data bytes so far
	excess  int64 // framing overhead beyond the allowance, as net/http counts it
	failure errCode
}

// Reset prepares the parser for a new body, keeping MaxBody.
func (c *ChunkedParser) Reset() { *c = ChunkedParser{MaxBody: c.MaxBody} }

// Done reports whether the body has ended (last chunk and trailers read).
func (c *ChunkedParser) Done() bool { return c.state == stDone }

// Total returns the data bytes seen so far.
func (c *ChunkedParser) Total() int64 { return c.total }

// Scan validates p, the next bytes of the body. It returns how many bytes
// of p belong to the body and are valid, and whether the body ended with
// them; bytes after p[:n] then belong to the next message. On error, p[:n]
// is valid and the byte at p[n] is not: the caller may forward p[:n] but
// must close both connections. Without an error and without done, n is
// len(p).
func (c *ChunkedParser) Scan(p []byte) (n int, done bool, err error) {
	i := 0
	for i < len(p) {
		switch c.state {
		case stData:
			take := int64(len(p) - i)
			if take >= c.remain {
				take = c.remain
				c.state = stDataCR
			}
			c.remain -= take
			i += int(take)
			continue
		case stDone:
			return i, true, nil
		case stFailed:
			return i, false, reqErrors[c.failure]
		}
		if code := c.step(p[i]); code != codeOK {
			return i, false, c.fail(code)
		}
		i++
	}
	return i, c.state == stDone, c.err()
}

// Decode consumes framing from p up to and including the next run of chunk
// data, and returns that data as a slice of p. n counts the consumed bytes
// (framing and data); call again with p[n:] until it is empty or done. Data
// is nil when p held only framing. Trailer fields are validated and
// dropped; use Scan to keep them.
func (c *ChunkedParser) Decode(p []byte) (data []byte, n int, done bool, err error) {
	i := 0
	for i < len(p) {
		switch c.state {
		case stData:
			take := int64(len(p) - i)
			if take >= c.remain {
				take = c.remain
				c.state = stDataCR
			}
			c.remain -= take
			return p[i : i+int(take)], i + int(take), false, nil
		case stDone:
			return nil, i, true, nil
		case stFailed:
			return nil, i, false, reqErrors[c.failure]
		}
		if code := c.step(p[i]); code != codeOK {
			return nil, i, false, c.fail(code)
		}
		i++
	}
	return nil, i, c.state == stDone, c.err()
}

func (c *ChunkedParser) fail(code errCode) error {
	c.state, c.failure = stFailed, code
	return reqErrors[code]
}

func (c *ChunkedParser) err() error {
	if c.state == stFailed {
		return reqErrors[c.failure]
	}
	return nil
}

// step consumes one framing byte.
func (c *ChunkedParser) step(b byte) errCode {
	switch {
	case c.state <= stSizeLF:
		return c.sizeLine(b)
	case c.state <= stDataLF:
		return c.dataEnd(b)
	default:
		return c.trailer(b)
	}
}

// sizeLine handles chunk-size [ chunk-ext ] CRLF.
func (c *ChunkedParser) sizeLine(b byte) errCode {
	if c.state != stSizeLF {
		c.line++
		if c.line > MaxChunkLine {
			return codeChunkLineTooLong
		}
	}
	switch c.state {
	case stSize, stSizeDigits:
		if class[b]&cHex != 0 {
			if c.digits == maxChunkDigits {
				return codeChunkSizeTooLarge
			}
			if c.size > maxChunkSize>>4 {
				return codeChunkSizeTooLarge
			}
			c.digits++
			c.size = c.size<<4 | hexVal(b)
			c.state = stSizeDigits
			return codeOK
		}
		if c.state == stSize {
			return codeChunkSize
		}
		switch b {
		case ';':
			c.state = stExtBWS
		case '\r':
			c.state = stSizeLF
			c.line-- // the CR is not part of the line
		default:
			return codeChunkSize
		}
		return codeOK
	case stSizeLF:
		if b != '\n' {
			return codeChunkCRLF
		}
		return c.endSizeLine()
	}
	return c.extension(b)
}

// extension handles chunk-ext = *( BWS ";" BWS chunk-ext-name
// [ BWS "=" BWS chunk-ext-val ] ) after the first ';' (RFC 9112 §7.1.1).
// Whitespace before the first ';' is rejected, as net/http does.
func (c *ChunkedParser) extension(b byte) errCode {
	ws := isOWS(b)
	switch c.state {
	case stExtBWS:
		switch {
		case ws:
		case class[b]&cToken != 0:
			c.state = stExtName
		default:
			return codeChunkExt
		}
		return codeOK
	case stExtQuoted:
		switch {
		case b == '"':
			c.state = stExtAfterValue
		case b == '\\':
			c.state = stExtQuotedEsc
		case class[b]&cQDText == 0:
			return codeChunkExt
		}
		return codeOK
	case stExtQuotedEsc:
		if class[b]&cValue == 0 {
			return codeChunkExt
		}
		c.state = stExtQuoted
		return codeOK
	case stExtValBWS:
		switch {
		case ws:
		case b == '"':
			c.state = stExtQuoted
		case class[b]&cToken != 0:
			c.state = stExtToken
		default:
			return codeChunkExt
		}
		return codeOK
	}
	// stExtName, stExtNameBWS, stExtToken, stExtAfterValue, stExtValWS:
	// a token may continue, whitespace may follow, and ';', '=' or CR end it.
	inToken := c.state == stExtName || c.state == stExtToken
	switch {
	case inToken && class[b]&cToken != 0:
	case ws:
		if c.state == stExtName {
			c.state = stExtNameBWS
		} else if c.state != stExtNameBWS {
			c.state = stExtValWS
		}
	case b == ';':
		c.state = stExtBWS
	case b == '=' && (c.state == stExtName || c.state == stExtNameBWS):
		c.state = stExtValBWS
	case b == '\r' && (c.state == stExtName || c.state == stExtToken || c.state == stExtAfterValue):
		c.state = stSizeLF
		c.line--
	default:
		return codeChunkExt
	}
	return codeOK
}

// endSizeLine runs when a size line is complete: it applies net/http's
// overhead accounting and the body limit, then expects data or trailers.
func (c *ChunkedParser) endSizeLine() errCode {
	c.excess += int64(c.line) + 2
	c.excess -= 16 + 2*c.size
	if c.excess < 0 {
		c.excess = 0
	}
	if c.excess > 16<<10 {
		return codeChunkOverhead
	}
	if c.MaxBody > 0 && c.size > c.MaxBody-c.total {
		return codeBodyTooLarge
	}
	c.total += c.size
	c.remain = c.size
	c.state = stData
	if c.size == 0 {
		c.state = stTrailerStart
	}
	c.line, c.size, c.digits = 0, 0, 0
	return codeOK
}

// dataEnd checks the CRLF after chunk data.
func (c *ChunkedParser) dataEnd(b byte) errCode {
	switch {
	case c.state == stDataCR && b == '\r':
		c.state = stDataLF
	case c.state == stDataLF && b == '\n':
		c.state = stSize
	default:
		return codeChunkCRLF
	}
	return codeOK
}

// trailer handles trailer-section = *( field-line CRLF ) CRLF, with the
// same field syntax as the head and no obs-fold (RFC 9112 §7.1.2).
func (c *ChunkedParser) trailer(b byte) errCode {
	c.line++
	if c.line > MaxTrailerBytes {
		return codeTrailerTooLarge
	}
	switch c.state {
	case stTrailerStart:
		switch {
		case b == '\r':
			c.state = stEndLF
		case class[b]&cToken != 0:
			c.state = stTrailerName
		default:
			return codeTrailer
		}
	case stTrailerName:
		switch {
		case b == ':':
			c.state = stTrailerValue
		case class[b]&cToken == 0:
			return codeTrailer
		}
	case stTrailerValue:
		switch {
		case b == '\r':
			c.state = stTrailerLF
		case class[b]&cValue == 0:
			return codeTrailer
		}
	case stTrailerLF, stEndLF:
		if b != '\n' {
			return codeChunkCRLF
		}
		if c.state == stEndLF {
			c.state = stDone
		} else {
			c.state = stTrailerStart
		}
	}
	return codeOK
}
