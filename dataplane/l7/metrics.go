package l7

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// codeClasses are the status classes requests are counted by; index 0 is
// "none" (the request ended without any response: client gone, reset).
var codeClasses = [6]string{"none", "1xx", "2xx", "3xx", "4xx", "5xx"}

func classOf(status int) int {
	if status < 100 || status > 599 {
		return 0
	}
	return status / 100
}

// metrics are the collectors every server of a factory shares. Label
// values are resolved when a configuration is compiled or a member pool is
// created, never per request (see routeMetrics and memberMetrics).
type metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	retries       *prometheus.CounterVec
	rateLimited   *prometheus.CounterVec
	upRequests    *prometheus.CounterVec
	upLatency     *prometheus.HistogramVec
	upConnections *prometheus.GaugeVec
	downConns     *prometheus.GaugeVec
	mirrors       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_http_requests_total",
			Help: "HTTP requests served, by listener, route, pool and status class (none: no response was sent).",
		}, []string{"listener", "route", "pool", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fulcrum_http_request_duration_seconds",
			Help:    "Time from the request head to the end of the response, by listener and route.",
			Buckets: buckets,
		}, []string{"listener", "route"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_http_retries_total",
			Help: "Requests sent again to another member, by listener and route.",
		}, []string{"listener", "route"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_http_rate_limited_total",
			Help: "Requests refused with 429 by a rate limit, by listener and route.",
		}, []string{"listener", "route"}),
		upRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_http_upstream_requests_total",
			Help: "Attempts sent to members, by pool, member and status class (none: transport failure).",
		}, []string{"pool", "member", "code"}),
		upLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fulcrum_http_upstream_response_seconds",
			Help:    "Time from sending a request to a member to its response head, by pool.",
			Buckets: buckets,
		}, []string{"pool"}),
		upConnections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fulcrum_http_upstream_idle_connections",
			Help: "Idle pooled HTTP/1.1 connections, by pool.",
		}, []string{"pool"}),
		downConns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fulcrum_http_downstream_connections",
			Help: "Open downstream connections, by listener and protocol (http1, h2, tunnel).",
		}, []string{"listener", "protocol"}),
		mirrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fulcrum_http_mirror_requests_total",
			Help: "Mirrored request copies, by shadow pool and result (sent, failed, dropped).",
		}, []string{"pool", "result"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	reg1 := func(c any) {
		if err != nil {
			return
		}
		switch v := c.(type) {
		case **prometheus.CounterVec:
			*v, err = register(reg, *v)
		case **prometheus.HistogramVec:
			*v, err = register(reg, *v)
		case **prometheus.GaugeVec:
			*v, err = register(reg, *v)
		}
	}
	for _, c := range []any{&m.requests, &m.duration, &m.retries, &m.rateLimited, &m.upRequests,
		&m.upLatency, &m.upConnections, &m.downConns, &m.mirrors} {
		reg1(c)
	}
	if err != nil {
		return nil, fmt.Errorf("l7: metrics: %w", err)
	}
	return m, nil
}

// register registers c, or returns the collector already registered under
// the same name, so that two factories on one registry share series.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if ex, ok := are.ExistingCollector.(T); ok {
				return ex, nil
			}
		}
		return c, err
	}
	return c, nil
}

// routeMetrics are one route's pre-resolved handles.
type routeMetrics struct {
	duration    prometheus.Observer
	retries     prometheus.Counter
	rateLimited prometheus.Counter
	// codes[i] counts requests to backend i (the last entry: no backend,
	// for redirects, direct responses and errors before a pick).
	codes [][6]prometheus.Counter
}

func (m *metrics) route(listener, route string, pools []string) *routeMetrics {
	rm := &routeMetrics{
		duration:    m.duration.WithLabelValues(listener, route),
		retries:     m.retries.WithLabelValues(listener, route),
		rateLimited: m.rateLimited.WithLabelValues(listener, route),
	}
	for _, p := range append(pools, "") {
		var cs [6]prometheus.Counter
		for i, c := range codeClasses {
			cs[i] = m.requests.WithLabelValues(listener, route, p, c)
		}
		rm.codes = append(rm.codes, cs)
	}
	return rm
}

// dropRoute deletes the series of a route that left the configuration.
func (m *metrics) dropRoute(listener, route string) {
	l := prometheus.Labels{"listener": listener, "route": route}
	m.requests.DeletePartialMatch(l)
	m.duration.DeletePartialMatch(l)
	m.retries.DeletePartialMatch(l)
	m.rateLimited.DeletePartialMatch(l)
}

// memberMetrics are one member's pre-resolved handles.
type memberMetrics struct {
	codes   [6]prometheus.Counter
	latency prometheus.Observer
}

func (m *metrics) member(pool, addr string) memberMetrics {
	var mm memberMetrics
	for i, c := range codeClasses {
		mm.codes[i] = m.upRequests.WithLabelValues(pool, addr, c)
	}
	mm.latency = m.upLatency.WithLabelValues(pool)
	return mm
}

func (m *metrics) dropMember(pool, addr string) {
	m.upRequests.DeletePartialMatch(prometheus.Labels{"pool": pool, "member": addr})
}
