package translator

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	localratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	statefulsessionv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/stateful_session/v3"
	cookiev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/stateful_session/cookie/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/type/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/fulcrumlb/fulcrum/api"
)

// idempotentMethods are retried unless a policy allows non-idempotent
// requests.
const idempotentMethods = "^(GET|HEAD|OPTIONS|PUT|DELETE|TRACE)$"

// hostSelectionRetries is how often a retry re-picks to avoid a host
// already tried.
const hostSelectionRetries = 3

// MaxDynamicDescriptors bounds the per-client buckets of a client_ip rate
// limit (Envoy keeps them in an LRU; its default of 20 clients is far too
// few for an edge proxy).
const MaxDynamicDescriptors = 10000

// retryPolicy maps a Fulcrum retry policy, or returns nil for none.
func retryPolicy(r *api.RetryPolicy) *routev3.RetryPolicy {
	if r == nil {
		return nil
	}
	out := &routev3.RetryPolicy{
		NumRetries: u32(r.Attempts),
		RetryHostPredicate: []*routev3.RetryPolicy_RetryHostPredicate{{
			Name:       PreviousHostsPredicateName,
			ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: typed(&previoushostsv3.PreviousHostsPredicate{})},
		}},
		HostSelectionRetryMaxAttempts: hostSelectionRetries,
	}
	var on []string
	for _, c := range r.On {
		if code, err := strconv.Atoi(c); err == nil {
			if !slices.Contains(out.RetriableStatusCodes, uint32(code)) {
				out.RetriableStatusCodes = append(out.RetriableStatusCodes, clampU32(code))
			}
			continue
		}
		if !slices.Contains(on, c) {
			on = append(on, c)
		}
	}
	if len(out.RetriableStatusCodes) > 0 {
		on = append(on, "retriable-status-codes")
	}
	out.RetryOn = strings.Join(on, ",")
	if r.PerTryTimeout > 0 {
		out.PerTryTimeout = dur(r.PerTryTimeout.D())
	}
	if !r.NonIdempotent {
		out.RetriableRequestHeaders = []*routev3.HeaderMatcher{{
			Name:                 ":method",
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: stringMatch("", idempotentMethods)},
		}}
	}
	return out
}

// perFilterConfig enables the local rate limit and the stateful session
// filters for one route.
func perFilterConfig(rl *api.RateLimit, sticky *api.StickySession) map[string]*anypb.Any {
	out := map[string]*anypb.Any{}
	if rl != nil && rl.RequestsPerSecond > 0 {
		out[LocalRateLimitName] = typed(localRateLimit(rl))
	}
	if sticky != nil {
		out[StatefulSessionName] = typed(statefulSession(sticky))
	}
	return out
}

// localRateLimit is a token bucket shared by all clients, or (per
// client_ip) one dynamic bucket per remote address.
func localRateLimit(rl *api.RateLimit) *localratelimitv3.LocalRateLimit {
	always := &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{
		Numerator: 100, Denominator: typev3.FractionalPercent_HUNDRED}}
	out := &localratelimitv3.LocalRateLimit{
		StatPrefix:             LocalRateLimitStatPrefix,
		TokenBucket:            tokenBucket(rl),
		FilterEnabled:          always,
		FilterEnforced:         always,
		EnableRetryAfterHeader: true,
	}
	if rl.Per == api.PerClientIP {
		out.RateLimits = []*routev3.RateLimit{{Actions: []*routev3.RateLimit_Action{{
			ActionSpecifier: &routev3.RateLimit_Action_RemoteAddress_{RemoteAddress: &routev3.RateLimit_Action_RemoteAddress{}},
		}}}}
		// An entry without a value is a wildcard: one bucket per address.
		out.Descriptors = []*ratelimitv3.LocalRateLimitDescriptor{{
			Entries:     []*ratelimitv3.RateLimitDescriptor_Entry{{Key: "remote_address"}},
			TokenBucket: tokenBucket(rl),
		}}
		out.MaxDynamicDescriptors = u32(MaxDynamicDescriptors)
		// The shared bucket only catches requests no descriptor matched.
		out.AlwaysConsumeDefaultTokenBucket = wrapperspb.Bool(false)
	}
	return out
}

// tokenBucket expresses requestsPerSecond as tokens per fill interval.
// Whole rates fill once a second; slow fractional rates (up to 20/s) add
// one token every 1/rate seconds, exactly; faster fractional rates are
// rounded to whole tokens per second (the metadata keeps the exact rate).
func tokenBucket(rl *api.RateLimit) *typev3.TokenBucket {
	rps := rl.RequestsPerSecond
	tb := &typev3.TokenBucket{MaxTokens: clampU32(max(rl.Burst, 1))}
	switch {
	case rps >= 1 && rps == math.Trunc(rps), rps > 20:
		tb.TokensPerFill = wrapperspb.UInt32(clampU32(int(math.Min(math.Round(rps), math.MaxUint32))))
		tb.FillInterval = dur(time.Second)
	default:
		interval := time.Duration(math.MaxInt64)
		if ns := float64(time.Second) / rps; ns < float64(math.MaxInt64) {
			interval = time.Duration(math.Round(ns))
		}
		tb.TokensPerFill = wrapperspb.UInt32(1)
		tb.FillInterval = dur(interval)
	}
	return tb
}

// statefulSession keeps a client on one member with a cookie.
func statefulSession(ss *api.StickySession) *statefulsessionv3.StatefulSessionPerRoute {
	cookie := &httpv3.Cookie{Name: ss.Cookie, Path: ss.Path}
	if ss.TTL > 0 {
		cookie.Ttl = dur(ss.TTL.D())
	}
	if ss.SameSite != "" {
		cookie.Attributes = append(cookie.Attributes, &httpv3.CookieAttribute{Name: "SameSite", Value: ss.SameSite})
	}
	if ss.Secure {
		cookie.Attributes = append(cookie.Attributes, &httpv3.CookieAttribute{Name: "Secure"})
	}
	return &statefulsessionv3.StatefulSessionPerRoute{Override: &statefulsessionv3.StatefulSessionPerRoute_StatefulSession{
		StatefulSession: &statefulsessionv3.StatefulSession{SessionState: &corev3.TypedExtensionConfig{
			Name:        CookieSessionStateName,
			TypedConfig: typed(&cookiev3.CookieBasedSessionState{Cookie: cookie}),
		}},
	}}
}
