package healthsvc

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func listen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

func deadAddress(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func applyPool(t *testing.T, s *store.Store, up, down string) {
	t.Helper()
	yaml := fmt.Sprintf(`apiVersion: fulcrum/v1
kind: Pool
metadata: {name: web}
spec:
  members: [{address: "%s"}, {address: "%s"}]
  healthCheck: {type: tcp, interval: 200ms, timeout: 200ms, rise: 1, fall: 1}
`, up, down)
	l, errs := api.Load([]api.Input{{Name: "t", Data: []byte(yaml)}}, api.ValidateOptions{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if _, err := s.Apply(context.Background(), store.ApplyRequest{Objects: l.Objects, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
}

func healthOf(t *testing.T, s *store.Store, addr string) api.MemberStatus {
	t.Helper()
	h, err := s.Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, ms := range h["web"] {
		if ms.Address == addr {
			return ms
		}
	}
	return api.MemberStatus{}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOneLeaderChecksAndFailsOver runs two replicas on one store: one of
// them probes and writes statuses; when it stops, the other takes over and
// keeps the counts going.
func TestOneLeaderChecksAndFailsOver(t *testing.T) {
	s := openStore(t)
	up := listen(t).Addr().String()
	down := deadAddress(t)
	applyPool(t, s, up, down)

	type replica struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	start := func(name string) replica {
		ctx, cancel := context.WithCancel(context.Background())
		r := replica{cancel, make(chan struct{})}
		svc := New(Options{Store: s, Replica: name, FlushInterval: 100 * time.Millisecond, SessionTTL: time.Second})
		go func() { defer close(r.done); svc.Run(ctx) }()
		return r
	}
	a := start("a")
	waitFor(t, "first verdicts", func() bool {
		return healthOf(t, s, up).Health == api.HealthHealthy && healthOf(t, s, down).Health == api.HealthUnhealthy
	})
	if r := healthOf(t, s, down).Reason; r == "" {
		t.Error("unhealthy member has no reason")
	}
	b := start("b")
	time.Sleep(500 * time.Millisecond) // b campaigns but must not lead while a does

	a.cancel()
	<-a.done
	before := healthOf(t, s, up).Successes
	waitFor(t, "failover: counts keep growing", func() bool { return healthOf(t, s, up).Successes > before+2 })
	if healthOf(t, s, up).Health != api.HealthHealthy {
		t.Error("takeover reset a healthy member")
	}
	b.cancel()
	<-b.done
}

// TestTargets maps pools to probe targets: disabled members are not probed,
// a port override changes the probe address, stored health seeds targets.
func TestTargets(t *testing.T) {
	yaml := `apiVersion: fulcrum/v1
kind: Pool
metadata: {name: web}
spec:
  members: [{address: "10.0.0.1:80"}, {address: "10.0.0.2:80", state: disabled}]
  healthCheck: {type: http, path: /healthz, port: 8081}
---
apiVersion: fulcrum/v1
kind: Pool
metadata: {name: nocheck}
spec:
  members: [{address: "10.0.0.3:80"}]
`
	l, errs := api.Load([]api.Input{{Name: "t", Data: []byte(yaml)}}, api.ValidateOptions{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	l.Config.Pool("web").Status = &api.PoolStatus{Members: []api.MemberStatus{{Address: "10.0.0.1:80", Health: api.HealthHealthy}}}
	targets, back, err := Targets(l.Config)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 1 || len(targets["web"]) != 1 {
		t.Fatalf("targets: %+v", targets)
	}
	tg := targets["web"][0]
	if tg.Address != "10.0.0.1:8081" || tg.Config.HTTP.Path != "/healthz" || tg.Initial.String() != "healthy" || back["web"]["10.0.0.1:8081"] != "10.0.0.1:80" {
		t.Errorf("target: %+v back %v", tg, back)
	}
}
