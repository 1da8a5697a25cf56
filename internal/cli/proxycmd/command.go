package proxycmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/fulcrumlb/fulcrum/dataplane/admin"
	"github.com/fulcrumlb/fulcrum/dataplane/proxy"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
	"github.com/fulcrumlb/fulcrum/dataplane/xdsclient"
	"github.com/fulcrumlb/fulcrum/internal/cli"
)

// Factories builds the protocol servers (L7, L4) for a proxy.
type Factories func(deps runtime.Deps, ups *upstream.Manager) ([]runtime.ServerFactory, error)

// Options of `fulcrum proxy`.
type Options struct {
	Files []string
	// Control, Node and Zone feed the proxy from a control plane over ADS
	// instead of files.
	Control, Node, Zone string
	AdminAddress        string
	AdminToken          string
	WatchInterval       time.Duration
	LogFormat           string
	LogLevel            string
}

// Command returns `fulcrum proxy`.
func Command(newFactories Factories) *cobra.Command {
	opts := Options{AdminAddress: admin.DefaultAddress, WatchInterval: time.Second, LogFormat: "text", LogLevel: "info"}
	cmd := &cobra.Command{
		Use:   "proxy -f FILE [-f FILE]... | --control ADDR --node NAME [--zone ZONE]",
		Short: "Run a data plane, from configuration files or fed by a control plane",
		Long: `Proxy runs a data plane.

With -f it is standalone: the files go through the same validation and
translation as the control plane's, and the proxy serves the result and probes
members itself. The files are watched: a change is applied without dropping a
request or closing a connection the change does not concern, and SIGHUP
reloads at once (also re-reading certificate files). An invalid change is
logged with every error and its path, and the running configuration stays.

With --control it is fed by a control plane over xDS (ADS): health comes from
the control plane's checks, a configuration it cannot apply is refused (NACK)
and the running one stays, and when the control plane is unreachable it keeps
serving its last good configuration and reconnects with jittered backoff.

The admin listener (default ` + admin.DefaultAddress + `) serves /metrics, /ready,
/config_dump and /clusters.`,
		Example: `  fulcrum proxy -f pools.yaml
  fulcrum proxy -f pools.yaml -f routes.yaml --admin 127.0.0.1:9901
  kill -HUP $(pidof fulcrum)      # reload now
  fulcrum proxy --control 10.0.0.5:7701 --node edge-1 --zone eu-west-1a`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case len(opts.Files) == 0 && opts.Control == "":
				return &cli.ExitError{Code: 2, Err: errors.New("give -f FILE, or --control ADDR --node NAME")}
			case len(opts.Files) > 0 && opts.Control != "":
				return &cli.ExitError{Code: 2, Err: errors.New("-f and --control exclude each other")}
			case opts.Control != "" && opts.Node == "":
				return &cli.ExitError{Code: 2, Err: errors.New("--control needs --node NAME")}
			}
			if opts.AdminToken == "" {
				opts.AdminToken = os.Getenv("FULCRUM_ADMIN_TOKEN")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return Run(ctx, opts, newFactories, cmd.InOrStdin(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&opts.Files, "file", "f", nil, "configuration file (YAML or JSON); repeatable; - reads standard input once")
	f.StringVar(&opts.Control, "control", "", "control plane xDS address (host:port)")
	f.StringVar(&opts.Node, "node", "", "this data plane's name, with --control")
	f.StringVar(&opts.Zone, "zone", "", "this data plane's zone, with --control")
	f.StringVar(&opts.AdminAddress, "admin", opts.AdminAddress, "admin listener address (loopback unless --admin-token is set)")
	f.StringVar(&opts.AdminToken, "admin-token", "", "bearer token required by the admin listener (default $FULCRUM_ADMIN_TOKEN)")
	f.DurationVar(&opts.WatchInterval, "watch-interval", opts.WatchInterval, "how often to look for changed files; 0 disables watching")
	f.StringVar(&opts.LogFormat, "log-format", opts.LogFormat, "text or json")
	f.StringVar(&opts.LogLevel, "log-level", opts.LogLevel, "debug, info, warn or error")
	return cmd
}

// NewLogger builds the process logger from flags.
func NewLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	hopts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

// Run serves until ctx is done, then drains.
func Run(ctx context.Context, opts Options, newFactories Factories, stdin io.Reader, stderr io.Writer) error {
	log, err := NewLogger(stderr, opts.LogFormat, opts.LogLevel)
	if err != nil {
		return &cli.ExitError{Code: 2, Err: err}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	fromFiles := opts.Control == ""
	p, err := proxy.New(proxy.Options{Logger: log, Registerer: reg, CheckHealth: fromFiles, NewFactories: newFactories})
	if err != nil {
		return err
	}
	var src *FileSource
	if fromFiles {
		src = &FileSource{Files: opts.Files, Proxy: p, Log: log, Stdin: stdin}
		if _, err := src.Reload(true); err != nil {
			p.Shutdown(context.Background())
			return &cli.ExitError{Code: 2, Err: err}
		}
	}
	adm, err := admin.Listen(admin.Options{Address: opts.AdminAddress, Token: opts.AdminToken, Proxy: p, Gather: reg, Logger: log})
	if err != nil {
		p.Shutdown(context.Background())
		return err
	}
	log.Info("proxy started", "admin", adm.Addr(), "version", p.Version(), "files", strings.Join(opts.Files, ","), "control", opts.Control)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { p.Run(runCtx); close(done) }()
	if fromFiles {
		watch(ctx, src, opts.WatchInterval, log)
	} else {
		err = xdsclient.Run(ctx, xdsclient.Options{Address: opts.Control, Node: opts.Node, Zone: opts.Zone,
			Apply: p.Apply, Logger: log, Registerer: reg})
		if ctx.Err() != nil {
			err = nil // asked to stop
		} else if err != nil {
			log.Error("xds client stopped", "error", err)
		}
	}
	log.Info("shutting down: draining connections")
	adm.Close()
	cancel()
	<-done
	log.Info("proxy stopped")
	return err
}

// watch reloads on SIGHUP and when the files change, until ctx is done.
func watch(ctx context.Context, src *FileSource, interval time.Duration, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if interval > 0 && !stdinOnly(src.Files) {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	sig := statAll(src.Files)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			log.Info("SIGHUP: reloading")
			reload(src, true, log)
		case <-tick:
			if now := statAll(src.Files); now != sig {
				sig = now
				reload(src, false, log)
			}
		}
	}
}

func reload(src *FileSource, force bool, log *slog.Logger) {
	changed, err := src.Reload(force)
	switch {
	case err != nil:
		log.Error("reload failed", "error", err)
	case changed:
		log.Info("configuration reloaded", "version", src.Proxy.Version())
	}
}
