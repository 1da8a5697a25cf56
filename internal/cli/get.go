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

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
)

// GetCommand prints objects or data planes.
func GetCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get pools|listeners|routes|proxies [NAME] [-o table|yaml|json]",
		Short: "Show pools, listeners, routes or the connected data planes",
		Long: `Get lists objects of one kind, or shows one by name, with their status (allocated
frontend, member health). -o yaml and -o json print the objects themselves, with
secrets redacted; that output can be applied again as it is. 'get proxies' shows
each data plane's zone, acknowledged configuration version and last rejection.`,
		Example: `  fulcrum get pools
  fulcrum get pool web -o yaml
  fulcrum get routes -o json
  fulcrum get proxies`,
		Args: cobra.RangeArgs(1, 2),
	}
	conn := addConnectionFlags(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, yaml or json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(output, "table", "yaml", "json"); err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if l := strings.ToLower(args[0]); l == "proxies" || l == "proxy" {
			return conn.run(cmd, func(ctx context.Context, c *apiclient.Client) error {
				return getProxies(ctx, c, w, output, args[1:])
			})
		}
		kind, err := parseKind(args[0])
		if err != nil {
			return err
		}
		return conn.run(cmd, func(ctx context.Context, c *apiclient.Client) error {
			var objs []api.Object
			if len(args) == 2 {
				o, err := c.Get(ctx, kind, args[1])
				if err != nil {
					return err
				}
				objs = []api.Object{o}
			} else if objs, err = c.ListAll(ctx, kind); err != nil {
				return err
			}
			if output != "table" {
				return WriteObjects(w, output, objs)
			}
			return writeObjectTable(w, kind, objs)
		})
	}
	return withExitCodes(cmd)
}

// writeObjectTable prints one row per object.
func writeObjectTable(w io.Writer, kind string, objs []api.Object) error {
	var t *table
	switch kind {
	case api.KindPool:
		t = newTable(w, "NAME", "FRONTEND", "ALGORITHM", "MEMBERS", "HEALTHY", "REVISION", "UPDATED", "BY")
	case api.KindListener:
		t = newTable(w, "NAME", "PROTOCOL", "ADDRESS", "DEFAULT POOL", "REVISION", "UPDATED", "BY")
	default:
		t = newTable(w, "NAME", "LISTENER", "HOSTS", "PATH", "ACTION", "REVISION", "UPDATED", "BY")
	}
	for _, o := range objs {
		md := o.GetMetadata()
		rev, updated := strconv.FormatInt(md.Revision, 10), whenString(md.UpdatedAt)
		switch v := o.(type) {
		case *api.Pool:
			healthy := 0
			if v.Status != nil {
				for _, m := range v.Status.Members {
					if m.Health == api.HealthHealthy {
						healthy++
					}
				}
			}
			t.row(md.Name, poolFrontend(v), v.Spec.Algorithm, strconv.Itoa(len(v.Spec.Members)), strconv.Itoa(healthy), rev, updated, md.UpdatedBy)
		case *api.Listener:
			stAddr, stPort := statusAddr(v.Status)
			t.row(md.Name, v.Spec.Protocol, frontendAddr(v.Spec.Address, v.Spec.Port, stAddr, stPort), v.Spec.DefaultPool, rev, updated, md.UpdatedBy)
		case *api.Route:
			t.row(md.Name, v.Spec.Listener, strings.Join(v.Spec.Hosts, ","), routePath(v), routeAction(v), rev, updated, md.UpdatedBy)
		}
	}
	return t.flush()
}

func statusAddr(st *api.ListenerStatus) (string, int) {
	if st == nil {
		return "", 0
	}
	return st.Address, st.Port
}

// frontendAddr shows the address and port in force: the allocated one
// when the spec left them empty.
func frontendAddr(addr string, port int, stAddr string, stPort int) string {
	if stAddr != "" {
		addr = stAddr
	}
	if stPort != 0 {
		port = stPort
	}
	if addr == "" && port == 0 {
		return "(allocating)"
	}
	if strings.Contains(addr, ":") {
		addr = "[" + addr + "]"
	}
	return addr + ":" + strconv.Itoa(port)
}

func poolFrontend(p *api.Pool) string {
	f := p.Spec.Frontend
	if f == nil {
		return ""
	}
	var stAddr string
	var stPort int
	if p.Status != nil {
		stAddr, stPort = p.Status.Address, p.Status.Port
	}
	return f.Protocol + " " + frontendAddr(f.Address, f.Port, stAddr, stPort)
}

func routePath(r *api.Route) string {
	if r.Spec.Match == nil || r.Spec.Match.Path == nil {
		return ""
	}
	p := r.Spec.Match.Path
	switch {
	case p.Exact != "":
		return "= " + p.Exact
	case p.Prefix != "":
		return p.Prefix + "*"
	case p.Regex != "":
		return "~ " + p.Regex
	}
	return ""
}

func routeAction(r *api.Route) string {
	switch {
	case r.Spec.Redirect != nil:
		return "redirect"
	case r.Spec.DirectResponse != nil:
		return "respond " + strconv.Itoa(r.Spec.DirectResponse.Status)
	}
	var parts []string
	for _, b := range r.Spec.Backends {
		parts = append(parts, fmt.Sprintf("%s(%d)", b.Pool, b.W()))
	}
	return strings.Join(parts, ",")
}

// getProxies prints the data planes.
func getProxies(ctx context.Context, c *apiclient.Client, w io.Writer, output string, names []string) error {
	list, err := c.Proxies(ctx)
	if err != nil {
		return err
	}
	if len(names) == 1 {
		var one []apiclient.Proxy
		for _, p := range list {
			if p.Name == names[0] {
				one = append(one, p)
			}
		}
		if len(one) == 0 {
			return &ExitError{Code: 1, Err: fmt.Errorf("no data plane named %q is connected", names[0])}
		}
		list = one
	}
	switch output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	case "yaml":
		data, err := yaml.Marshal(list)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	t := newTable(w, "NAME", "ZONE", "ADDRESS", "CONNECTED SINCE", "VERSION", "LAST NACK")
	for _, p := range list {
		since := when(p.ConnectedSince)
		if !p.Connected {
			since = "disconnected"
		}
		nack := ""
		if p.NackError != "" {
			nack = p.NackedVersion + ": " + p.NackError
		}
		t.row(p.Name, p.Zone, p.Address, since, p.AckedVersion, nack)
	}
	return t.flush()
}
