package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/api"
)

// DefaultServer is where the API listens unless configured otherwise: on
// loopback only.
const DefaultServer = "http://127.0.0.1:7700"

// DefaultTimeout bounds one API call when Options.HTTPClient is nil.
const DefaultTimeout = 60 * time.Second

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 1 << 20

// Options configure a Client.
type Options struct {
	// Server is the API's base URL; DefaultServer when empty.
	Server string
	// Token is sent as "Authorization: Bearer <Token>"; empty sends none
	// (then only Login works).
	Token string
	// HTTPClient makes the requests; a client with DefaultTimeout when nil.
	HTTPClient *http.Client
	// UserAgent is sent with every request.
	UserAgent string
}

// Client calls the REST API. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	ua    string

	mu   sync.Mutex
	hc   *http.Client
	csrf string // of a cookie session made by Login
}

// New returns a client for the server in opt.
func New(opt Options) (*Client, error) {
	server := opt.Server
	if server == "" {
		server = DefaultServer
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("apiclient: server %q: want a URL like %s", server, DefaultServer)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	hc := opt.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	ua := opt.UserAgent
	if ua == "" {
		ua = "fulcrum-apiclient"
	}
	return &Client{base: u, token: opt.Token, ua: ua, hc: hc}, nil
}

// Server returns the base URL.
func (c *Client) Server() string { return c.base.String() }

// request is one API call.
type request struct {
	method, path string
	query        url.Values
	body         []byte
	contentType  string
	header       http.Header
	out          any // decoded from a 2xx JSON answer when non-nil
}

// do sends a request and decodes the answer; non-2xx answers become *Error.
func (c *Client) do(ctx context.Context, rq request) (*http.Response, error) {
	// Paths arrive escaped segment by segment (url.PathEscape), so the URL
	// is assembled as text and parsed once: a member address such as
	// [::1]:80 stays one path segment.
	target := c.base.String() + "/api/v1" + rq.path
	if len(rq.query) > 0 {
		target += "?" + rq.query.Encode()
	}
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, target, body)
	if err != nil {
		return nil, fmt.Errorf("apiclient: %w", err)
	}
	for k, v := range rq.header {
		req.Header[k] = v
	}
	if rq.contentType != "" {
		req.Header.Set("Content-Type", rq.contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	c.mu.Lock()
	hc, csrf := c.hc, c.csrf
	c.mu.Unlock()
	if csrf != "" && rq.method != http.MethodGet {
		req.Header.Set(CSRFHeader, csrf)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("apiclient: %s %s: %w", rq.method, rq.path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return resp, decodeError(resp)
	}
	if rq.out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(resp.Body).Decode(rq.out); err != nil {
			return resp, fmt.Errorf("apiclient: %s %s: decoding the answer: %w", rq.method, rq.path, err)
		}
	}
	return resp, nil
}

// decodeError reads the JSON error of a non-2xx answer. An answer that is
// not the API's JSON (a proxy's error page) still yields an *Error, with
// the code its status implies.
func decodeError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{Status: resp.StatusCode}
	if err := json.Unmarshal(data, e); err != nil || e.Code == "" {
		e.Code = codeOfStatus(resp.StatusCode)
		e.Message = strings.TrimSpace(string(data))
		if e.Message == "" {
			e.Message = resp.Status
		}
	}
	return e
}

func codeOfStatus(status int) string {
	for _, code := range []string{CodeBadRequest, CodeUnauthorized, CodeForbidden, CodeNotFound, CodeMethodNotAllowed,
		CodeConflict, CodePreconditionFailed, CodeTooLarge, CodeUnsupportedMediaType, CodeInvalid, CodeUnavailable} {
		if StatusOf(code) == status {
			return code
		}
	}
	return CodeInternal
}

func objectPath(kind, name string) (string, error) {
	coll := CollectionOf(kind)
	if coll == "" {
		return "", fmt.Errorf("apiclient: unknown kind %q: want one of %v", kind, api.Kinds)
	}
	if name == "" {
		return "/" + coll, nil
	}
	return "/" + coll + "/" + url.PathEscape(name), nil
}

// ListOptions page a List.
type ListOptions struct {
	// Limit is the page size; 0 returns everything.
	Limit int
	// Continue is the previous page's ObjectList.Continue.
	Continue string
}

// List returns one page of the objects of a kind, ordered by name, with
// status.
func (c *Client) List(ctx context.Context, kind string, opt ListOptions) (*ObjectList, error) {
	p, err := objectPath(kind, "")
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if opt.Limit > 0 {
		q.Set("limit", strconv.Itoa(opt.Limit))
	}
	if opt.Continue != "" {
		q.Set("continue", opt.Continue)
	}
	out := &ObjectList{}
	_, err = c.do(ctx, request{method: http.MethodGet, path: p, query: q, out: out})
	return orNil(out, err)
}

// ListAll returns every object of a kind, following pages of 500.
func (c *Client) ListAll(ctx context.Context, kind string) ([]api.Object, error) {
	var all []api.Object
	opt := ListOptions{Limit: 500}
	for {
		page, err := c.List(ctx, kind, opt)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.Continue == "" {
			return all, nil
		}
		opt.Continue = page.Continue
	}
}

// Get returns one object with its status; its metadata.revision is the
// ETag to give as IfMatch.
func (c *Client) Get(ctx context.Context, kind, name string) (api.Object, error) {
	p, err := objectPath(kind, name)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, request{method: http.MethodGet, path: p, out: &raw}); err != nil {
		return nil, err
	}
	return DecodeObject(raw)
}

// PutOptions tune Put.
type PutOptions struct {
	// IfMatch, when non-zero, is sent as If-Match: the write fails with
	// 412 (CodePreconditionFailed) unless the stored object is at this
	// revision.
	IfMatch int64
	// DryRun validates and reports without writing.
	DryRun bool
}

// Put creates or updates one object and returns it as stored (redacted,
// with its new revision and frontend allocation).
func (c *Client) Put(ctx context.Context, o api.Object, opt PutOptions) (api.Object, error) {
	p, err := objectPath(o.GetKind(), o.GetMetadata().Name)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("apiclient: encoding %s: %w", api.Ref(o), err)
	}
	rq := request{method: http.MethodPut, path: p, body: body, contentType: "application/json", query: dryRun(opt.DryRun), header: http.Header{}}
	if opt.IfMatch != 0 {
		rq.header.Set("If-Match", ETag(opt.IfMatch))
	}
	var raw json.RawMessage
	rq.out = &raw
	if _, err := c.do(ctx, rq); err != nil {
		return nil, err
	}
	return DecodeObject(raw)
}

func dryRun(on bool) url.Values {
	if !on {
		return nil
	}
	return url.Values{"dryRun": {"true"}}
}

// Delete removes one object. A non-zero ifMatch is sent as If-Match.
func (c *Client) Delete(ctx context.Context, kind, name string, ifMatch int64) (*ApplyResult, error) {
	p, err := objectPath(kind, name)
	if err != nil {
		return nil, err
	}
	rq := request{method: http.MethodDelete, path: p, header: http.Header{}, out: &ApplyResult{}}
	if ifMatch != 0 {
		rq.header.Set("If-Match", ETag(ifMatch))
	}
	if _, err := c.do(ctx, rq); err != nil {
		return nil, err
	}
	return rq.out.(*ApplyResult), nil
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// DryRun validates and reports without writing.
	DryRun bool
	// ContentType of the body; sniffed when empty (JSON if it starts with
	// { or [, YAML otherwise).
	ContentType string
}

// Apply sends a multi-document YAML or JSON body: every object in it is
// created or updated, all or nothing.
func (c *Client) Apply(ctx context.Context, body []byte, opt ApplyOptions) (*ApplyResult, error) {
	ct := opt.ContentType
	if ct == "" {
		ct = SniffContentType(body)
	}
	out := &ApplyResult{}
	_, err := c.do(ctx, request{method: http.MethodPost, path: "/apply", body: body, contentType: ct, query: dryRun(opt.DryRun), out: out})
	return orNil(out, err)
}

// ApplyObjects applies objects, all or nothing.
func (c *Client) ApplyObjects(ctx context.Context, objs []api.Object, opt ApplyOptions) (*ApplyResult, error) {
	body, err := json.Marshal(objs)
	if err != nil {
		return nil, fmt.Errorf("apiclient: encoding objects: %w", err)
	}
	opt.ContentType = "application/json"
	return c.Apply(ctx, body, opt)
}

// SniffContentType guesses a configuration file's media type.
func SniffContentType(body []byte) string {
	if t := bytes.TrimSpace(body); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		return "application/json"
	}
	return "application/yaml"
}

// History returns one page of revisions, newest first.
func (c *Client) History(ctx context.Context, q HistoryQuery) (*HistoryPage, error) {
	v := url.Values{}
	if q.Kind != "" {
		v.Set("kind", q.Kind)
	}
	if q.Name != "" {
		v.Set("name", q.Name)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	out := &HistoryPage{}
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/history", query: v, out: out})
	return orNil(out, err)
}

// Revision returns one revision with every change and its diff.
func (c *Client) Revision(ctx context.Context, number int64) (*Revision, error) {
	out := &Revision{}
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/history/" + strconv.FormatInt(number, 10), out: out})
	return orNil(out, err)
}

// Rollback makes one object as it was at revision to, as a new revision
// (a deleted object is restored).
func (c *Client) Rollback(ctx context.Context, kind, name string, to int64) (*ApplyResult, error) {
	return c.postJSON(ctx, "/rollback", RollbackRequest{Kind: kind, Name: name, ToRevision: to})
}

func (c *Client) postJSON(ctx context.Context, path string, in any) (*ApplyResult, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("apiclient: %w", err)
	}
	out := &ApplyResult{}
	_, err = c.do(ctx, request{method: http.MethodPost, path: path, body: body, contentType: "application/json", out: out})
	return orNil(out, err)
}

// SetMemberState drains, disables or enables one member of a pool (action
// is ActionDrain, ActionDisable or ActionEnable); address is the member's
// address as in the pool's spec.
func (c *Client) SetMemberState(ctx context.Context, pool, address, action string) (*ApplyResult, error) {
	switch action {
	case ActionDrain, ActionDisable, ActionEnable:
	default:
		return nil, fmt.Errorf("apiclient: unknown member action %q: want drain, disable or enable", action)
	}
	out := &ApplyResult{}
	p := "/pools/" + url.PathEscape(pool) + "/members/" + url.PathEscape(address) + "/" + action
	_, err := c.do(ctx, request{method: http.MethodPost, path: p, out: out})
	return orNil(out, err)
}

// orNil returns nil with an error: a half-filled answer is no answer.
func orNil[T any](out *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return out, nil
}

type listOf[T any] struct {
	Items []T `json:"items"`
}

// Proxies returns the data planes the control plane knows.
func (c *Client) Proxies(ctx context.Context) ([]Proxy, error) {
	var out listOf[Proxy]
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/proxies", out: &out})
	if err != nil {
		return nil, err
	}
	return out.Items, nil
}

// Tokens lists the API tokens (admin role).
func (c *Client) Tokens(ctx context.Context) ([]Token, error) {
	var out listOf[Token]
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/tokens", out: &out})
	if err != nil {
		return nil, err
	}
	return out.Items, nil
}

// CreateToken creates a token (admin role); the answer holds its secret,
// which is never shown again.
func (c *Client) CreateToken(ctx context.Context, name, role string) (*NewToken, error) {
	body, _ := json.Marshal(TokenRequest{Name: name, Role: role})
	out := &NewToken{}
	_, err := c.do(ctx, request{method: http.MethodPost, path: "/tokens", body: body, contentType: "application/json", out: out})
	return orNil(out, err)
}

// DeleteToken deletes a token by ID (admin role).
func (c *Client) DeleteToken(ctx context.Context, id string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: "/tokens/" + url.PathEscape(id)})
	return err
}

// Session says who the client is authenticated as.
func (c *Client) Session(ctx context.Context) (*Session, error) {
	out := &Session{}
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/session", out: out})
	return orNil(out, err)
}

// Login exchanges a token for a console session: from then on the client
// authenticates with the session cookie and sends the CSRF token on every
// mutation, like the web console. A client made with a bearer Token keeps
// sending it too, and the server then ignores the cookie.
func (c *Client) Login(ctx context.Context, token string) (*Session, error) {
	c.mu.Lock()
	if c.hc.Jar == nil {
		jar, _ := cookiejar.New(nil)
		hc := *c.hc
		hc.Jar = jar
		c.hc = &hc
	}
	c.mu.Unlock()
	body, _ := json.Marshal(LoginRequest{Token: token})
	out := &Session{}
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/login", body: body, contentType: "application/json", out: out}); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.csrf = out.CSRFToken
	c.mu.Unlock()
	return out, nil
}

// Logout ends the client's console session.
func (c *Client) Logout(ctx context.Context) error {
	_, err := c.do(ctx, request{method: http.MethodPost, path: "/logout"})
	c.mu.Lock()
	c.csrf = ""
	c.mu.Unlock()
	return err
}

// OpenAPI returns the API's OpenAPI 3 document.
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var raw json.RawMessage
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/openapi.json", out: &raw})
	return raw, err
}
