// The brief of this data plane asks for golang.org/x/net/http2's Transport
// for h2 and h2c pools (one per member). x/net v0.62 marks it deprecated in
// favour of net/http's Transport with Protocols, which in Go 1.27 it wraps;
// until then it is the implementation, so the deprecation is ignored here,
// and only here.
//lint:file-ignore SA1019 x/net/http2.Transport is the chosen h2/h2c upstream client (see above)

package l7

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/http2"

	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
)

// idleCloser is a transport that can drop its idle connections.
type idleCloser interface {
	http.RoundTripper
	CloseIdleConnections()
}

// roundTripper returns the member's transport for h2 and h2c pools: an
// x/net/http2 Transport per member, so each member has its own connections
// and streams. It dials through Member.Dial (connect timeout, PROXY
// header, TLS) and the cluster's circuit breakers, and does not use Go's
// default transport settings. HTTP/1.1 pools use roundTripH1 instead.
func (ms *memberState) roundTripper(cfg *runtime.Cluster) http.RoundTripper {
	ms.h2once.Do(func() { ms.h2 = ms.newH2Transport(cfg) })
	return ms.h2
}

func idleOf(cfg *runtime.Cluster) time.Duration {
	if cfg.IdleTimeout > 0 {
		return cfg.IdleTimeout
	}
	return 60 * time.Second
}

func (ms *memberState) newH2Transport(cfg *runtime.Cluster) *http2.Transport {
	return &http2.Transport{
		// h2c: the "TLS" dial is Member.Dial, which speaks TLS only when
		// the pool does; AllowHTTP lets http:// URLs use it.
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, _, _ string, _ *tls.Config) (net.Conn, error) {
			return ms.dial(ctx, upstream.DialOptions{NextProtos: []string{"h2"}})
		},
		IdleConnTimeout:   idleOf(cfg),
		ReadIdleTimeout:   30 * time.Second,
		PingTimeout:       15 * time.Second,
		MaxHeaderListSize: 1 << 20,
	}
}

// setTarget points an outgoing request at a member. TLS is the dialer's
// business (Member.Dial), so only h2 pools with TLS use https://, as the
// HTTP/2 transport expects.
func setTarget(out *http.Request, ms *memberState, cfg *runtime.Cluster) {
	u := *out.URL
	u.Scheme = "http"
	if cfg.Protocol == runtime.UpstreamH2 && cfg.TLS != nil {
		u.Scheme = "https"
	}
	u.Host = ms.m.Address
	out.URL = &u
	out.RequestURI = ""
}

// classify turns a RoundTrip error into a tryResult.
func classify(err error, timedOut bool) tryResult {
	res := tryResult{err: err}
	var ce *connectError
	var ov *errOverload
	var se http2.StreamError
	var mbe *http.MaxBytesError
	switch {
	case timedOut:
		res.timeout, res.err = true, errTimeout
	case errors.As(err, &mbe):
		res.downstream = true
	case errors.As(err, &ov):
		res.err = ov
	case errors.As(err, &ce):
		res.connect = true
	case errors.As(err, &se) && se.Code == http2.ErrCodeRefusedStream:
		res.refused = true
	}
	return res
}
