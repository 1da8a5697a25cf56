package health

import (
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func httpConfig(h HTTPCheck) Config {
	cfg := fast(TypeHTTP)
	cfg.HTTP = &h
	return cfg
}

func TestHTTPCheck(t *testing.T) {
	var mu sync.Mutex
	var seen *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Clone(r.Context())
		mu.Unlock()
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte("status: ok\n"))
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/down":
			http.Error(w, "draining", http.StatusServiceUnavailable)
		case "/slow":
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	cases := []struct {
		name string
		h    HTTPCheck
		want string // "" for success, else a substring of the reason
	}{
		{"ok", HTTPCheck{Path: "/ok"}, ""},
		{"3xx is healthy by default", HTTPCheck{Path: "/redirect"}, ""},
		{"3xx outside an explicit range", HTTPCheck{Path: "/redirect", ExpectedStatuses: []StatusRange{{200, 299}}},
			"status 302 from /redirect (want 200-299)"},
		{"503", HTTPCheck{Path: "/down"}, "status 503 from /down (want 200-399)"},
		{"404 accepted when listed", HTTPCheck{Path: "/missing", ExpectedStatuses: []StatusRange{{200, 299}, {404, 404}}}, ""},
		{"body matches", HTTPCheck{Path: "/ok", BodyRegex: `status: (ok|degraded)`}, ""},
		{"body does not match", HTTPCheck{Path: "/ok", BodyRegex: `^healthy$`},
			`body did not match "^healthy$" (from /ok, got "status: ok\n")`},
		{"timeout", HTTPCheck{Path: "/slow"}, "timeout after 500ms (waiting for the response)"},
		{"HEAD", HTTPCheck{Method: "HEAD", Path: "/ok"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := httpConfig(tc.h)
			if strings.HasPrefix(tc.want, "timeout") {
				cfg = short(cfg)
			}
			got := check(t, addr, cfg)
			if tc.want == "" && got != "" {
				t.Fatalf("check failed: %s", got)
			}
			if tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("reason %q, want it to contain %q", got, tc.want)
			}
		})
	}

	// Host header and extra headers reach the server.
	if got := check(t, addr, httpConfig(HTTPCheck{Path: "/ok?probe=1", Host: "svc.example",
		Headers: map[string]string{"X-Probe": "fulcrum", "User-Agent": "custom/1"}})); got != "" {
		t.Fatal(got)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen.Host != "svc.example" || seen.Header.Get("X-Probe") != "fulcrum" ||
		seen.Header.Get("User-Agent") != "custom/1" || seen.URL.RawQuery != "probe=1" {
		t.Errorf("request seen by the server: host %q headers %v query %q", seen.Host, seen.Header, seen.URL.RawQuery)
	}
}

func TestHTTPConnectionErrors(t *testing.T) {
	if got := check(t, closedPort(t), httpConfig(HTTPCheck{})); got != "connection refused" {
		t.Errorf("closed port: %q, want connection refused", got)
	}
	// A server that accepts and hangs up without answering.
	addr := tcpServer(t, func(c net.Conn) {})
	if got := check(t, addr, httpConfig(HTTPCheck{})); !strings.Contains(got, "(waiting for the response)") ||
		!strings.Contains(got, "connection") {
		t.Errorf("hang-up: %q", got)
	}
	// A server that accepts and never answers.
	addr = tcpServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	if got := check(t, addr, short(httpConfig(HTTPCheck{}))); got != "timeout after 500ms (waiting for the response)" {
		t.Errorf("silent server: %q", got)
	}
	// A server that speaks something else.
	addr = tcpServer(t, func(c net.Conn) { _, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n")) })
	if got := check(t, addr, httpConfig(HTTPCheck{})); !strings.Contains(got, "malformed HTTP") {
		t.Errorf("ssh server: %q", got)
	}
}

func TestHTTPSCheck(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || r.TLS.ServerName != "example.com" {
			http.Error(w, "wrong SNI", http.StatusMisdirectedRequest)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	// The failing cases make the server log handshake errors; keep the
	// test output readable.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))

	cases := []struct {
		name string
		tls  TLS
		want string
	}{
		{"trusted CA and server name", TLS{ServerName: "example.com", CAPEM: caPEM}, ""},
		{"skip verify", TLS{ServerName: "example.com", InsecureSkipVerify: true}, ""},
		{"system roots", TLS{ServerName: "example.com"}, "tls: certificate signed by unknown authority"},
		{"wrong name", TLS{ServerName: "other.example", CAPEM: caPEM}, "tls: x509: certificate is valid for"},
		{"SNI is sent", TLS{ServerName: "localhost.example", InsecureSkipVerify: true}, "status 421"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := check(t, addr, httpConfig(HTTPCheck{TLS: &tc.tls}))
			if tc.want == "" && got != "" {
				t.Fatalf("check failed: %s", got)
			}
			if tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("reason %q, want it to contain %q", got, tc.want)
			}
		})
	}
	// TLS against a plain-text server.
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	got := check(t, plain.Listener.Addr().String(), httpConfig(HTTPCheck{TLS: &TLS{InsecureSkipVerify: true}}))
	if !strings.Contains(got, "tls: server did not answer with TLS") {
		t.Errorf("TLS to plain server: %q", got)
	}
}
