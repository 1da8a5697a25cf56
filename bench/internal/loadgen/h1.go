// Package loadgen holds the harness's own load generators: an open-loop
// (constant-rate) HTTP/1.1 generator whose latencies are free of
// coordinated omission, WebSocket holders, a unary gRPC client, and the
// TCP/UDP request-response and bulk loads of the L4 benchmark.
package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Response is what the harness needs of an HTTP/1.1 response head.
type Response struct {
	Status int
	// Close is set when the server will close the connection after it.
	Close bool
	// Header holds the value of the header asked for, if present.
	Header string
}

// errMalformed is returned for a response the parser does not accept.
var errMalformed = errors.New("loadgen: malformed HTTP/1.1 response")

// ReadResponse reads one HTTP/1.1 response, body included, from br. want
// names one header (lower-case) whose value is returned in
// Response.Header; empty asks for none. Bodies are delimited by
// Content-Length, chunked encoding, or — without either — the end of the
// connection. The parser is strict enough for the proxies under test, not
// a general client.
func ReadResponse(br *bufio.Reader, want string) (Response, error) {
	var r Response
	for { // skip interim 1xx responses
		line, err := readLine(br)
		if err != nil {
			return r, err
		}
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
			return r, fmt.Errorf("%w: status line %q", errMalformed, line)
		}
		r.Status, err = strconv.Atoi(string(line[9:12]))
		if err != nil {
			return r, fmt.Errorf("%w: status line %q", errMalformed, line)
		}
		if line[7] == '0' {
			r.Close = true // HTTP/1.0 unless keep-alive is announced below
		}
		length, chunked, err := readHeaders(br, want, &r)
		if err != nil {
			return r, err
		}
		if r.Status >= 100 && r.Status < 200 && r.Status != 101 {
			continue
		}
		switch {
		case r.Status == 204 || r.Status == 304 || r.Status == 101:
			return r, nil
		case chunked:
			return r, readChunked(br)
		case length >= 0:
			_, err = br.Discard(int(length))
			return r, err
		default:
			r.Close = true
			_, err = io.Copy(io.Discard, br)
			return r, err
		}
	}
}

// readHeaders reads header fields up to the empty line. It returns the
// Content-Length (-1 when absent) and whether the body is chunked.
func readHeaders(br *bufio.Reader, want string, r *Response) (length int64, chunked bool, err error) {
	length = -1
	for {
		line, err := readLine(br)
		if err != nil {
			return 0, false, err
		}
		if len(line) == 0 {
			return length, chunked, nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("%w: header %q", errMalformed, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("content-length")):
			length, err = strconv.ParseInt(string(value), 10, 64)
			if err != nil || length < 0 {
				return 0, false, fmt.Errorf("%w: content-length %q", errMalformed, value)
			}
		case bytes.EqualFold(name, []byte("transfer-encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("connection")):
			if bytes.EqualFold(value, []byte("close")) {
				r.Close = true
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				r.Close = false
			}
		}
		if want != "" && bytes.EqualFold(name, []byte(want)) {
			r.Header = string(value)
		}
	}
}

// readChunked discards a chunked body and its trailer.
func readChunked(br *bufio.Reader) error {
	for {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: chunk size %q", errMalformed, line)
		}
		if n == 0 {
			for { // trailer fields, then the empty line
				line, err := readLine(br)
				if err != nil || len(line) == 0 {
					return err
				}
			}
		}
		if _, err := br.Discard(int(n)); err != nil {
			return err
		}
		if crlf, err := readLine(br); err != nil || len(crlf) != 0 {
			return fmt.Errorf("%w: chunk not followed by CRLF", errMalformed)
		}
	}
}

// readLine returns a line without its CRLF (or bare LF). The slice is
// only valid until the next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}
