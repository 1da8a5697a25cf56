package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fulcrumlb/fulcrum/internal/testutil"
)

// fulcrumBin is the binary under test, built by TestMain.
var fulcrumBin string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fulcrum-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if fulcrumBin = os.Getenv("FULCRUM_E2E_BINARY"); fulcrumBin != "" {
		fulcrumBin, err = filepath.Abs(fulcrumBin)
	} else {
		fulcrumBin, err = build(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: goroutines leaked by the tests:", err)
			return 1
		}
	}
	return code
}

// build compiles ./cmd/fulcrum. It is built without -race: the race
// detector would make every process several times slower and hungrier on
// the 2-core CI machine, and the product's packages run their own unit
// tests with -race. FULCRUM_E2E_RACE=1 builds it with -race anyway.
func build(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "fulcrum")
	args := []string{"build", "-o", bin}
	if os.Getenv("FULCRUM_E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/fulcrum")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/fulcrum: %v\n%s", err, out)
	}
	return bin, nil
}

// clientEnv are the variables the client commands read; processes get
// only what a test gives them.
var clientEnv = []string{"FULCRUM_SERVER", "FULCRUM_TOKEN", "FULCRUM_ADMIN_TOKEN"}

// start runs the fulcrum binary as a long-lived process.
func start(t *testing.T, name string, args ...string) *testutil.Process {
	t.Helper()
	return testutil.StartProcess(t, testutil.ProcessOptions{Name: name, Path: fulcrumBin, Args: args, DropEnv: clientEnv})
}

// addr returns "127.0.0.1:PORT" for a port that was free a moment ago.
func addr(t *testing.T) string {
	return "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
}

// cliResult is what one client command did.
type cliResult struct {
	Args           []string
	Code           int
	Stdout, Stderr string
}

func (r cliResult) String() string {
	return fmt.Sprintf("`fulcrum %s` exited %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.Args, " "), r.Code, r.Stdout, r.Stderr)
}

// runCLI runs one fulcrum command with exactly the client variables in env.
func runCLI(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, fulcrumBin, args...)
	cmd.Env = testutil.Environ(clientEnv, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.ProcessState == nil {
		t.Fatalf("running fulcrum %v: %v", args, err)
	}
	r := cliResult{Args: args, Code: cmd.ProcessState.ExitCode(), Stdout: stdout.String(), Stderr: stderr.String()}
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s\ntimed out after 30s", r)
	case err != nil && r.Code <= 0:
		t.Fatalf("running fulcrum %v: %v", args, err)
	}
	if excerpt := testutil.PanicIn(r.Stderr); excerpt != "" {
		t.Errorf("`fulcrum %s` crashed:\n%s", strings.Join(args, " "), excerpt)
	}
	return r
}

// controlPlane is a `fulcrum control` or `fulcrum serve` process.
type controlPlane struct {
	t    *testing.T
	Proc *testutil.Process
	// API and XDS are host:port; Server is the API's URL.
	API, XDS, Server string
	// Token is the admin token printed at the first start.
	Token string
	name  string
	args  []string
}

// cpOptions configure startControl.
type cpOptions struct {
	Name string
	// Serve runs `fulcrum serve` (with a local data plane on Admin).
	Serve bool
	Admin string
	// DataDir for the embedded etcd (default: a new temporary directory);
	// Etcd, when set, is an external cluster instead.
	DataDir, Etcd string
	Replica       string
	// VIPPool is given as --vip-pool, so that parallel tests never
	// allocate the same frontend.
	VIPPool string
	Extra   []string
	// Token is the admin token when the store has one already (a restart,
	// a second replica): then no new token may be printed.
	Token string
}

var (
	tokenLine = regexp.MustCompile(`export FULCRUM_TOKEN=(fulcrum_[A-Za-z0-9_-]{43})\n`)
	startedRe = regexp.MustCompile(`msg="control plane started"`)
)

// startControl starts a control plane, waits until its API answers and
// reads the admin token it prints at its first start.
func startControl(t *testing.T, o cpOptions) *controlPlane {
	t.Helper()
	cmdName := "control"
	if o.Serve {
		cmdName = "serve"
	}
	if o.Name == "" {
		o.Name = cmdName
	}
	cp := &controlPlane{t: t, name: o.Name, API: addr(t), XDS: addr(t)}
	cp.Server = "http://" + cp.API
	args := []string{cmdName, "--api", cp.API, "--xds", cp.XDS}
	switch {
	case o.Etcd != "":
		args = append(args, "--etcd", o.Etcd)
	case o.DataDir != "":
		args = append(args, "--data-dir", o.DataDir)
	default:
		args = append(args, "--data-dir", filepath.Join(t.TempDir(), "data"))
	}
	if o.Replica != "" {
		args = append(args, "--replica", o.Replica)
	}
	if o.VIPPool != "" {
		args = append(args, "--vip-pool", o.VIPPool)
	}
	if o.Serve {
		args = append(args, "--admin", o.Admin)
	}
	cp.args = append(args, o.Extra...)
	cp.Token = o.Token
	cp.launch()
	return cp
}

// launch starts the process with the recorded arguments and waits for it.
func (cp *controlPlane) launch() {
	t := cp.t
	t.Helper()
	cp.Proc = start(t, cp.name, cp.args...)
	cp.Proc.WaitStderr(startedRe, 60*time.Second)
	if err := testutil.WaitHTTP(cp.Server+"/healthz", 200, 30*time.Second); err != nil {
		t.Fatalf("%s: %v\n%s", cp.name, err, cp.Proc.Tail(30))
	}
	m := tokenLine.FindStringSubmatch(cp.Proc.Stdout())
	switch {
	case cp.Token == "" && m == nil:
		t.Fatalf("%s: no admin token printed at the first start; stdout:\n%s", cp.name, cp.Proc.Stdout())
	case cp.Token == "":
		cp.Token = m[1]
	case m != nil:
		t.Fatalf("%s: printed a new admin token although the store has one; stdout:\n%s", cp.name, cp.Proc.Stdout())
	}
}

// Restart starts the control plane again with the same arguments (and
// data directory) after it stopped or was killed.
func (cp *controlPlane) Restart() {
	cp.t.Helper()
	if cp.Proc.Running() {
		cp.t.Fatalf("%s: restart while running", cp.name)
	}
	cp.launch()
}

// CLI runs a client command against this control plane with its admin token.
func (cp *controlPlane) CLI(args ...string) cliResult {
	cp.t.Helper()
	return cp.CLIAs(cp.Token, args...)
}

// CLIAs runs a client command with another token ("" for none).
func (cp *controlPlane) CLIAs(token string, args ...string) cliResult {
	cp.t.Helper()
	env := []string{"FULCRUM_SERVER=" + cp.Server}
	if token != "" {
		env = append(env, "FULCRUM_TOKEN="+token)
	}
	return runCLI(cp.t, env, args...)
}

// Must runs a client command with the admin token and fails the test
// unless it exits 0; it returns stdout.
func (cp *controlPlane) Must(args ...string) string {
	cp.t.Helper()
	r := cp.CLI(args...)
	if r.Code != 0 {
		cp.t.Fatalf("%s\ncontrol plane stderr:\n%s", r, cp.Proc.Tail(20))
	}
	return r.Stdout
}

// Apply applies YAML through `fulcrum apply -f FILE` and returns stdout.
func (cp *controlPlane) Apply(yaml string) string {
	cp.t.Helper()
	f := filepath.Join(cp.t.TempDir(), "apply.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
		cp.t.Fatal(err)
	}
	return cp.Must("apply", "-f", f)
}

// poolView is the part of a Pool (`get pool NAME -o json`) the tests read.
type poolView struct {
	Metadata struct {
		Name      string `json:"name"`
		Revision  int64  `json:"revision"`
		UpdatedBy string `json:"updatedBy"`
	} `json:"metadata"`
	Spec struct {
		Members []struct {
			Address string `json:"address"`
			State   string `json:"state"`
		} `json:"members"`
	} `json:"spec"`
	Status struct {
		Address string         `json:"address"`
		Port    int            `json:"port"`
		Members []memberStatus `json:"members"`
	} `json:"status"`
}

type memberStatus struct {
	Address   string `json:"address"`
	Health    string `json:"health"`
	Reason    string `json:"reason"`
	Successes int64  `json:"successes"`
	Failures  int64  `json:"failures"`
	LastCheck string `json:"lastCheck"`
}

// Pool reads one pool with `fulcrum get pool NAME -o json`.
func (cp *controlPlane) Pool(name string) poolView {
	cp.t.Helper()
	var list []poolView
	decode(cp.t, cp.Must("get", "pool", name, "-o", "json"), &list)
	if len(list) != 1 {
		cp.t.Fatalf("get pool %s: %d objects", name, len(list))
	}
	return list[0]
}

// Member returns a member's status in the pool, or a zero one.
func (p poolView) Member(address string) memberStatus {
	for _, m := range p.Status.Members {
		if m.Address == address {
			return m
		}
	}
	return memberStatus{Address: address}
}

// proxyView is one line of `fulcrum get proxies -o json`.
type proxyView struct {
	Name          string `json:"name"`
	ControlPlane  string `json:"controlPlane"`
	Connected     bool   `json:"connected"`
	AckedVersion  string `json:"ackedVersion"`
	NackedVersion string `json:"nackedVersion"`
	NackError     string `json:"nackError"`
}

// Proxies lists the data planes with `fulcrum get proxies -o json`.
func (cp *controlPlane) Proxies() map[string]proxyView {
	cp.t.Helper()
	var list []proxyView
	decode(cp.t, cp.Must("get", "proxies", "-o", "json"), &list)
	out := map[string]proxyView{}
	for _, p := range list {
		out[p.Name] = p
	}
	return out
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decoding %T: %v\n%s", v, err, s)
	}
}

// eventually polls cond every 200 ms until it holds and returns how long
// that took; after timeout it fails the test with what cond last said.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	began := time.Now()
	last := ""
	for {
		ok, state := cond()
		if ok {
			return time.Since(began)
		}
		last = state
		if time.Since(began) > timeout {
			t.Fatalf("%s: not reached within %v; last seen: %s", what, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// envDuration reads a duration from the environment, or returns def.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration like 5s", name, v)
	}
	return d
}
