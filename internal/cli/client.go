package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fulcrumlb/fulcrum/apiclient"
	"github.com/fulcrumlb/fulcrum/internal/version"
)

// Environment variables of the client commands.
const (
	EnvServer = "FULCRUM_SERVER"
	EnvToken  = "FULCRUM_TOKEN"
)

// ClientCommands returns the commands that talk to a control plane's REST
// API: apply, get, describe, delete, history, rollback, member and token.
// Each finds the server with --server or FULCRUM_SERVER and authenticates
// with --token or FULCRUM_TOKEN.
func ClientCommands() []*cobra.Command {
	return []*cobra.Command{
		ApplyCommand(), GetCommand(), DescribeCommand(), DeleteCommand(),
		HistoryCommand(), RollbackCommand(), MemberCommand(), TokenCommand(),
	}
}

// connection holds the flags every client command shares.
type connection struct {
	server, token string
}

func addConnectionFlags(cmd *cobra.Command) *connection {
	c := &connection{}
	cmd.PersistentFlags().StringVar(&c.server, "server", "", "API server URL (default $"+EnvServer+", else "+apiclient.DefaultServer+")")
	cmd.PersistentFlags().StringVar(&c.token, "token", "", "API token (default $"+EnvToken+")")
	return c
}

// run calls f with a client for the command's server, and turns API
// errors into exit codes: 2 for input the server rejected, 1 otherwise.
func (c *connection) run(cmd *cobra.Command, f func(ctx context.Context, cl *apiclient.Client) error) error {
	server := firstNonEmpty(c.server, os.Getenv(EnvServer), apiclient.DefaultServer)
	token := firstNonEmpty(c.token, os.Getenv(EnvToken))
	// A transport of its own, closed at the end: one command makes a few
	// requests and must leave no idle connection behind.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	cl, err := apiclient.New(apiclient.Options{Server: server, Token: token,
		HTTPClient: &http.Client{Transport: tr, Timeout: apiclient.DefaultTimeout}, UserAgent: "fulcrum-cli/" + version.String()})
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	return exitError(cmd, f(cmd.Context(), cl), server, token == "")
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// exitError maps an error to the exit-code convention, adding a hint for
// the usual mistakes.
func exitError(cmd *cobra.Command, err error, server string, noToken bool) error {
	if err == nil {
		return nil
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return err
	}
	var apiErr *apiclient.Error
	if !errors.As(err, &apiErr) {
		return &ExitError{Code: 1, Err: fmt.Errorf("%w (is the control plane running at %s? give --server or $%s)", err, server, EnvServer)}
	}
	switch apiErr.Code {
	case apiclient.CodeInvalid:
		printDetails(cmd.ErrOrStderr(), "", apiErr)
		return &ExitError{Code: 2, Err: ErrInvalid}
	case apiclient.CodeBadRequest, apiclient.CodeUnsupportedMediaType, apiclient.CodeTooLarge:
		return &ExitError{Code: 2, Err: err}
	case apiclient.CodeUnauthorized:
		if noToken {
			return &ExitError{Code: 1, Err: fmt.Errorf("%w (give --token or set $%s)", err, EnvToken)}
		}
	}
	return &ExitError{Code: 1, Err: err}
}

// printDetails prints every error of a 422, one per line, like validate
// does: "FILE: document N: Kind/name: path: reason".
func printDetails(w io.Writer, file string, e *apiclient.Error) {
	fmt.Fprintln(w, e.Message)
	for _, d := range e.Details {
		fmt.Fprintln(w, d.FieldError(file).Error())
	}
	fmt.Fprintf(w, "%d error(s)\n", len(e.Details))
}

// withExitCodes makes a command (and its subcommands) exit with 2 on a
// bad command line — wrong arguments, unknown flags, unknown subcommands
// — as the exit-code convention wants, instead of cobra's 1. A group
// command run without a subcommand prints its help.
func withExitCodes(cmd *cobra.Command) *cobra.Command {
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &ExitError{Code: 2, Err: err} })
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			return nil
		}
	}
	if cmd.HasSubCommands() && cmd.RunE == nil {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return c.Help()
			}
			return usage("unknown command %q for %q: see '%s --help'", args[0], c.CommandPath(), c.CommandPath())
		}
	}
	for _, sub := range cmd.Commands() {
		withExitCodes(sub)
	}
	return cmd
}

// usage is an invalid command line: exit code 2.
func usage(format string, args ...any) error {
	return &ExitError{Code: 2, Err: fmt.Errorf(format, args...)}
}

// parseKind accepts pool, pools, Pool, ...
func parseKind(s string) (string, error) {
	if k, ok := apiclient.ParseKind(s); ok {
		return k, nil
	}
	return "", usage("unknown kind %q: use pool, listener or route", s)
}

// parseRef parses KIND/NAME.
func parseRef(s string) (kind, name string, err error) {
	k, n, ok := strings.Cut(s, "/")
	if !ok || n == "" {
		return "", "", usage("%q: want KIND/NAME, e.g. pool/web", s)
	}
	kind, err = parseKind(k)
	return kind, n, err
}

// checkOutput validates an -o flag.
func checkOutput(format string, allowed ...string) error {
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return usage("unknown output format %q: use %s", format, strings.Join(allowed, ", "))
}

// table writes aligned columns.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)}
	t.row(headers...)
	return t
}

func (t *table) row(cols ...string) {
	for i, c := range cols {
		if c == "" {
			cols[i] = "-"
		}
	}
	fmt.Fprintln(t.tw, strings.Join(cols, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// when formats a time for tables, in UTC to the second.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// whenString reformats an RFC 3339 time of the api package's metadata.
func whenString(s string) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return when(t)
}

// printChanges prints each change, with the diff of every update. The
// diff of a creation or deletion is the whole object with its defaults,
// long and rarely read: it is printed only when full is set.
func printChanges(w io.Writer, res *apiclient.ApplyResult, full bool) {
	for _, c := range res.Changes {
		fmt.Fprintf(w, "%s %s\n", c.Ref(), c.Op)
		if c.Diff != "" && (full || c.Op == "updated") {
			fmt.Fprint(w, indent(c.Diff, "  "))
		}
	}
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}

// summary says what a mutation did, e.g. "revision 7: 1 created, 2 updated".
func summary(res *apiclient.ApplyResult) string {
	counts := res.Counts()
	var parts []string
	for _, op := range []string{"created", "updated", "deleted", "unchanged"} {
		if n := counts[op]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, op))
		}
	}
	what := strings.Join(parts, ", ")
	switch {
	case res.DryRun:
		return "dry run, nothing written: would be " + what
	case res.Revision == 0:
		return "nothing changed: " + what
	}
	return fmt.Sprintf("revision %d: %s", res.Revision, what)
}

// printWarnings prints the advice of a result on stderr.
func printWarnings(w io.Writer, res *apiclient.ApplyResult) {
	for _, d := range res.Warnings {
		fe := d.FieldError("")
		fe.Warning = true
		fmt.Fprintln(w, fe.Error())
	}
}
