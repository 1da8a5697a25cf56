package xds

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"

	"github.com/fulcrumlb/fulcrum/internal/xdsproto"
	"github.com/fulcrumlb/fulcrum/translator"
)

// cacheTypes maps a kind to go-control-plane's response type.
var cacheTypes = [xdsproto.NumKinds]types.ResponseType{
	xdsproto.Clusters:  types.Cluster,
	xdsproto.Endpoints: types.Endpoint,
	xdsproto.Listeners: types.Listener,
	xdsproto.Routes:    types.Route,
}

// buildSnapshot turns res into a consistent cache snapshot that follows
// prev. A type that changed gets the version_info "version@seq"
// (xdsproto.FormatVersion); one whose content digest is unchanged keeps
// prev's, so the cache pushes only the types that changed.
// It returns a nil snapInfo (and no error) when version is prev's version
// with the same content: publishing it again is a no-op.
func buildSnapshot(prev *snapInfo, version string, res *translator.Resources) (*snapInfo, *cachev3.Snapshot, error) {
	if version == "" {
		return nil, nil, errors.New("xds: empty version")
	}
	if res == nil {
		res = &translator.Resources{}
	}
	lists := [xdsproto.NumKinds][]types.Resource{}
	for _, r := range res.Clusters {
		lists[xdsproto.Clusters] = append(lists[xdsproto.Clusters], r)
	}
	for _, r := range res.Endpoints {
		lists[xdsproto.Endpoints] = append(lists[xdsproto.Endpoints], r)
	}
	for _, r := range res.Listeners {
		lists[xdsproto.Listeners] = append(lists[xdsproto.Listeners], r)
	}
	for _, r := range res.Routes {
		lists[xdsproto.Routes] = append(lists[xdsproto.Routes], r)
	}
	info := &snapInfo{version: version, seq: 1, at: time.Now()}
	if prev != nil {
		info.seq = prev.seq + 1
	}
	same := prev != nil
	for k := range lists {
		d, err := digest(lists[k])
		if err != nil {
			return nil, nil, fmt.Errorf("xds: snapshot %s: %s: %w", version, xdsproto.Kind(k), err)
		}
		info.kinds[k] = kindInfo{version: xdsproto.FormatVersion(version, info.seq), digest: d, count: len(lists[k])}
		if prev != nil && prev.kinds[k].digest == d {
			info.kinds[k].version = prev.kinds[k].version
		} else {
			same = false
		}
	}
	if prev != nil && prev.version == version {
		if same {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("xds: version %s is already published with different resources", version)
	}
	snap := &cachev3.Snapshot{}
	for k := range lists {
		snap.Resources[cacheTypes[k]] = cachev3.NewResources(info.kinds[k].version, lists[k])
	}
	if err := snap.Consistent(); err != nil {
		return nil, nil, fmt.Errorf("xds: snapshot %s is inconsistent: %w", version, err)
	}
	// The cache gets the same resources marshalled once (see
	// premarshal); the check above needed them whole.
	for k := range lists {
		shells, err := premarshal(lists[k])
		if err != nil {
			return nil, nil, fmt.Errorf("xds: snapshot %s: %s: %w", version, xdsproto.Kind(k), err)
		}
		snap.Resources[cacheTypes[k]] = cachev3.NewResources(info.kinds[k].version, shells)
	}
	return info, snap, nil
}

// premarshal returns each resource as a shell: a message of the same type
// that holds only its name, with everything else as already-serialized
// unknown fields. go-control-plane marshals every resource again for each
// response, that is for each node; a shell marshals as a copy, so that
// sharing one snapshot among many nodes costs one marshalling per
// snapshot. The bytes on the wire are the resource's: a field's position
// does not matter to a decoder.
func premarshal(list []types.Resource) ([]types.Resource, error) {
	out := make([]types.Resource, len(list))
	opt := proto.MarshalOptions{Deterministic: true}
	for i, r := range list {
		body := proto.Clone(r)
		var shell proto.Message
		switch m := body.(type) {
		case *listenerv3.Listener:
			shell, m.Name = &listenerv3.Listener{Name: m.Name}, ""
		case *routev3.RouteConfiguration:
			shell, m.Name = &routev3.RouteConfiguration{Name: m.Name}, ""
		case *clusterv3.Cluster:
			shell, m.Name = &clusterv3.Cluster{Name: m.Name}, ""
		case *endpointv3.ClusterLoadAssignment:
			shell, m.ClusterName = &endpointv3.ClusterLoadAssignment{ClusterName: m.ClusterName}, ""
		default:
			return nil, fmt.Errorf("unexpected resource type %T", r)
		}
		b, err := opt.Marshal(body)
		if err != nil {
			return nil, err
		}
		shell.ProtoReflect().SetUnknown(b)
		out[i] = shell
	}
	return out, nil
}

// digest hashes a type's resources in name order, failing on a duplicate
// or unnamed resource (the cache would silently keep only one).
func digest(list []types.Resource) ([32]byte, error) {
	type named struct {
		name string
		res  types.Resource
	}
	sorted := make([]named, len(list))
	for i, r := range list {
		sorted[i] = named{cachev3.GetResourceName(r), r}
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	h := sha256.New()
	opt := proto.MarshalOptions{Deterministic: true}
	var buf []byte
	for i, n := range sorted {
		if n.name == "" {
			return [32]byte{}, errors.New("a resource has no name")
		}
		if i > 0 && sorted[i-1].name == n.name {
			return [32]byte{}, fmt.Errorf("%s is defined twice", n.name)
		}
		var err error
		if buf, err = opt.MarshalAppend(buf[:0], n.res); err != nil {
			return [32]byte{}, fmt.Errorf("%s: %w", n.name, err)
		}
		// Length-prefix name and body so that no two lists hash alike.
		fmt.Fprintf(h, "%d:%s%d:", len(n.name), n.name, len(buf))
		h.Write(buf)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}
