package e2e

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const authPool = `apiVersion: fulcrum/v1
kind: Pool
metadata: {name: web}
spec:
  members:
  - {address: 127.0.0.1:9}
`

var secretRe = regexp.MustCompile(`fulcrum_[A-Za-z0-9_-]{43}`)

// TestNoTokenNoAccess is T10's smoke test at the process level: every
// client command fails without a token (exit 1, saying what to do), a
// wrong token fails, a viewer token reads but cannot change anything, and
// the control plane listens only where it was told, on loopback.
func TestNoTokenNoAccess(t *testing.T) {
	t.Parallel()
	cp := startControl(t, cpOptions{VIPPool: "127.0.3.0/24"})
	cp.Apply(authPool)
	file := filepath.Join(t.TempDir(), "pool.yaml")
	if err := os.WriteFile(file, []byte(strings.Replace(authPool, "web", "other", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	commands := [][]string{
		{"apply", "-f", file}, {"apply", "-f", file, "--dry-run"},
		{"get", "pools"}, {"get", "listeners"}, {"get", "routes"}, {"get", "proxies"}, {"get", "pool", "web", "-o", "yaml"},
		{"describe", "pool", "web"}, {"delete", "pool", "web"},
		{"history"}, {"history", "Pool/web"}, {"history", "--revision", "1"}, {"rollback", "Pool/web", "--to", "1"},
		{"member", "drain", "web", "127.0.0.1:9"}, {"member", "disable", "web", "127.0.0.1:9"}, {"member", "enable", "web", "127.0.0.1:9"},
		{"token", "list"}, {"token", "create", "--name", "x", "--role", "admin"}, {"token", "delete", "admin"},
	}
	for _, args := range commands {
		r := cp.CLIAs("", args...)
		if r.Code != 1 || !strings.Contains(r.Stderr, "no credentials") || !strings.Contains(r.Stderr, "FULCRUM_TOKEN") || r.Stdout != "" {
			t.Errorf("without a token: want exit 1, nothing on stdout, and a message naming the missing credentials and $FULCRUM_TOKEN; got %s", r)
		}
	}
	if r := cp.CLIAs("fulcrum_"+strings.Repeat("A", 43), "get", "pools"); r.Code != 1 || !strings.Contains(r.Stderr, "invalid token") {
		t.Errorf("with an unknown token: want exit 1 and \"invalid token\"; got %s", r)
	}

	out := cp.Must("token", "create", "--name", "dashboards", "--role", "viewer")
	viewer := secretRe.FindString(out)
	if viewer == "" {
		t.Fatalf("token create printed no token:\n%s", out)
	}
	for _, args := range [][]string{{"get", "pools"}, {"get", "pool", "web", "-o", "json"}, {"describe", "pool", "web"}, {"history"}, {"get", "proxies"}} {
		if r := cp.CLIAs(viewer, args...); r.Code != 0 {
			t.Errorf("a viewer may read: %s", r)
		}
	}
	for _, args := range [][]string{{"apply", "-f", file}, {"delete", "pool", "web"}, {"member", "drain", "web", "127.0.0.1:9"},
		{"rollback", "Pool/web", "--to", "1"}, {"token", "list"}, {"token", "create", "--name", "y", "--role", "admin"}} {
		if r := cp.CLIAs(viewer, args...); r.Code != 1 || !strings.Contains(r.Stderr, `has role viewer; this needs`) {
			t.Errorf("a viewer may not change anything: want exit 1 and the role it needs; got %s", r)
		}
	}
	if out := cp.Must("history"); tableRow(out, "2") != nil || tableRow(out, "1") == nil {
		t.Errorf("only the admin's apply (revision 1) may be in the history:\n%s", out)
	}

	// It listens where told, and only on loopback (the API, xDS and the
	// embedded etcd's client and peer ports); the defaults are loopback.
	listening := listeningAddrs(t, cp.Proc.Pid())
	t.Logf("the control plane listens on %v", listening)
	for _, want := range []string{cp.API, cp.XDS} {
		if !contains(listening, want) {
			t.Errorf("the control plane should listen on %s; it listens on %v", want, listening)
		}
	}
	for _, a := range listening {
		if ap, err := netip.ParseAddrPort(a); err != nil || !ap.Addr().IsLoopback() {
			t.Errorf("the control plane listens on %s, which is not loopback (all: %v)", a, listening)
		}
	}
	help := runCLI(t, nil, "control", "--help").Stdout
	for _, want := range []string{`(default "127.0.0.1:7700")`, `(default "127.0.0.1:7701")`} {
		if !strings.Contains(help, want) {
			t.Errorf("fulcrum control --help should show the loopback default %s:\n%s", want, help)
		}
	}
}

// TestAdminTokenFlow: an admin creates an editor token for CI; its secret
// is shown once and never listed; what CI applies is attributed to it; it
// cannot manage tokens; deleting it locks it out at once.
func TestAdminTokenFlow(t *testing.T) {
	t.Parallel()
	cp := startControl(t, cpOptions{VIPPool: "127.0.4.0/24"})
	r := cp.CLI("token", "create", "--name", "ci", "--role", "editor")
	ci := secretRe.FindString(r.Stdout)
	id := ""
	if row := tableRow(r.Stdout, "ID:"); len(row) == 2 {
		id = row[1]
	}
	if r.Code != 0 || ci == "" || id == "" || !strings.Contains(r.Stdout, "Name:   ci") || !strings.Contains(r.Stdout, "Role:   editor") ||
		!strings.Contains(r.Stdout+r.Stderr, "not shown again") {
		t.Fatalf("token create: want ID, name, role, the secret and a warning that it is shown once; got %s", r)
	}
	out := cp.Must("token", "list")
	if row := tableRow(out, id); len(row) < 3 || row[1] != "ci" || row[2] != "editor" {
		t.Errorf("token list should show %s ci editor:\n%s", id, out)
	}
	if secretRe.MatchString(out) || strings.Contains(out, ci[8:20]) {
		t.Errorf("token list must not show any secret:\n%s", out)
	}

	if r := cp.CLIAs(ci, "apply", "-f", writeTemp(t, authPool)); r.Code != 0 {
		t.Fatalf("the editor token should apply: %s", r)
	}
	if row := tableRow(cp.Must("history"), "1"); len(row) < 4 || row[2] != "ci" || row[3] != "apply" {
		t.Errorf("history: revision 1 should be ci's apply; row %q", row)
	}
	if p := cp.Pool("web"); p.Metadata.UpdatedBy != "ci" {
		t.Errorf("pool web: metadata.updatedBy = %q, want ci", p.Metadata.UpdatedBy)
	}
	if row := tableRow(cp.Must("get", "pools"), "web"); len(row) == 0 || row[len(row)-1] != "ci" {
		t.Errorf("get pools: BY should be ci; row %q", row)
	}
	if r := cp.CLIAs(ci, "token", "list"); r.Code != 1 || !strings.Contains(r.Stderr, "this needs admin") {
		t.Errorf("an editor may not list tokens: %s", r)
	}
	if r := cp.CLI("token", "create", "--name", "ci", "--role", "viewer"); r.Code != 1 || secretRe.MatchString(r.Stdout) {
		t.Errorf("a second token named ci: want exit 1 and no secret; got %s", r)
	}
	for name, s := range map[string]string{"stdout": cp.Proc.Stdout(), "stderr": cp.Proc.Stderr()} {
		if strings.Contains(s, ci) {
			t.Errorf("the control plane's %s contains the ci token's secret", name)
		}
	}
	if strings.Contains(cp.Proc.Stderr(), cp.Token) {
		t.Errorf("the control plane logged the admin token")
	}

	cp.Must("token", "delete", id)
	if r := cp.CLIAs(ci, "get", "pools"); r.Code != 1 || !strings.Contains(r.Stderr, "invalid token") {
		t.Errorf("a deleted token must stop working at once: %s", r)
	}
	if r := cp.CLI("token", "delete", "admin"); r.Code != 1 {
		t.Errorf("the last admin token cannot be deleted: %s", r)
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// listeningAddrs returns the TCP addresses a process listens on, from its
// file descriptors and its network namespace's socket tables.
func listeningAddrs(t *testing.T, pid int) []string {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("listing the sockets of pid %d: %v", pid, err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			f := strings.Fields(sc.Text())
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] {
				continue
			}
			out = append(out, decodeProcAddr(t, f[1]))
		}
		f.Close()
	}
	return out
}

// decodeProcAddr decodes /proc/net/tcp's "0100007F:1E14" (the address in
// host byte order, 32 bits at a time) into "127.0.0.1:7700".
func decodeProcAddr(t *testing.T, s string) string {
	t.Helper()
	h, p, _ := strings.Cut(s, ":")
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil || (len(h) != 8 && len(h) != 32) {
		t.Fatalf("cannot decode /proc address %q", s)
	}
	raw := make([]byte, 0, len(h)/2)
	for i := 0; i < len(h); i += 8 {
		word, err := strconv.ParseUint(h[i:i+8], 16, 32)
		if err != nil {
			t.Fatalf("cannot decode /proc address %q", s)
		}
		raw = binary.NativeEndian.AppendUint32(raw, uint32(word))
	}
	ip, _ := netip.AddrFromSlice(raw)
	return net.JoinHostPort(ip.Unmap().String(), strconv.Itoa(int(port)))
}
