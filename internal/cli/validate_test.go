package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	root := NewRoot(ValidateCommand(), VersionCommand())
	root.SetIn(strings.NewReader(stdin))
	code = Run(root, args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// dozenMistakes has twelve different mistakes in one file.
const dozenMistakes = `apiVersion: fulcrum/v1
kind: Pool
metadata: {name: web}
spec:
  frontend: {address: 127.0.0.1, port: 8080, protocol: htp}
  algorithm: fastest
  members:
  - {address: 127.0.0.1:9001, weight: 0}
  - {address: 127.0.0.1, port: 70000}
  - {adress: 127.0.0.1:9003}
  healthCheck: {type: ping}
  timeouts: {connect: 2 seconds}
---
apiVersion: fulcrum/v1
kind: Listener
metadata: {name: pub}
spec: {address: 127.0.0.1, port: 9000, protocol: http, trustedProxies: [10.0.0.0/40]}
---
apiVersion: fulcrum/v1
kind: Route
metadata: {name: r}
spec:
  listener: pub
  match: {path: {regex: "a(b"}}
  backends: [{pool: missing}]
---
apiVersion: fulcrum/v1
kind: Pool
metadata: {name: web}
spec: {members: []}
`

// dozenMistakesErrors are the twelve errors of dozenMistakes, each after
// "FILE: ". validate and apply word only the duplicate differently (apply's
// comes from the server, which sees one request): dup is its reason.
func dozenMistakesErrors(dup string) []string {
	return []string{
		"document 1: Pool/web: spec.frontend.protocol:",
		"document 1: Pool/web: spec.algorithm:",
		"document 1: Pool/web: spec.members[0].weight: must not be 0",
		"document 1: Pool/web: spec.members[1].port: must be between 1 and 65535",
		"document 1: Pool/web: spec.members[2].adress: unknown field",
		"document 1: Pool/web: spec.members[2].address: required",
		"document 1: Pool/web: spec.healthCheck.type:",
		"document 1: Pool/web: spec.timeouts.connect: invalid duration",
		"document 2: Listener/pub: spec.trustedProxies[0]:",
		"document 3: Route/r: spec.match.path.regex: invalid regex",
		`document 3: Route/r: spec.backends[0].pool: unknown Pool "missing"`,
		"document 4: Pool/web: metadata.name: " + dup,
	}
}

func TestValidateReportsEveryMistake(t *testing.T) {
	f := writeFile(t, "bad.yaml", dozenMistakes)
	code, stdout, stderr := run(t, "", "validate", "-f", f)
	if code != 2 {
		t.Fatalf("exit code %d, want 2; stderr:\n%s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout should be empty, got %q", stdout)
	}
	for _, w := range dozenMistakesErrors("duplicate name") {
		if !strings.Contains(stderr, f+": "+w) {
			t.Errorf("stderr lacks %q", w)
		}
	}
	if !strings.Contains(stderr, "12 error(s)") {
		t.Errorf("want exactly 12 errors, stderr:\n%s", stderr)
	}
}

func TestValidateStdinAndOutput(t *testing.T) {
	pool := "apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: web}\nspec:\n  members: [{address: \"127.0.0.1:9001\"}]\n"
	code, stdout, stderr := run(t, pool, "validate", "-f", "-")
	if code != 0 || stdout != "valid: 1 pool(s), 0 listener(s), 0 route(s)\n" {
		t.Fatalf("code %d stdout %q stderr %q", code, stdout, stderr)
	}
	code, stdout, _ = run(t, pool, "validate", "-f", "-", "-o", "yaml")
	if code != 0 || !strings.Contains(stdout, "algorithm: round_robin") || !strings.Contains(stdout, "weight: 1") {
		t.Fatalf("defaults not shown: %s", stdout)
	}
	code, stdout, _ = run(t, pool, "validate", "-f", "-", "-o", "json")
	if code != 0 || !strings.Contains(stdout, `"algorithm": "round_robin"`) {
		t.Fatalf("json output: %s", stdout)
	}
}

func TestValidateUsageErrors(t *testing.T) {
	if code, _, stderr := run(t, "", "validate"); code != 2 || !strings.Contains(stderr, "give at least one -f FILE") {
		t.Errorf("no -f: code %d stderr %q", code, stderr)
	}
	if code, _, stderr := run(t, "", "validate", "-f", "/nonexistent.yaml"); code != 2 || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing file: code %d stderr %q", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := run(t, "", "version")
	if code != 0 || !strings.HasPrefix(stdout, "fulcrum ") {
		t.Errorf("code %d stdout %q", code, stdout)
	}
}
