package console

import (
	"bytes"
	"io"
	"net/http"
	"strconv"

	"github.com/fulcrumlb/fulcrum/apiclient"
)

// inProcessBase is the base URL of the API client the console uses: the
// requests never leave the process, so the host is only a label.
const inProcessBase = "http://fulcrum-console.internal"

// inProcess is an http.RoundTripper that serves each request with the
// REST API's handler in this process, as the browser's user: it carries
// the session cookie and the CSRF token the browser sent, and the
// browser's address, so that the API authenticates, authorizes, checks
// CSRF, attributes and audits exactly as for a REST call.
type inProcess struct {
	h      http.Handler
	from   *http.Request
	cookie string
	csrf   string
}

// RoundTrip serves req with the API handler.
func (t *inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.serve(req).response(req), nil
}

// serve runs the API handler on a copy of req made to look like the
// browser's request.
func (t *inProcess) serve(req *http.Request) *memResponse {
	in := req.Clone(req.Context())
	in.Header.Del("Authorization") // the console acts with the session only
	in.Header.Del("Cookie")
	if t.cookie != "" {
		in.AddCookie(&http.Cookie{Name: apiclient.SessionCookie, Value: t.cookie})
	}
	if t.csrf != "" && in.Method != http.MethodGet && in.Method != http.MethodHead {
		in.Header.Set(apiclient.CSRFHeader, t.csrf)
	}
	in.RemoteAddr = t.from.RemoteAddr
	in.TLS = t.from.TLS
	in.RequestURI = in.URL.RequestURI()
	m := &memResponse{header: http.Header{}}
	t.h.ServeHTTP(m, in)
	return m
}

// memResponse records an in-process answer.
type memResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (m *memResponse) Header() http.Header { return m.header }

func (m *memResponse) WriteHeader(code int) {
	if m.status == 0 {
		m.status = code
	}
}

func (m *memResponse) Write(p []byte) (int, error) {
	m.WriteHeader(http.StatusOK)
	return m.body.Write(p)
}

func (m *memResponse) code() int {
	if m.status == 0 {
		return http.StatusOK
	}
	return m.status
}

func (m *memResponse) response(req *http.Request) *http.Response {
	code := m.code()
	return &http.Response{
		Status: strconv.Itoa(code) + " " + http.StatusText(code), StatusCode: code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: m.header, Body: io.NopCloser(bytes.NewReader(m.body.Bytes())),
		ContentLength: int64(m.body.Len()), Request: req,
	}
}

// client returns an API client that acts as the request's user. csrf is
// the token the browser sent with a mutation; reads send none.
func (c *Console) client(r *http.Request, s *session) *apiclient.Client {
	t := &inProcess{h: c.api, from: r, cookie: s.cookie, csrf: s.sentCSRF}
	cl, err := apiclient.New(apiclient.Options{Server: inProcessBase, HTTPClient: &http.Client{Transport: t},
		UserAgent: "fulcrum-console"})
	if err != nil {
		panic("console: the in-process API client: " + err.Error()) // the base URL is a constant
	}
	return cl
}
