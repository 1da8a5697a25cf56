package backend

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// ServeHTTP serves HTTPHandler on addr until SIGTERM.
func ServeHTTP(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: HTTPHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 10 * time.Minute}
	return serveUntilSignal(func() error { return srv.Serve(ln) }, func() { srv.Close() })
}

// HTTPHandler answers 200 "ok" on every path (keep-alive), except /ws,
// which upgrades to a WebSocket that echoes each message.
func HTTPHandler() http.Handler {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			t, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(t, msg); err != nil {
				return
			}
		}
	})
	ok := []byte("ok")
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(ok)
	})
	return mux
}

// ServeGRPC serves GRPCServer over cleartext HTTP/2 on addr until SIGTERM.
func ServeGRPC(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s := GRPCServer()
	return serveUntilSignal(func() error { return s.Serve(ln) }, s.Stop)
}

// GRPCServer serves the standard health service: every Check answers
// SERVING.
func GRPCServer() *grpc.Server {
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, health.NewServer())
	return s
}

func serveUntilSignal(serve func() error, stop func()) error {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		stop()
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
			return err
		}
		return nil
	}
}
