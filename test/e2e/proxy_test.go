package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/testutil"
)

// dataPlane is a `fulcrum proxy` process (or the local data plane of
// `fulcrum serve`, which has no process of its own).
type dataPlane struct {
	t    *testing.T
	Proc *testutil.Process
	Node string
	// Admin is the admin listener's host:port.
	Admin string
}

// startProxy runs `fulcrum proxy` with args plus --admin on a free port,
// and waits until its admin listener answers (not until it is ready: a
// proxy fed by a control plane is ready only with a configuration).
func startProxy(t *testing.T, name string, args ...string) *dataPlane {
	t.Helper()
	d := &dataPlane{t: t, Node: name, Admin: addr(t)}
	d.Proc = start(t, name, append([]string{"proxy", "--admin", d.Admin}, args...)...)
	if err := testutil.WaitTCP(d.Admin, 30*time.Second); err != nil {
		t.Fatalf("%s: admin listener: %v\n%s", name, err, d.Proc.Tail(30))
	}
	return d
}

// startFedProxy runs `fulcrum proxy --control XDS --node NAME`.
func startFedProxy(t *testing.T, name, xds string) *dataPlane {
	t.Helper()
	return startProxy(t, name, "--control", xds, "--node", name)
}

// WaitReady waits until /ready answers 200.
func (d *dataPlane) WaitReady(timeout time.Duration) {
	d.t.Helper()
	if err := testutil.WaitHTTP("http://"+d.Admin+"/ready", http.StatusOK, timeout); err != nil {
		d.t.Fatalf("%s: %v\n%s", d.Node, err, d.tail())
	}
}

func (d *dataPlane) tail() string {
	if d.Proc == nil {
		return ""
	}
	return d.Proc.Tail(30)
}

// configDump is the part of /config_dump the tests read.
type configDump struct {
	Version      string `json:"version"`
	LastRejected *struct {
		Version string `json:"version"`
		Error   string `json:"error"`
	} `json:"lastRejected"`
	Resources json.RawMessage `json:"resources"`
	Clusters  []clusterState  `json:"clusters"`
}

// clusterState is one pool in /clusters and /config_dump.
type clusterState struct {
	Name    string `json:"name"`
	Members []struct {
		Address  string `json:"address"`
		State    string `json:"state"`
		Health   string `json:"health"`
		Reason   string `json:"reason"`
		Requests uint64 `json:"requests"`
	} `json:"members"`
}

// ConfigDump reads /config_dump; it fails when the admin listener does not
// answer (the proxy may be gone).
func (d *dataPlane) ConfigDump() (configDump, error) {
	var cd configDump
	err := getJSON("http://"+d.Admin+"/config_dump", &cd)
	return cd, err
}

// MustConfigDump reads /config_dump or fails the test.
func (d *dataPlane) MustConfigDump() configDump {
	d.t.Helper()
	cd, err := d.ConfigDump()
	if err != nil {
		d.t.Fatalf("%s: /config_dump: %v\n%s", d.Node, err, d.tail())
	}
	return cd
}

// Member returns a member of a cluster as the data plane sees it.
func (cd configDump) Member(cluster, address string) (state, health string, requests uint64, ok bool) {
	for _, c := range cd.Clusters {
		if c.Name != cluster {
			continue
		}
		for _, m := range c.Members {
			if m.Address == address {
				return m.State, m.Health, m.Requests, true
			}
		}
	}
	return "", "", 0, false
}

// HasMember reports whether the configuration in force has the member.
func (cd configDump) HasMember(cluster, address string) bool {
	_, _, _, ok := cd.Member(cluster, address)
	return ok
}

// getJSON GETs url (no keep-alive, so no connection outlives the call)
// and decodes a 200 answer.
func getJSON(url string, v any) error {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, v)
}

// fetch GETs url through a fresh connection and returns status and body.
func fetch(url string) (int, string, error) {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body), err
}

// spread sends n sequential GETs to url and counts the answers by body
// (trimmed); any error or non-200 fails the test.
func spread(t *testing.T, url string, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for i := range n {
		code, body, err := fetch(url)
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET %s (request %d of %d): status %d, error %v, body %q", url, i+1, n, code, err, body)
		}
		out[strings.TrimSpace(body)]++
	}
	return out
}

// bodyKey classifies a backend's answer (its name) for a load's ByKey.
func bodyKey(b []byte) string { return strings.TrimSpace(string(b)) }
