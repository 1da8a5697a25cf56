package http1

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"testing"
)

// netHTTPRequestMismatch returns why net/http disagrees with an accepted
// request head in[:n], or "". We may be stricter than net/http, never looser.
func netHTTPRequestMismatch(in []byte, n int, req *Request) string {
	skip := 0
	for skip+1 < n && in[skip] == '\r' && in[skip+1] == '\n' {
		skip += 2 // net/http does not skip empty lines before the request-line
	}
	gr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(in[skip:n])))
	if err != nil {
		return fmt.Sprintf("net/http rejects: %v", err)
	}
	if gr.Method != string(req.Method) || gr.RequestURI != string(req.Target) {
		return fmt.Sprintf("method/target: net/http %q %q", gr.Method, gr.RequestURI)
	}
	switch req.Form {
	case FormAuthority:
		if gr.URL.Host != string(req.Authority) {
			return fmt.Sprintf("authority: net/http %q", gr.URL.Host)
		}
	default:
		p, err := url.PathUnescape(string(req.Path))
		if err != nil || gr.URL.Path != p || gr.URL.RawQuery != string(req.Query) {
			return fmt.Sprintf("path/query: net/http %q %q, ours %q %q", gr.URL.Path, gr.URL.RawQuery, req.Path, req.Query)
		}
	}
	if gr.Host != string(req.Host) {
		return fmt.Sprintf("host: net/http %q, ours %q", gr.Host, req.Host)
	}
	chunked := len(gr.TransferEncoding) == 1 && gr.TransferEncoding[0] == "chunked"
	wantCL := req.ContentLength
	if req.Chunked {
		wantCL = -1
	} else if wantCL < 0 {
		wantCL = 0
	}
	if chunked != req.Chunked || gr.ContentLength != wantCL {
		return fmt.Sprintf("framing: net/http chunked %v length %d, ours %v %d", chunked, gr.ContentLength, req.Chunked, req.ContentLength)
	}
	if gr.Close != req.Close {
		return fmt.Sprintf("close: net/http %v, ours %v", gr.Close, req.Close)
	}
	return ""
}

// netHTTPResponseMismatch does the same for an accepted response head.
func netHTTPResponseMismatch(in []byte, n int, m Method, resp *Response) string {
	method := m.String()
	if method == "" {
		method = "PURGE"
	}
	gr, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(in[:n])), &http.Request{Method: method})
	if err != nil {
		return fmt.Sprintf("net/http rejects: %v", err)
	}
	defer gr.Body.Close()
	if gr.StatusCode != resp.Status {
		return fmt.Sprintf("status: net/http %d", gr.StatusCode)
	}
	chunked := len(gr.TransferEncoding) == 1 && gr.TransferEncoding[0] == "chunked"
	switch resp.Framing {
	case FramingLength:
		if gr.ContentLength != resp.ContentLength || chunked {
			return fmt.Sprintf("length: net/http %d chunked %v", gr.ContentLength, chunked)
		}
	case FramingChunked:
		if !chunked {
			return "net/http does not see chunked"
		}
	case FramingUntilClose:
		if gr.ContentLength != -1 || chunked || !gr.Close {
			return fmt.Sprintf("until-close: net/http length %d chunked %v close %v", gr.ContentLength, chunked, gr.Close)
		}
	}
	if resp.Framing != FramingTunnel && resp.Status >= 200 && gr.Close != resp.Close {
		return fmt.Sprintf("close: net/http %v, ours %v", gr.Close, resp.Close)
	}
	return ""
}

// netHTTPChunkedMismatch checks that net/http's chunked reader decodes an
// accepted body in to the same data.
func netHTTPChunkedMismatch(in []byte, data []byte) string {
	got, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(in)))
	if err != nil {
		return fmt.Sprintf("net/http rejects: %v", err)
	}
	if !bytes.Equal(got, data) {
		return fmt.Sprintf("net/http decodes %q, we decode %q", got, data)
	}
	return ""
}

func TestNetHTTPAgreesOnRequests(t *testing.T) {
	var req Request
	accepted := 0
	for _, tc := range requestCorpus {
		in := []byte(tc.in)
		n, err := ParseRequest(in, &req, nil)
		if err != nil {
			continue
		}
		accepted++
		if msg := netHTTPRequestMismatch(in, n, &req); msg != "" {
			t.Errorf("%s: %s", tc.name, msg)
		}
	}
	if accepted < 40 {
		t.Fatalf("only %d accepted requests cross-checked", accepted)
	}
}

func TestNetHTTPAgreesOnResponses(t *testing.T) {
	var resp Response
	for _, tc := range responseCorpus {
		in := []byte(tc.in)
		n, err := ParseResponse(in, &resp, tc.method, nil)
		if err != nil {
			continue
		}
		if msg := netHTTPResponseMismatch(in, n, tc.method, &resp); msg != "" {
			t.Errorf("%s: %s", tc.name, msg)
		}
	}
}

// TestNetHTTPIsLooser documents cases net/http accepts and we reject, so a
// change that makes us as loose as net/http shows up here.
func TestNetHTTPIsLooser(t *testing.T) {
	for _, in := range []string{
		"GET / HTTP/1.1\nHost: a\n\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		var req Request
		if _, err := ParseRequest([]byte(in), &req, nil); err == nil {
			t.Errorf("we accept %q", in)
		}
		if _, err := http.ReadRequest(bufio.NewReader(bytes.NewReader([]byte(in)))); err != nil {
			t.Logf("net/http now rejects %q too: %v", in, err)
		}
	}
}
