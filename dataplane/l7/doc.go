// Package l7 is Fulcrum's HTTP data plane: it serves listeners of protocol
// http, https and grpc (runtime.ServerFactory) and proxies requests to the
// live clusters of package upstream.
//
// The request path, for every downstream protocol:
//
//	downstream (HTTP/1.1 fast path, or HTTP/2 and gRPC via net/http)
//	  → route (virtual host, then the first matching route)
//	  → filters in their fixed order (filters.go): body limit, rate limit,
//	    redirect / direct response, weighted backend, circuit breaker,
//	    affinity (sticky cookie, hash)
//	  → pick (with retries elsewhere on failure) → upstream exchange
//	  → response edits, Set-Cookie, metrics, access log; mirror copies go
//	    out fire-and-forget beside it.
//
// HTTP/1.1 downstream connections to HTTP/1.1 pools never leave the
// connection's goroutine and never build a header map: requests and
// responses are parsed and rewritten by package http1 in pooled buffers.
// HTTP/2 (TLS ALPN or cleartext prior knowledge) and gRPC are served by the
// standard library's HTTP/2 server; upstream h2/h2c by golang.org/x/net/http2.
//
// Configuration is an immutable compiled snapshot per listener, swapped
// atomically by Server.Update; each request reads it once when it starts.
// See docs/l7.md for every behaviour, its defaults, the metrics and the
// measured figures.
package l7
