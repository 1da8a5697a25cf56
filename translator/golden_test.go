package translator

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fulcrumlb/fulcrum/api"
)

var update = flag.Bool("update", false, "rewrite the golden .json files from the translator's output")

// goldenOptions are read from a first line "# options: {...}" of a case.
type goldenOptions struct {
	ActiveHealthChecks bool   `json:"activeHealthChecks"`
	DefaultAddress     string `json:"defaultAddress"`
	Redact             bool   `json:"redact"`
}

func parseGoldenOptions(t *testing.T, data []byte) goldenOptions {
	t.Helper()
	var o goldenOptions
	first, _, _ := bytes.Cut(data, []byte("\n"))
	if rest, ok := bytes.CutPrefix(first, []byte("# options:")); ok {
		if err := json.Unmarshal(rest, &o); err != nil {
			t.Fatalf("options line: %v", err)
		}
	}
	return o
}

// loadConfig decodes, defaults and validates a configuration as the
// binaries do.
func loadConfig(t testing.TB, name string, data []byte) *api.Config {
	t.Helper()
	l, errs := api.Load([]api.Input{{Name: name, Data: data}}, api.ValidateOptions{})
	if len(errs) > 0 {
		t.Fatalf("api.Load: %v", errs)
	}
	return l.Config
}

// TestGolden translates every testdata/golden/CASE.yaml and compares the
// rendering with CASE.json; -update rewrites the .json files.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			o := parseGoldenOptions(t, data)
			res, err := Translate(loadConfig(t, file, data), Options{ActiveHealthChecks: o.ActiveHealthChecks, DefaultAddress: o.DefaultAddress})
			if err != nil {
				t.Fatalf("Translate: %v", err)
			}
			if err := res.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			got, err := res.JSON(RenderOptions{Redact: o.Redact})
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSuffix(file, ".yaml") + ".json"
			if *update {
				if err := os.WriteFile(want, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			exp, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run go test ./translator/ -run Golden -update)", err)
			}
			if diff := cmp.Diff(string(exp), string(got)); diff != "" {
				t.Errorf("%s differs (-want +got):\n%s", want, diff)
			}
		})
	}
}
