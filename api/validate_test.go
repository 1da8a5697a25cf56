package api

import (
	"strings"
	"testing"
)

// pool returns a Pool document with extra spec lines.
func pool(name, spec string) string {
	return "apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: " + name + "}\nspec:\n  members: [{address: \"127.0.0.1:9001\"}]\n" + spec + "---\n"
}

const listenerHTTP = "apiVersion: fulcrum/v1\nkind: Listener\nmetadata: {name: pub}\nspec: {address: 127.0.0.1, port: 8000, protocol: http}\n---\n"

func route(spec string) string {
	return "apiVersion: fulcrum/v1\nkind: Route\nmetadata: {name: r}\nspec:\n  listener: pub\n" + spec + "---\n"
}

// TestRejections covers every class of mistake the decoder and validator
// must catch; each case names the exact error (path and reason) expected.
func TestRejections(t *testing.T) {
	cases := []struct {
		name, input, want string
	}{
		{"unknown field", pool("a", "  algoritm: maglev\n"), `Pool/a: spec.algoritm: unknown field (did you mean "algorithm"?)`},
		{"wrong type string", pool("a", "  algorithm: 3\n"), "Pool/a: spec.algorithm: must be a string, not a number (3: quote it if you meant a string)"},
		{"wrong type int", pool("a", "  frontend: {port: \"80\", protocol: tcp}\n"), `Pool/a: spec.frontend.port: must be an integer, not a string ("80")`},
		{"wrong type list", pool("a", "  retries: {attempts: 1, on: reset}\n"), "Pool/a: spec.retries.on: must be a list, not a string"},
		{"duplicate names", pool("a", "") + pool("a", ""), "Pool/a: metadata.name: duplicate name: Pool/a is also defined in test.yaml document 1"},
		{"unknown pool", listenerHTTP + route("  backends: [{pool: nope}]\n"), `Route/r: spec.backends[0].pool: unknown Pool "nope"`},
		{"unknown mirror pool", pool("a", "") + listenerHTTP + route("  backends: [{pool: a}]\n  mirror: {pool: nope, percent: 5}\n"), `Route/r: spec.mirror.pool: unknown Pool "nope"`},
		{"unknown listener", pool("a", "") + route("  backends: [{pool: a}]\n"), `Route/r: spec.listener: unknown Listener "pub"`},
		{"unknown default pool", "apiVersion: fulcrum/v1\nkind: Listener\nmetadata: {name: t}\nspec: {port: 7000, protocol: tcp, defaultPool: nope}\n", `Listener/t: spec.defaultPool: unknown Pool "nope"`},
		{"two frontends one port", pool("a", "  frontend: {address: 127.0.0.1, port: 8080, protocol: http}\n") + pool("b", "  frontend: {address: 0.0.0.0, port: 8080, protocol: tcp}\n"), "Pool/b: spec.frontend.port: 0.0.0.0 port 8080 is already taken by Pool/a"},
		{"bad duration", pool("a", "  timeouts: {connect: 5}\n"), `Pool/a: spec.timeouts.connect: must be a duration string such as "2s" or "250ms"`},
		{"bad duration unit", pool("a", "  timeouts: {connect: 5 sec}\n"), `Pool/a: spec.timeouts.connect: invalid duration "5 sec": use a number with a unit (ms, s, m, h), e.g. "2s"`},
		{"negative duration", pool("a", "  timeouts: {connect: -1s}\n"), `Pool/a: spec.timeouts.connect: invalid duration "-1s": must not be negative`},
		{"explicit zero", pool("a", "  healthCheck: {type: tcp, rise: 0}\n"), "Pool/a: spec.healthCheck.rise: must not be 0: leave it out to get the default"},
		{"bad cidr", pool("a", "  frontend: {port: 80, protocol: http, trustedProxies: [10.0.0.0/33]}\n"), `Pool/a: spec.frontend.trustedProxies[0]: "10.0.0.0/33" is not a CIDR such as 10.0.0.0/8 or an IP address`},
		{"bad regex", pool("a", "") + listenerHTTP + route("  backends: [{pool: a}]\n  match: {path: {regex: \"(\"}}\n"), "Route/r: spec.match.path.regex: invalid regex: missing closing ): `(`"},
		{"bad port", pool("a", "  frontend: {port: 70000, protocol: tcp}\n"), "Pool/a: spec.frontend.port: must be between 1 and 65535"},
		{"bad member port", "apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: a}\nspec:\n  members: [{address: 127.0.0.1, port: 0}, {address: 10.0.0.1, port: 99999}]\n", "Pool/a: spec.members[1].port: must be between 1 and 65535"},
		{"member without port", "apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: a}\nspec:\n  members: [{address: 10.0.0.1}]\n", `Pool/a: spec.members[0].address: "10.0.0.1" has no port: write host:port or give port`},
		{"bad weight", pool("a", "  members: [{address: \"127.0.0.1:1\", weight: 100000}]\n")[0:0] + "apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: a}\nspec:\n  members: [{address: \"127.0.0.1:1\", weight: 100000}]\n", "Pool/a: spec.members[0].weight: must be between 1 and 10000"},
		{"duplicate member", "apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: a}\nspec:\n  members: [{address: \"127.0.0.1:1\"}, {address: \"127.0.0.1:1\"}]\n", "Pool/a: spec.members[1].address: 127.0.0.1:1 is also members[0]"},
		{"unknown algorithm", pool("a", "  algorithm: fastest\n"), `Pool/a: spec.algorithm: "fastest" is not one of round_robin, weighted_round_robin, least_conn, weighted_least_conn, random, least_request, peak_ewma, source_hash, ring_hash, maglev`},
		{"unknown check type", pool("a", "  healthCheck: {type: ping}\n"), `Pool/a: spec.healthCheck.type: "ping" is not one of http, tcp, mysql, grpc, none`},
		{"check option of other type", pool("a", "  healthCheck: {type: tcp, path: /x}\n"), "Pool/a: spec.healthCheck.path: only used by http checks, not tcp"},
		{"bad status range", pool("a", "  healthCheck: {type: http, expectedStatuses: [\"299-200\"]}\n"), `Pool/a: spec.healthCheck.expectedStatuses[0]: "299-200" is not a status code, a class such as 2xx, or a range such as 200-399`},
		{"maglev not prime", pool("a", "  algorithm: maglev\n  maglev: {tableSize: 65536}\n"), "Pool/a: spec.maglev.tableSize: 65536 must be a prime between 3 and 5000011 (default 65537)"},
		{"bad hashOn", pool("a", "  algorithm: ring_hash\n  hashOn: body\n"), `Pool/a: spec.hashOn: "body" must be source_ip, header:NAME or cookie:NAME`},
		{"https without tls", pool("a", "  frontend: {port: 443, protocol: https}\n"), "Pool/a: spec.frontend.tls: required for https: give at least one certificate"},
		{"cert key mismatch", pool("a", "  frontend: {port: 443, protocol: https, tls: {certificates: [{cert: x, key: y}]}}\n"), "Pool/a: spec.frontend.tls.certificates[0]: certificate and key do not form a pair: tls: failed to find any PEM data in certificate input"},
		{"grpc http1 upstream", pool("a", "  frontend: {port: 50051, protocol: grpc}\n  upstream: {protocol: http1}\n"), "Pool/a: spec.upstream.protocol: gRPC needs h2 or h2c upstreams, not http1"},
		{"sticky on tcp", pool("a", "  frontend: {port: 5000, protocol: tcp}\n  stickySession: {cookie: S}\n"), "Pool/a: spec.stickySession: needs an HTTP frontend (a cookie), not tcp; use a hash algorithm on source_ip"},
		{"two actions", pool("a", "") + listenerHTTP + route("  backends: [{pool: a}]\n  directResponse: {status: 200}\n"), "Route/r: spec: give exactly one of backends, redirect and directResponse"},
		{"zero total weight", pool("a", "") + listenerHTTP + route("  backends: [{pool: a, weight: 0}]\n"), "Route/r: spec.backends: at least one backend needs a weight above 0"},
		{"bad redirect code", listenerHTTP + route("  redirect: {code: 200}\n"), "Route/r: spec.redirect.code: 200 must be 301, 302, 303, 307 or 308"},
		{"header injection", pool("a", "") + listenerHTTP + route("  backends: [{pool: a}]\n  headers: {request: {set: {x-a: \"a\\r\\nx-b: c\"}}}\n"), "Route/r: spec.headers.request.set.x-a: must not contain control characters"},
		{"hop by hop edit", pool("a", "") + listenerHTTP + route("  backends: [{pool: a}]\n  headers: {request: {set: {Connection: close}}}\n"), "Route/r: spec.headers.request.set.Connection: Connection is managed by the proxy and cannot be set"},
		{"route on tcp listener", pool("a", "") + "apiVersion: fulcrum/v1\nkind: Listener\nmetadata: {name: pub}\nspec: {port: 7000, protocol: tcp, defaultPool: a}\n---\n" + route("  backends: [{pool: a}]\n"), "Route/r: spec.listener: tcp listeners have no routes: they send everything to their defaultPool"},
		{"sni route with path", pool("a", "") + "apiVersion: fulcrum/v1\nkind: Listener\nmetadata: {name: pub}\nspec: {port: 7443, protocol: tls}\n---\n" + route("  hosts: [a.example.com]\n  match: {path: {prefix: /x}}\n  backends: [{pool: a}]\n"), "Route/r: spec.match: not available on a tls (passthrough) listener: the proxy does not decrypt the stream"},
		{"bad host pattern", pool("a", "") + listenerHTTP + route("  hosts: [\"a.*.com\"]\n  backends: [{pool: a}]\n"), `Route/r: spec.hosts[0]: "a.*.com" is not a host name or a wildcard such as *.example.com`},
		{"bad name", "apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: Web_1}\nspec: {members: []}\n", `Pool/Web_1: metadata.name: "Web_1" is not a valid name: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit`},
		{"missing kind", "apiVersion: fulcrum/v1\nmetadata: {name: a}\n", "kind: required: one of Pool, Listener, Route (apiVersion fulcrum/v1) or Service, Endpoints (apiVersion v1)"},
		{"unknown kind", "apiVersion: fulcrum/v1\nkind: Gateway\nmetadata: {name: a}\n", `Gateway/a: kind: unknown kind "Gateway" for apiVersion fulcrum/v1: expected Pool, Listener or Route`},
		{"proxy protocol without trust", pool("a", "  frontend: {port: 5000, protocol: tcp, proxyProtocol: {trustedCIDRs: []}}\n"), "Pool/a: spec.frontend.proxyProtocol.trustedCIDRs: required: accepting PROXY headers from anyone lets any client forge its address"},
		{"limit on wrong protocol", pool("a", "  frontend: {port: 5000, protocol: tcp, limits: {maxHeaders: 10}}\n"), "Pool/a: spec.frontend.limits.maxHeaders: only for HTTP frontends, not tcp"},
		{"invalid yaml", "apiVersion: [\n", "invalid YAML: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errs := load(t, c.input)
			if len(errs) == 0 {
				t.Fatalf("accepted; want error %q", c.want)
			}
			for _, e := range errs {
				if strings.Contains(e.Error(), c.want) {
					return
				}
			}
			t.Errorf("want an error containing\n  %s\ngot\n  %s", c.want, strings.ReplaceAll(errs.Error(), "\n", "\n  "))
		})
	}
}

// TestAllErrorsReported checks that a file with many mistakes reports each
// of them, not only the first, and that a field that failed decoding does not
// produce a second, redundant error.
func TestAllErrorsReported(t *testing.T) {
	input := `apiVersion: fulcrum/v1
kind: Pool
metadata: {name: web}
spec:
  frontend: {address: 127.0.0.1, port: 8080, protocol: htp}
  algorithm: fastest
  members:
  - {address: 127.0.0.1:9001, weight: 0}
  - {address: 127.0.0.1, port: 70000}
  - {adress: 127.0.0.1:9003}
  - {address: "127.0.0.1:9004", state: paused}
  healthCheck: {type: http, path: healthz, interval: 2, rise: 200}
  timeouts: {connect: 2 seconds}
`
	_, errs := load(t, input)
	want := []string{
		"spec.algorithm:", "spec.frontend.protocol:", "spec.healthCheck.interval:", "spec.healthCheck.path:",
		"spec.healthCheck.rise:", "spec.members[0].weight:", "spec.members[1].port:", "spec.members[2].address: required",
		"spec.members[2].adress:", "spec.members[3].state:", "spec.timeouts.connect:",
	}
	if len(errs) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(errs), len(want), errs)
	}
	for _, w := range want {
		if !strings.Contains(errs.Error(), w) {
			t.Errorf("missing error for %s", w)
		}
	}
}

func TestWarnings(t *testing.T) {
	l := mustLoad(t, pool("a", "  hashOn: source_ip\n"))
	if len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0].Error(), "spec.hashOn: warning: ignored") {
		t.Errorf("warnings = %v", l.Warnings)
	}
}

func TestValidConfigsAccepted(t *testing.T) {
	input := pool("web", "  frontend: {port: 8080, protocol: http}\n  algorithm: maglev\n  hashOn: header:x-user\n") +
		pool("canary", "") + pool("shadow", "") + listenerHTTP +
		route(`  hosts: [www.example.com, "*.example.com"]
  priority: 10
  match:
    path: {prefix: /api}
    headers: [{name: x-env, exact: prod}, {name: x-debug, present: true, invert: true}]
    methods: [GET, POST]
    query: [{name: v, regex: "^[0-9]+$"}]
  backends: [{pool: web, weight: 90}, {pool: canary, weight: 10}]
  mirror: {pool: shadow, percent: 2.5}
  retries: {attempts: 3, on: [5xx, "429"], perTryTimeout: 500ms}
  timeout: 10s
  rateLimit: {requestsPerSecond: 50, per: client_ip}
  headers: {request: {set: {x-a: "1"}, add: {x-b: "2"}, remove: [x-c]}, response: {remove: [server]}}
`)
	l := mustLoad(t, input)
	if n := len(l.Config.Objects()); n != 5 {
		t.Errorf("got %d objects", n)
	}
	r := l.Config.Routes[0]
	if r.Spec.RateLimit.Burst != 50 || *r.Spec.Backends[1].Weight != 10 || r.Spec.Retries.Budget.Percent != DefaultRetryBudgetPercent {
		t.Errorf("defaults not applied: %+v", r.Spec)
	}
}

// TestEnvoyLimits: values Envoy refuses must be refused here first, with a
// path, rather than producing xDS a data plane would NACK.
func TestEnvoyLimits(t *testing.T) {
	long := strings.Repeat
	cases := []struct{ name, pool, route, want string }{
		{"prefix with ?", "", "backends: [{pool: a}]\n  match: {path: {prefix: '/a?b'}}", "spec.match.path.prefix: \"/a?b\" must be a path only, without ? or #"},
		{"exact with #", "", "backends: [{pool: a}]\n  match: {path: {exact: '/a#b'}}", "spec.match.path.exact: \"/a#b\" must be a path only"},
		{"long serverName", "upstream: {tls: {serverName: " + long("a", 300) + "}}", "backends: [{pool: a}]", "spec.upstream.tls.serverName:"},
		{"long query name", "", "backends: [{pool: a}]\n  match: {query: [{name: " + long("q", 1100) + ", present: true}]}", "spec.match.query[0].name: is 1100 bytes; the limit is 1024"},
		{"long header value", "", "backends: [{pool: a}]\n  headers: {request: {set: {X-A: " + long("v", 17000) + "}}}", "spec.headers.request.set.X-A: is 17000 bytes; the limit is 16384"},
		{"long check header", "healthCheck: {type: http, headers: {X-A: " + long("v", 17000) + "}}", "backends: [{pool: a}]", "spec.healthCheck.headers.X-A: is 17000 bytes"},
		{"check path with LF", "healthCheck: {type: http, path: \"/a\\nb\"}", "backends: [{pool: a}]", "spec.healthCheck.path: must not contain control characters"},
		{"check method CONNECT", "healthCheck: {type: http, method: CONNECT}", "backends: [{pool: a}]", "spec.healthCheck.method: \"CONNECT\" is not one of"},
		{"redirect path with LF", "", "redirect: {path: \"/a\\nb\"}", "spec.redirect.path: must not contain control characters"},
		{"long contentType", "", "directResponse: {status: 200, contentType: " + long("c", 17000) + "}", "spec.directResponse.contentType: is 17000 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := pool("a", "  "+c.pool+"\n") + listenerHTTP + route("  "+c.route+"\n")
			_, errs := load(t, in)
			if !strings.Contains(errs.Error(), c.want) {
				t.Errorf("want %q in:\n%v", c.want, errs)
			}
		})
	}
}

func TestSNIListenerRules(t *testing.T) {
	tlsListener := "apiVersion: fulcrum/v1\nkind: Listener\nmetadata: {name: pub}\nspec: {port: 7443, protocol: tls}\n---\n"
	_, errs := load(t, tlsListener)
	if !strings.Contains(errs.Error(), "Listener/pub: spec.defaultPool: a tls listener needs routes or a defaultPool") {
		t.Errorf("empty tls listener: %v", errs)
	}
	twice := pool("a", "") + tlsListener +
		route("  hosts: [a.example.com]\n  backends: [{pool: a}]\n") +
		strings.Replace(route("  hosts: [A.example.com]\n  backends: [{pool: a}]\n"), "name: r}", "name: s}", 1)
	_, errs = load(t, twice)
	if !strings.Contains(errs.Error(), "Route/s: spec.hosts[0]: a.example.com is already routed by Route/r on this listener") {
		t.Errorf("duplicate SNI: %v", errs)
	}
	_, errs = load(t, pool("a", "  frontend: {port: 53, protocol: udp, proxyProtocol: {trustedCIDRs: [10.0.0.0/8]}}\n"))
	if !strings.Contains(errs.Error(), "spec.frontend.proxyProtocol: not available on udp frontends") {
		t.Errorf("udp proxy protocol: %v", errs)
	}
}
