package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
)

// DescribeCommand explains one pool: its frontend, its members with live
// health, and its last change.
func DescribeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe pool NAME",
		Short: "Show a pool's members with live health, counts, last error, and its last change",
		Long: `Describe shows what on-call needs about one pool: the frontend with its allocated
address and port, the balancing settings, and for every member its state
(enabled, drain, disabled), weight, zone and live health — why it is unhealthy,
how many checks passed and failed, when it was last checked and since when it is
in its current health — and who changed the pool last, when.`,
		Example: `  fulcrum describe pool web`,
		Args:    cobra.ExactArgs(2),
	}
	conn := addConnectionFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if kind, _ := apiclient.ParseKind(args[0]); kind != api.KindPool {
			return usage("describe supports pools: fulcrum describe pool NAME (use 'fulcrum get %s %s -o yaml' for others)", args[0], args[1])
		}
		return conn.run(cmd, func(ctx context.Context, c *apiclient.Client) error {
			o, err := c.Get(ctx, api.KindPool, args[1])
			if err != nil {
				return err
			}
			// The last revision says how the pool last changed (apply,
			// rollback, member-state); a viewer token may read it.
			var last *apiclient.Revision
			if page, err := c.History(ctx, apiclient.HistoryQuery{Kind: api.KindPool, Name: args[1], Limit: 1}); err == nil && len(page.Revisions) > 0 {
				last = &page.Revisions[0]
			}
			return describePool(cmd.OutOrStdout(), o.(*api.Pool), last)
		})
	}
	return withExitCodes(cmd)
}

func describePool(w io.Writer, p *api.Pool, last *apiclient.Revision) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	md, s := p.Metadata, p.Spec
	fmt.Fprintf(tw, "Name:\t%s\n", md.Name)
	change := fmt.Sprintf("%d, changed %s by %s", md.Revision, whenString(md.UpdatedAt), md.UpdatedBy)
	if last != nil {
		change += " (" + last.Action
		if last.RollbackTo != 0 {
			change += " to revision " + strconv.FormatInt(last.RollbackTo, 10)
		}
		change += ")"
	}
	fmt.Fprintf(tw, "Revision:\t%s\n", change)
	fmt.Fprintf(tw, "Created:\t%s\n", whenString(md.CreatedAt))
	if len(md.Labels) > 0 {
		fmt.Fprintf(tw, "Labels:\t%s\n", joinMap(md.Labels))
	}
	fmt.Fprintf(tw, "Frontend:\t%s\n", describeFrontend(p))
	algo := s.Algorithm
	if s.HashOn != "" {
		algo += " on " + s.HashOn
	}
	fmt.Fprintf(tw, "Algorithm:\t%s\n", algo)
	fmt.Fprintf(tw, "Health check:\t%s\n", describeCheck(s.HealthCheck))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "Members:")
	health := map[string]api.MemberStatus{}
	if p.Status != nil {
		for _, m := range p.Status.Members {
			health[m.Address] = m
		}
	}
	t := newTable(w, "  ADDRESS", "STATE", "WEIGHT", "ZONE", "HEALTH", "SINCE", "OK", "FAILED", "LAST CHECK", "REASON")
	for _, m := range s.Members {
		h, ok := health[m.Address]
		if !ok {
			h = api.MemberStatus{Health: api.HealthUnknown}
		}
		t.row("  "+m.Address, m.State, strconv.Itoa(m.Weight), m.Zone, h.Health, whenString(h.LastTransition),
			strconv.FormatInt(h.Successes, 10), strconv.FormatInt(h.Failures, 10), whenString(h.LastCheck), h.Reason)
	}
	return t.flush()
}

func describeFrontend(p *api.Pool) string {
	f := p.Spec.Frontend
	if f == nil {
		return "none (the pool is used by routes)"
	}
	out := poolFrontend(p)
	var allocated []string
	if f.Address == "" {
		allocated = append(allocated, "address")
	}
	if f.Port == 0 {
		allocated = append(allocated, "port")
	}
	if len(allocated) > 0 {
		out += " (" + strings.Join(allocated, " and ") + " allocated)"
	}
	if f.TLS != nil {
		out += fmt.Sprintf(", TLS with %d certificate(s)", len(f.TLS.Certificates))
	}
	return out
}

func describeCheck(hc *api.HealthCheck) string {
	if hc == nil || hc.Type == api.CheckNone {
		return "none (members count as healthy)"
	}
	what := hc.Type
	switch hc.Type {
	case api.CheckHTTP:
		what += " " + hc.Method + " " + hc.Path
	case api.CheckMySQL:
		if hc.User != "" {
			what += " as " + hc.User
		}
	case api.CheckGRPC:
		if hc.Service != "" {
			what += " service " + hc.Service
		}
	}
	return fmt.Sprintf("%s every %s, timeout %s, rise %d, fall %d", what, hc.Interval, hc.Timeout, hc.Rise, hc.Fall)
}

func joinMap(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ", ")
}
