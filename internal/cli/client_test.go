package cli

import (
	"bytes"
	"context"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/goleak"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
	"github.com/fulcrumlb/fulcrum/controlplane/apiserver"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// server is a control plane's API on a real store, on loopback.
type server struct {
	st     *store.Store
	url    string
	tokens map[string]string
}

func newServer(t *testing.T) *server {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DataDir: t.TempDir(), RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	admin, _, err := apiserver.Bootstrap(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := apiserver.New(apiserver.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	s := &server{st: st, url: hs.URL, tokens: map[string]string{"admin": admin}}
	c, _ := apiclient.New(apiclient.Options{Server: hs.URL, Token: admin, HTTPClient: hs.Client()})
	for _, role := range []string{"viewer", "editor"} {
		nt, err := c.CreateToken(ctx, role, role)
		if err != nil {
			t.Fatal(err)
		}
		s.tokens[role] = nt.Secret
	}
	return s
}

// fulcrum runs a client command in-process as role, like the binary would.
func (s *server) fulcrum(t *testing.T, role, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	root := NewRoot(ClientCommands()...)
	root.SetIn(strings.NewReader(stdin))
	if !slices.Contains(args, "--server") {
		args = append(args, "--server", s.url)
	}
	if role != "" {
		args = append(args, "--token", s.tokens[role])
	}
	code = Run(root, args, &out, &errb)
	return code, out.String(), errb.String()
}

func (s *server) ok(t *testing.T, role, stdin string, args ...string) string {
	t.Helper()
	code, stdout, stderr := s.fulcrum(t, role, stdin, args...)
	if code != 0 {
		t.Fatalf("fulcrum %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

func TestApplyReportsEveryMistakeAndExits2(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	f := writeFile(t, "bad.yaml", dozenMistakes)
	code, stdout, stderr := s.fulcrum(t, "editor", "", "apply", "-f", f)
	if code != 2 || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	for _, w := range dozenMistakesErrors("duplicate: the request holds this object twice") {
		if !strings.Contains(stderr, f+": "+w) {
			t.Errorf("stderr lacks %q; stderr:\n%s", w, stderr)
		}
	}
	if !strings.Contains(stderr, "\n12 error(s)\n") {
		t.Errorf("want exactly 12 errors; stderr:\n%s", stderr)
	}
	if page, _ := s.st.History(context.Background(), store.HistoryQuery{}); len(page.Revisions) != 0 {
		t.Fatal("a rejected apply wrote a revision")
	}
}

const cliPool = `apiVersion: fulcrum/v1
kind: Pool
metadata: {name: web, labels: {team: shop}}
spec:
  frontend: {protocol: http}
  healthCheck: {type: http, path: /healthz}
  members:
  - {address: "127.0.0.1:9001", zone: a}
  - {address: "127.0.0.1:9002", zone: b, weight: 2}
---
apiVersion: fulcrum/v1
kind: Listener
metadata: {name: front}
spec: {address: 127.0.0.1, port: 18081, protocol: http}
---
apiVersion: fulcrum/v1
kind: Route
metadata: {name: r}
spec:
  listener: front
  match: {path: {prefix: /api}}
  backends: [{pool: web}]
`

func TestClientRoundTrips(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	f := writeFile(t, "cfg.yaml", cliPool)
	if out := s.ok(t, "editor", "", "apply", "-f", f, "--dry-run"); !strings.Contains(out, "dry run, nothing written: would be 3 created") {
		t.Fatalf("dry run:\n%s", out)
	}
	out := s.ok(t, "editor", "", "apply", "-f", f)
	if out != "Pool/web created\nListener/front created\nRoute/r created\nrevision 1: 3 created\n" {
		t.Fatalf("apply:\n%s", out)
	}
	changed := strings.Replace(cliPool, "zone: b, weight: 2", "zone: b, weight: 3", 1)
	out = s.ok(t, "editor", changed, "apply", "-f", "-", "--dry-run", "--full")
	if !strings.Contains(out, "Pool/web updated\n  --- Pool/web\n  +++ Pool/web\n  @@ ") || !strings.Contains(out, "  -    weight: 2\n  +    weight: 3\n") ||
		!strings.Contains(out, "Listener/front unchanged\n") || !strings.Contains(out, "would be 1 updated, 2 unchanged") {
		t.Fatalf("dry-run update:\n%s", out)
	}
	out = s.ok(t, "viewer", "", "get", "pools")
	if !regexp.MustCompile(`(?m)^NAME\s+FRONTEND\s+ALGORITHM.*\nweb\s+http 127\.0\.1\.1:30000\s+round_robin\s+2\s+0\s+1\s+\S+\s+editor\s*$`).MatchString(out) {
		t.Fatalf("get pools:\n%s", out)
	}
	if out = s.ok(t, "viewer", "", "get", "routes"); !strings.Contains(out, "/api*") || !strings.Contains(out, "web(1)") {
		t.Fatalf("get routes:\n%s", out)
	}
	if out = s.ok(t, "viewer", "", "get", "listener", "front"); !strings.Contains(out, "127.0.0.1:18081") {
		t.Fatalf("get listener front:\n%s", out)
	}
	// -o yaml and -o json apply again unchanged.
	for _, o := range []string{"yaml", "json"} {
		var all []string
		for _, kind := range []string{"pools", "listeners", "routes"} {
			all = append(all, s.ok(t, "viewer", "", "get", kind, "-o", o))
		}
		input := strings.Join(all, "---\n")
		if o == "json" {
			input = strings.Join(all, "\n")
		}
		if out := s.ok(t, "editor", input, "apply", "-f", "-"); !strings.Contains(out, "nothing changed: 3 unchanged") {
			t.Fatalf("re-applying -o %s output:\n%s", o, out)
		}
	}
	writeHealth(t, s.st)
	out = s.ok(t, "editor", "", "member", "drain", "web", "127.0.0.1:9002")
	if !strings.Contains(out, "member 127.0.0.1:9002: drain") || !strings.Contains(out, "+    state: drain") || !strings.Contains(out, "revision 2") {
		t.Fatalf("member drain:\n%s", out)
	}
	out = s.ok(t, "viewer", "", "describe", "pool", "web")
	for _, want := range []string{"Revision:      2, changed", "by editor (member-state)", "Labels:        team=shop",
		"http 127.0.1.1:30000 (address and port allocated)", "http GET /healthz every 2s", "ADDRESS",
		"127.0.0.1:9001   enabled   1        a      healthy     2026-05-01T09:59:00Z   41   0        2026-05-01T10:00:00Z",
		"127.0.0.1:9002   drain     2        b      unhealthy", "connect: connection refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	out = s.ok(t, "editor", "", "delete", "route", "r")
	if !strings.Contains(out, "Route/r deleted") || !strings.Contains(out, "revision 3") {
		t.Fatalf("delete:\n%s", out)
	}
	if out = s.ok(t, "editor", "", "rollback", "route/r", "--to", "2"); out != "Route/r created\nrevision 4: 1 created\n" {
		t.Fatalf("rollback:\n%s", out)
	}
	out = s.ok(t, "viewer", "", "history")
	if !regexp.MustCompile(`(?m)^4\s+\S+\s+editor\s+rollback to 2\s+Route/r created$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^1\s+\S+\s+editor\s+apply\s+Pool/web created, Listener/front created, Route/r created$`).MatchString(out) {
		t.Fatalf("history:\n%s", out)
	}
	if out = s.ok(t, "viewer", "", "history", "route/r"); strings.Count(out, "Route/r") != 3 {
		t.Fatalf("history route/r:\n%s", out)
	}
	if out = s.ok(t, "viewer", "", "history", "--revision", "2"); !strings.Contains(out, "revision 2 by editor") || !strings.Contains(out, "-    state: enabled") {
		t.Fatalf("history -r 2:\n%s", out)
	}
	if out = s.ok(t, "viewer", "", "history", "--limit", "2"); !strings.Contains(out, "(older revisions: --before 3)") {
		t.Fatalf("history page:\n%s", out)
	}
	if out = s.ok(t, "viewer", "", "get", "proxies"); !strings.HasPrefix(out, "NAME") {
		t.Fatalf("get proxies:\n%s", out)
	}
}

// writeHealth stores health for pool web as the leader's checker would.
func writeHealth(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	resp, err := st.Client().Put(ctx, "/test/fence", "leader")
	if err != nil {
		t.Fatal(err)
	}
	err = st.WriteHealth(ctx, store.Fence{Key: "/test/fence", Rev: resp.Header.Revision}, map[string][]api.MemberStatus{"web": {
		{Address: "127.0.0.1:9001", Health: api.HealthHealthy, Successes: 41, LastCheck: "2026-05-01T10:00:00Z", LastTransition: "2026-05-01T09:59:00Z"},
		{Address: "127.0.0.1:9002", Health: api.HealthUnhealthy, Successes: 3, Failures: 7, Reason: "connect: connection refused",
			LastCheck: "2026-05-01T10:00:00Z", LastTransition: "2026-05-01T09:58:00Z"},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTokenCommands(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	code, out, stderr := s.fulcrum(t, "admin", "", "token", "create", "--name", "ci", "--role", "editor")
	if code != 0 || !strings.Contains(stderr, "not shown again") {
		t.Fatalf("token create: %d\n%s\n%s", code, out, stderr)
	}
	m := regexp.MustCompile(`(?m)^ID:\s+(\S+)\n.*\n.*\nToken:\s+(fulcrum_\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("token create output:\n%s", out)
	}
	id, secret := m[1], m[2]
	s.tokens["ci"] = secret
	if out := s.ok(t, "ci", cliPool, "apply", "-f", "-"); !strings.Contains(out, "revision 1") {
		t.Fatalf("apply with the new token:\n%s", out)
	}
	if out := s.ok(t, "viewer", "", "history"); !regexp.MustCompile(`(?m)^1\s+\S+\s+ci\s+apply`).MatchString(out) {
		t.Fatalf("the new token's name is not the actor:\n%s", out)
	}
	out = s.ok(t, "admin", "", "token", "list")
	if !regexp.MustCompile(`(?m)^`+id+`\s+ci\s+editor\s+\S+$`).MatchString(out) || strings.Contains(out, "fulcrum_") {
		t.Fatalf("token list:\n%s", out)
	}
	if code, _, stderr := s.fulcrum(t, "editor", "", "token", "list"); code != 1 || !strings.Contains(stderr, "needs admin") {
		t.Fatalf("editor token list: %d %s", code, stderr)
	}
	if out := s.ok(t, "admin", "", "token", "delete", id); !strings.Contains(out, "deleted") {
		t.Fatalf("token delete:\n%s", out)
	}
	if code, _, stderr := s.fulcrum(t, "ci", "", "get", "pools"); code != 1 || !strings.Contains(stderr, "invalid token") {
		t.Fatalf("deleted token: %d %s", code, stderr)
	}
}

func TestClientErrorsAndExitCodes(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	cases := []struct {
		role string
		args []string
		code int
		want string
	}{
		{"", []string{"get", "pools"}, 1, "give --token or set $FULCRUM_TOKEN"},
		{"viewer", []string{"delete", "pool", "web"}, 1, "has role viewer; this needs editor"},
		{"viewer", []string{"get", "pool", "nope"}, 1, "Pool/nope: not found"},
		{"viewer", []string{"get", "cats"}, 2, `unknown kind "cats"`},
		{"viewer", []string{"get", "pools", "-o", "xml"}, 2, "unknown output format"},
		{"editor", []string{"apply"}, 2, "give -f FILE"},
		{"editor", []string{"apply", "-f", "/nonexistent.yaml"}, 2, "no such file"},
		{"editor", []string{"rollback", "pool/web"}, 2, "give --to REVISION"},
		{"editor", []string{"rollback", "web", "--to", "1"}, 2, "want KIND/NAME"},
		{"editor", []string{"rollback", "pool/web", "--to", "1"}, 1, "not found"},
		{"editor", []string{"member", "drain", "web", "127.0.0.1:1"}, 1, "not found"},
		{"editor", []string{"describe", "route", "r"}, 2, "describe supports pools"},
		{"admin", []string{"token", "create", "--name", "x"}, 2, "give --name and --role"},
		{"admin", []string{"token", "create", "--name", "x", "--role", "root"}, 2, "is not one of"},
		{"editor", []string{"get", "pools", "--server", "http://127.0.0.1:1"}, 1, "is the control plane running at http://127.0.0.1:1?"},
		{"editor", []string{"get"}, 2, "accepts between 1 and 2 arg(s)"},
		{"editor", []string{"get", "pools", "--nope"}, 2, "unknown flag: --nope"},
		{"editor", []string{"apply", "-f", "x", "extra"}, 2, "unknown command"},
		{"editor", []string{"member", "evict", "web", "x"}, 2, `unknown command "evict" for "fulcrum member"`},
		{"admin", []string{"token", "rotate"}, 2, `unknown command "rotate"`},
	}
	for _, tc := range cases {
		code, _, stderr := s.fulcrum(t, tc.role, "", tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("fulcrum %s: exit %d, stderr %q; want %d and %q", strings.Join(tc.args, " "), code, stderr, tc.code, tc.want)
		}
	}
	// A validation error outside apply (deleting a pool in use) exits 2
	// and names the route's field.
	s.ok(t, "editor", cliPool, "apply", "-f", "-")
	code, _, stderr := s.fulcrum(t, "editor", "", "delete", "pool", "web")
	if code != 2 || !strings.Contains(stderr, "Route/r: spec.backends[0].pool") {
		t.Fatalf("delete a pool in use: %d\n%s", code, stderr)
	}
}

// TestEnvironment cannot run in parallel: it sets the process environment.
func TestEnvironment(t *testing.T) {
	s := newServer(t)
	t.Setenv(EnvServer, s.url)
	t.Setenv(EnvToken, s.tokens["viewer"])
	var out, errb bytes.Buffer
	if code := Run(NewRoot(ClientCommands()...), []string{"get", "pools"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "NAME") {
		t.Fatalf("with FULCRUM_SERVER and FULCRUM_TOKEN: %d %s %s", code, out.String(), errb.String())
	}
	// Flags win over the environment.
	t.Setenv(EnvToken, "fulcrum_wrong")
	out.Reset()
	if code := Run(NewRoot(ClientCommands()...), []string{"get", "pools", "--token", s.tokens["viewer"]}, &out, &errb); code != 0 {
		t.Fatalf("--token over FULCRUM_TOKEN: %d %s", code, errb.String())
	}
}

// TestEveryClientCommandHasHelpWithAnExample walks the command tree.
func TestEveryClientCommandHasHelpWithAnExample(t *testing.T) {
	root := NewRoot(ClientCommands()...)
	var walk func(c *cobra.Command)
	count := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			count++
			if sub.Example == "" || !strings.Contains(sub.Example, "fulcrum ") || sub.Short == "" {
				t.Errorf("%s: no example or no short help", sub.CommandPath())
			}
			var out, errb bytes.Buffer
			path := strings.Fields(sub.CommandPath())[1:]
			if code := Run(NewRoot(ClientCommands()...), append(path, "--help"), &out, &errb); code != 0 ||
				!strings.Contains(out.String(), "Examples:") || !strings.Contains(out.String(), "--server") {
				t.Errorf("%s --help: exit %d\n%s", sub.CommandPath(), code, out.String())
			}
			walk(sub)
		}
	}
	walk(root)
	if count < 14 {
		t.Fatalf("only %d commands found", count)
	}
}
