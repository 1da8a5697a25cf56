package l7

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"
)

// childBackendEnv makes the test binary run as a tiny HTTP backend on the
// address it names, so a test can SIGKILL a real process.
const childBackendEnv = "FULCRUM_L7_CHILD_BACKEND"

func runChildBackend(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		os.Exit(3)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Backend", addr)
		io.WriteString(w, addr)
	})}
	// The parent kills us; exit on our own after a minute at the latest.
	go func() { time.Sleep(time.Minute); os.Exit(0) }()
	srv.Serve(ln)
}

// childBackend starts the test binary as a backend on a free port and
// waits until it accepts connections.
func childBackend(t *testing.T) (string, *exec.Cmd) {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", itoa(freePort(t)))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childBackendEnv+"="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "child backend", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr, cmd
}
