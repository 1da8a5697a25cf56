package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/balancer"
	"github.com/fulcrumlb/fulcrum/health"
	"github.com/fulcrumlb/fulcrum/translator"
)

var standalone = translator.Options{ActiveHealthChecks: true, DefaultAddress: "127.0.0.1"}

// build loads YAML, translates it and builds a snapshot, as the standalone
// proxy does.
func build(t *testing.T, yaml string, opt translator.Options) (*Snapshot, error) {
	t.Helper()
	l, errs := api.Load([]api.Input{{Name: "t.yaml", Data: []byte(yaml)}}, api.ValidateOptions{})
	if len(errs) > 0 {
		t.Fatalf("invalid test configuration:\n%v", errs)
	}
	res, err := translator.Translate(l.Config, opt)
	if err != nil {
		t.Fatalf("translate: %v", err)
	}
	return Build("v1", res)
}

func mustBuild(t *testing.T, yaml string) *Snapshot {
	t.Helper()
	s, err := build(t, yaml, standalone)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return s
}

// TestBuildEveryGolden builds every golden configuration of the translator,
// in both modes: whatever the translator emits, the data plane must read.
func TestBuildEveryGolden(t *testing.T) {
	files, _ := filepath.Glob("../../translator/testdata/golden/*.yaml")
	if len(files) == 0 {
		t.Fatal("no golden inputs found")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Certificate files named in goldens do not exist here; use the
		// translator's test certificate instead.
		cert, _ := filepath.Abs("../../translator/testdata/tls/cert.pem")
		key, _ := filepath.Abs("../../translator/testdata/tls/key.pem")
		text := strings.NewReplacer("/etc/fulcrum/tls/www.crt", cert, "/etc/fulcrum/tls/www.key", key,
			"/etc/fulcrum/tls/grpc.crt", cert, "/etc/fulcrum/tls/grpc.key", key,
			"/etc/fulcrum/ca.pem", cert, "/etc/fulcrum/backend-ca.pem", cert, "/etc/fulcrum/db-ca.pem", cert).Replace(string(data))
		for _, opt := range []translator.Options{standalone, {DefaultAddress: "127.0.0.1"}} {
			t.Run(filepath.Base(f), func(t *testing.T) {
				l, errs := api.Load([]api.Input{{Name: f, Data: []byte(text)}}, api.ValidateOptions{})
				if len(errs) > 0 {
					t.Fatal(errs)
				}
				res, err := translator.Translate(l.Config, opt)
				if errors.Is(err, translator.ErrUnallocated) {
					t.Skip("needs allocation")
				}
				if err != nil {
					t.Fatal(err)
				}
				snap, err := Build("v1", res)
				if err != nil {
					t.Fatalf("Build: %v", err)
				}
				if len(snap.Clusters) != len(l.Config.Pools) {
					t.Errorf("%d clusters for %d pools", len(snap.Clusters), len(l.Config.Pools))
				}
			})
		}
	}
}

const everything = `
apiVersion: fulcrum/v1
kind: Pool
metadata: {name: web, labels: {team: shop}}
spec:
  frontend: {port: 8080, protocol: http, trustedProxies: [10.0.0.0/8], accessLog: {enabled: true, fields: [status, path]},
    limits: {headerTimeout: 5s, maxHeaderBytes: 32Ki, maxHeaders: 50, maxRequestBodyBytes: 1Mi, maxConnectionsPerClient: 10}}
  algorithm: ring_hash
  hashOn: header:x-user
  ringHash: {minRingSize: 2048, boundedLoadFactor: 1.25}
  members:
  - {address: 10.0.0.1:80, weight: 3, zone: a}
  - {address: 10.0.0.2:80, zone: b, state: drain}
  - {address: 10.0.0.3:80, state: disabled}
  healthCheck: {type: http, path: /healthz, method: HEAD, expectedStatuses: ["200-299", "418"], body: "ok", interval: 500ms, rise: 1, fall: 2}
  outlierDetection: {consecutiveErrors: 4, consecutiveGatewayErrors: 2, baseEjectionTime: 10s, maxEjectionPercent: 30}
  circuitBreaker: {maxConnections: 10, maxPendingRequests: 20, maxRequests: 30, maxRetries: 4}
  timeouts: {connect: 1s, idle: 2m, request: 9s, drain: 15s}
  retries: {attempts: 3, on: [5xx, "429"], perTryTimeout: 2s, budget: {percent: 25, minConcurrent: 5}}
  stickySession: {cookie: SRV, ttl: 1h}
  rateLimit: {requestsPerSecond: 2.5, per: client_ip}
  upstream: {protocol: h2, tls: {serverName: api.internal, insecureSkipVerify: true}, maxIdleConnections: 7}
---
apiVersion: fulcrum/v1
kind: Pool
metadata: {name: db}
spec:
  frontend: {port: 3306, protocol: tcp, proxyProtocol: {trustedCIDRs: [192.168.0.0/16]}}
  algorithm: maglev
  members: [{address: 10.0.1.1:3306}]
  healthCheck: {type: mysql, user: probe, password: pw}
  upstream: {proxyProtocol: v2}
  retries: {attempts: 2, on: [connect-failure]}
---
apiVersion: fulcrum/v1
kind: Pool
metadata: {name: dns}
spec:
  frontend: {port: 5353, protocol: udp}
  algorithm: source_hash
  members: [{address: 10.0.2.1:53}]
  healthCheck: {type: tcp, send: "PING\r\n", expect: "^PONG"}
---
apiVersion: fulcrum/v1
kind: Pool
metadata: {name: shadow}
spec:
  members: [{address: 10.0.3.1:80}]
  healthCheck: {type: grpc, service: shop.v1.Cart}
---
apiVersion: fulcrum/v1
kind: Listener
metadata: {name: pub}
spec: {port: 8443, protocol: https, tls: {certificates: [{certFile: ../../translator/testdata/tls/cert.pem, keyFile: ../../translator/testdata/tls/key.pem}], minVersion: "1.3"}}
---
apiVersion: fulcrum/v1
kind: Route
metadata: {name: api}
spec:
  listener: pub
  hosts: [api.example.com]
  match:
    path: {prefix: /v1}
    methods: [GET, POST]
    headers: [{name: X-Env, exact: prod}, {name: x-debug, present: true, invert: true}]
    query: [{name: q, regex: "[0-9]+"}]
  backends: [{pool: web, weight: 90}, {pool: shadow, weight: 10}]
  mirror: {pool: shadow, percent: 2.5}
  timeout: 4s
  headers: {request: {set: {X-A: "1"}, add: {x-b: "2"}, remove: [X-C]}, response: {remove: [server]}}
---
apiVersion: fulcrum/v1
kind: Route
metadata: {name: wild}
spec:
  listener: pub
  hosts: ["*.example.com"]
  directResponse: {status: 404, body: nope}
---
apiVersion: fulcrum/v1
kind: Route
metadata: {name: home}
spec:
  listener: pub
  redirect: {scheme: https, path: /home, code: 308}
---
apiVersion: fulcrum/v1
kind: Listener
metadata: {name: sni}
spec: {port: 9443, protocol: tls, defaultPool: db}
---
apiVersion: fulcrum/v1
kind: Route
metadata: {name: sni-web}
spec: {listener: sni, hosts: [www.example.com], backends: [{pool: web}]}
`

func TestBuildReadsEverything(t *testing.T) {
	s := mustBuild(t, everything)
	web := s.Clusters["web"]
	if web.Balancer.Algorithm != balancer.RingHash || web.Balancer.RingMinSize != 2048 || web.Balancer.BoundedLoadFactor != 1.25 || web.HashOn != "header:x-user" {
		t.Errorf("balancer: %+v hashOn %q", web.Balancer, web.HashOn)
	}
	wantMembers := []Member{
		{Address: "10.0.0.1:80", Weight: 3, Zone: "a"},
		{Address: "10.0.0.2:80", Weight: 1, Zone: "b", State: balancer.Draining},
	}
	if diff := cmp.Diff(wantMembers, web.Members); diff != "" {
		t.Errorf("members (disabled left out) -want +got:\n%s", diff)
	}
	if want := (CircuitBreaker{10, 20, 30, 4, 25, 5}); web.Circuit != want {
		t.Errorf("circuit = %+v", web.Circuit)
	}
	if want := (OutlierDetection{4, 2, 10 * time.Second, 10 * time.Second, 300 * time.Second, 30}); web.Outlier != want {
		t.Errorf("outlier = %+v", web.Outlier)
	}
	if web.ConnectTimeout != time.Second || web.IdleTimeout != 2*time.Minute || web.RequestTimeout != 9*time.Second || web.DrainTimeout != 15*time.Second {
		t.Errorf("timeouts: %v %v %v %v", web.ConnectTimeout, web.IdleTimeout, web.RequestTimeout, web.DrainTimeout)
	}
	if web.Protocol != UpstreamH2 || web.TLS == nil || !web.TLS.InsecureSkipVerify || web.TLS.ServerName != "api.internal" || web.MaxIdleConnections != 7 {
		t.Errorf("upstream: %s %+v %d", web.Protocol, web.TLS, web.MaxIdleConnections)
	}
	if web.Sticky == nil || web.Sticky.Cookie != "SRV" || web.Sticky.TTL != time.Hour {
		t.Errorf("sticky: %+v", web.Sticky)
	}
	if rl := web.RateLimit; rl == nil || rl.RequestsPerSecond != 2.5 || rl.Burst != 3 || !rl.PerClientIP {
		t.Errorf("rate limit: %+v", rl)
	}
	hc := web.HealthCheck
	if hc == nil || hc.Type != health.TypeHTTP || hc.HTTP.Path != "/healthz" || hc.HTTP.Method != "HEAD" || hc.HTTP.BodyRegex != "ok" ||
		hc.Interval != 500*time.Millisecond || hc.Rise != 1 || hc.Fall != 2 ||
		!cmp.Equal(hc.HTTP.ExpectedStatuses, []health.StatusRange{{Min: 200, Max: 299}, {Min: 418, Max: 418}}) {
		t.Errorf("health check: %+v %+v", hc, hc.HTTP)
	}
	if web.Labels["team"] != "shop" {
		t.Errorf("labels: %v", web.Labels)
	}

	db := s.Clusters["db"]
	if db.ProxyProtocol != 2 || db.HealthCheck.Type != health.TypeMySQL || db.HealthCheck.MySQL.User != "probe" || db.HealthCheck.MySQL.Password != "pw" {
		t.Errorf("db: pp=%d hc=%+v", db.ProxyProtocol, db.HealthCheck)
	}
	dns := s.Clusters["dns"]
	if tcp := dns.HealthCheck.TCP; tcp == nil || tcp.Send != "PING\r\n" || tcp.Expect != "^PONG" {
		t.Errorf("tcp check: %+v", dns.HealthCheck.TCP)
	}
	if g := s.Clusters["shadow"].HealthCheck.GRPC; g == nil || g.Service != "shop.v1.Cart" {
		t.Errorf("grpc check: %+v", g)
	}
}

func TestBuildListeners(t *testing.T) {
	s := mustBuild(t, everything)
	web := s.Listeners[translator.ListenerName(api.KindPool, "web")]
	if web.Address.String() != "127.0.0.1:8080" || web.Protocol != ProtoHTTP || web.Object != "web" || web.Kind != api.KindPool {
		t.Errorf("web listener: %+v", web)
	}
	lim := web.Limits
	if lim.HeaderTimeout != 5*time.Second || lim.MaxHeaderBytes != 32<<10 || lim.MaxHeaders != 50 || lim.MaxRequestBodyBytes != 1<<20 ||
		lim.MaxConnectionsPerClient != 10 || lim.MaxConcurrentStreams != api.DefaultMaxConcurrentStreams || lim.IdleTimeout != api.DefaultHTTPIdleTimeout {
		t.Errorf("limits: %+v", lim)
	}
	if len(web.TrustedProxies) != 1 || web.TrustedProxies[0].String() != "10.0.0.0/8" {
		t.Errorf("trusted proxies: %v", web.TrustedProxies)
	}
	if !web.AccessLog.Enabled || !cmp.Equal(web.AccessLog.Fields, []string{"status", "path"}) {
		t.Errorf("access log: %+v", web.AccessLog)
	}
	db := s.Listeners[translator.ListenerName(api.KindPool, "db")]
	if db.TCP == nil || db.TCP.Backends[0].Cluster != "db" || !db.TCP.HashSourceIP || db.TCP.MaxConnectAttempts != 3 || db.TCP.IdleTimeout != time.Hour {
		t.Errorf("tcp route: %+v", db.TCP)
	}
	if len(db.ProxyProtocolFrom) != 1 || db.ProxyProtocolFrom[0].String() != "192.168.0.0/16" {
		t.Errorf("proxy protocol from: %v", db.ProxyProtocolFrom)
	}
	dns := s.Listeners[translator.ListenerName(api.KindPool, "dns")]
	if dns.UDP == nil || dns.UDP.Cluster != "dns" || !dns.UDP.HashSourceIP || dns.SocketKey() != "udp/127.0.0.1:5353" {
		t.Errorf("udp: %+v %s", dns.UDP, dns.SocketKey())
	}
	sni := s.Listeners[translator.ListenerName(api.KindListener, "sni")]
	if len(sni.SNI) != 1 || sni.SNI[0].Name != "sni-web" || sni.SNI[0].ServerNames[0] != "www.example.com" || sni.TCP.Backends[0].Cluster != "db" {
		t.Errorf("sni: %+v default %+v", sni.SNI, sni.TCP)
	}
	pub := s.Listeners[translator.ListenerName(api.KindListener, "pub")]
	if pub.TLS == nil || len(pub.TLS.Certificates) != 1 || pub.TLS.MinVersion != 0x0304 || !cmp.Equal(pub.TLS.NextProtos, []string{"h2", "http/1.1"}) {
		t.Errorf("tls: %+v", pub.TLS)
	}
}

func TestBuildRoutes(t *testing.T) {
	s := mustBuild(t, everything)
	table := s.Listeners[translator.ListenerName(api.KindListener, "pub")].Routes
	api := table.VirtualHost([]byte("API.Example.com:8443"))
	if api == nil || len(api.Routes) != 3 {
		t.Fatalf("api.example.com virtual host: %+v", api)
	}
	names := []string{}
	for _, r := range api.Routes {
		names = append(names, r.Name)
	}
	if !cmp.Equal(names, []string{"api", "wild", "home"}) {
		t.Errorf("precedence: %v; want the host's own route, then the wildcard's, then the catch-all", names)
	}
	r := api.Routes[0]
	if r.Path.Prefix != "/v1" || !r.Path.Segment || r.Methods != MethodBit([]byte("GET"))|MethodBit([]byte("POST")) {
		t.Errorf("match: %+v methods %b", r.Path, r.Methods)
	}
	if len(r.Headers) != 2 || r.Headers[0].Name != "x-env" || r.Headers[0].Exact != "prod" || !r.Headers[1].Present || !r.Headers[1].Invert {
		t.Errorf("headers: %+v", r.Headers)
	}
	if len(r.Query) != 1 || !r.Query[0].Regex.MatchString("123") || r.Query[0].Regex.MatchString("x123") {
		t.Errorf("query: %+v", r.Query)
	}
	if !cmp.Equal(r.Backends, []WeightedCluster{{"web", 90}, {"shadow", 10}}) || r.Timeout != 4*time.Second {
		t.Errorf("action: %+v %v", r.Backends, r.Timeout)
	}
	if len(r.Mirrors) != 1 || r.Mirrors[0].PerMillion != 25000 {
		t.Errorf("mirror: %+v", r.Mirrors)
	}
	if p := r.Retry; p == nil || p.Attempts != 3 || p.On != Retry5xx|RetryStatusCodes || !cmp.Equal(p.StatusCodes, []int{429}) || !p.IdempotentOnly || p.PerTryTimeout != 2*time.Second {
		t.Errorf("retry (from the first backend pool): %+v", r.Retry)
	}
	if len(r.Hash) != 1 || r.Hash[0].Kind != HashHeader || r.Hash[0].Name != "x-user" {
		t.Errorf("hash: %+v", r.Hash)
	}
	if !cmp.Equal(r.RequestHeaders, HeaderEdits{Set: [][2]string{{"x-a", "1"}}, Add: [][2]string{{"x-b", "2"}}, Remove: []string{"x-c"}}) {
		t.Errorf("request headers: %+v", r.RequestHeaders)
	}
	if wild := table.VirtualHost([]byte("shop.example.com")); wild == nil || wild.Routes[0].Direct == nil || string(wild.Routes[0].Direct.Body) != "nope" || wild.Routes[0].Direct.ContentType != "text/plain; charset=utf-8" {
		t.Errorf("wildcard vhost: %+v", wild)
	}
	other := table.VirtualHost([]byte("example.org"))
	if other == nil || len(other.Routes) != 1 || other.Routes[0].Redirect == nil || *other.Routes[0].Redirect != (Redirect{Scheme: "https", Path: "/home", Code: 308}) {
		t.Errorf("catch-all: %+v", other)
	}
	webRoute := s.Listeners[translator.ListenerName("Pool", "web")].Routes.VirtualHost([]byte("x")).Routes[0]
	if webRoute.Sticky == nil || webRoute.Sticky.Cookie != "SRV" || webRoute.Sticky.SameSite != "Lax" || webRoute.RateLimit == nil || webRoute.RateLimit.RequestsPerSecond != 2.5 {
		t.Errorf("pool frontend route: sticky %+v rate %+v", webRoute.Sticky, webRoute.RateLimit)
	}
}

func TestBuildRejects(t *testing.T) {
	l, errs := api.Load([]api.Input{{Name: "t.yaml", Data: []byte(everything)}}, api.ValidateOptions{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	res, err := translator.Translate(l.Config, standalone)
	if err != nil {
		t.Fatal(err)
	}
	// An HTTP filter this data plane does not implement must be a clear
	// error (a NACK), not silently ignored.
	for _, ln := range res.Listeners {
		if !strings.Contains(ln.GetName(), "pub") {
			continue
		}
		fc := ln.GetFilterChains()[0]
		fc.Filters = append(fc.Filters, &listenerv3.Filter{Name: "envoy.filters.network.rbac"})
	}
	_, err = Build("v2", res)
	if err == nil || !strings.Contains(err.Error(), "listener listener/pub") {
		t.Errorf("unknown filter accepted: %v", err)
	}
	res.Listeners = nil
	res.Clusters = res.Clusters[1:]
	if _, err := Build("v3", res); err != nil {
		t.Errorf("a cluster set without listeners should build: %v", err)
	}
}
