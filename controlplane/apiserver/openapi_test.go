package apiserver

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

var probeMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"}

// TestOpenAPIMatchesRoutes keeps the served OpenAPI document true: every
// documented path and method is served (probing it does not hit the
// "no such route" or "method not allowed" answers), every other method on
// a documented path is a 405, and every route of the table is documented.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.do(call{method: "GET", path: "/api/v1/openapi.json", secret: e.tokens["viewer"]})
	if a.status != 200 {
		t.Fatalf("openapi.json: %d", a.status)
	}
	var doc struct {
		OpenAPI    string                                `json:"openapi"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(a.body, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("document: %v %q", err, doc.OpenAPI)
	}
	documented := map[string]bool{}
	var paths []string
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		for m := range doc.Paths[p] {
			documented[strings.ToUpper(m)+" "+p] = true
		}
		concrete := strings.NewReplacer("{name}", "web", "{pool}", "web", "{address}", "127.0.0.1:9001",
			"{revision}", "1", "{id}", "nope").Replace(p)
		for _, m := range probeMethods {
			asked := strings.ToLower(m)
			if m == "HEAD" {
				asked = "get" // GET routes answer HEAD too
			}
			_, isDoc := doc.Paths[p][asked]
			c := call{method: m, path: concrete, secret: e.tokens["admin"]}
			if m == "POST" && strings.HasSuffix(p, "/logout") {
				continue // would end nothing, but keep the admin token's answer simple
			}
			got := e.do(c)
			routeMissing := got.status == http.StatusMethodNotAllowed ||
				got.status == http.StatusNotFound && strings.Contains(got.String(), "no such API route")
			if isDoc && routeMissing {
				t.Errorf("%s %s is documented but not served: %d %s", m, p, got.status, got.body)
			}
			if !isDoc && got.status != http.StatusMethodNotAllowed {
				t.Errorf("%s %s is not documented but answers %d", m, p, got.status)
			}
		}
	}
	var table []string
	for _, rt := range e.srv.routes {
		table = append(table, rt.method+" "+rt.path)
		if !documented[rt.method+" "+rt.path] {
			t.Errorf("route %s %s is not documented", rt.method, rt.path)
		}
	}
	if len(table) != len(documented) {
		t.Errorf("%d routes, %d documented operations", len(table), len(documented))
	}
	checkOperations(t, a.body, doc.Components.Schemas, doc.Paths)
	t.Logf("%d documented operations, all served", len(documented))
}

// checkOperations checks that every reference resolves and every
// operation is complete.
func checkOperations(t *testing.T, body []byte, schemas map[string]json.RawMessage, paths map[string]map[string]json.RawMessage) {
	t.Helper()
	for _, ref := range refs(string(body)) {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		if _, ok := schemas[name]; !ok && !strings.HasPrefix(ref, "#/components/responses/") {
			t.Errorf("unresolved $ref %s", ref)
		}
	}
	ids := map[string]bool{}
	for p, ops := range paths {
		for m, raw := range ops {
			var op struct {
				OperationID string                     `json:"operationId"`
				Summary     string                     `json:"summary"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatal(err)
			}
			if op.OperationID == "" || ids[op.OperationID] || op.Summary == "" || op.Responses["401"] == nil || op.Responses["503"] == nil {
				t.Errorf("%s %s: incomplete operation %s", m, p, raw)
			}
			ids[op.OperationID] = true
		}
	}
}

func refs(doc string) []string {
	var out []string
	for _, part := range strings.Split(doc, `"$ref": "`)[1:] {
		out = append(out, part[:strings.IndexByte(part, '"')])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestMetricsArePromlintClean(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(o *Options) { o.Registerer = reg })
	e.do(call{method: "GET", path: "/api/v1/pools", secret: e.tokens["viewer"]})
	e.do(call{method: "BREW", path: "/api/v1/pools"})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil || len(problems) != 0 {
		t.Fatalf("promlint: %v %v", problems, err)
	}
	series := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			series[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetCounter().GetValue()
		}
	}
	if series["fulcrum_api_requests_total{401,other,/api/v1/pools}"] != 1 || series["fulcrum_api_requests_total{200,GET,/api/v1/pools}"] != 1 {
		t.Fatalf("series: %v", series)
	}
	if _, err := New(Options{Store: e.st, Registerer: reg}); err == nil {
		t.Fatal("registering the metrics twice succeeded")
	}
}
