package health

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/testutil"
)

// packet frames a payload as a MySQL protocol packet with sequence 0.
func packet(payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), 0}, payload...)
}

// tooManyConnections is the packet MariaDB 10.11 sends instead of a
// greeting when it is full (captured from a real server).
var tooManyConnections = packet(append([]byte{0xff, 0x10, 0x04}, "Too many connections"...))

func TestParseGreeting(t *testing.T) {
	v10 := append([]byte{0x0a}, "5.5.5-10.11.19-MariaDB\x00rest"...)
	if v, err := parseGreeting(v10); err != nil || v != "5.5.5-10.11.19-MariaDB" {
		t.Errorf("v10 greeting: %q, %v", v, err)
	}
	_, err := parseGreeting(tooManyConnections[4:])
	var se *mysqlServerError
	if !errors.As(err, &se) || se.Code != 1040 || se.Message != "Too many connections" || se.SQLState != "" {
		t.Errorf("1040: %#v", err)
	}
	withState := append([]byte{0xff, 0x69, 0x04, '#'}, "HY000Host 'x' is blocked"...)
	if _, err := parseGreeting(withState); !errors.As(err, &se) || se.Code != 1129 || se.SQLState != "HY000" ||
		se.Message != "Host 'x' is blocked" {
		t.Errorf("1129 with SQL state: %#v", err)
	}
	for _, bad := range [][]byte{nil, {0xff, 0x01}, {0x0a, 'x'}, []byte("HTTP/1.1 400")} {
		if _, err := parseGreeting(bad); err == nil || errors.As(err, &se) && bad[0] != 0xff {
			t.Errorf("parseGreeting(%q) = %v", bad, err)
		}
	}
}

func TestMySQLGreetingAgainstFakeServers(t *testing.T) {
	full := tcpServer(t, func(c net.Conn) { _, _ = c.Write(tooManyConnections) })
	v10 := tcpServer(t, func(c net.Conn) {
		_, _ = c.Write(packet(append([]byte{0x0a}, "8.0.36\x00\x01\x00\x00\x00abcdefgh\x00"...)))
	})
	http := tcpServer(t, func(c net.Conn) { _, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) })
	silent := tcpServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	cases := []struct{ name, addr, want string }{
		{"greeting", v10, ""},
		{"too many connections", full, "mysql: Too many connections (error 1040)"},
		{"not mysql", http, "is this a MySQL server?"},
		{"no greeting", silent, "timeout after 500ms (reading the greeting)"},
		{"refused", closedPort(t), "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fast(TypeMySQL)
			if strings.HasPrefix(tc.want, "timeout") {
				cfg = short(cfg)
			}
			got := check(t, tc.addr, cfg)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("reason %q, want %q", got, tc.want)
			}
		})
	}
	// The authenticated check reports the same server error.
	cfg := fast(TypeMySQL)
	cfg.MySQL = &MySQLCheck{User: "u", Password: "p"}
	if got := check(t, full, cfg); got != "mysql: Too many connections (error 1040)" {
		t.Errorf("authenticated check against a full server: %q", got)
	}
}

// TestMySQLAgainstMariaDB runs the check against a real MariaDB: healthy,
// killed, restarted; a wrong password; a server out of connections.
func TestMySQLAgainstMariaDB(t *testing.T) {
	db := testutil.StartMariaDB(t, "--max-connections=50")
	if err := db.Exec(
		"CREATE USER 'fulcrum'@'%' IDENTIFIED BY 's3cret'",
		"GRANT USAGE ON *.* TO 'fulcrum'@'%'",
	); err != nil {
		t.Fatal(err)
	}
	good := fast(TypeMySQL)
	good.Interval = 200 * time.Millisecond
	good.Timeout = 2 * time.Second
	good.Rise, good.Fall = 2, 2
	good.MySQL = &MySQLCheck{User: "fulcrum", Password: "s3cret"}

	aborted := func() int {
		t.Helper()
		v, err := db.Query("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'ABORTED_CONNECTS'")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(v)
		return n
	}
	t.Run("handshake", func(t *testing.T) {
		// The login check ends its session properly: the server counts no
		// aborted connect. The greeting-only check does leave one (see
		// docs/health.md), which is why a user is recommended.
		before := aborted()
		for range 3 {
			if got := check(t, db.Addr, good); got != "" {
				t.Fatalf("login check: %s", got)
			}
		}
		if n := aborted(); n != before {
			t.Errorf("login checks made %d aborted connects", n-before)
		}
		for range 3 {
			if got := check(t, db.Addr, fast(TypeMySQL)); got != "" {
				t.Fatalf("greeting check: %s", got)
			}
		}
		waitFor(t, 5*time.Second, "aborted connects from greeting checks", func() bool { return aborted() >= before+3 })
	})
	t.Run("wrong password", func(t *testing.T) {
		bad := good
		bad.MySQL = &MySQLCheck{User: "fulcrum", Password: "wrong"}
		want := "mysql: access denied for user 'fulcrum' (wrong password or no such user)"
		if got := check(t, db.Addr, bad); got != want {
			t.Fatalf("reason %q, want %q", got, want)
		}
		bad.MySQL = &MySQLCheck{User: "fulcrum", Password: "s3cret", Database: "nope"}
		if got := check(t, db.Addr, bad); !strings.Contains(got, "access denied for user 'fulcrum' to the database") {
			t.Fatalf("unknown database: %q", got)
		}
	})
	t.Run("too many connections", func(t *testing.T) { mariaDBFull(t, db, good) })
	t.Run("kill and restart", func(t *testing.T) { mariaDBKillRestart(t, db, good) })
}

// mariaDBFull fills the server's connection slots with idle clients and
// expects both forms of the check to report error 1040.
func mariaDBFull(t *testing.T, db *testutil.MariaDB, cfg Config) {
	if err := db.Exec("SET GLOBAL max_connections = 10"); err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
		// The server notices the closed clients asynchronously.
		var err error
		for range 50 {
			if err = db.Exec("SET GLOBAL max_connections = 50"); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Error(err)
	})
	// MariaDB refuses a connection before the greeting once more than
	// max_connections+1 are open, authenticated or not.
	full := false
	for range 20 {
		c, err := net.DialTimeout("tcp", db.Addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		p, err := readPacket(c)
		if err != nil {
			t.Fatal(err)
		}
		if p[0] == mysqlErrPacket {
			full = true
			break
		}
	}
	if !full {
		t.Fatal("server never reported too many connections")
	}
	want := "mysql: Too many connections (error 1040)"
	if got := check(t, db.Addr, fast(TypeMySQL)); got != want {
		t.Errorf("greeting check: %q, want %q", got, want)
	}
	if got := check(t, db.Addr, cfg); got != want {
		t.Errorf("login check: %q, want %q", got, want)
	}
}

// mariaDBKillRestart checks the detection times promised in docs/health.md:
// down within fall × interval (+ one timeout), up again after rise probes.
func mariaDBKillRestart(t *testing.T, db *testutil.MariaDB, cfg Config) {
	c := startChecker(t, Options{})
	sub := c.Subscribe()
	defer sub.Close()
	k, err := c.Add("pool/db", Target{Address: db.Addr, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, k, StatusHealthy, 5*time.Second)
	events := drainSeq(sub)

	killed := time.Now()
	db.Kill()
	st := waitStatus(t, c, k, StatusUnhealthy, 5*time.Second)
	took := time.Since(killed)
	// fall × interval + one timeout, plus a margin for a loaded 2-core VM.
	bound := time.Duration(cfg.Fall)*cfg.Interval + cfg.Timeout + time.Second
	if took > bound {
		t.Errorf("unhealthy after %v, want within %v", took, bound)
	}
	if st.LastError != "connection refused" {
		t.Errorf("reason after kill: %q", st.LastError)
	}
	t.Logf("MariaDB killed: unhealthy after %v (%s)", took.Round(time.Millisecond), st.LastError)
	events += " " + drainSeq(sub)

	db.Start()
	restarted := time.Now()
	st = waitStatus(t, c, k, StatusHealthy, 10*time.Second)
	t.Logf("MariaDB restarted: healthy after %v, %d successes / %d failures in total",
		time.Since(restarted).Round(time.Millisecond), st.TotalSuccesses, st.TotalFailures)
	if st.ConsecutiveSuccesses < cfg.Rise {
		t.Errorf("healthy after %d successes, want rise=%d", st.ConsecutiveSuccesses, cfg.Rise)
	}
	events += " " + drainSeq(sub)
	if events != "unknown>healthy healthy>unhealthy unhealthy>healthy" {
		t.Errorf("events %q", events)
	}
}

// drainSeq drains sub and formats the events as "from>to" words.
func drainSeq(sub *Subscription) string {
	var seq []string
	for _, ev := range sub.Drain() {
		seq = append(seq, ev.From.String()+">"+ev.To.String())
	}
	return strings.Join(seq, " ")
}
