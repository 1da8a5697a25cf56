package proxycmd

import (
	"bytes"
	"context"
	"fmt"
	"github.com/fulcrumlb/fulcrum/internal/testutil"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/dataplane/proxy"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
)

// nopServer serves nothing; these tests are about loading and reloading.
type nopServer struct{}

func (nopServer) Update(*runtime.Listener) {}
func (nopServer) Detach()                  {}
func (nopServer) Drain(context.Context)    {}

type nopFactory struct{}

func (nopFactory) Protocols() []string { return []string{"http", "https", "grpc", "tcp", "tls", "udp"} }
func (nopFactory) NewServer(*runtime.Listener, runtime.Socket) (runtime.Server, error) {
	return nopServer{}, nil
}

func nopFactories(runtime.Deps, *upstream.Manager) ([]runtime.ServerFactory, error) {
	return []runtime.ServerFactory{nopFactory{}}, nil
}

func freePort(t *testing.T) int {
	t.Helper()
	return testutil.FreePort(t)
}

func TestFileSourceReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pools.yaml")
	port := freePort(t)
	good := fmt.Sprintf("apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: web}\nspec:\n  frontend: {port: %d, protocol: http}\n  members: [{address: \"127.0.0.1:9001\"}]\n", port)
	if err := os.WriteFile(file, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	p, err := proxy.New(proxy.Options{Logger: log, NewFactories: nopFactories})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	src := &FileSource{Files: []string{file}, Proxy: p, Log: log}

	if changed, err := src.Reload(false); err != nil || !changed {
		t.Fatalf("first load: changed=%v err=%v", changed, err)
	}
	v1 := p.Version()
	if changed, err := src.Reload(false); err != nil || changed {
		t.Errorf("unchanged file reloaded: changed=%v err=%v", changed, err)
	}

	bad := strings.Replace(good, "protocol: http", "protocol: htp", 1) + "  algorithm: fastest\n"
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Reload(false); err == nil {
		t.Fatal("invalid file applied")
	}
	if p.Version() != v1 {
		t.Error("an invalid file replaced the running configuration")
	}
	if r := p.LastRejection(); r == nil || !strings.Contains(r.Error, "spec.algorithm") {
		t.Errorf("the rejection is not visible (for /config_dump): %+v", r)
	}
	for _, want := range []string{"Pool/web: spec.frontend.protocol:", "Pool/web: spec.algorithm:"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}

	fixed := strings.Replace(good, "9001", "9002", 1)
	if err := os.WriteFile(file, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	if changed, err := src.Reload(false); err != nil || !changed || p.Version() == v1 {
		t.Errorf("fixed file: changed=%v err=%v version %s", changed, err, p.Version())
	}
	if m := p.Upstreams().Cluster("web").Members(); len(m) != 1 || m[0].Address != "127.0.0.1:9002" {
		t.Errorf("members after reload: %v", m)
	}
	if changed, err := src.Reload(true); err != nil || !changed {
		t.Errorf("forced reload (SIGHUP): changed=%v err=%v", changed, err)
	}
}
