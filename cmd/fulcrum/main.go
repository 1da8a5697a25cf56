// Command fulcrum is Fulcrum's single command line: the server, the proxy
// and the client commands.
package main

import (
	"github.com/spf13/cobra"

	"github.com/fulcrumlb/fulcrum/dataplane/factories"
	"github.com/fulcrumlb/fulcrum/internal/cli"
	"github.com/fulcrumlb/fulcrum/internal/cli/proxycmd"
	"github.com/fulcrumlb/fulcrum/internal/cli/servecmd"
)

func main() {
	cmds := []*cobra.Command{servecmd.ServeCommand(factories.All), servecmd.ControlCommand(), proxycmd.Command(factories.All)}
	cmds = append(cmds, cli.ClientCommands()...)
	cmds = append(cmds, cli.ValidateCommand(), cli.VersionCommand())
	cli.Main(cli.NewRoot(cmds...))
}
