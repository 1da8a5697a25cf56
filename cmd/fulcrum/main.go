// Command fulcrum is Fulcrum's single command line: the server, the proxy
// and the client commands.
package main

import (
	"github.com/fulcrumlb/fulcrum/dataplane/factories"
	"github.com/fulcrumlb/fulcrum/internal/cli"
	"github.com/fulcrumlb/fulcrum/internal/cli/proxycmd"
)

func main() {
	cmds := append(cli.ClientCommands(), proxycmd.Command(factories.All), cli.ValidateCommand(), cli.VersionCommand())
	cli.Main(cli.NewRoot(cmds...))
}
