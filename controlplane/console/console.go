package console

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fulcrumlb/fulcrum/controlplane/apiserver"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

// Defaults of Options.
const (
	DefaultScrapeInterval       = 5 * time.Second
	DefaultHeartbeat            = 15 * time.Second
	DefaultMaxStreamsPerSession = 4
	DefaultMaxStreams           = 1000
	// maxStreamAge ends a live-update stream after this long; the browser
	// reconnects at once, and the reconnection authenticates again.
	maxStreamAge = 30 * time.Minute
)

// Options configure New.
type Options struct {
	// Store is the configuration store; required. Pages are rendered from
	// a snapshot of it that its Watch keeps current.
	Store *store.Store
	// API is the REST API; required. Every mutation goes through its
	// handlers in process (validation, actor, audit), and its Auth
	// authenticates the console's sessions.
	API *apiserver.Server
	// Logger receives the console's errors; nil discards them.
	Logger *slog.Logger
	// Registerer receives the console's own metrics (live streams,
	// scrapes); nil registers none.
	Registerer prometheus.Registerer
	// MetricsTargets are data planes' admin listeners whose Prometheus
	// metrics feed the live charts: "127.0.0.1:9901" or a full URL of
	// their /metrics. None turns the charts off.
	MetricsTargets []string
	// MetricsToken is sent as a bearer token to the admin listeners
	// (needed when they are configured with one).
	MetricsToken string
	// ScrapeInterval is how often the targets are scraped;
	// DefaultScrapeInterval when zero.
	ScrapeInterval time.Duration
	// Heartbeat is the live-update streams' keep-alive period; each
	// heartbeat also checks that the session still exists.
	// DefaultHeartbeat when zero.
	Heartbeat time.Duration
	// MaxStreamsPerSession bounds a session's live-update streams (one
	// per open tab): a new one ends the oldest. Zero means the default.
	MaxStreamsPerSession int
	// MaxStreams bounds all live-update streams; beyond it new ones are
	// refused with 503. Zero means the default.
	MaxStreams int
}

// Console is the web console's handler.
type Console struct {
	ctx     context.Context
	st      *store.Store
	api     *apiserver.Server
	log     *slog.Logger
	hub     *hub
	metrics *collector
	streams *streams
	pages   *renderer
	handler http.Handler
	beat    time.Duration
	gauges  *consoleMetrics
}

// New returns the console's handler. ctx bounds its background work: the
// store watch, the metrics scraper and the live-update streams all end
// when it is cancelled.
func New(ctx context.Context, opt Options) (http.Handler, error) {
	if opt.Store == nil || opt.API == nil {
		return nil, errors.New("console: a store and the API server are required")
	}
	c := &Console{ctx: ctx, st: opt.Store, api: opt.API, log: opt.Logger, beat: opt.Heartbeat}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "console")
	if c.beat <= 0 {
		c.beat = DefaultHeartbeat
	}
	var err error
	if c.gauges, err = newConsoleMetrics(opt.Registerer); err != nil {
		return nil, err
	}
	if c.pages, err = newRenderer(); err != nil {
		return nil, err
	}
	perSession, total := opt.MaxStreamsPerSession, opt.MaxStreams
	if perSession <= 0 {
		perSession = DefaultMaxStreamsPerSession
	}
	if total <= 0 {
		total = DefaultMaxStreams
	}
	c.streams = newStreams(perSession, total)
	c.hub = newHub(opt.Store, c.log)
	c.metrics, err = newCollector(collectorOptions{Targets: opt.MetricsTargets, Token: opt.MetricsToken,
		Interval: opt.ScrapeInterval, Logger: c.log, OnScrape: c.hub.publishMetrics, Failures: c.gauges.scrapeErrors})
	if err != nil {
		return nil, err
	}
	go c.hub.run(ctx)
	go c.metrics.run(ctx)
	c.handler = c.buildHandler()
	return c, nil
}

// ServeHTTP serves the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	// Scripts and styles come from the console's own files only: no
	// inline script, no eval, no third party.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	c.handler.ServeHTTP(w, r)
}

// access says who may reach a route and how a refusal is answered.
type access int

const (
	// public routes need no session: the login page and static files.
	public access = iota
	// page routes redirect to the login page without a session.
	page
	// fragment routes (partial updates, live streams) answer 401 without
	// a session, for the script to send the browser to the login page.
	fragment
	// action routes are mutations: a session and its CSRF token.
	action
)

// consoleRoute is one method and path of the console.
type consoleRoute struct {
	method, path string
	access       access
	h            func(w http.ResponseWriter, r *http.Request, s *session) error
}

// routeTable lists every route; tests walk it.
func (c *Console) routeTable() []consoleRoute {
	return []consoleRoute{
		{"GET", "/login", public, c.loginPage},
		{"POST", "/login", public, c.login},
		{"POST", "/logout", action, c.logout},
		{"GET", "/{$}", page, c.home},
		{"GET", "/pools", page, c.poolsPage},
		{"GET", "/fragments/pools", fragment, c.poolsTable},
		{"GET", "/pools/{name}", page, c.poolPage},
		{"GET", "/fragments/pools/{name}/members", fragment, c.membersFragment},
		{"GET", "/fragments/pools/{name}/charts", fragment, c.chartsFragment},
		{"POST", "/pools/{name}/members/{address}/{action}", action, c.memberAction},
		{"GET", "/new/pool", page, c.newPoolForm},
		{"POST", "/new/pool", action, c.submitPoolForm},
		{"GET", "/pools/{name}/edit", page, c.editPoolForm},
		{"POST", "/pools/{name}/edit", action, c.submitPoolForm},
		{"GET", "/yaml", page, c.yamlPage},
		{"POST", "/yaml", action, c.yamlSubmit},
		{"GET", "/delete/{kind}/{name}", page, c.deletePage},
		{"POST", "/delete/{kind}/{name}", action, c.deleteObject},
		{"GET", "/history", page, c.historyPage},
		{"GET", "/history/{revision}", page, c.revisionPage},
		{"GET", "/rollback", page, c.rollbackPage},
		{"POST", "/rollback", action, c.rollback},
		{"GET", "/listeners", page, c.listenersPage},
		{"GET", "/routes", page, c.routesPage},
		{"GET", "/fragments/listeners", fragment, c.listenersTable},
		{"GET", "/fragments/routes", fragment, c.routesTable},
		{"GET", "/proxies", page, c.proxiesPage},
		{"GET", "/fragments/proxies", fragment, c.proxiesTable},
		{"GET", "/events", fragment, c.events},
	}
}

func (c *Console) buildHandler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range c.routeTable() {
		mux.Handle(rt.method+" "+rt.path, c.wrap(rt))
	}
	mux.Handle("GET /static/", staticHandler())
	mux.Handle("/", c.wrap(consoleRoute{path: "/", access: page, h: c.notFound}))
	// Defence in depth beside the CSRF token: browsers' cross-site
	// mutations are refused by their Sec-Fetch-Site and Origin headers,
	// which also protects the login form, which has no session yet.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.renderError(w, r, nil, http.StatusForbidden, "This request came from another site and was refused.")
	}))
	return cop.Handler(mux)
}

func (c *Console) home(w http.ResponseWriter, r *http.Request, _ *session) error {
	http.Redirect(w, r, "/pools", http.StatusSeeOther)
	return nil
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request, s *session) error {
	c.renderError(w, r, s, http.StatusNotFound, "There is no such page.")
	return nil
}

// consoleMetrics are the console's own metrics.
type consoleMetrics struct {
	streams      prometheus.Gauge
	scrapeErrors prometheus.Counter
}

func newConsoleMetrics(reg prometheus.Registerer) (*consoleMetrics, error) {
	m := &consoleMetrics{
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fulcrum_console_live_streams",
			Help: "Open live-update (server-sent events) streams of the web console.",
		}),
		scrapeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fulcrum_console_scrape_errors_total",
			Help: "Failed scrapes of data-plane metrics for the web console's charts.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, col := range []prometheus.Collector{m.streams, m.scrapeErrors} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}
