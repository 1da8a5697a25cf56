package api

// Route sends matching requests on a Listener to weighted pools, or answers
// them with a redirect or a direct response.
type Route struct {
	TypeMeta `json:",inline"`
	Metadata Metadata  `json:"metadata"`
	Spec     RouteSpec `json:"spec"`
}

// RouteSpec is the desired state of a Route.
type RouteSpec struct {
	// Listener names the Listener this route belongs to.
	Listener string `json:"listener"`
	// Hosts match the Host header (SNI for tls listeners); "*.example.com"
	// matches one or more leading labels. Empty matches any host.
	Hosts []string `json:"hosts,omitempty"`
	// Priority orders routes before the built-in precedence; higher first.
	Priority int         `json:"priority,omitempty"`
	Match    *RouteMatch `json:"match,omitempty"`

	// Exactly one of Backends, Redirect and DirectResponse.
	Backends       []Backend       `json:"backends,omitempty"`
	Redirect       *Redirect       `json:"redirect,omitempty"`
	DirectResponse *DirectResponse `json:"directResponse,omitempty"`

	Mirror    *Mirror       `json:"mirror,omitempty"`
	Retries   *RetryPolicy  `json:"retries,omitempty"`
	Timeout   Duration      `json:"timeout,omitempty"`
	RateLimit *RateLimit    `json:"rateLimit,omitempty"`
	Headers   *HeaderPolicy `json:"headers,omitempty"`
}

// RouteMatch matches HTTP requests; every given condition must hold.
type RouteMatch struct {
	Path    *PathMatch    `json:"path,omitempty"`
	Headers []HeaderMatch `json:"headers,omitempty"`
	Methods []string      `json:"methods,omitempty"`
	Query   []QueryMatch  `json:"query,omitempty"`
}

// PathMatch has exactly one of Exact, Prefix and Regex. A prefix matches
// whole segments: /api matches /api and /api/x, not /apis.
type PathMatch struct {
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Regex  string `json:"regex,omitempty"`
}

// HeaderMatch matches a request header by exact value, regex or presence.
type HeaderMatch struct {
	Name    string `json:"name"`
	Exact   string `json:"exact,omitempty"`
	Regex   string `json:"regex,omitempty"`
	Present bool   `json:"present,omitempty"`
	Invert  bool   `json:"invert,omitempty"`
}

// QueryMatch matches a query parameter by exact value, regex or presence.
type QueryMatch struct {
	Name    string `json:"name"`
	Exact   string `json:"exact,omitempty"`
	Regex   string `json:"regex,omitempty"`
	Present bool   `json:"present,omitempty"`
}

// Backend is a pool with a weight; weights split traffic (canary releases).
// Weight defaults to 1; 0 is allowed and sends nothing (the start of a canary).
type Backend struct {
	Pool   string `json:"pool"`
	Weight *int   `json:"weight,omitempty"`
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
	Scheme     string `json:"scheme,omitempty"`
	Host       string `json:"host,omitempty"`
	Port       int    `json:"port,omitempty"`
	Path       string `json:"path,omitempty"`
	StripQuery bool   `json:"stripQuery,omitempty"`
	// Code is 301, 302 (default), 303, 307 or 308.
	Code int `json:"code,omitempty" fulcrum:"nonzero"`
}

// DirectResponse answers without a backend.
type DirectResponse struct {
	Status      int    `json:"status"`
	Body        string `json:"body,omitempty"`
	ContentType string `json:"contentType,omitempty"`
}

// Mirror copies a share of requests to a shadow pool, fire and forget.
type Mirror struct {
	Pool    string  `json:"pool"`
	Percent float64 `json:"percent"`
}

// HeaderPolicy edits request and response headers.
type HeaderPolicy struct {
	Request  *HeaderEdits `json:"request,omitempty"`
	Response *HeaderEdits `json:"response,omitempty"`
}

// HeaderEdits: Set replaces, Add appends, Remove deletes.
type HeaderEdits struct {
	Set    map[string]string `json:"set,omitempty"`
	Add    map[string]string `json:"add,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

// GetKind implements Object.
func (r *Route) GetKind() string { return KindRoute }

// GetMetadata implements Object.
func (r *Route) GetMetadata() *Metadata { return &r.Metadata }

// DeepCopyObject implements Object.
func (r *Route) DeepCopyObject() Object { return deepCopy(r) }
