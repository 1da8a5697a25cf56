package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fulcrumlb/fulcrum/api"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// open starts a store on an embedded etcd in a fresh temporary directory.
func open(t testing.TB, mod ...func(*Options)) *Store {
	t.Helper()
	opt := Options{DataDir: t.TempDir(), RequestTimeout: 10 * time.Second}
	for _, f := range mod {
		f(&opt)
	}
	s, err := Open(context.Background(), opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// attach opens a second store (a "replica") on another store's embedded etcd.
func attach(t testing.TB, s *Store) *Store {
	t.Helper()
	r, err := Open(context.Background(), Options{Endpoints: []string{s.ClientURL()}, Prefix: s.Prefix()})
	if err != nil {
		t.Fatalf("Open replica: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func pool(name string, fe *api.Frontend, members ...string) *api.Pool {
	p := &api.Pool{TypeMeta: api.TypeMeta{APIVersion: api.APIVersion, Kind: api.KindPool},
		Metadata: api.Metadata{Name: name}, Spec: api.PoolSpec{Frontend: fe}}
	for _, m := range members {
		p.Spec.Members = append(p.Spec.Members, api.Member{Address: m})
	}
	return p
}

func listener(name, defaultPool string, fe api.Frontend) *api.Listener {
	return &api.Listener{TypeMeta: api.TypeMeta{APIVersion: api.APIVersion, Kind: api.KindListener},
		Metadata: api.Metadata{Name: name}, Spec: api.ListenerSpec{Frontend: fe, DefaultPool: defaultPool}}
}

func route(name, listener string, pools ...string) *api.Route {
	r := &api.Route{TypeMeta: api.TypeMeta{APIVersion: api.APIVersion, Kind: api.KindRoute},
		Metadata: api.Metadata{Name: name}, Spec: api.RouteSpec{Listener: listener}}
	for _, p := range pools {
		r.Spec.Backends = append(r.Spec.Backends, api.Backend{Pool: p})
	}
	return r
}

func tcp() *api.Frontend { return &api.Frontend{Protocol: api.ProtocolTCP} }

func apply(t testing.TB, s *Store, objs ...api.Object) *ApplyResult {
	t.Helper()
	res, err := s.Apply(context.Background(), ApplyRequest{Objects: objs, Actor: "test"})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

// etcdRev returns etcd's current revision: a write of any kind moves it.
func etcdRev(t testing.TB, s *Store) int64 {
	t.Helper()
	resp, err := s.Client().Get(context.Background(), "any")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func ops(res *ApplyResult) string {
	out := ""
	for _, c := range res.Changes {
		out += fmt.Sprintf("%s/%s:%s ", c.Kind, c.Name, c.Op)
	}
	return out
}

func validationErrors(t testing.TB, err error) api.ErrorList {
	t.Helper()
	var list api.ErrorList
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &list) {
		t.Fatalf("error = %v, want a validation error", err)
	}
	return list
}
