package translator

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/fulcrumlb/fulcrum/api"
)

// TestVirtualHostPrecedence spells out the grouping and order the
// vhost_precedence golden case must show (docs/xds.md, Routes).
func TestVirtualHostPrecedence(t *testing.T) {
	data, err := os.ReadFile("testdata/golden/vhost_precedence.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res := mustTranslate(t, loadConfig(t, "v.yaml", data), Options{})
	got := map[string][]string{}
	var order []string
	for _, vh := range res.Routes[0].VirtualHosts {
		order = append(order, vh.Name)
		if !slices.Equal(vh.Domains, []string{vh.Name}) {
			t.Errorf("virtual host %s has domains %v", vh.Name, vh.Domains)
		}
		for _, r := range vh.Routes {
			got[vh.Name] = append(got[vh.Name], r.Name)
		}
	}
	want := map[string][]string{
		// Routes without hosts only; priority -3 last; regex before prefix;
		// /v1 routes: methods, then headers, then by name; "/" last.
		"*": {"r-regex", "r-methods", "r-headers2", "r-tie-a", "r-tie-b", "r-any-root", "r-low"},
		// r-wild covers *.api.example.com; r-api-wild names it, so it
		// precedes the no-host ties; r-wild precedes r-any-root.
		"*.api.example.com": {"r-priority", "r-regex", "r-methods", "r-headers2", "r-api-wild", "r-tie-a", "r-tie-b", "r-wild", "r-any-root", "r-low"},
		"*.example.com":     {"r-priority", "r-regex", "r-methods", "r-headers2", "r-tie-a", "r-tie-b", "r-wild", "r-any-root", "r-low"},
		// Every rule at once: priority, exact, regex, methods, 2 headers,
		// 1 header + 2 query, 1 header + 1 query, longer wildcard, no hosts.
		"a.api.example.com": {"r-priority", "r-a-api", "r-regex", "r-methods", "r-headers2", "r-headers1-query2",
			"r-headers1-query1", "r-api-wild", "r-tie-a", "r-tie-b", "r-wild", "r-any-root", "r-low"},
		// *.example.com does not cover example.com itself; the route naming
		// the host precedes the no-host route despite its name.
		"example.com":       {"r-regex", "r-methods", "r-headers2", "r-tie-a", "r-tie-b", "r-example-root", "r-any-root", "r-low"},
		"other.example.org": {"r-a-api", "r-regex", "r-methods", "r-headers2", "r-tie-a", "r-tie-b", "r-any-root", "r-low"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("virtual hosts (-want +got):\n%s", diff)
	}
	if !slices.IsSorted(order) {
		t.Errorf("virtual hosts not sorted: %v", order)
	}
}

func TestCovers(t *testing.T) {
	cases := []struct {
		w, p string
		want bool
	}{
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "*.example.com", false}, // the same pattern is not "covering"
		{"*.example.com", "*.b.example.com", true},
		{"*.b.example.com", "*.example.com", false},
		{"*.example.com", "aexample.com", false},
		{"example.com", "a.example.com", false},
		{"*.example.com", "*.notexample.com", false},
	}
	for _, c := range cases {
		if got := covers(c.w, c.p); got != c.want {
			t.Errorf("covers(%q, %q) = %v", c.w, c.p, got)
		}
	}
}

func TestTokenBucket(t *testing.T) {
	cases := []struct {
		rps    float64
		burst  int
		tokens uint32
		every  time.Duration
	}{
		{100, 200, 100, time.Second},
		{1, 1, 1, time.Second},
		{0.5, 1, 1, 2 * time.Second},
		{2.5, 3, 1, 400 * time.Millisecond},
		{20, 20, 20, time.Second},
		{19.5, 20, 1, 51282051 * time.Nanosecond},
		{1000.5, 50, 1001, time.Second},
		{1e9, 1, 1e9, time.Second},
	}
	for _, c := range cases {
		tb := tokenBucket(&api.RateLimit{RequestsPerSecond: c.rps, Burst: c.burst})
		if tb.MaxTokens != uint32(c.burst) || tb.TokensPerFill.GetValue() != c.tokens || tb.FillInterval.AsDuration() != c.every {
			t.Errorf("rps %v: got %d tokens / %v, max %d", c.rps, tb.TokensPerFill.GetValue(), tb.FillInterval.AsDuration(), tb.MaxTokens)
		}
	}
	tiny := tokenBucket(&api.RateLimit{RequestsPerSecond: 1e-300, Burst: 1})
	if err := tiny.ValidateAll(); err != nil || tiny.FillInterval.AsDuration() <= 0 {
		t.Errorf("tiny rate: %v, %v", tiny.FillInterval.AsDuration(), err)
	}
}

func TestPercentMillionths(t *testing.T) {
	for in, want := range map[float64]uint32{12.5: 125000, 100: 1000000, 0.0001: 1, 0.00001: 1, 0: 0, 33.33333: 333333, 150: 1000000} {
		if got := percentMillionths(in); got != want {
			t.Errorf("percentMillionths(%v) = %d, want %d", in, got, want)
		}
	}
}

func TestHealthCheckMethod(t *testing.T) {
	for in, want := range map[string]corev3.RequestMethod{
		"GET": corev3.RequestMethod_GET, "HEAD": corev3.RequestMethod_HEAD, "PATCH": corev3.RequestMethod_PATCH,
		"CONNECT": corev3.RequestMethod_METHOD_UNSPECIFIED, "PROBE": corev3.RequestMethod_METHOD_UNSPECIFIED,
		"get": corev3.RequestMethod_METHOD_UNSPECIFIED,
	} {
		if got := healthCheckMethod(in); got != want {
			t.Errorf("healthCheckMethod(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestRedaction renders with and without Redact: inline keys and MySQL
// passwords disappear from the redacted output only, file names stay, and
// the resources themselves are not modified.
func TestRedaction(t *testing.T) {
	key, err := os.ReadFile("testdata/tls/key.pem")
	if err != nil {
		t.Fatal(err)
	}
	jsonKey := strings.ReplaceAll(strings.TrimSpace(string(key)), "\n", `\n`)
	var all []*Resources
	for _, f := range []string{"pool_frontends", "listeners", "health_checks"} {
		data, err := os.ReadFile("testdata/golden/" + f + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, mustTranslate(t, loadConfig(t, f+".yaml", data), standalone))
	}
	for i, res := range all {
		plain := mustJSON(t, res)
		red, err := res.JSON(RenderOptions{Redact: true})
		if err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			if !strings.Contains(plain, jsonKey) || strings.Contains(string(red), jsonKey) || !strings.Contains(string(red), `"private_key": {`+"\n") {
				t.Errorf("case %d: inline key not redacted", i)
			}
			if !strings.Contains(string(red), `"inline_string": "<redacted>"`) {
				t.Errorf("case %d: no <redacted> key", i)
			}
		}
		if strings.Contains(string(red), "s3cret") {
			t.Errorf("case %d: password survives redaction", i)
		}
		if i == 2 && (strings.Count(plain, "s3cret") != 2 || strings.Count(string(red), `"password": "<redacted>"`) != 2) {
			t.Errorf("health_checks: want the password twice (typed config, metadata), redacted twice")
		}
		if strings.Contains(plain, "/etc/fulcrum/tls/") != strings.Contains(string(red), "/etc/fulcrum/tls/") {
			t.Errorf("case %d: file names must survive redaction", i)
		}
		if again := mustJSON(t, res); again != plain {
			t.Errorf("case %d: redaction modified the resources", i)
		}
	}
}

// TestPasswordOnlyWithActiveChecks: the control plane never ships the MySQL
// password to data planes.
func TestPasswordOnlyWithActiveChecks(t *testing.T) {
	data, err := os.ReadFile("testdata/golden/health_checks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, "hc.yaml", data)
	res := mustTranslate(t, cfg, Options{DefaultAddress: "127.0.0.1"})
	js := mustJSON(t, res)
	if strings.Contains(js, "s3cret") || strings.Contains(js, "health_checks") {
		t.Error("control-plane output carries health_checks or the password")
	}
	for _, c := range res.Clusters {
		md, err := ClusterMeta(c)
		if err != nil || md.HealthCheck == nil {
			t.Fatalf("%s: metadata %v, %v", c.Name, md, err)
		}
	}
	if p := cfg.Pool("mysql-check"); p.Spec.HealthCheck.Password != "s3cret" {
		t.Error("Translate cleared the password in the configuration")
	}
}
