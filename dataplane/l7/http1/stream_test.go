package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
)

// message is one request as a proxy delimits it in a byte stream.
type message struct {
	method, target string
	body           string
}

// splitStream delimits pipelined requests the way the proxy loop will:
// parse a head, take the body by Content-Length or by ChunkedParser, repeat.
// It stops at the first error or at an incomplete message.
func splitStream(stream []byte) ([]message, error) {
	var msgs []message
	var req Request
	for len(stream) > 0 {
		n, err := ParseRequest(stream, &req, nil)
		if err != nil {
			return msgs, err
		}
		m := message{method: string(req.Method), target: string(req.Target)}
		stream = stream[n:]
		switch {
		case req.Chunked:
			var c ChunkedParser
			var body []byte
			done := false
			for len(stream) > 0 && !done {
				var d []byte
				var k int
				d, k, done, err = c.Decode(stream)
				if err != nil {
					return msgs, err
				}
				body = append(body, d...)
				stream = stream[k:]
			}
			if !done {
				return msgs, ErrNeedMore
			}
			m.body = string(body)
		case req.ContentLength > 0:
			if int64(len(stream)) < req.ContentLength {
				return msgs, ErrNeedMore
			}
			m.body = string(stream[:req.ContentLength])
			stream = stream[req.ContentLength:]
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// netHTTPSplit delimits the same stream with net/http.
func netHTTPSplit(stream []byte) ([]message, error) {
	br := bufio.NewReader(bytes.NewReader(stream))
	var msgs []message
	for {
		// The proxy drops empty lines before a request-line (RFC 9112 §2.2)
		// and writes a fresh head, so skip them here too.
		for {
			if p, _ := br.Peek(2); string(p) != "\r\n" {
				break
			}
			_, _ = br.Discard(2)
		}
		if _, err := br.Peek(1); err == io.EOF {
			return msgs, nil
		}
		r, err := http.ReadRequest(br)
		if err != nil {
			return msgs, err
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return msgs, err
		}
		msgs = append(msgs, message{method: r.Method, target: r.RequestURI, body: string(body)})
	}
}

// smuggling payloads: each is either rejected by us or delimited exactly
// as net/http delimits it, so a net/http backend behind the proxy can never
// see a request the proxy did not route.
var smugglingStreams = []struct {
	name   string
	stream string
	reject bool
}{
	{"pipelined", "GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"chunked then get", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"CL.TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED", true},
	{"TE.CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", true},
	{"TE.TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n", true},
	{"TE space colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", true},
	{"TE folded", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", true},
	{"TE vertical tab", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", true},
	{"CL.CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"bare LF line ending", "GET / HTTP/1.1\r\nHost: a\r\nX: y\nContent-Length: 5\r\n\r\nhello", true},
	{"chunk size junk", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n0\r\n\r\n", true},
	{"chunk bare LF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", true},
	{"chunk huge size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000003\r\nabc\r\n0\r\n\r\n", true},
	{"chunk ext bare LF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x\nabc\r\n0\r\n\r\n", true},
	{"chunk missing CRLF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", true},
	{"http10 TE", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\nGET /x HTTP/1.0\r\n\r\n", true},
	{"expect pipelined", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nokGET /b HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"expect unknown", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continuex\r\nContent-Length: 2\r\n\r\nok", true},
	{"NUL in header", "GET / HTTP/1.1\r\nHost: a\r\nX: \x00\r\n\r\n", true},
	{"underscore CL", "POST / HTTP/1.1\r\nHost: a\r\nContent_Length: 44\r\n\r\n", true},
}

func TestSmugglingStreams(t *testing.T) {
	for _, tc := range smugglingStreams {
		ours, err := splitStream([]byte(tc.stream))
		if tc.reject {
			var perr *Error
			if !errors.As(err, &perr) || perr.Status/100 != 4 && perr.Status/100 != 5 {
				t.Errorf("%s: got %+v, %v; want a rejection", tc.name, ours, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		theirs, err := netHTTPSplit([]byte(tc.stream))
		if err != nil || len(ours) != len(theirs) {
			t.Errorf("%s: net/http splits into %+v (%v), we into %+v", tc.name, theirs, err, ours)
			continue
		}
		for i := range ours {
			if ours[i] != theirs[i] {
				t.Errorf("%s: message %d: net/http %+v, ours %+v", tc.name, i, theirs[i], ours[i])
			}
		}
	}
}
