package testutil

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MariaDB is a private MariaDB server started by a test: its own data
// directory in t.TempDir(), its own socket and pid files, listening on
// 127.0.0.1 on a free port. It is stopped by the test's cleanup.
type MariaDB struct {
	// Addr is the TCP address, "127.0.0.1:PORT". It survives Kill/Start.
	Addr string
	// Socket is the Unix socket path; root logs in there without a password.
	Socket string

	t    testing.TB
	dir  string
	bin  string
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartMariaDB initialises a data directory with mariadb-install-db and
// starts mariadbd on it. It skips the test when MariaDB is not installed
// (fails under FULCRUM_REQUIRE_PEERS=1). extraArgs are added to the
// mariadbd command line (for example "--max-connections=10").
func StartMariaDB(t testing.TB, extraArgs ...string) *MariaDB {
	t.Helper()
	bin := RequireBinary(t, "mariadbd")
	install := RequireBinary(t, "mariadb-install-db")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	user := []string{}
	if os.Geteuid() == 0 {
		// mariadbd refuses to run as root unless told to.
		user = []string{"--user=root"}
	}
	args := append([]string{"--no-defaults", "--datadir=" + data}, user...)
	args = append(args, "--auth-root-authentication-method=normal", "--skip-test-db")
	out, err := exec.Command(install, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	m := &MariaDB{
		t:      t,
		dir:    dir,
		bin:    bin,
		Socket: filepath.Join(dir, "mysqld.sock"),
	}
	port := FreePort(t)
	m.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	m.args = append([]string{
		"--no-defaults",
		"--datadir=" + data,
		"--socket=" + m.Socket,
		"--pid-file=" + filepath.Join(dir, "mysqld.pid"),
		"--log-error=" + filepath.Join(dir, "error.log"),
		"--port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1",
		"--skip-networking=0",
		"--skip-name-resolve",
		"--skip-log-bin",
		"--innodb-buffer-pool-size=16M",
	}, user...)
	m.args = append(m.args, extraArgs...)
	t.Cleanup(m.Kill)
	m.Start()
	return m
}

// Start starts mariadbd (again, after Kill) and waits until it accepts
// logins, for at most 30 seconds.
func (m *MariaDB) Start() {
	m.t.Helper()
	m.mu.Lock()
	if m.cmd != nil {
		m.mu.Unlock()
		m.t.Fatalf("mariadbd is already running")
	}
	cmd := exec.Command(m.bin, m.args...)
	if err := cmd.Start(); err != nil {
		m.mu.Unlock()
		m.t.Fatalf("start mariadbd: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	m.cmd, m.exited = cmd, exited
	m.mu.Unlock()

	deadline := time.Now().Add(30 * time.Second)
	for {
		err := m.Exec("SELECT 1")
		if err == nil {
			return
		}
		select {
		case <-exited:
			m.t.Fatalf("mariadbd exited during start-up: %v\n%s", err, m.errorLog())
		default:
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mariadbd not ready after 30s: %v\n%s", err, m.errorLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill stops mariadbd with SIGKILL, as a crash would, and waits for it to
// exit. It does nothing when the server is not running.
func (m *MariaDB) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.exited
	m.cmd, m.exited = nil, nil
}

// Exec runs statements as root over the Unix socket, one connection each
// call.
func (m *MariaDB) Exec(stmts ...string) error {
	db, err := m.root()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// Query runs a query as root and returns the first column of its first
// row as a string.
func (m *MariaDB) Query(query string) (string, error) {
	db, err := m.root()
	if err != nil {
		return "", err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var v string
	if err := db.QueryRowContext(ctx, query).Scan(&v); err != nil {
		return "", fmt.Errorf("%s: %w", query, err)
	}
	return v, nil
}

func (m *MariaDB) root() (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "unix"
	cfg.Addr = m.Socket
	cfg.Timeout = 5 * time.Second
	cfg.Logger = &mysql.NopLogger{}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

func (m *MariaDB) errorLog() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "error.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
