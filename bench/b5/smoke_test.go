package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/testutil"
)

// TestMain lets the test binary serve as the Fulcrum contender, as the
// benchmark binary does.
func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		if err := serveFulcrum(cfg); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// smokeOptions is a tiny run: it proves the program works end to end,
// not how fast anything is.
func smokeOptions(contenders string) options {
	return options{rounds: 1, bulkConns: 1, bulkBytes: 4 << 20, rrConns: 4, rrSize: 64,
		duration: 300 * time.Millisecond, udpClients: 4, contenders: contenders,
		proxyCPU: -1, loadCPU: -1, warmup: 100 * time.Millisecond}
}

func TestSmokeFulcrum(t *testing.T) {
	var out bytes.Buffer
	if err := run(smokeOptions("fulcrum"), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "| fulcrum |") {
		t.Errorf("no result row:\n%s", out.String())
	}
}

func TestSmokePeers(t *testing.T) {
	testutil.RequireBinary(t, "haproxy")
	testutil.RequireBinary(t, "nginx")
	if !fileExists(nginxStreamModule) {
		if testutil.RequirePeers() {
			t.Fatalf("%s is missing (apt-get install libnginx-mod-stream)", nginxStreamModule)
		}
		t.Skipf("%s is missing", nginxStreamModule)
	}
	var out bytes.Buffer
	if err := run(smokeOptions("fulcrum,haproxy,nginx"), &out); err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{"| fulcrum |", "| haproxy |", "| nginx |", "Fulcrum ÷ best peer"} {
		if !strings.Contains(out.String(), row) {
			t.Errorf("missing %q:\n%s", row, out.String())
		}
	}
}
