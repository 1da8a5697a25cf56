package health

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// grpcHealthServer starts a grpc-go server with the standard health service
// on 127.0.0.1 and stops it in the test's cleanup.
func grpcHealthServer(t *testing.T) (string, *health.Server) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return l.Addr().String(), hs
}

func grpcConfig(service string) Config {
	cfg := fast(TypeGRPC)
	cfg.GRPC = &GRPCCheck{Service: service}
	return cfg
}

func TestGRPCCheck(t *testing.T) {
	addr, hs := grpcHealthServer(t)
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_SERVING)

	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"server", fast(TypeGRPC), ""},
		{"service", grpcConfig("orders"), ""},
		{"unknown service", grpcConfig("billing"), `grpc: service "billing" is unknown to the server`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := check(t, addr, tc.cfg)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("reason %q, want %q", got, tc.want)
			}
		})
	}
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_NOT_SERVING)
	if got := check(t, addr, grpcConfig("orders")); got != `grpc: NOT_SERVING (service "orders")` {
		t.Errorf("NOT_SERVING: %q", got)
	}
	if got := check(t, closedPort(t), fast(TypeGRPC)); got != "connection refused" {
		t.Errorf("closed port: %q", got)
	}
	// A plain gRPC server without the health service.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bare := grpc.NewServer()
	go func() { _ = bare.Serve(l) }()
	defer bare.Stop()
	if got := check(t, l.Addr().String(), fast(TypeGRPC)); got != "grpc: the server does not implement grpc.health.v1.Health" {
		t.Errorf("no health service: %q", got)
	}
	// Not a gRPC server at all.
	silent := tcpServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	if got := check(t, silent, short(fast(TypeGRPC))); !strings.HasPrefix(got, "timeout after 500ms") &&
		!strings.HasPrefix(got, "grpc: unavailable") {
		t.Errorf("silent server: %q", got)
	}
}

// The Checker follows a grpc-go health server between SERVING and
// NOT_SERVING with the configured hysteresis.
func TestGRPCServingSwitch(t *testing.T) {
	addr, hs := grpcHealthServer(t)
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_SERVING)
	c := startChecker(t, Options{})
	cfg := grpcConfig("orders")
	k, err := c.Add("pool/orders", Target{Address: addr, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, k, StatusHealthy, 5*time.Second)
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_NOT_SERVING)
	st := waitStatus(t, c, k, StatusUnhealthy, 5*time.Second)
	if st.LastError != `grpc: NOT_SERVING (service "orders")` || st.ConsecutiveFailures < cfg.Fall {
		t.Errorf("after NOT_SERVING: %+v", st)
	}
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_SERVING)
	st = waitStatus(t, c, k, StatusHealthy, 5*time.Second)
	if st.ConsecutiveSuccesses < cfg.Rise || st.LastError != "" {
		t.Errorf("after SERVING again: %+v", st)
	}
}

// selfSigned makes a certificate for 127.0.0.1 and name, and returns it with
// its PEM encoding (to be trusted as a CA).
func selfSigned(t *testing.T, name string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestGRPCCheckTLS(t *testing.T) {
	cert, caPEM := selfSigned(t, "orders.internal")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	defer func() { srv.Stop(); <-done }()
	addr := l.Addr().String()

	cfg := fast(TypeGRPC)
	cfg.GRPC = &GRPCCheck{TLS: &TLS{ServerName: "orders.internal", CAPEM: caPEM}}
	if got := check(t, addr, cfg); got != "" {
		t.Errorf("TLS with the right CA: %s", got)
	}
	cfg.GRPC = &GRPCCheck{TLS: &TLS{ServerName: "orders.internal"}}
	if got := check(t, addr, cfg); !strings.Contains(got, "certificate signed by unknown authority") {
		t.Errorf("TLS with system roots: %q", got)
	}
	if got := check(t, addr, fast(TypeGRPC)); !strings.HasPrefix(got, "grpc: unavailable") {
		t.Errorf("plain text to a TLS server: %q", got)
	}
}
