// Package factories names the protocol servers a Fulcrum data plane runs:
// L7 (http, https, grpc) and L4 (tcp, tls, udp). The binaries and tests
// build proxies with All, so every process serves the same protocols.
package factories

import (
	"github.com/fulcrumlb/fulcrum/dataplane/l4"
	"github.com/fulcrumlb/fulcrum/dataplane/l7"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
)

// All returns the L7 and L4 factories over the proxy's live upstreams; it
// fits proxy.Options.NewFactories.
func All(deps runtime.Deps, ups *upstream.Manager) ([]runtime.ServerFactory, error) {
	f7, err := l7.NewFactory(deps, ups)
	if err != nil {
		return nil, err
	}
	return []runtime.ServerFactory{f7, l4.NewFactory(deps, ups)}, nil
}
