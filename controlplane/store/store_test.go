package store

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/controlplane/ipam"
	"github.com/fulcrumlb/fulcrum/internal/testutil"
)

func TestEmbeddedRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port := testutil.FreePort(t)
	opt := Options{DataDir: dir, ClientPort: port, Prefix: "/custom/"}
	s, err := Open(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if s.ClientURL() != "http://127.0.0.1:"+strconv.Itoa(port) || s.Prefix() != "/custom/" {
		t.Fatalf("ClientURL %q, prefix %q", s.ClientURL(), s.Prefix())
	}
	apply(t, s, pool("web", tcp(), "127.0.0.1:9001"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	s = open(t, func(o *Options) { o.DataDir, o.Prefix = dir, "/custom/" })
	o, err := s.Get(context.Background(), api.KindPool, "web")
	if err != nil || o.GetMetadata().Revision != 1 || o.(*api.Pool).Status.Port != 30000 {
		t.Fatalf("after restart: %+v, %v", o, err)
	}
	if res := apply(t, s, pool("api", nil, "127.0.0.1:9002")); res.Revision != 2 {
		t.Fatalf("revision after restart = %d", res.Revision)
	}
	// Keys live under the prefix only.
	resp, err := s.Client().Get(context.Background(), "/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		if !strings.HasPrefix(string(kv.Key), "/custom/") {
			t.Fatalf("key outside the prefix: %s", kv.Key)
		}
	}
}

func TestCustomIPAMPools(t *testing.T) {
	t.Parallel()
	s := open(t, func(o *Options) {
		o.IPAM = ipam.Options{Ports: ipam.PortRange{First: 40000, Last: 40000}}
	})
	res := apply(t, s, pool("a", &api.Frontend{Address: "127.0.0.1", Protocol: api.ProtocolTCP}, "127.0.0.1:9001"))
	if st := res.Changes[0].After.(*api.Pool).Status; st.Address != "127.0.0.1" || st.Port != 40000 {
		t.Fatalf("status = %+v", st)
	}
	_, err := s.Apply(context.Background(), ApplyRequest{Actor: "test", Objects: []api.Object{
		pool("b", &api.Frontend{Address: "127.0.0.1", Protocol: api.ProtocolTCP}, "127.0.0.1:9001")}})
	if list := validationErrors(t, err); list[0].Ref != "Pool/b" || list[0].Path != "spec.frontend.port" {
		t.Fatalf("exhausted range: %v", list)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := Open(ctx, Options{}); err == nil {
		t.Fatal("Open without endpoints or data directory succeeded")
	}
	if _, err := Open(ctx, Options{DataDir: t.TempDir(), Prefix: "nope"}); err == nil {
		t.Fatal("a prefix without slashes was accepted")
	}
	// Nothing listens there: Open must fail, as unavailable, in bounded time.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	_, err = Open(ctx, Options{Endpoints: []string{"http://" + addr}, RequestTimeout: time.Second, DialTimeout: time.Second})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Open of a dead endpoint: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Open of a dead endpoint took %v", d)
	}
}

func TestWatchAfterClose(t *testing.T) {
	t.Parallel()
	s := open(t)
	s.Close()
	if _, ok := <-s.Watch(context.Background()); ok {
		t.Fatal("Watch on a closed store delivered a notification")
	}
}

func TestEtcdLogsGoToSlogAtWarn(t *testing.T) {
	var buf strings.Builder
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	z := zapToSlog(l, "etcd").With(zap.String("member", "m1"))
	z.Info("chatty")
	z.Warn("slow fdatasync", zap.Duration("took", time.Second))
	z.Error("lost leader")
	out := buf.String()
	if strings.Contains(out, "chatty") || !strings.Contains(out, `level=WARN msg="slow fdatasync"`) ||
		!strings.Contains(out, "took=1s") || !strings.Contains(out, "member=m1") ||
		!strings.Contains(out, "component=etcd") || !strings.Contains(out, `level=ERROR msg="lost leader"`) {
		t.Fatalf("log output:\n%s", out)
	}
}
