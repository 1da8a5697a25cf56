package l7

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// testService is a grpc-go TestService: unary echo and a bidirectional
// stream that echoes every message.
type testService struct {
	testgrpc.UnimplementedTestServiceServer
	name string
}

func (s *testService) UnaryCall(ctx context.Context, in *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	grpc.SetTrailer(ctx, metadata.Pairs("x-served-by", s.name))
	if v := md.Get("x-fail"); len(v) > 0 {
		return nil, status.Error(codes.FailedPrecondition, "asked to fail")
	}
	return &testgrpc.SimpleResponse{Payload: in.GetPayload(), Username: s.name}, nil
}

func (s *testService) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	for {
		in, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: in.GetPayload()}); err != nil {
			return err
		}
	}
}

func grpcBackend(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(srv, &testService{name: name})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

func certFiles(t *testing.T) (string, string) {
	cert, _ := filepath.Abs("../../translator/testdata/tls/cert.pem")
	key, _ := filepath.Abs("../../translator/testdata/tls/key.pem")
	return cert, key
}

func exerciseGRPC(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := testgrpc.NewTestServiceClient(conn)
	var trailer metadata.MD
	resp, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: []byte("ping")}}, grpc.Trailer(&trailer))
	if err != nil || string(resp.GetPayload().GetBody()) != "ping" || len(trailer.Get("x-served-by")) != 1 {
		t.Fatalf("unary: %v %v trailer %v", resp, err, trailer)
	}
	_, err = c.UnaryCall(metadata.AppendToOutgoingContext(ctx, "x-fail", "1"), &testgrpc.SimpleRequest{})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("backend status not passed through: %v", err)
	}
	stream, err := c.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		msg := fmt.Sprintf("m%d", i)
		if err := stream.Send(&testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: []byte(msg)}}); err != nil {
			t.Fatal(err)
		}
		in, err := stream.Recv()
		if err != nil || string(in.GetPayload().GetBody()) != msg {
			t.Fatalf("bidi %d: %v %v", i, in, err)
		}
	}
	stream.CloseSend()
	if _, err := stream.Recv(); err != io.EOF {
		t.Errorf("bidi end: %v", err)
	}
}

// TestGRPCCleartext: unary and bidirectional streaming gRPC through a grpc
// frontend (h2c prior knowledge) to an h2c pool, with trailers.
func TestGRPCCleartext(t *testing.T) {
	be := grpcBackend(t, "g1")
	port := freePort(t)
	y := fmt.Sprintf("apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: g}\nspec:\n  frontend: {port: %d, protocol: grpc}\n  members: [{address: %q}]\n  healthCheck: {type: none}\n---\n", port, be)
	newEnv(t, y)
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exerciseGRPC(t, conn)
}

// TestGRPCOverTLS: the same over a TLS grpc frontend (ALPN h2).
func TestGRPCOverTLS(t *testing.T) {
	be := grpcBackend(t, "g1")
	port := freePort(t)
	cert, key := certFiles(t)
	y := fmt.Sprintf("apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: g}\nspec:\n  frontend: {port: %d, protocol: grpc, tls: {certificates: [{certFile: %q, keyFile: %q}]}}\n  members: [{address: %q}]\n  healthCheck: {type: none}\n---\n", port, cert, key, be)
	newEnv(t, y)
	creds := credentials.NewTLS(&tls.Config{ServerName: "example.com", InsecureSkipVerify: true})
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", port), grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exerciseGRPC(t, conn)
}

// TestGRPCNoHealthyMember: the proxy fails the call itself with a proper
// gRPC status: UNAVAILABLE.
func TestGRPCNoHealthyMember(t *testing.T) {
	port, dead := freePort(t), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	y := fmt.Sprintf("apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: g}\nspec:\n  frontend: {port: %d, protocol: grpc}\n  members: [{address: %q}]\n  healthCheck: {type: tcp, interval: 100ms, fall: 1}\n---\n", port, dead)
	newEnv(t, y)
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = testgrpc.NewTestServiceClient(conn).UnaryCall(ctx, &testgrpc.SimpleRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("got %v, want UNAVAILABLE from the proxy", err)
	}
}

// TestHTTP2Downstream: HTTP/2 over TLS (ALPN) and cleartext prior
// knowledge reach an HTTP/1.1 pool; HTTP/1.1 over TLS still works.
func TestHTTP2Downstream(t *testing.T) {
	b := newTestBackend(t, "b", nil)
	port, tport := freePort(t), freePort(t)
	cert, key := certFiles(t)
	newEnv(t, poolYAML("web", port, "", b.addr)+poolYAML("b", 0, "", b.addr)+
		fmt.Sprintf("apiVersion: fulcrum/v1\nkind: Listener\nmetadata: {name: tls}\nspec: {port: %d, protocol: https, tls: {certificates: [{certFile: %q, keyFile: %q}]}}\n---\n", tport, cert, key)+
		routeYAML("r", "  listener: tls\n  backends: [{pool: b}]"))
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: p}}
	defer h2c.CloseIdleConnections()
	resp, err := h2c.Get(fmt.Sprintf("http://127.0.0.1:%d/x", port))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(body) != "b" {
		t.Errorf("h2c: %s %q", resp.Proto, body)
	}
	for _, h2 := range []bool{true, false} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Transport: tr}
		resp, err := c.Get(fmt.Sprintf("https://127.0.0.1:%d/y", tport))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if want := map[bool]int{true: 2, false: 1}[h2]; resp.ProtoMajor != want || string(body) != "b" {
			t.Errorf("TLS h2=%v: %s %q", h2, resp.Proto, body)
		}
		if got := b.lastRequest().Header.Get("X-Forwarded-Proto"); got != "https" {
			t.Errorf("X-Forwarded-Proto %q over TLS", got)
		}
	}
}

// TestHTTP1ToH2Pool: an HTTP/1.1 client reaches an h2c pool (the request
// crosses to the net/http path), with a request body.
func TestHTTP1ToH2Pool(t *testing.T) {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Protocols: p, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Proto, r.Method, body)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	port := freePort(t)
	newEnv(t, poolYAML("web", port, "  upstream: {protocol: h2c}\n", ln.Addr().String()))
	c := client()
	defer closeClient(c)
	resp, body := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", port))
	if resp.StatusCode != 200 || body != "HTTP/2.0 GET " {
		t.Errorf("GET: %d %q", resp.StatusCode, body)
	}
	resp2, err := c.Post(fmt.Sprintf("http://127.0.0.1:%d/", port), "text/plain", io.NopCloser(stringsReader("payload")))
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if string(b2) != "HTTP/2.0 POST payload" {
		t.Errorf("POST: %q", b2)
	}
}
