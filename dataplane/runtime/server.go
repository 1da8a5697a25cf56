package runtime

import (
	"context"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"
)

// Socket is a bound listening socket; exactly one of its fields is set.
// Sockets belong to the proxy, which keeps them open across
// configurations: a server only borrows one.
type Socket struct {
	Stream net.Listener   // tcp, tls, http, https, grpc
	Packet net.PacketConn // udp
}

// Server serves one listener on a borrowed socket. The proxy creates one
// per listener and calls its methods from a single goroutine.
//
// The life of a server: NewServer starts it accepting; Update gives it each
// new configuration of its listener (connections in flight keep the
// configuration they started with, new requests and connections use the
// new one); when the listener is removed, or changes protocol on the same
// socket, the proxy calls Detach and then Drain.
type Server interface {
	// Update replaces the listener's configuration. It must not block on
	// traffic, and it must not close any connection the change does not
	// concern.
	Update(l *Listener)
	// Detach stops accepting without closing the socket and returns once
	// the server will not accept again, so the proxy can hand the socket to
	// a replacement (no connection in the kernel's queue is lost) or close
	// it. Existing connections go on.
	Detach()
	// Drain asks every connection to finish (HTTP/1.1: close after the
	// current response; HTTP/2: GOAWAY) and waits for them until ctx is
	// done, then closes what remains. It returns when every goroutine of
	// the server has ended.
	Drain(ctx context.Context)
}

// ServerFactory starts servers for the protocols it handles.
type ServerFactory interface {
	// Protocols lists the listener protocols the factory serves.
	Protocols() []string
	// NewServer starts serving l on sock.
	NewServer(l *Listener, sock Socket) (Server, error)
}

// Deps are what protocol servers share with the proxy.
type Deps struct {
	Logger *slog.Logger
	// Registerer receives the servers' metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Version returns the version of the configuration in force, for
	// metrics and logs.
	Version func() string
}
