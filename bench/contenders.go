package main

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/proc"
)

// The configurations of every contender, one directory per scenario.
//
//go:embed templates
var templateFS embed.FS

// ports are a contender's listening ports (0: not used by the scenario).
type ports struct{ HTTP, H2, GRPC, Bulk, RR, UDP, Admin int }

// members are the backends' addresses, the same for every contender.
type members struct {
	HTTP                []string
	GRPC, Bulk, RR, UDP string
}

// tmplData is what a configuration template sees.
type tmplData struct {
	Dir          string
	Port         ports
	BE           members
	Listen       []string // the backend nginx's own addresses
	Change       int      // B7: the configuration change number
	Splice       bool     // B5: HAProxy option splice-auto
	ExposeFD     bool     // B7: HAProxy seamless reload (-x)
	StreamModule string
}

// variant maps a contender's reported name to its program and options.
type variant struct {
	kind     string // fulcrum, nginx, haproxy, caddy
	splice   bool
	exposeFD bool
}

var variants = map[string]variant{
	"fulcrum": {kind: "fulcrum"}, "nginx": {kind: "nginx"}, "caddy": {kind: "caddy"},
	"haproxy": {kind: "haproxy"}, "haproxy-splice": {kind: "haproxy", splice: true},
	"haproxy-x": {kind: "haproxy", exposeFD: true},
}

// instance is a running contender.
type instance struct {
	name, kind, scenario string
	data                 tmplData
	cfgPath              string
	p                    *proc.Process
	e                    *env
	// masterWorker runs HAProxy with -W (B7 reloads with SIGUSR2).
	masterWorker bool
}

// render writes the scenario's configuration for kind into path.
func render(scenario, kind, path string, d tmplData) error {
	t, err := template.ParseFS(templateFS, "templates/"+scenario+"/"+kind+".tmpl")
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// allocPorts gives the scenario's listeners free ports.
func (e *env) allocPorts(scenario string) (ports, error) {
	var p ports
	var err error
	alloc := func(dst *int, network string) {
		if err == nil {
			*dst, err = e.freePort(network)
		}
	}
	alloc(&p.Admin, "tcp")
	switch scenario {
	case "h2grpc":
		alloc(&p.H2, "tcp")
		alloc(&p.GRPC, "tcp")
	case "l4":
		alloc(&p.Bulk, "tcp")
		alloc(&p.RR, "tcp")
		alloc(&p.UDP, "udp")
	default:
		alloc(&p.HTTP, "tcp")
	}
	return p, err
}

// startContender starts the named contender with the scenario's
// configuration, pinned to the proxy CPU, and waits until it listens.
func (e *env) startContender(name, scenario string, be members, masterWorker bool) (*instance, error) {
	v, ok := variants[name]
	if !ok {
		return nil, fmt.Errorf("unknown contender %q", name)
	}
	dir := filepath.Join(e.work, e.uniqueName(scenario+"-"+name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	pp, err := e.allocPorts(scenario)
	if err != nil {
		return nil, err
	}
	in := &instance{name: name, kind: v.kind, scenario: scenario, e: e, masterWorker: masterWorker,
		data: tmplData{Dir: dir, Port: pp, BE: be, Splice: v.splice, ExposeFD: v.exposeFD, StreamModule: nginxStreamModule}}
	ext := map[string]string{"fulcrum": "yaml", "nginx": "conf", "haproxy": "cfg", "caddy": "caddyfile"}[v.kind]
	in.cfgPath = filepath.Join(dir, v.kind+"."+ext)
	if err := render(scenario, v.kind, in.cfgPath, in.data); err != nil {
		return nil, fmt.Errorf("%s: configuration: %w", name, err)
	}
	o := proc.Options{Name: name, Dir: dir, CPUs: cpuList(e.proxyCPU), Argv: in.argv()}
	if v.kind == "fulcrum" || v.kind == "caddy" {
		o.Env = []string{"GOMAXPROCS=1", "HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "XDG_DATA_HOME=" + dir}
	}
	if in.p, err = proc.Start(o); err != nil {
		return nil, err
	}
	if err := in.p.WaitTCP(15*time.Second, in.tcpAddrs()...); err != nil {
		in.stop()
		return nil, err
	}
	return in, nil
}

func (in *instance) argv() []string {
	bin := in.e.bins[in.kind]
	switch in.kind {
	case "fulcrum":
		return []string{bin, "proxy", "-f", in.cfgPath, "--admin", in.adminAddr(),
			"--watch-interval", "0", "--log-level", "warn"}
	case "nginx":
		return []string{bin, "-p", in.data.Dir, "-c", in.cfgPath, "-e", filepath.Join(in.data.Dir, "error.log")}
	case "haproxy":
		if in.masterWorker {
			return []string{bin, "-W", "-db", "-f", in.cfgPath}
		}
		return []string{bin, "-db", "-f", in.cfgPath}
	default: // caddy
		return []string{bin, "run", "--config", in.cfgPath, "--adapter", "caddyfile"}
	}
}

// tcpAddrs are the addresses to wait for before the contender is ready.
func (in *instance) tcpAddrs() []string {
	var out []string
	pp := in.data.Port
	for _, p := range []int{pp.HTTP, pp.H2, pp.GRPC, pp.Bulk, pp.RR} {
		if p != 0 {
			out = append(out, "127.0.0.1:"+strconv.Itoa(p))
		}
	}
	if in.kind == "fulcrum" || in.kind == "caddy" {
		out = append(out, in.adminAddr())
	}
	return out
}

func (in *instance) adminAddr() string { return "127.0.0.1:" + strconv.Itoa(in.data.Port.Admin) }

// addr returns the address of one of the contender's listeners.
func (in *instance) addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// cpu is the CPU time used so far by the contender's processes.
func (in *instance) cpu() (time.Duration, error) {
	if in.p.Exited() {
		return 0, fmt.Errorf("%s has exited:\n%s", in.name, in.p.Log())
	}
	return proc.CPUTime(in.p.PID())
}

func (in *instance) stop() { in.p.Stop(5 * time.Second) }

// reload rewrites the configuration as change number n and makes the
// contender load it the way its documentation says: Fulcrum SIGHUP (after
// the file is rewritten, as its watcher would see), `nginx -s reload`,
// SIGUSR2 to HAProxy's master, and POST /load to Caddy's admin API (what
// `caddy reload` does).
func (in *instance) reload(ctx context.Context, n int) error {
	in.data.Change = n
	if err := render(in.scenario, in.kind, in.cfgPath, in.data); err != nil {
		return err
	}
	switch in.kind {
	case "fulcrum":
		return in.p.Signal(syscall.SIGHUP)
	case "nginx":
		_, err := in.e.runTool(ctx, 10*time.Second, in.e.bins["nginx"], "-p", in.data.Dir, "-c", in.cfgPath,
			"-e", filepath.Join(in.data.Dir, "error.log"), "-s", "reload")
		return err
	case "haproxy":
		return in.haproxyReload(ctx)
	default:
		return in.caddyLoad(ctx)
	}
}

// haproxyReload sends SIGUSR2 to HAProxy's master and waits until it logs
// the new worker's "Loading success.". HAProxy 2.6's master loses a
// SIGUSR2 that arrives while it is finishing the previous reload (seen
// here: 3 of 10 lost when sent right after "Loading success.", none with
// 100 ms between), and the new worker can serve before the master is
// done: B7 leaves haproxySettle between a reload and the next.
func (in *instance) haproxyReload(ctx context.Context) error {
	count := func() int { return strings.Count(in.p.Output(), "Loading success.") }
	before := count()
	if err := in.p.Signal(syscall.SIGUSR2); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for count() <= before {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("haproxy: no \"Loading success.\" within 10s of SIGUSR2")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// haproxySettle is the pause B7 leaves after a HAProxy reload.
const haproxySettle = 100 * time.Millisecond

func (in *instance) caddyLoad(ctx context.Context) error {
	body, err := os.ReadFile(in.cfgPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+in.adminAddr()+"/load", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("caddy /load: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var msg bytes.Buffer
		_, _ = msg.ReadFrom(resp.Body)
		return fmt.Errorf("caddy /load: %s: %s", resp.Status, strings.TrimSpace(msg.String()))
	}
	return nil
}

// startAll starts every named contender; on an error the ones started
// are stopped.
func (e *env) startAll(names []string, scenario string, be members, masterWorker bool) ([]*instance, error) {
	var out []*instance
	for _, n := range names {
		in, err := e.startContender(n, scenario, be, masterWorker)
		if err != nil {
			stopAll(out)
			return nil, fmt.Errorf("starting %s: %w", n, err)
		}
		out = append(out, in)
	}
	return out, nil
}

func stopAll(ins []*instance) {
	for _, in := range ins {
		in.stop()
	}
}
