package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
)

// ApplyCommand sends a configuration file to the control plane, which
// applies all of it or none of it.
func ApplyCommand() *cobra.Command {
	var file string
	var dryRun, full bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE|- [--dry-run]",
		Short: "Create or update every object in a file, all or nothing",
		Long: `Apply sends a YAML or JSON file (several documents, Kubernetes Service +
Endpoints pairs included) to the control plane, which validates it together
with the stored configuration and writes every object in one revision, or
nothing. It prints what happened to each object, with a diff of every update
(--full adds the content of created and deleted objects). Objects printed by
'fulcrum get -o yaml' apply as they are: redacted secrets keep their stored
values. Exit status: 0 applied, 2 invalid (every error is printed with its
document, object and field path), 1 any other failure.`,
		Example: `  fulcrum apply -f pools.yaml
  fulcrum apply -f pools.yaml --dry-run --full   # show what would change, write nothing
  fulcrum get pools -o yaml | fulcrum apply -f -`,
		Args: cobra.NoArgs,
	}
	conn := addConnectionFlags(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", "configuration file (YAML or JSON); - reads standard input")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "validate and show the changes without writing them")
	cmd.Flags().BoolVar(&full, "full", false, "also print the whole content of created and deleted objects, defaults included")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if file == "" {
			return usage("give -f FILE (or -f - for standard input)")
		}
		inputs, err := api.ReadInputs([]string{file}, cmd.InOrStdin())
		if err != nil {
			return usage("%v", err)
		}
		return conn.run(cmd, func(ctx context.Context, c *apiclient.Client) error {
			res, err := c.Apply(ctx, inputs[0].Data, apiclient.ApplyOptions{DryRun: dryRun})
			var apiErr *apiclient.Error
			if errors.As(err, &apiErr) && (apiErr.Code == apiclient.CodeInvalid || apiErr.Code == apiclient.CodeBadRequest) && len(apiErr.Details) > 0 {
				printDetails(cmd.ErrOrStderr(), file, apiErr)
				return &ExitError{Code: 2, Err: ErrInvalid}
			}
			if err != nil {
				return err
			}
			printWarnings(cmd.ErrOrStderr(), res)
			printChanges(cmd.OutOrStdout(), res, full)
			fmt.Fprintln(cmd.OutOrStdout(), summary(res))
			return nil
		})
	}
	return withExitCodes(cmd)
}

// DeleteCommand deletes one object.
func DeleteCommand() *cobra.Command {
	var ifMatch int64
	cmd := &cobra.Command{
		Use:   "delete KIND NAME",
		Short: "Delete one object (pool, listener or route)",
		Long: `Delete removes one object as a new revision; 'fulcrum rollback' can restore it.
Deleting a pool that a route still uses is refused, with the route's path.`,
		Example: `  fulcrum delete route canary
  fulcrum delete pool web --if-match 12   # only if nobody changed it since revision 12`,
		Args: cobra.ExactArgs(2),
	}
	conn := addConnectionFlags(cmd)
	cmd.Flags().Int64Var(&ifMatch, "if-match", 0, "delete only if the object is at this revision")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		kind, err := parseKind(args[0])
		if err != nil {
			return err
		}
		return conn.run(cmd, func(ctx context.Context, c *apiclient.Client) error {
			res, err := c.Delete(ctx, kind, args[1], ifMatch)
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
