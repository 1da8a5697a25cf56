// Package cli holds the fulcrum commands that need neither the control plane
// nor the data plane, and the helpers every command shares.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/fulcrumlb/fulcrum/internal/version"
)

// ExitError carries a process exit code through cobra.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ExitError) Unwrap() error { return e.Err }

// ErrInvalid is returned (exit code 2) when input is invalid; the details
// have already been printed.
var ErrInvalid = errors.New("invalid configuration")

// NewRoot returns the root command with the given subcommands added.
func NewRoot(subs ...*cobra.Command) *cobra.Command {
	root := &cobra.Command{
		Use:   "fulcrum",
		Short: "Fulcrum: one control plane and one API for L4 and L7 load balancing",
		Long: `Fulcrum is a load-balancing platform: an L7 and L4 proxy, a control plane that
stores the desired state and pushes it to every data plane over xDS, and the
tools to change it safely.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(subs...)
	return root
}

// Main runs a root command and exits with its code.
func Main(root *cobra.Command) {
	os.Exit(Run(root, os.Args[1:], os.Stdout, os.Stderr))
}

// Run executes the command line and returns the exit code: 0 success, 2 for
// invalid input, 1 for any other failure.
func Run(root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil && !errors.Is(ee.Err, ErrInvalid) {
			fmt.Fprintln(stderr, "fulcrum:", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(stderr, "fulcrum:", err)
	return 1
}

// VersionCommand prints the build's version.
func VersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version of this build",
		Example: "  fulcrum version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), version.String())
			return nil
		},
	}
}
