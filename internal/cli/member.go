package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fulcrumlb/fulcrum/apiclient"
)

// MemberCommand drains, disables and enables pool members.
func MemberCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "member drain|disable|enable POOL ADDRESS",
		Short: "Drain, disable or enable one member of a pool",
		Long: `Member changes one member's state as a revision of its own (history shows who
did it): drain sends it no new traffic and lets existing traffic finish, disable
sends it nothing, enable brings it back. ADDRESS is the member's address as in
the pool's spec (host:port).`,
		Example: `  fulcrum member drain web 10.0.0.7:8080
  fulcrum member enable web 10.0.0.7:8080`,
		Args: cobra.NoArgs,
	}
	conn := addConnectionFlags(cmd)
	for _, action := range []string{apiclient.ActionDrain, apiclient.ActionDisable, apiclient.ActionEnable} {
		cmd.AddCommand(&cobra.Command{
			Use:     action + " POOL ADDRESS",
			Short:   memberShort[action],
			Example: fmt.Sprintf("  fulcrum member %s web 10.0.0.7:8080", action),
			Args:    cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return conn.run(cmd, func(ctx context.Context, c *apiclient.Client) error {
					res, err := c.SetMemberState(ctx, args[0], args[1], action)
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "Pool/%s member %s: %s\n", args[0], args[1], memberStates[action])
					printChanges(cmd.OutOrStdout(), res, false)
					fmt.Fprintln(cmd.OutOrStdout(), summary(res))
					return nil
				})
			},
		})
	}
	return withExitCodes(cmd)
}

var memberShort = map[string]string{
	apiclient.ActionDrain:   "No new traffic to the member; existing traffic finishes",
	apiclient.ActionDisable: "No traffic at all to the member",
	apiclient.ActionEnable:  "Send traffic to the member again",
}

var memberStates = map[string]string{
	apiclient.ActionDrain:   "drain",
	apiclient.ActionDisable: "disabled",
	apiclient.ActionEnable:  "enabled",
}

// TokenCommand manages API tokens (admin role).
func TokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token create|list|delete",
		Short: "Manage API tokens (needs an admin token)",
		Long: `Tokens authenticate API clients; each has a name (recorded as the author of every
change it makes) and a role: viewer (read), editor (read and change the
configuration and member state) or admin (editor, and manage tokens). The
secret is shown once, at creation; the server keeps only its hash. The first
admin token is printed by the control plane at its first start.`,
		Example: `  fulcrum token create --name ci --role editor
  fulcrum token list
  fulcrum token delete t1a2b3c4d5e6`,
		Args: cobra.NoArgs,
	}
	conn := addConnectionFlags(cmd)
	cmd.AddCommand(tokenCreate(conn), tokenList(conn), tokenDelete(conn))
	return withExitCodes(cmd)
}

func tokenCreate(conn *connection) *cobra.Command {
	var name, role string
	cmd := &cobra.Command{
		Use:     "create --name NAME --role viewer|editor|admin",
		Short:   "Create a token and print its secret (shown once)",
		Example: "  fulcrum token create --name ci --role editor",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || role == "" {
				return usage("give --name and --role (viewer, editor or admin)")
			}
			return conn.run(cmd, func(ctx context.Context, c *apiclient.Client) error {
				t, err := c.CreateToken(ctx, name, role)
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "ID:     %s\nName:   %s\nRole:   %s\nToken:  %s\n", t.ID, t.Name, t.Role, t.Secret)
				fmt.Fprintln(cmd.ErrOrStderr(), "Store the token now: it is not shown again.")
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the token's name: the author of its changes in history")
	cmd.Flags().StringVar(&role, "role", "", "viewer, editor or admin")
	return cmd
}

func tokenList(conn *connection) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list [-o table|yaml|json]",
		Short:   "List tokens (never their secrets)",
		Example: "  fulcrum token list",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "table", "yaml", "json"); err != nil {
				return err
			}
			return conn.run(cmd, func(ctx context.Context, c *apiclient.Client) error {
				list, err := c.Tokens(ctx)
				if err != nil {
					return err
				}
				if output != "table" {
					return writeData(cmd.OutOrStdout(), output, list)
				}
				t := newTable(cmd.OutOrStdout(), "ID", "NAME", "ROLE", "CREATED")
				for _, tok := range list {
					t.row(tok.ID, tok.Name, tok.Role, when(tok.CreatedAt))
				}
				return t.flush()
			})
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, yaml or json")
	return cmd
}

func tokenDelete(conn *connection) *cobra.Command {
	return &cobra.Command{
		Use:     "delete ID",
		Short:   "Delete a token; its console sessions end at once",
		Example: "  fulcrum token delete t1a2b3c4d5e6",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return conn.run(cmd, func(ctx context.Context, c *apiclient.Client) error {
				if err := c.DeleteToken(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "token %s deleted\n", args[0])
				return nil
			})
		},
	}
}
