package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/internal/testutil"
)

// scenarioKinds lists every configuration template.
var scenarioKinds = map[string][]string{
	"http":     {"fulcrum", "nginx", "haproxy", "caddy"},
	"h2grpc":   {"fulcrum", "nginx", "haproxy", "caddy"},
	"reload":   {"fulcrum", "nginx", "haproxy", "caddy"},
	"failover": {"fulcrum", "nginx", "haproxy", "caddy"},
	"l4":       {"fulcrum", "nginx", "haproxy"},
}

func sampleData(dir string) tmplData {
	return tmplData{Dir: dir, Port: ports{HTTP: 20001, H2: 20002, GRPC: 20003, Bulk: 20004, RR: 20005, UDP: 20006, Admin: 20007},
		BE: members{HTTP: []string{"127.0.0.1:21001", "127.0.0.1:21002"}, GRPC: "127.0.0.1:21003", Bulk: "127.0.0.1:21004",
			RR: "127.0.0.1:21005", UDP: "127.0.0.1:21006"}, Change: 7, Splice: true, ExposeFD: true, StreamModule: nginxStreamModule}
}

// TestTemplates renders every configuration; Fulcrum's must pass the
// API's validation, and each peer's its own checker when installed.
func TestTemplates(t *testing.T) {
	for scenario, kinds := range scenarioKinds {
		for _, kind := range kinds {
			dir := t.TempDir()
			path := filepath.Join(dir, kind+".conf")
			if err := render(scenario, kind, path, sampleData(dir)); err != nil {
				t.Errorf("%s/%s: %v", scenario, kind, err)
				continue
			}
			data, _ := os.ReadFile(path)
			if strings.Contains(string(data), "<no value>") {
				t.Errorf("%s/%s: a template field is missing:\n%s", scenario, kind, data)
			}
			checkConfig(t, scenario, kind, dir, path, data)
		}
	}
	dir := t.TempDir()
	d := tmplData{Dir: dir, Listen: []string{"127.0.0.1:21001", "127.0.0.1:21002"}}
	if err := render("backend", "nginx", filepath.Join(dir, "nginx.conf"), d); err != nil {
		t.Error(err)
	}
}

func checkConfig(t *testing.T, scenario, kind, dir, path string, data []byte) {
	t.Helper()
	var cmd *exec.Cmd
	switch kind {
	case "fulcrum":
		if _, errs := api.Load([]api.Input{{Name: path, Data: data}}, api.ValidateOptions{}); len(errs) > 0 {
			t.Errorf("%s/fulcrum: %v", scenario, errs)
		}
		return
	case "nginx":
		if scenario == "l4" && !fileExists(nginxStreamModule) {
			return
		}
		cmd = exec.Command(testutil.RequireBinary(t, "nginx"), "-t", "-q", "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	case "haproxy":
		cmd = exec.Command(testutil.RequireBinary(t, "haproxy"), "-c", "-q", "-f", path)
	case "caddy":
		cmd = exec.Command(testutil.RequireBinary(t, "caddy"), "validate", "--config", path, "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s/%s: %v\n%s", scenario, kind, err, out)
	}
}

func TestAnalyseAttempts(t *testing.T) {
	kill := time.Unix(1000, 0)
	at := func(ms int) time.Time { return kill.Add(time.Duration(ms) * time.Millisecond) }
	series := func(points ...[2]int) []sample {
		var s []sample
		for _, p := range points {
			s = append(s, sample{at(p[0]), int64(p[1])})
		}
		return s
	}
	cases := []struct {
		name         string
		s            []sample
		detect       time.Duration
		burst, later int64
	}{
		// Attempts rise until 150 ms, stop for more than a second, then
		// one re-probe at 2 s.
		{"burst then re-probe", series([2]int{-50, 10}, [2]int{50, 12}, [2]int{100, 14}, [2]int{150, 15}, [2]int{600, 15},
			[2]int{1200, 15}, [2]int{2000, 16}, [2]int{2500, 16}), 150 * time.Millisecond, 5, 1},
		{"never stops", series([2]int{-50, 0}, [2]int{500, 5}, [2]int{1000, 9}, [2]int{1500, 12}), -1, 12, 0},
		{"nothing after the kill", series([2]int{-50, 4}, [2]int{500, 4}, [2]int{1100, 4}), 0, 0, 0},
		{"no reading", nil, -1, 0, 0},
	}
	for _, c := range cases {
		d, b, l := analyseAttempts(c.s, kill, time.Second)
		if d != c.detect || b != c.burst || l != c.later {
			t.Errorf("%s: detect %v burst %d later %d; want %v %d %d", c.name, d, b, l, c.detect, c.burst, c.later)
		}
	}
}

func TestFlags(t *testing.T) {
	c, err := parseFlags([]string{"-smoke", "-b7-changes", "9"})
	if err != nil {
		t.Fatal(err)
	}
	if c.rounds != 1 || c.duration != time.Second || c.out != "" || c.b7Changes != 9 || len(c.only) != len(allBenchmarks) {
		t.Errorf("smoke config: %+v", c)
	}
	if _, err := parseFlags([]string{"-only", "b3"}); err == nil {
		t.Error("unknown benchmark accepted")
	}
	if _, err := parseFlags([]string{"-contenders", "envoy"}); err == nil {
		t.Error("unknown contender accepted")
	}
	c, _ = parseFlags(nil)
	if c.rounds != 5 || c.out != "bench/results" || !c.pin {
		t.Errorf("default config: %+v", c)
	}
}

func TestContenderLists(t *testing.T) {
	all := []string{"fulcrum", "nginx", "haproxy", "caddy"}
	if got := strings.Join(b5Contenders(all), ","); got != "fulcrum,nginx,haproxy,haproxy-splice" {
		t.Errorf("B5 contenders %s", got)
	}
	if got := strings.Join(b7Contenders(all), ","); got != "fulcrum,nginx,haproxy,haproxy-x,caddy" {
		t.Errorf("B7 contenders %s", got)
	}
	if wrkDuration(1500*time.Millisecond) != "2s" || wrkDuration(100*time.Millisecond) != "1s" {
		t.Error("wrkDuration")
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	writeTable(&b, []string{"a", "b"}, "lr", [][]string{{"x", "1"}})
	if want := "| a | b |\n| --- | ---: |\n| x | 1 |\n"; b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	s := newSection("b1", "t")
	s.compare("cpu", map[string]float64{"fulcrum": 9, "nginx": 10, "haproxy": 12}, true, 1, "≤ 1.0×")
	if len(s.summary) != 1 || s.summary[0].ratio != "0.90×" || s.summary[0].best != "nginx 10.0" {
		t.Errorf("summary %+v", s.summary)
	}
}
