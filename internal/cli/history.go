package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/fulcrumlb/fulcrum/apiclient"
)

// HistoryCommand lists revisions: who, when, what.
func HistoryCommand() *cobra.Command {
	var limit int
	var before, show int64
	var output string
	cmd := &cobra.Command{
		Use:   "history [KIND/NAME]",
		Short: "List revisions: who changed what, when",
		Long: `History lists revisions newest first: everyone's, or one object's. Each row says
the revision number, when, who (the token's name), the action (apply, delete,
rollback, member-state) and the objects it changed. --revision N shows one
revision in full, with the diff of every object it changed.`,
		Example: `  fulcrum history
  fulcrum history pool/web
  fulcrum history --limit 20 --before 140     # the page after revision 140
  fulcrum history --revision 12               # every change of revision 12, as diffs`,
		Args: cobra.MaximumNArgs(1),
	}
	conn := addConnectionFlags(cmd)
	cmd.Flags().IntVar(&limit, "limit", 50, "revisions per page")
	cmd.Flags().Int64Var(&before, "before", 0, "show only revisions older than this one")
	cmd.Flags().Int64VarP(&show, "revision", "r", 0, "show one revision with its diffs")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, yaml or json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(output, "table", "yaml", "json"); err != nil {
			return err
		}
		q := apiclient.HistoryQuery{Limit: limit, Before: before}
		if len(args) == 1 {
			var err error
			if q.Kind, q.Name, err = parseRef(args[0]); err != nil {
				return err
			}
		}
		w := cmd.OutOrStdout()
		return conn.run(cmd, func(ctx context.Context, c *apiclient.Client) error {
			if show != 0 {
				rev, err := c.Revision(ctx, show)
				if err != nil {
					return err
				}
				if output != "table" {
					return writeData(w, output, rev)
				}
				printRevision(w, rev)
				return nil
			}
			page, err := c.History(ctx, q)
			if err != nil {
				return err
			}
			if output != "table" {
				return writeData(w, output, page)
			}
			return writeHistory(w, page)
		})
	}
	return withExitCodes(cmd)
}

func writeHistory(w io.Writer, page *apiclient.HistoryPage) error {
	t := newTable(w, "REVISION", "TIME", "ACTOR", "ACTION", "CHANGES")
	for _, r := range page.Revisions {
		action := r.Action
		if r.RollbackTo != 0 {
			action += " to " + strconv.FormatInt(r.RollbackTo, 10)
		}
		var changes []string
		for _, c := range r.Changes {
			changes = append(changes, c.Ref()+" "+c.Op)
		}
		t.row(strconv.FormatInt(r.Number, 10), when(r.Time), r.Actor, action, strings.Join(changes, ", "))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if page.Next != 0 {
		fmt.Fprintf(w, "(older revisions: --before %d)\n", page.Next)
	}
	return nil
}

func printRevision(w io.Writer, r *apiclient.Revision) {
	fmt.Fprintf(w, "revision %d by %s at %s: %s", r.Number, r.Actor, when(r.Time), r.Action)
	if r.RollbackTo != 0 {
		fmt.Fprintf(w, " to revision %d", r.RollbackTo)
	}
	fmt.Fprintln(w)
	printChanges(w, &apiclient.ApplyResult{Changes: r.Changes}, true)
}

// writeData prints any API answer as YAML or JSON.
func writeData(w io.Writer, format string, v any) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	data, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// RollbackCommand restores one object as it was at a revision.
func RollbackCommand() *cobra.Command {
	var to int64
	cmd := &cobra.Command{
		Use:   "rollback KIND/NAME --to REVISION",
		Short: "Make one object as it was at a revision (restores deleted objects)",
		Long: `Rollback writes a new revision in which the object is as it was right after
revision REVISION: its content then is applied again, a deleted object comes
back, and an object that did not exist then is deleted. The result is validated
like any apply. 'fulcrum history KIND/NAME' shows the revisions to choose from.`,
		Example: `  fulcrum history route/canary
  fulcrum rollback route/canary --to 41`,
		Args: cobra.ExactArgs(1),
	}
	conn := addConnectionFlags(cmd)
	cmd.Flags().Int64Var(&to, "to", 0, "the revision to restore (required)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		kind, name, err := parseRef(args[0])
		if err != nil {
			return err
		}
		if to <= 0 {
			return usage("give --to REVISION (see 'fulcrum history %s')", args[0])
		}
		return conn.run(cmd, func(ctx context.Context, c *apiclient.Client) error {
			res, err := c.Rollback(ctx, kind, name, to)
			if err != nil {
				return err
			}
			printChanges(cmd.OutOrStdout(), res, false)
			fmt.Fprintln(cmd.OutOrStdout(), summary(res))
			return nil
		})
	}
	return withExitCodes(cmd)
}
