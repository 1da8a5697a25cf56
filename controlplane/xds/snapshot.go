package xds

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

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

// buildSnapshot turns res into a consistent snapshot that follows prev,
// each resource serialized once for every node. A type that changed gets
// the version_info "version@seq" (xdsproto.FormatVersion); one whose
// content digest is unchanged keeps prev's, so that only the types that
// changed are pushed.
// It returns a nil snapInfo (and no error) when version is prev's version
// with the same content: publishing it again is a no-op.
func buildSnapshot(prev *snapInfo, version string, res *translator.Resources) (*snapInfo, *published, error) {
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
	pub := &published{}
	same := prev != nil
	for k := range lists {
		pk, d, err := serialize(xdsproto.Kind(k), lists[k])
		if err != nil {
			return nil, nil, fmt.Errorf("xds: snapshot %s: %s: %w", version, xdsproto.Kind(k), err)
		}
		info.kinds[k] = kindInfo{version: xdsproto.FormatVersion(version, info.seq), digest: d, count: len(lists[k])}
		if prev != nil && prev.kinds[k].digest == d {
			info.kinds[k].version = prev.kinds[k].version
		} else {
			same = false
		}
		pk.version = info.kinds[k].version
		pk.returned = make(map[string]string, len(pk.byName))
		for n := range pk.byName {
			pk.returned[n] = pk.version
		}
		pub.kinds[k] = pk
	}
	if prev != nil && prev.version == version {
		if same {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("xds: version %s is already published with different resources", version)
	}
	// go-control-plane's snapshot knows which names each type refers to.
	snap := &cachev3.Snapshot{}
	for k := range lists {
		snap.Resources[cacheTypes[k]] = cachev3.NewResources(info.kinds[k].version, lists[k])
	}
	if err := snap.Consistent(); err != nil {
		return nil, nil, fmt.Errorf("xds: snapshot %s is inconsistent: %w", version, err)
	}
	return info, pub, nil
}

// serialize marshals each resource of one type once, into the Any that
// every response carries, and hashes them in name order, failing on a
// duplicate or unnamed resource. The caller sets the version and the
// returned names, which depend on it.
func serialize(kind xdsproto.Kind, list []types.Resource) (publishedKind, [32]byte, error) {
	type named struct {
		name string
		any  *anypb.Any
	}
	sorted := make([]named, len(list))
	opt := proto.MarshalOptions{Deterministic: true}
	for i, r := range list {
		b, err := opt.Marshal(r)
		if err != nil {
			return publishedKind{}, [32]byte{}, err
		}
		sorted[i] = named{cachev3.GetResourceName(r), &anypb.Any{TypeUrl: kind.TypeURL(), Value: b}}
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	pk := publishedKind{byName: make(map[string]*anypb.Any, len(list)), all: make([]*anypb.Any, len(list))}
	h := sha256.New()
	for i, n := range sorted {
		if n.name == "" {
			return publishedKind{}, [32]byte{}, errors.New("a resource has no name")
		}
		if i > 0 && sorted[i-1].name == n.name {
			return publishedKind{}, [32]byte{}, fmt.Errorf("%s is defined twice", n.name)
		}
		// Length-prefix name and body so that no two lists hash alike.
		fmt.Fprintf(h, "%d:%s%d:", len(n.name), n.name, len(n.any.Value))
		h.Write(n.any.Value)
		pk.byName[n.name], pk.all[i] = n.any, n.any
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return pk, d, nil
}
