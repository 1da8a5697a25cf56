package translator

import (
	"os"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/fulcrumlb/fulcrum/api"
)

func translateGolden(t *testing.T, name string, opt Options) (*api.Config, *Resources) {
	t.Helper()
	data, err := os.ReadFile("testdata/golden/" + name + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, name+".yaml", data)
	return cfg, mustTranslate(t, cfg, opt)
}

// TestMetadataRoundTrip reads every kind of metadata back with the typed
// accessors and compares it with the configuration it came from.
func TestMetadataRoundTrip(t *testing.T) {
	cfg, res := translateGolden(t, "pool_policies", standalone)
	shop := cfg.Pool("shop").Spec
	var got *ClusterMetadata
	for _, c := range res.Clusters {
		if c.Name == "shop" {
			md, err := ClusterMeta(c)
			if err != nil {
				t.Fatal(err)
			}
			got = md
		}
	}
	want := &ClusterMetadata{
		Algorithm: api.RoundRobin, HealthCheck: &api.HealthCheck{Type: api.CheckNone},
		RequestTimeout: shop.Timeouts.Request, DrainTimeout: shop.Timeouts.Drain,
		Retries: shop.Retries, StickySession: shop.StickySession, RateLimit: shop.RateLimit,
		MaxIdleConnections: shop.Upstream.MaxIdleConnections,
		Labels:             cfg.Pool("shop").Metadata.Labels, Annotations: cfg.Pool("shop").Metadata.Annotations,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ClusterMeta (-want +got):\n%s", diff)
	}

	cfg, res = translateGolden(t, "listeners", standalone)
	edge := cfg.Listener("edge-http").Spec
	for _, l := range res.Listeners {
		if l.Name != "listener/edge-http" {
			continue
		}
		md, err := ListenerMeta(l)
		if err != nil {
			t.Fatal(err)
		}
		want := &ListenerMetadata{Kind: api.KindListener, Name: "edge-http", Protocol: "http",
			MaxHeaderBytes:            edge.Limits.MaxHeaderBytes,
			Limits:                    &ListenerLimits{MaxConnections: 20000, MaxConnectionsPerClient: 100, DrainTimeout: edge.Limits.DrainTimeout},
			ProxyProtocolTrustedCIDRs: []string{"10.9.0.0/16"}, AccessLog: edge.AccessLog}
		if diff := cmp.Diff(want, md); diff != "" {
			t.Errorf("ListenerMeta (-want +got):\n%s", diff)
		}
	}
	for _, l := range res.Listeners {
		if l.Name != "listener/sni" {
			continue
		}
		md, err := FilterChainMeta(l.FilterChains[0])
		if err != nil || md.Route != "sni-canary" {
			t.Errorf("FilterChainMeta = %+v, %v", md, err)
		}
	}

	cfg, res = translateGolden(t, "routes", standalone)
	var login *api.Route
	for _, r := range cfg.Routes {
		if r.Metadata.Name == "login" {
			login = r
		}
	}
	for _, r := range res.Routes[0].VirtualHosts[0].Routes {
		if r.Name != "login" {
			continue
		}
		md, err := RouteMeta(r)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&RouteMetadata{Route: "login", Retries: login.Spec.Retries}, md); diff != "" {
			t.Errorf("RouteMeta (-want +got):\n%s", diff)
		}
	}

	_, res = translateGolden(t, "health_status", Options{})
	ep := res.Endpoints[0].Endpoints[2].LbEndpoints[0] // zone b, 10.0.0.3
	md, err := EndpointMeta(ep)
	if err != nil || md.HealthReason != "mysql: access denied" {
		t.Errorf("EndpointMeta = %+v, %v", md, err)
	}
}

func TestMetadataMissing(t *testing.T) {
	if FulcrumMetadata(nil) != nil || FulcrumMetadata(&corev3.Metadata{}) != nil {
		t.Error("FulcrumMetadata of nothing is not nil")
	}
	md := &RouteMetadata{Route: "keep"}
	if err := DecodeMetadata(nil, md); err != nil || md.Route != "keep" {
		t.Errorf("DecodeMetadata(nil) = %v, %+v", err, md)
	}
	if toMetadata(&EndpointMetadata{}) != nil {
		t.Error("empty metadata is not left out")
	}
}
