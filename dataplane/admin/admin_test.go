package admin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/dataplane/proxy"
	"github.com/fulcrumlb/fulcrum/translator"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	p, err := proxy.New(proxy.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	srv, err := Listen(Options{Address: "127.0.0.1:0", Token: "s3cret", Proxy: p, Gather: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	base := "http://" + srv.Addr()

	if code, _ := get(t, base+"/ready", ""); code != http.StatusServiceUnavailable {
		t.Errorf("/ready before any configuration: %d", code)
	}
	for _, path := range []string{"/", "/metrics", "/config_dump", "/clusters", "/debug/pprof/"} {
		if code, _ := get(t, base+path, ""); code != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d", path, code)
		}
		if code, _ := get(t, base+path, "wrong"); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d", path, code)
		}
	}

	yaml := `apiVersion: fulcrum/v1
kind: Pool
metadata: {name: db}
spec:
  members: [{address: "127.0.0.1:3306"}]
  healthCheck: {type: mysql, user: probe, password: hunter2}
`
	l, errs := api.Load([]api.Input{{Name: "t", Data: []byte(yaml)}}, api.ValidateOptions{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	res, err := translator.Translate(l.Config, translator.Options{ActiveHealthChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply("v1", res); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, base+"/ready", ""); code != http.StatusOK {
		t.Errorf("/ready after a configuration: %d", code)
	}
	code, body := get(t, base+"/config_dump", "s3cret")
	if code != http.StatusOK || strings.Contains(body, "hunter2") || !strings.Contains(body, api.Redacted) {
		t.Errorf("/config_dump: %d, password redacted: %v", code, !strings.Contains(body, "hunter2"))
	}
	var dump struct {
		Version  string
		Clusters []ClusterState
	}
	if err := json.Unmarshal([]byte(body), &dump); err != nil || dump.Version != "v1" || len(dump.Clusters) != 1 || dump.Clusters[0].Members[0].Address != "127.0.0.1:3306" {
		t.Errorf("config_dump: %v %+v", err, dump)
	}
	if code, body := get(t, base+"/metrics", "s3cret"); code != http.StatusOK || !strings.Contains(body, "fulcrum_config_applies_total") {
		t.Errorf("/metrics: %d", code)
	}
}

func TestAdminRefusesPublicAddressWithoutToken(t *testing.T) {
	if _, err := Listen(Options{Address: "0.0.0.0:0"}); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("public admin address without a token: %v", err)
	}
}
