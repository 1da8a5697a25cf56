package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// grpcProber calls grpc.health.v1.Health/Check over a connection made for
// the probe. A long-lived ClientConn per target would keep several
// goroutines per target alive; a fresh one per probe keeps the Checker's
// goroutines bounded by its worker pool and, like the HTTP check, notices a
// server that no longer accepts connections.
type grpcProber struct {
	service   string
	authority string
	creds     credentials.TransportCredentials
}

func newGRPCProber(g *GRPCCheck, addr string) (*grpcProber, error) {
	p := &grpcProber{creds: insecure.NewCredentials()}
	if g == nil {
		return p, nil
	}
	p.service = g.Service
	p.authority = g.Authority
	if g.TLS != nil {
		host, _, _ := net.SplitHostPort(addr)
		cfg, err := g.TLS.config(host)
		if err != nil {
			return nil, fmt.Errorf("health: grpc.tls: %w", err)
		}
		p.creds = credentials.NewTLS(cfg)
	}
	return p, nil
}

func (p *grpcProber) probe(ctx context.Context, addr string) error {
	// Dial ourselves, so that a refused or timed-out connection is reported
	// like in every other check rather than as gRPC's "Unavailable".
	tc, done, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	var handed atomic.Bool
	defer func() {
		if !handed.Load() {
			done()
		}
	}()
	dialer := func(context.Context, string) (net.Conn, error) {
		if handed.CompareAndSwap(false, true) {
			return &closeConn{TCPConn: tc, done: done}, nil
		}
		return nil, errors.New("health: grpc wanted a second connection")
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(p.creds),
		grpc.WithContextDialer(dialer),
		grpc.WithDisableRetry(),
		grpc.WithDisableServiceConfig(),
	}
	if p.authority != "" {
		opts = append(opts, grpc.WithAuthority(p.authority))
	}
	cc, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		return fmt.Errorf("health: grpc client: %w", err)
	}
	defer cc.Close()
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: p.service})
	if err != nil {
		return p.rpcError(err)
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		if p.service != "" {
			return failf("grpc: %s (service %q)", s, p.service)
		}
		return failf("grpc: %s", s)
	}
	return nil
}

func (p *grpcProber) rpcError(err error) error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.DeadlineExceeded, codes.Canceled:
		return inPhase("calling Health/Check", context.DeadlineExceeded)
	case codes.Unimplemented:
		return failf("grpc: the server does not implement grpc.health.v1.Health")
	case codes.NotFound:
		return failf("grpc: service %q is unknown to the server", p.service)
	case codes.Unavailable:
		return failf("grpc: unavailable: %s", st.Message())
	}
	return failf("grpc: %s: %s", st.Code(), st.Message())
}

// closeConn gives grpc a connection whose Close also releases the probe's
// deadline hook.
type closeConn struct {
	*net.TCPConn
	done func()
}

func (c *closeConn) Close() error {
	c.done()
	return nil
}
