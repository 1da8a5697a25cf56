package health

import (
	"context"
	"fmt"
	"net"
	"time"
)

// prober runs one kind of check against an address. Implementations are
// built once per target and must be safe for concurrent use (the Checker
// never runs two probes of one target at once, but an implementation must
// not rely on that for memory safety).
type prober interface {
	probe(ctx context.Context, addr string) error
}

// newProber builds the prober for a validated, defaulted configuration.
func newProber(cfg Config, addr string) (prober, error) {
	switch cfg.Type {
	case TypeHTTP:
		return newHTTPProber(cfg.HTTP, addr)
	case TypeTCP:
		return newTCPProber(cfg.TCP)
	case TypeMySQL:
		return newMySQLProber(cfg.MySQL, addr)
	case TypeGRPC:
		return newGRPCProber(cfg.GRPC, addr)
	}
	return nil, fmt.Errorf("health: unknown check type %q", cfg.Type)
}

// dial opens a TCP connection for one probe. The connection's deadline is
// the probe's deadline, and it is cut at once if ctx is cancelled, so no
// read or write can outlive the probe.
//
// The connection is closed with SO_LINGER 0, as HAProxy does for its checks:
// the close sends a reset instead of a FIN, so neither side keeps the socket
// in TIME_WAIT. Without it, thousands of probes per second to the same
// member exhaust the ephemeral ports towards it.
func dial(ctx context.Context, addr string) (*net.TCPConn, func(), error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, inPhase("connecting", err)
	}
	tc := c.(*net.TCPConn)
	_ = tc.SetLinger(0)
	if dl, ok := ctx.Deadline(); ok {
		_ = tc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = tc.SetDeadline(time.Unix(1, 0)) })
	done := func() {
		stop()
		_ = tc.Close()
	}
	return tc, done, nil
}
