package translator

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	udpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/fulcrumlb/fulcrum/api"
)

// goldenInputs returns every golden case's name, bytes and options.
func goldenInputs(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/golden/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = data
	}
	return out
}

// standalone are the options of the standalone proxy, under which every
// golden case translates.
var standalone = Options{ActiveHealthChecks: true, DefaultAddress: "127.0.0.1"}

func mustTranslate(t testing.TB, cfg *api.Config, opt Options) *Resources {
	t.Helper()
	res, err := Translate(cfg, opt)
	if err != nil {
		t.Fatalf("Translate: %v", err)
	}
	return res
}

func mustJSON(t testing.TB, r *Resources) string {
	t.Helper()
	js, err := r.JSON(RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return string(js)
}

func TestNames(t *testing.T) {
	cases := []struct{ kind, name, want string }{
		{api.KindPool, "web", "pool/web"},
		{api.KindListener, "web", "listener/web"},
		{api.KindListener, "a.b-c", "listener/a.b-c"},
	}
	for _, c := range cases {
		if got := ListenerName(c.kind, c.name); got != c.want {
			t.Errorf("ListenerName(%s, %s) = %q, want %q", c.kind, c.name, got, c.want)
		}
		if got := RouteConfigName(c.kind, c.name); got != c.want {
			t.Errorf("RouteConfigName(%s, %s) = %q, want %q", c.kind, c.name, got, c.want)
		}
		kind, name, ok := ParseListenerName(c.want)
		if !ok || kind != c.kind || name != c.name {
			t.Errorf("ParseListenerName(%q) = %q, %q, %v", c.want, kind, name, ok)
		}
	}
	for _, bad := range []string{"", "pool/", "listener/", "web", "route/web"} {
		if _, _, ok := ParseListenerName(bad); ok {
			t.Errorf("ParseListenerName(%q) accepted", bad)
		}
	}
	if ClusterName("web") != "web" || PoolRouteName("web") != "pool/web" {
		t.Error("ClusterName or PoolRouteName changed")
	}
}

func TestTranslateErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		opt  Options
		want []string
		// unallocated says the error must wrap ErrUnallocated.
		unallocated bool
	}{{
		name:        "pool frontend without port",
		yaml:        "apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: web}\nspec: {frontend: {address: 127.0.0.1, protocol: http}, members: []}\n",
		want:        []string{"translator: Pool/web: spec.frontend.port: no port given and none allocated"},
		unallocated: true,
	}, {
		name:        "pool frontend without address and no default",
		yaml:        "apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: web}\nspec: {frontend: {port: 80, protocol: tcp}, members: []}\n",
		want:        []string{"translator: Pool/web: spec.frontend.address: no address given, none allocated and no default address"},
		unallocated: true,
	}, {
		name: "listener without port or address",
		yaml: "apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: p}\nspec: {members: []}\n---\n" +
			"apiVersion: fulcrum/v1\nkind: Listener\nmetadata: {name: l}\nspec: {protocol: tcp, defaultPool: p}\n",
		want: []string{
			"translator: Listener/l: spec.address: no address given, none allocated and no default address",
			"translator: Listener/l: spec.port: no port given and none allocated",
		},
		unallocated: true,
	}, {
		name:        "default address does not invent a port",
		yaml:        "apiVersion: fulcrum/v1\nkind: Listener\nmetadata: {name: l}\nspec: {protocol: http}\n",
		opt:         Options{DefaultAddress: "127.0.0.1"},
		want:        []string{"translator: Listener/l: spec.port: no port given and none allocated"},
		unallocated: true,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := loadConfig(t, "test.yaml", []byte(c.yaml))
			res, err := Translate(cfg, c.opt)
			if err == nil {
				t.Fatalf("no error; got %d listeners", len(res.Listeners))
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, c.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			if errors.Is(err, ErrUnallocated) != c.unallocated {
				t.Errorf("errors.Is(err, ErrUnallocated) = %v", !c.unallocated)
			}
			var te *Error
			if !errors.As(err, &te) || !strings.Contains(te.Ref, "/") || te.Path == "" {
				t.Errorf("error %v is not a *Error naming object and field", err)
			}
		})
	}
}

// TestTranslateErrorsUnvalidated feeds configurations built in code that
// skipped validation: references to missing pools are errors, not panics.
func TestTranslateErrorsUnvalidated(t *testing.T) {
	one := 1
	cfg := &api.Config{
		Listeners: []*api.Listener{
			{Metadata: api.Metadata{Name: "h"}, Spec: api.ListenerSpec{Frontend: api.Frontend{Address: "127.0.0.1", Port: 80, Protocol: "http"}}},
			{Metadata: api.Metadata{Name: "t"}, Spec: api.ListenerSpec{Frontend: api.Frontend{Address: "127.0.0.1", Port: 81, Protocol: "tcp"}, DefaultPool: "nope"}},
			{Metadata: api.Metadata{Name: "x"}, Spec: api.ListenerSpec{Frontend: api.Frontend{Address: "127.0.0.1", Port: 82, Protocol: "sctp"}}},
		},
		Routes: []*api.Route{
			{Metadata: api.Metadata{Name: "r"}, Spec: api.RouteSpec{Listener: "h", Backends: []api.Backend{{Pool: "gone", Weight: &one}}}},
		},
	}
	_, err := Translate(cfg, Options{})
	want := []string{
		"translator: Route/r: spec.backends[0].pool: unknown Pool \"gone\"",
		"translator: Listener/t: spec.defaultPool: unknown Pool \"nope\"",
		"translator: Listener/x: spec.protocol: unknown protocol \"sctp\"",
	}
	if err == nil {
		t.Fatal("no error")
	}
	if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestDeterminism translates every golden case twice, and once more with
// every input list shuffled, and expects the same bytes each time.
func TestDeterminism(t *testing.T) {
	for file, data := range goldenInputs(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			cfg := loadConfig(t, file, data)
			first := mustTranslate(t, cfg, standalone)
			again := mustTranslate(t, cfg, standalone)
			if a, b := mustJSON(t, first), mustJSON(t, again); a != b {
				t.Fatalf("two translations differ:\n%s", cmp.Diff(a, b))
			}
			if !equalWire(t, first, again) {
				t.Fatal("two translations marshal to different bytes")
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for range 5 {
				shuffled := shuffleConfig(cfg.DeepCopy(), rng)
				got := mustTranslate(t, shuffled, standalone)
				if a, b := mustJSON(t, first), mustJSON(t, got); a != b {
					t.Fatalf("shuffled input changes the output:\n%s", cmp.Diff(a, b))
				}
			}
		})
	}
}

// equalWire compares the deterministic protobuf encoding of two results.
func equalWire(t *testing.T, a, b *Resources) bool {
	t.Helper()
	wire := func(r *Resources) []byte {
		var out []byte
		for _, m := range append(append(append(messages(r.Listeners), messages(r.Routes)...), messages(r.Clusters)...), messages(r.Endpoints)...) {
			b, err := deterministic.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b...)
		}
		return out
	}
	return string(wire(a)) == string(wire(b))
}

// shuffleConfig reorders every list whose order carries no meaning.
func shuffleConfig(c *api.Config, rng *rand.Rand) *api.Config {
	rng.Shuffle(len(c.Pools), func(i, j int) { c.Pools[i], c.Pools[j] = c.Pools[j], c.Pools[i] })
	rng.Shuffle(len(c.Listeners), func(i, j int) { c.Listeners[i], c.Listeners[j] = c.Listeners[j], c.Listeners[i] })
	rng.Shuffle(len(c.Routes), func(i, j int) { c.Routes[i], c.Routes[j] = c.Routes[j], c.Routes[i] })
	for _, p := range c.Pools {
		m := p.Spec.Members
		rng.Shuffle(len(m), func(i, j int) { m[i], m[j] = m[j], m[i] })
		if p.Status != nil {
			s := p.Status.Members
			rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
		}
	}
	for _, r := range c.Routes {
		h := r.Spec.Hosts
		rng.Shuffle(len(h), func(i, j int) { h[i], h[j] = h[j], h[i] })
	}
	return c
}

// TestGoldenResourcesValidate checks every golden case under both sets of
// options: each resource, and every typed config inside, passes ValidateAll.
func TestGoldenResourcesValidate(t *testing.T) {
	for file, data := range goldenInputs(t) {
		for _, opt := range []Options{standalone, {DefaultAddress: "127.0.0.1"}} {
			res := mustTranslate(t, loadConfig(t, file, data), opt)
			if err := res.Validate(); err != nil {
				t.Errorf("%s (%+v): %v", file, opt, err)
			}
		}
	}
}

// TestValidateLooksInsideAny proves Validate unpacks typed configs: an HCM
// without a stat_prefix is invalid although the Listener around it is not.
func TestValidateLooksInsideAny(t *testing.T) {
	l := &listenerv3.Listener{Name: "x", FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
		Name:       HTTPConnectionManagerName,
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: typed(&hcmv3.HttpConnectionManager{})},
	}}}}}
	if err := l.ValidateAll(); err != nil {
		t.Fatalf("the outer listener should be valid: %v", err)
	}
	err := (&Resources{Listeners: []*listenerv3.Listener{l}}).Validate()
	if err == nil || !strings.Contains(err.Error(), "StatPrefix") {
		t.Errorf("Validate = %v, want a StatPrefix error", err)
	}
}

// TestDoesNotModifyConfig: the caller's configuration, order included, is
// left as it was.
func TestDoesNotModifyConfig(t *testing.T) {
	snapshot := func(c *api.Config) string {
		js, err := json.Marshal([]any{c.Pools, c.Listeners, c.Routes})
		if err != nil {
			t.Fatal(err)
		}
		return string(js)
	}
	for file, data := range goldenInputs(t) {
		cfg := shuffleConfig(loadConfig(t, file, data), rand.New(rand.NewPCG(3, 4)))
		before := snapshot(cfg)
		mustTranslate(t, cfg, standalone)
		if diff := cmp.Diff(before, snapshot(cfg)); diff != "" {
			t.Errorf("%s: Translate modified the configuration:\n%s", file, diff)
		}
	}
}

func TestUDPProxyCluster(t *testing.T) {
	p := &api.Pool{Metadata: api.Metadata{Name: "dns"}}
	f := udpProxy("s", &api.Frontend{}, p)
	cfg := &udpproxyv3.UdpProxyConfig{}
	if err := f.GetTypedConfig().UnmarshalTo(cfg); err != nil {
		t.Fatal(err)
	}
	if got := UDPProxyCluster(cfg); got != "dns" {
		t.Errorf("UDPProxyCluster = %q", got)
	}
	if got := UDPProxyCluster(&udpproxyv3.UdpProxyConfig{}); got != "" {
		t.Errorf("UDPProxyCluster(empty) = %q", got)
	}
}

// TestResourcesAreIndependent: routes copied into several virtual hosts are
// distinct messages, so a consumer may modify one without the others.
func TestResourcesAreIndependent(t *testing.T) {
	data, err := os.ReadFile("testdata/golden/vhost_precedence.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res := mustTranslate(t, loadConfig(t, "v.yaml", data), standalone)
	seen := map[proto.Message]bool{}
	for _, vh := range res.Routes[0].VirtualHosts {
		for _, r := range vh.Routes {
			if seen[r] {
				t.Fatalf("route %s shared between virtual hosts", r.Name)
			}
			seen[r] = true
		}
	}
}
