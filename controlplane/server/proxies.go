package server

import (
	"context"
	"log/slog"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fulcrumlb/fulcrum/controlplane/apiserver"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
	"github.com/fulcrumlb/fulcrum/controlplane/xds"
)

// proxyLeaseTTL bounds how long a dead replica's proxies stay listed.
const proxyLeaseTTL = 15

// etcdSink publishes the data planes connected to this replica in the
// store, under a lease that expires with the replica, so that `fulcrum get
// proxies` on any replica lists every data plane.
type etcdSink struct {
	st    *store.Store
	lease clientv3.LeaseID
	log   *slog.Logger
}

func newEtcdSink(ctx context.Context, st *store.Store, log *slog.Logger) (*etcdSink, error) {
	g, err := st.Client().Grant(ctx, proxyLeaseTTL)
	if err != nil {
		return nil, err
	}
	ka, err := st.Client().KeepAlive(ctx, g.ID)
	if err != nil {
		return nil, err
	}
	go func() {
		for range ka { // the channel closes when ctx ends or the lease is lost
		}
	}()
	return &etcdSink{st: st, lease: g.ID, log: log}, nil
}

// PutProxyStatus implements xds.StatusSink.
func (k *etcdSink) PutProxyStatus(ctx context.Context, p xds.ProxyStatus) error {
	if !p.Connected {
		return k.st.DeleteProxyStatus(ctx, p.Node, k.lease)
	}
	st := store.ProxyStatus{Node: p.Node, Zone: p.Zone, ControlPlane: p.Replica, Address: p.Address,
		AckedVersion: p.Version, ConnectedAt: p.ConnectedSince, UpdatedAt: time.Now().UTC()}
	if n := p.LastNack; n != nil {
		st.NackedVersion, st.NackError = n.Version, n.Error
	}
	return k.st.PutProxyStatus(ctx, st, k.lease)
}

// DeleteProxyStatus implements xds.StatusSink.
func (k *etcdSink) DeleteProxyStatus(ctx context.Context, node, _ string) error {
	return k.st.DeleteProxyStatus(ctx, node, k.lease)
}

// proxies lists every data plane: those this replica serves (fresh, also
// recently disconnected ones) and those other replicas published.
func (s *Server) proxies(ctx context.Context) ([]apiserver.ProxyView, error) {
	byName := map[string]apiserver.ProxyView{}
	others, err := s.st.ListProxyStatus(ctx)
	if err != nil {
		return nil, err
	}
	for _, o := range others {
		byName[o.Node] = apiserver.ProxyFromStatus(o)
	}
	for _, p := range s.xds.Proxies() {
		if prev, ok := byName[p.Node]; ok && !p.Connected && prev.ControlPlane != s.opt.Replica {
			continue // it moved to another replica
		}
		v := apiserver.ProxyView{Name: p.Node, Zone: p.Zone, Address: p.Address, ControlPlane: p.Replica,
			Connected: p.Connected, ConnectedSince: p.ConnectedSince, AckedVersion: p.Version, Build: p.Build}
		if n := p.LastNack; n != nil {
			v.NackedVersion, v.NackError, v.NackedAt = n.Version, n.Error, n.At
		}
		byName[p.Node] = v
	}
	out := make([]apiserver.ProxyView, 0, len(byName))
	for _, v := range byName {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
