package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fulcrumlb/fulcrum/api"
)

// ValidateCommand checks configuration files offline.
func ValidateCommand() *cobra.Command {
	var files []string
	var output string
	cmd := &cobra.Command{
		Use:   "validate -f FILE|- [-f FILE]...",
		Short: "Check configuration files offline, without a server",
		Long: `Validate decodes every document of every file strictly, imports Kubernetes
Service + Endpoints pairs, applies defaults and checks the whole set, including
references between objects and frontends that collide. Every error is printed
with its file, document, object and field path. Exit status: 0 valid, 2 invalid.`,
		Example: `  fulcrum validate -f pools.yaml
  fulcrum validate -f pools.yaml -o yaml     # print the objects with every default filled in
  cat pools.yaml | fulcrum validate -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return &ExitError{Code: 2, Err: fmt.Errorf("give at least one -f FILE (or -f - for standard input)")}
			}
			inputs, err := api.ReadInputs(files, cmd.InOrStdin())
			if err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			loaded, list := api.Load(inputs, api.ValidateOptions{CheckFiles: true})
			if len(list) > 0 {
				for _, e := range list {
					fmt.Fprintln(cmd.ErrOrStderr(), e.Error())
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%d error(s)\n", len(list))
				return &ExitError{Code: 2, Err: ErrInvalid}
			}
			for _, w := range loaded.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), w.Error())
			}
			if output != "" {
				return WriteObjects(cmd.OutOrStdout(), output, loaded.Config.Objects())
			}
			c := loaded.Config
			fmt.Fprintf(cmd.OutOrStdout(), "valid: %d pool(s), %d listener(s), %d route(s)\n",
				len(c.Pools), len(c.Listeners), len(c.Routes))
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "configuration file (YAML or JSON); - reads standard input; repeatable")
	cmd.Flags().StringVarP(&output, "output", "o", "", "print the defaulted objects: yaml or json")
	return cmd
}
