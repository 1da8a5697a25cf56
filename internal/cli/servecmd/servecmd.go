// Package servecmd is `fulcrum serve` (control plane + a local data plane in
// one process, with an embedded etcd) and `fulcrum control` (the control
// plane alone).
package servecmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/controlplane/ipam"
	"github.com/fulcrumlb/fulcrum/controlplane/server"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
	"github.com/fulcrumlb/fulcrum/dataplane/admin"
	"github.com/fulcrumlb/fulcrum/internal/cli"
	"github.com/fulcrumlb/fulcrum/internal/cli/proxycmd"
)

// Options of `fulcrum serve` and `fulcrum control`.
type Options struct {
	server.Options
	Files     []string
	Demo      bool
	VIPPools  []string
	PortRange string
	LogFormat string
	LogLevel  string
	// Local data plane (serve only).
	Admin string
	Node  string
	Zone  string
}

// ServeCommand returns `fulcrum serve`.
func ServeCommand(factories proxycmd.Factories) *cobra.Command {
	return command("serve", true, factories)
}

// ControlCommand returns `fulcrum control`.
func ControlCommand() *cobra.Command {
	return command("control", false, nil)
}

func command(name string, local bool, factories proxycmd.Factories) *cobra.Command {
	host, _ := os.Hostname()
	opts := Options{Options: server.Options{DataDir: "fulcrum-data", APIAddress: server.DefaultAPIAddress, XDSAddress: server.DefaultXDSAddress},
		LogFormat: "text", LogLevel: "info", Admin: admin.DefaultAddress, Node: host}
	cmd := &cobra.Command{Use: name, Args: cobra.NoArgs}
	if local {
		cmd.Short = "Run a control plane and a local data plane in one process"
		cmd.Long = `Serve runs everything on one machine: a control plane with an embedded
single-member etcd in --data-dir (or an external cluster with --etcd), the
REST API and the web console on --api, xDS for other data planes on --xds, the
leader-elected health checks, and a local data plane fed over xDS like any
other, with its admin listener on --admin.

At the first start it creates an admin token and shows it once. --demo also
starts three demo backends and a demo pool on 127.0.0.1:8080, so that
curl through a pool and the console work at once.`
		cmd.Example = `  fulcrum serve --demo
  curl http://127.0.0.1:8080/
  fulcrum serve --data-dir /var/lib/fulcrum -f pools.yaml`
	} else {
		cmd.Short = "Run a control plane only (no local data plane)"
		cmd.Long = `Control runs the control plane alone: store, REST API and console, xDS, health
checks. Data planes connect with 'fulcrum proxy --control ADDR --node NAME'.
Several control planes on one etcd cluster share the work: all serve the API
and xDS, one (elected) runs the health checks.`
		cmd.Example = `  fulcrum control --etcd http://10.0.0.1:2379,http://10.0.0.2:2379 --api 0.0.0.0:7700 --api-tls-cert api.crt --api-tls-key api.key`
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return run(ctx, opts, local, factories, cmd.OutOrStdout(), cmd.ErrOrStderr())
	}
	f := cmd.Flags()
	f.StringVar(&opts.DataDir, "data-dir", opts.DataDir, "directory of the embedded etcd")
	f.StringSliceVar(&opts.Etcd, "etcd", nil, "endpoints of an external etcd cluster (URL,...) instead of the embedded one")
	f.StringVar(&opts.APIAddress, "api", opts.APIAddress, "REST API and console address")
	f.StringVar(&opts.XDSAddress, "xds", opts.XDSAddress, "xDS (ADS) address for data planes")
	f.StringVar(&opts.TLSCertFile, "api-tls-cert", "", "serve the API over TLS with this certificate (PEM)")
	f.StringVar(&opts.TLSKeyFile, "api-tls-key", "", "key of --api-tls-cert (PEM)")
	f.StringArrayVarP(&opts.Files, "file", "f", nil, "configuration applied at start (repeatable); unchanged objects make no revision")
	f.StringSliceVar(&opts.VIPPools, "vip-pool", nil, "CIDRs VIPs are allocated from (default 127.0.1.0/24)")
	f.StringVar(&opts.PortRange, "port-range", "", "ports allocated to frontends, FIRST-LAST (default 30000-32767)")
	f.StringVar(&opts.Replica, "replica", "", "this control plane's name among its peers (default host-pid)")
	f.StringSliceVar(&opts.MetricsTargets, "metrics-from", nil, "data planes' admin addresses whose metrics feed the console's charts (host:port,...)")
	f.StringVar(&opts.LogFormat, "log-format", opts.LogFormat, "text or json")
	f.StringVar(&opts.LogLevel, "log-level", opts.LogLevel, "debug, info, warn or error")
	if local {
		f.BoolVar(&opts.Demo, "demo", false, "start three demo backends and a demo pool on 127.0.0.1:8080")
		f.StringVar(&opts.Admin, "admin", opts.Admin, "the local data plane's admin address")
		f.StringVar(&opts.Node, "node", opts.Node, "the local data plane's name")
		f.StringVar(&opts.Zone, "zone", "", "the local data plane's zone")
	}
	return cmd
}

func run(ctx context.Context, opts Options, local bool, factories proxycmd.Factories, stdout, stderr io.Writer) error {
	log, err := proxycmd.NewLogger(stderr, opts.LogFormat, opts.LogLevel)
	if err != nil {
		return &cli.ExitError{Code: 2, Err: err}
	}
	if opts.IPAM, err = ipamOptions(opts.VIPPools, opts.PortRange); err != nil {
		return &cli.ExitError{Code: 2, Err: err}
	}
	var initial []api.Input
	if len(opts.Files) > 0 {
		if initial, err = api.ReadInputs(opts.Files, os.Stdin); err != nil {
			return &cli.ExitError{Code: 2, Err: err}
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts.Logger, opts.Registry = log, reg
	if local {
		// The console's live charts read the local data plane's metrics.
		opts.MetricsTargets = append(opts.MetricsTargets, opts.Admin)
	}
	cp, err := server.Start(ctx, opts.Options)
	if err != nil {
		return err
	}
	defer cp.Close()
	if cp.BootstrapToken != "" {
		fmt.Fprintf(stdout, "\nCreated the admin API token. It is shown only now; keep it:\n\n    export FULCRUM_TOKEN=%s\n\n", cp.BootstrapToken)
	}
	if err := applyFiles(ctx, cp.Store(), initial); err != nil {
		return err
	}
	var demo *demoBackends
	if opts.Demo {
		if demo, err = startDemo(ctx, cp.Store()); err != nil {
			return err
		}
		defer demo.Close()
	}
	log.Info("control plane started", "api", "http://"+cp.APIAddress(), "xds", cp.XDSAddress(), "replica", cp.XDS().Version())
	if !local {
		<-ctx.Done()
		log.Info("shutting down")
		return nil
	}
	popts := proxycmd.Options{Control: cp.XDSAddress(), Node: opts.Node, Zone: opts.Zone, AdminAddress: opts.Admin,
		LogFormat: opts.LogFormat, LogLevel: opts.LogLevel}
	fmt.Fprintf(stdout, "Console and API: http://%s/   Data plane admin: http://%s/\n", cp.APIAddress(), opts.Admin)
	if opts.Demo {
		fmt.Fprintf(stdout, "Demo pool: curl http://%s/\n", demoFrontend)
	}
	return proxycmd.Run(ctx, popts, factories, os.Stdin, stderr)
}

// applyFiles applies the -f files at start, as one revision.
func applyFiles(ctx context.Context, st *store.Store, inputs []api.Input) error {
	if len(inputs) == 0 {
		return nil
	}
	dec, list := api.DecodeInputs(inputs, api.ValidateOptions{CheckFiles: true})
	if len(list) > 0 {
		return &cli.ExitError{Code: 2, Err: list}
	}
	_, err := st.Apply(ctx, store.ApplyRequest{Objects: dec.Objects, Sources: dec.Sources, Actor: "fulcrum serve -f"})
	var verr *store.ValidationError
	if errors.As(err, &verr) {
		return &cli.ExitError{Code: 2, Err: verr.Errors}
	}
	return err
}

func ipamOptions(vips []string, ports string) (ipam.Options, error) {
	opt := ipam.DefaultOptions()
	if len(vips) > 0 {
		opt.VIPs = nil
		for _, v := range vips {
			p, err := netip.ParsePrefix(strings.TrimSpace(v))
			if err != nil {
				return opt, fmt.Errorf("--vip-pool %q: not a CIDR", v)
			}
			opt.VIPs = append(opt.VIPs, p)
		}
	}
	if ports != "" {
		a, b, ok := strings.Cut(ports, "-")
		first, err1 := strconv.Atoi(a)
		last, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || first < 1 || last > 65535 || first > last {
			return opt, fmt.Errorf("--port-range %q: want FIRST-LAST within 1-65535", ports)
		}
		opt.Ports = ipam.PortRange{First: first, Last: last}
	}
	return opt, nil
}
