// Command fulcrum-proxy is the slim data-plane binary: `proxy`, `validate`
// and `version` only, built without the etcd server, the control plane or
// any client library the data plane does not need (a test checks its
// dependencies).
package main

import (
	"github.com/fulcrumlb/fulcrum/dataplane/factories"
	"github.com/fulcrumlb/fulcrum/internal/cli"
	"github.com/fulcrumlb/fulcrum/internal/cli/proxycmd"
)

func main() {
	cli.Main(cli.NewRoot(proxycmd.Command(factories.All), cli.ValidateCommand(), cli.VersionCommand()))
}
