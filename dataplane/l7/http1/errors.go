package http1

import "errors"

// ErrNeedMore is returned by ParseRequest and ParseResponse when buf holds a
// valid but incomplete message head. The caller reads more bytes (appending
// to the same buffer) and parses again. It is the only error after which the
// connection may continue.
var ErrNeedMore = errors.New("http1: incomplete message head")

// Error is a protocol violation found while parsing. Every *Error means the
// message framing can no longer be trusted: the caller answers with Status
// (when talking to a client) and closes the connection. Errors found while
// parsing upstream responses carry 502, and the upstream connection must not
// be reused.
//
// Errors are preallocated values, so returning one never allocates; compare
// them with errors.Is or inspect Status.
type Error struct {
	// Status is the HTTP status code to answer with: 400, 413, 414, 417,
	// 431, 501 or 505 for requests and chunked bodies, 502 for responses.
	Status int
	// Reason is a short lower-case description for logs.
	Reason string

	code errCode
	msg  string
}

// Error implements the error interface.
func (e *Error) Error() string { return e.msg }

// CloseConnection reports whether the connection must be closed after the
// error. It is always true: no parser error leaves the stream in a known
// state, and continuing after a framing error is how requests get smuggled.
func (e *Error) CloseConnection() bool { return true }

// errCode identifies a violation inside the parsers; codes are cheap to
// pass around and turn into a preallocated *Error only at the API boundary.
type errCode uint8

const (
	codeOK errCode = iota
	codeNeedMore
	codeRequestLine
	codeMethod
	codeTarget
	codeVersion
	codeVersionUnsupported
	codeBareLF
	codeBareCR
	codeFieldName
	codeFieldValue
	codeObsFold
	codeURITooLong
	codeHeadTooLarge
	codeTooManyHeaders
	codeCLAndTE
	codeDupCL
	codeBadCL
	codeTEMalformed
	codeTENotFinal
	codeTEUnsupported
	codeTEHTTP10
	codeHostMissing
	codeHostMultiple
	codeHostInvalid
	codeConnection
	codeUpgrade
	codeExpect
	codeBodyTooLarge
	codeStatusLine
	codeNoBodyAllowed
	codeChunkSize
	codeChunkSizeTooLarge
	codeChunkExt
	codeChunkLineTooLong
	codeChunkCRLF
	codeChunkOverhead
	codeTrailer
	codeTrailerTooLarge
	codeCount
)

var codeInfo = [codeCount]struct {
	status int
	reason string
}{
	codeRequestLine:        {400, "malformed request line"},
	codeMethod:             {400, "invalid method"},
	codeTarget:             {400, "invalid request-target"},
	codeVersion:            {400, "malformed HTTP version"},
	codeVersionUnsupported: {505, "unsupported HTTP version"},
	codeBareLF:             {400, "bare LF in message head"},
	codeBareCR:             {400, "bare CR in message head"},
	codeFieldName:          {400, "invalid header field name"},
	codeFieldValue:         {400, "invalid character in header field value"},
	codeObsFold:            {400, "obsolete line folding or leading whitespace"},
	codeURITooLong:         {414, "request line too long"},
	codeHeadTooLarge:       {431, "message head too large"},
	codeTooManyHeaders:     {431, "too many header fields"},
	codeCLAndTE:            {400, "both Content-Length and Transfer-Encoding"},
	codeDupCL:              {400, "multiple Content-Length fields"},
	codeBadCL:              {400, "invalid Content-Length"},
	codeTEMalformed:        {400, "malformed Transfer-Encoding"},
	codeTENotFinal:         {400, "chunked is not the final transfer coding"},
	codeTEUnsupported:      {501, "unsupported transfer coding"},
	codeTEHTTP10:           {400, "Transfer-Encoding in an HTTP/1.0 message"},
	codeHostMissing:        {400, "missing Host"},
	codeHostMultiple:       {400, "multiple Host fields"},
	codeHostInvalid:        {400, "invalid Host"},
	codeConnection:         {400, "invalid Connection field"},
	codeUpgrade:            {400, "invalid Upgrade field"},
	codeExpect:             {417, "unsupported expectation"},
	codeBodyTooLarge:       {413, "content too large"},
	codeStatusLine:         {502, "malformed status line"},
	codeNoBodyAllowed:      {502, "framing fields on a response without content"},
	codeChunkSize:          {400, "invalid chunk size"},
	codeChunkSizeTooLarge:  {400, "chunk size too large"},
	codeChunkExt:           {400, "invalid chunk extension"},
	codeChunkLineTooLong:   {400, "chunk size line too long"},
	codeChunkCRLF:          {400, "chunked framing without CRLF"},
	codeChunkOverhead:      {400, "chunked encoding contains too much non-data"},
	codeTrailer:            {400, "invalid trailer field"},
	codeTrailerTooLarge:    {431, "trailer section too large"},
}

// reqErrors holds the client-facing errors; respErrors the same violations
// found in upstream responses, which all map to 502.
var reqErrors, respErrors = buildErrors()

func buildErrors() (req, resp [codeCount]*Error) {
	for c := codeRequestLine; c < codeCount; c++ {
		info := codeInfo[c]
		req[c] = &Error{Status: info.status, Reason: info.reason, code: c, msg: "http1: " + info.reason}
		resp[c] = &Error{Status: 502, Reason: info.reason, code: c, msg: "http1: upstream response: " + info.reason}
	}
	return req, resp
}

func requestError(c errCode) error {
	if c == codeNeedMore {
		return ErrNeedMore
	}
	return reqErrors[c]
}

func responseError(c errCode) error {
	if c == codeNeedMore {
		return ErrNeedMore
	}
	return respErrors[c]
}

// Limits bounds what the parsers accept. A nil *Limits means DefaultLimits;
// zero fields also take the default.
type Limits struct {
	// MaxRequestLine bounds the request line (or status line) including
	// its CRLF; longer lines fail with 414.
	MaxRequestLine int
	// MaxHeadBytes bounds the whole head including the final empty line;
	// larger heads fail with 431.
	MaxHeadBytes int
	// MaxHeaders bounds the number of field lines; more fail with 431.
	// Values above 65535 are capped: field indexes are 16-bit.
	MaxHeaders int
	// MaxBodyLength, when positive, rejects a request whose Content-Length
	// exceeds it with 413. Chunked bodies are bounded by ChunkedParser.MaxBody.
	MaxBodyLength int64
}

// DefaultLimits are the limits used for a nil *Limits. They follow nginx
// (8 KiB request line) and Envoy (100 headers); 32 KiB of head is four times
// what browsers send with large cookies. Treat it as read-only; pass a
// *Limits to change them.
var DefaultLimits = Limits{
	MaxRequestLine: 8 << 10,
	MaxHeadBytes:   32 << 10,
	MaxHeaders:     100,
}

// effective returns the limits with defaults filled in, without allocating.
func (l *Limits) effective() Limits {
	e := DefaultLimits
	if l != nil {
		e = *l
	}
	if e.MaxRequestLine <= 0 {
		e.MaxRequestLine = DefaultLimits.MaxRequestLine
	}
	if e.MaxHeadBytes <= 0 {
		e.MaxHeadBytes = DefaultLimits.MaxHeadBytes
	}
	if e.MaxHeaders <= 0 {
		e.MaxHeaders = DefaultLimits.MaxHeaders
	}
	e.MaxHeaders = min(e.MaxHeaders, 1<<16-1)
	return e
}
