// Package xdstest helps the tests of the xDS server and client: it turns
// Fulcrum YAML into real translator output and gives a data plane servers
// that bind real sockets but serve nothing.
package xdstest

import (
	"context"
	"fmt"
	"github.com/fulcrumlb/fulcrum/internal/testutil"
	"strings"
	"sync"
	"testing"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/translator"
)

// Resources validates and translates Fulcrum YAML as the control plane
// does, with 127.0.0.1 as the default listen address.
func Resources(t testing.TB, yaml string) *translator.Resources {
	t.Helper()
	l, errs := api.Load([]api.Input{{Name: "test.yaml", Data: []byte(yaml)}}, api.ValidateOptions{})
	if len(errs) > 0 {
		t.Fatalf("invalid test configuration: %v", errs)
	}
	res, err := translator.Translate(l.Config, translator.Options{DefaultAddress: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Pool returns one YAML document: a Pool with the given members and, if
// port is not 0, a frontend of the given protocol on 127.0.0.1:port.
func Pool(name, protocol string, port int, members ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: %s}\nspec:\n", name)
	if port != 0 {
		fmt.Fprintf(&b, "  frontend: {port: %d, protocol: %s}\n", port, protocol)
	}
	b.WriteString("  members:\n")
	for _, m := range members {
		fmt.Fprintf(&b, "  - {address: %q}\n", m)
	}
	b.WriteString("---\n")
	return b.String()
}

// Route returns one YAML document: a Route on listener to pool, matching
// the path prefix.
func Route(name, listener, prefix, pool string) string {
	return fmt.Sprintf("apiVersion: fulcrum/v1\nkind: Route\nmetadata: {name: %s}\nspec:\n  listener: %s\n  match: {path: {prefix: %s}}\n  backends: [{pool: %s}]\n---\n",
		name, listener, prefix, pool)
}

// Listener returns one YAML document: an http Listener on 127.0.0.1:port.
func Listener(name string, port int) string {
	return fmt.Sprintf("apiVersion: fulcrum/v1\nkind: Listener\nmetadata: {name: %s}\nspec: {port: %d, protocol: http}\n---\n", name, port)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	return testutil.FreePort(t)
}

// Factory is a runtime.ServerFactory for every protocol whose servers
// accept nothing: the proxy still binds, hands over and closes real
// sockets, so configuration changes are applied as in production.
type Factory struct {
	mu      sync.Mutex
	created int
}

// Protocols implements runtime.ServerFactory.
func (f *Factory) Protocols() []string {
	return []string{"http", "https", "grpc", "tcp", "tls", "udp"}
}

// NewServer implements runtime.ServerFactory.
func (f *Factory) NewServer(*runtime.Listener, runtime.Socket) (runtime.Server, error) {
	f.mu.Lock()
	f.created++
	f.mu.Unlock()
	return idleServer{}, nil
}

// Created returns how many servers the factory started.
func (f *Factory) Created() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.created
}

type idleServer struct{}

func (idleServer) Update(*runtime.Listener) {}
func (idleServer) Detach()                  {}
func (idleServer) Drain(context.Context)    {}
