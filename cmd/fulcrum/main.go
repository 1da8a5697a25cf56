// Command fulcrum is Fulcrum's single command line: the server, the proxy
// and the client commands.
package main

import "github.com/fulcrumlb/fulcrum/internal/cli"

func main() {
	cli.Main(cli.NewRoot(
		cli.ValidateCommand(),
		cli.VersionCommand(),
	))
}
