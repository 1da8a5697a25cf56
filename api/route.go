package api

// Route sends matching requests on a Listener to weighted pools, or answers
// them with a redirect or a direct response.
type Route struct {
	TypeMeta `json:",inline"`
	// Metadata names the route.
	Metadata Metadata `json:"metadata"`
	// Spec is the desired state.
	Spec RouteSpec `json:"spec"`
}

// RouteSpec is the desired state of a Route.
type RouteSpec struct {
	// Listener names the Listener this route belongs to.
	Listener string `json:"listener"`
	// Hosts match the Host header (SNI for tls listeners); "*.example.com"
	// matches one or more leading labels. Empty matches any host.
	Hosts []string `json:"hosts,omitempty"`
	// Priority orders routes before the built-in precedence; higher first.
	Priority int `json:"priority,omitempty"`
	// Match conditions; all must hold. Default: any path.
	Match *RouteMatch `json:"match,omitempty"`

	// Exactly one of Backends, Redirect and DirectResponse.
	// Backends are weighted pools.
	Backends []Backend `json:"backends,omitempty"`
	// Redirect answers with a redirect.
	Redirect *Redirect `json:"redirect,omitempty"`
	// DirectResponse answers without a backend.
	DirectResponse *DirectResponse `json:"directResponse,omitempty"`

	// Mirror copies a share of requests to a shadow pool.
	Mirror *Mirror `json:"mirror,omitempty"`
	// Retries override the first backend pool's retry policy.
	Retries *RetryPolicy `json:"retries,omitempty"`
	// Timeout overrides the first backend pool's request timeout.
	Timeout Duration `json:"timeout,omitempty"`
	// RateLimit limits requests on this route.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
	// Headers edits request and response headers.
	Headers *HeaderPolicy `json:"headers,omitempty"`
}

// RouteMatch matches HTTP requests; every given condition must hold.
type RouteMatch struct {
	// Path matches the request path.
	Path *PathMatch `json:"path,omitempty"`
	// Headers must all match.
	Headers []HeaderMatch `json:"headers,omitempty"`
	// Methods the route takes; empty takes any.
	Methods []string `json:"methods,omitempty"`
	// Query parameters must all match.
	Query []QueryMatch `json:"query,omitempty"`
}

// PathMatch has exactly one of Exact, Prefix and Regex. A prefix matches
// whole segments: /api matches /api and /api/x, not /apis.
type PathMatch struct {
	// Exact path.
	Exact string `json:"exact,omitempty"`
	// Prefix of whole path segments.
	Prefix string `json:"prefix,omitempty"`
	// Regex (RE2) the whole path must match.
	Regex string `json:"regex,omitempty"`
}

// HeaderMatch matches a request header by exact value, regex or presence.
type HeaderMatch struct {
	// Name of the header.
	Name string `json:"name"`
	// Exact value.
	Exact string `json:"exact,omitempty"`
	// Regex (RE2) the whole value must match.
	Regex string `json:"regex,omitempty"`
	// Present matches any value.
	Present bool `json:"present,omitempty"`
	// Invert negates the match.
	Invert bool `json:"invert,omitempty"`
}

// QueryMatch matches a query parameter by exact value, regex or presence.
type QueryMatch struct {
	// Name of the query parameter.
	Name string `json:"name"`
	// Exact value.
	Exact string `json:"exact,omitempty"`
	// Regex (RE2) the whole value must match.
	Regex string `json:"regex,omitempty"`
	// Present matches any value.
	Present bool `json:"present,omitempty"`
}

// Backend is a pool with a weight; weights split traffic (canary releases).
// Weight defaults to 1; 0 is allowed and sends nothing (the start of a canary).
type Backend struct {
	// Pool to send to.
	Pool string `json:"pool"`
	// Weight of this backend among the route's backends.
	Weight *int `json:"weight,omitempty"`
}

// W returns the backend's weight (1 when unset).
func (b Backend) W() int {
	if b.Weight == nil {
		return 1
	}
	return *b.Weight
}

// Redirect answers with a redirect; empty fields keep the request's value.
type Redirect struct {
	// Scheme of the target: http or https.
	Scheme string `json:"scheme,omitempty"`
	// Host of the target.
	Host string `json:"host,omitempty"`
	// Port of the target.
	Port int `json:"port,omitempty"`
	// Path of the target.
	Path string `json:"path,omitempty"`
	// StripQuery drops the query string.
	StripQuery bool `json:"stripQuery,omitempty"`
	// Code is 301, 302 (default), 303, 307 or 308.
	Code int `json:"code,omitempty" fulcrum:"nonzero"`
}

// DirectResponse answers without a backend.
type DirectResponse struct {
	// Status code of the answer.
	Status int `json:"status"`
	// Body of the answer (at most 64 KiB).
	Body string `json:"body,omitempty"`
	// ContentType of the body.
	ContentType string `json:"contentType,omitempty"`
}

// Mirror copies a share of requests to a shadow pool, fire and forget.
type Mirror struct {
	// Pool receiving the copies.
	Pool string `json:"pool"`
	// Percent of requests copied (0 to 100, fractions allowed).
	Percent float64 `json:"percent"`
}

// HeaderPolicy edits request and response headers.
type HeaderPolicy struct {
	// Request headers sent to the member.
	Request *HeaderEdits `json:"request,omitempty"`
	// Response headers sent to the client.
	Response *HeaderEdits `json:"response,omitempty"`
}

// HeaderEdits: Set replaces, Add appends, Remove deletes.
type HeaderEdits struct {
	// Set replaces (or adds) headers.
	Set map[string]string `json:"set,omitempty"`
	// Add appends headers.
	Add map[string]string `json:"add,omitempty"`
	// Remove deletes headers.
	Remove []string `json:"remove,omitempty"`
}

// GetKind implements Object.
func (r *Route) GetKind() string { return KindRoute }

// GetMetadata implements Object.
func (r *Route) GetMetadata() *Metadata { return &r.Metadata }

// DeepCopyObject implements Object.
func (r *Route) DeepCopyObject() Object { return deepCopy(r) }
