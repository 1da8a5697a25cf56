// Package http1 is a strict, allocation-free HTTP/1.1 message codec for the
// proxy's fast path. It has no sockets and no goroutines: pure functions and
// small state machines over byte slices, so it can be fuzzed and benchmarked
// in isolation. The rules follow RFC 9110 and RFC 9112, tightened where
// intermediaries have historically disagreed (the request smuggling
// surface); docs/http1.md lists every rule with its status code.
//
// # Heads
//
// ParseRequest and ParseResponse parse a head at the start of a buffer into
// a reused Request or Response whose fields are views into the buffer. They
// return the head length, ErrNeedMore for a valid incomplete head, or an
// *Error carrying the status to answer with; every *Error means "close the
// connection". Framing (Content-Length, chunked, until-close, tunnel),
// persistence, Upgrade, Expect: 100-continue and the effective Host are
// derived while parsing.
//
// AppendRequest and AppendResponse write the head to forward: fields minus
// hop-by-hop ones, the framing and Connection fields the caller chooses,
// route edits and X-Forwarded-For. AppendError writes a complete error
// response.
//
// # Bodies
//
// Content-Length bodies are copied by count. Chunked bodies go through a
// ChunkedParser: Scan validates bytes that are forwarded verbatim, Decode
// extracts data for re-framing with AppendChunkHeader, CRLF and LastChunk.
//
// # The proxy loop
//
// A sketch of one exchange on a client connection (error handling and
// buffer growth elided; answering an *Error e means writing
// AppendError(out[:0], e.Status) and closing):
//
//	n, err := http1.ParseRequest(in, &req, &limits) // after each read
//	if err == http1.ErrNeedMore { /* read more */ }
//	up := pool.Get(pick(req.Host, req.Path))
//	out = http1.AppendRequest(out[:0], &req, &http1.RequestOptions{
//		Framing: req.Framing(), ContentLength: req.ContentLength,
//		Edits: route.Edits, XFF: http1.XFFAppend, ClientIP: clientIP,
//	})
//	// Write out, then the body: in[n:] onwards, ContentLength bytes or,
//	// when req.Chunked, the bytes a ChunkedParser.Scan accepts, until done.
//	// If req.Expect100, send http1.Continue first or wait for the upstream's.
//	for {
//		m, err := http1.ParseResponse(upIn, &resp, req.MethodID, nil)
//		// err (502): close the upstream connection, never reuse it.
//		if resp.Interim() { /* forward 100/103 as is, drop upIn[:m] */ continue }
//		break
//	}
//	out = http1.AppendResponse(out[:0], &resp, &http1.ResponseOptions{
//		Framing: resp.Framing, ContentLength: resp.ContentLength,
//		Connection: connMode(req, resp),
//	})
//	// Stream the response body per resp.Framing; return the upstream
//	// connection to the pool only if !resp.Close and the body ended cleanly.
//	// Keep the client connection only if !req.Close.
//
// An HTTP/1.0 client cannot receive chunked framing: decode the upstream's
// chunks and answer with FramingUntilClose instead.
package http1
