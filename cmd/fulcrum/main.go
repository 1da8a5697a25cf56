// Command fulcrum is Fulcrum's single command line: the server, the proxy
// and the client commands.
package main

import "github.com/fulcrumlb/fulcrum/internal/cli"

func main() {
	cmds := append(cli.ClientCommands(), cli.ValidateCommand(), cli.VersionCommand())
	cli.Main(cli.NewRoot(cmds...))
}
