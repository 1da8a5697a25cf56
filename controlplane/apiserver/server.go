package apiserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fulcrumlb/fulcrum/apiclient"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

// DefaultMaxBodyBytes bounds request bodies. The store's embedded etcd
// takes 10 MiB per transaction and a revision record holds each changed
// object twice, so a larger body could never be applied anyway.
const DefaultMaxBodyBytes = 8 << 20

// ProxyView is one data plane as GET /api/v1/proxies shows it.
type ProxyView = apiclient.Proxy

// Options configure New.
type Options struct {
	// Store is the configuration store; required.
	Store *store.Store
	// Auth authenticates requests; nil makes one over Store with default
	// options. Pass the same Auth to the web console so that both share
	// the console sessions.
	Auth *Auth
	// Logger receives the audit lines (one per mutation) and internal
	// errors; nil discards them.
	Logger *slog.Logger
	// Registerer receives the API's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Proxies lists the data planes for GET /api/v1/proxies. The control
	// plane supplies it from its xDS server and the store; nil reads the
	// store's proxy statuses (store.ListProxyStatus).
	Proxies func(ctx context.Context) ([]ProxyView, error)
	// MaxBodyBytes bounds request bodies; DefaultMaxBodyBytes when zero.
	MaxBodyBytes int64
}

// Server is the REST API: an http.Handler for every route under /api/v1.
// It is plain HTTP; the caller serves it (with TLS when configured) on a
// loopback address unless told otherwise.
type Server struct {
	st      *store.Store
	auth    *Auth
	log     *slog.Logger
	proxies func(ctx context.Context) ([]ProxyView, error)
	maxBody int64
	mux     *http.ServeMux
	routes  []route
	openapi []byte
	metrics *metrics
}

// New builds the API handler.
func New(opt Options) (*Server, error) {
	if opt.Store == nil {
		return nil, errors.New("apiserver: a store is required")
	}
	s := &Server{st: opt.Store, auth: opt.Auth, log: opt.Logger, proxies: opt.Proxies, maxBody: opt.MaxBodyBytes}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.auth == nil {
		s.auth = newAuth(opt.Store, AuthOptions{Logger: s.log})
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.proxies == nil {
		s.proxies = s.storeProxies
	}
	var err error
	if s.metrics, err = newMetrics(opt.Registerer); err != nil {
		return nil, err
	}
	s.routes = s.routeTable()
	if s.openapi, err = openAPIDocument(s.routes); err != nil {
		return nil, err
	}
	s.mux = s.buildMux()
	return s, nil
}

// Auth returns the server's authenticator, for the console.
func (s *Server) Auth() *Auth { return s.auth }

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setCommonHeaders(w.Header())
	s.mux.ServeHTTP(w, r)
}

// buildMux registers every route, and for each path a catch-all that
// answers other methods with a JSON 405, so that no answer of the API is
// ever net/http's plain-text error. Unknown paths get a JSON 404. Both
// authenticate first: without credentials everything is 401.
func (s *Server) buildMux() *http.ServeMux {
	mux := http.NewServeMux()
	allowed := map[string][]string{}
	var paths []string
	for i := range s.routes {
		rt := &s.routes[i]
		mux.Handle(rt.method+" "+rt.path, s.handle(rt))
		if allowed[rt.path] == nil {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	for _, p := range paths {
		methods := allowed[p]
		if slices.Contains(methods, http.MethodGet) {
			methods = append(methods, http.MethodHead)
		}
		role := apiclient.RoleViewer
		if p == loginPath {
			role = ""
		}
		fallback := &route{path: p, role: role, h: func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", strings.Join(methods, ", "))
			return errorf(apiclient.CodeMethodNotAllowed, "%s is not allowed on %s: use %s", r.Method, p, strings.Join(methods, ", "))
		}}
		mux.Handle(p, s.handle(fallback))
	}
	notFound := &route{path: "/", role: apiclient.RoleViewer, h: func(w http.ResponseWriter, r *http.Request) error {
		return errorf(apiclient.CodeNotFound, "no such API route: %s (GET /api/v1/openapi.json lists them)", r.URL.Path)
	}}
	mux.Handle("/", s.handle(notFound))
	return mux
}

// handlerFunc is a route's handler: it writes a success itself and returns
// any error for the wrapper to write as JSON.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// reqInfo collects, while a request is served, what its audit line says.
type reqInfo struct {
	principal *Principal
	revision  int64
	target    string // what a mutation outside the configuration acted on
}

type reqInfoKey struct{}

// noteRequest records the principal and the revision a request wrote.
func noteRequest(r *http.Request, p *Principal, revision int64) {
	if info, ok := r.Context().Value(reqInfoKey{}).(*reqInfo); ok {
		if p != nil {
			info.principal = p
		}
		if revision != 0 {
			info.revision = revision
		}
	}
}

// noteTarget records what a token mutation acted on, for the audit line.
func noteTarget(r *http.Request, target string) {
	if info, ok := r.Context().Value(reqInfoKey{}).(*reqInfo); ok {
		info.target = target
	}
}

// handle wraps a route: authentication and role, the handler, the JSON
// error, metrics, and the audit line of every mutation.
func (s *Server) handle(rt *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &reqInfo{}
		r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, info))
		rec := &recorder{ResponseWriter: w}
		err := s.serve(rt, rec, r, info)
		if err != nil {
			writeError(rec, r, err, s.log)
		}
		s.metrics.observe(rt, r.Method, rec.status(), time.Since(start))
		if unsafeMethod(r.Method) {
			s.audit(r, rec.status(), info, err)
		}
	})
}

func (s *Server) serve(rt *route, w http.ResponseWriter, r *http.Request, info *reqInfo) error {
	if rt.role != "" {
		p, err := s.auth.authorize(r, rt.role)
		info.principal = p
		if err != nil {
			return err
		}
		r = withPrincipal(r, p)
	}
	return rt.h(w, r)
}

// audit logs one line per mutation attempt. The store's revision records
// are the durable audit of configuration changes; this line also covers
// token management, logins, and refused attempts.
func (s *Server) audit(r *http.Request, status int, info *reqInfo, err error) {
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", status, "remote", r.RemoteAddr}
	if p := info.principal; p != nil {
		attrs = append(attrs, "actor", p.Name, "role", p.Role, "session", p.Session)
	}
	if info.revision != 0 {
		attrs = append(attrs, "revision", info.revision)
	}
	if info.target != "" {
		attrs = append(attrs, "target", info.target)
	}
	result := "ok"
	if err != nil {
		var e *apiError
		if errors.As(err, &e) {
			result = e.body.Code
		} else {
			result = apiclient.CodeInternal
		}
	}
	attrs = append(attrs, "result", result)
	s.log.Info("audit", attrs...)
}

// recorder remembers the status a handler wrote.
type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

// metrics count requests by route pattern, so label values stay bounded.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_api_requests_total",
			Help: "REST API requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fulcrum_api_request_duration_seconds",
			Help:    "Time to answer a REST API request, by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(rt *route, method string, status int, d time.Duration) {
	path := rt.path
	if path == "/" {
		path = "unknown"
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions:
	default:
		method = "other" // clients choose methods freely; labels must stay bounded
	}
	m.requests.WithLabelValues(path, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(path, method).Observe(d.Seconds())
}
