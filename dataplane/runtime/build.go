package runtime

import (
	"errors"
	"fmt"
	"sort"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/fulcrumlb/fulcrum/translator"
)

// Resources are the four kinds of xDS resources a data plane consumes,
// as the translator produces them and as ADS delivers them.
type Resources = translator.Resources

// Build turns a consistent set of xDS resources into a Snapshot. It reads
// every field docs/xds.md lists and rejects what it does not understand, so
// that a NACK names the problem instead of the proxy silently doing
// something else. It loads certificates and CA files, so a Snapshot is
// ready to serve. Build has no side effects.
func Build(version string, res *Resources) (*Snapshot, error) {
	snap := &Snapshot{Version: version, Listeners: map[string]*Listener{}, Clusters: map[string]*Cluster{}}
	var errs []error
	failed := map[string]bool{} // clusters with errors of their own: no cascade
	clas := map[string]*endpointv3.ClusterLoadAssignment{}
	for _, e := range res.Endpoints {
		clas[e.GetClusterName()] = e
	}
	for _, c := range res.Clusters {
		if snap.Clusters[c.GetName()] != nil {
			errs = append(errs, fmt.Errorf("cluster %s is defined twice", c.GetName()))
			continue
		}
		cla := clas[c.GetName()]
		if sn := c.GetEdsClusterConfig().GetServiceName(); sn != "" && clas[sn] != nil {
			cla = clas[sn]
		}
		if cla == nil {
			cla = c.GetLoadAssignment()
		}
		cl, err := buildCluster(c, cla)
		if err != nil {
			errs = append(errs, err)
			failed[c.GetName()] = true
			continue
		}
		snap.Clusters[cl.Name] = cl
	}
	routes := map[string]*routev3.RouteConfiguration{}
	for _, r := range res.Routes {
		routes[r.GetName()] = r
	}
	sockets := map[string]string{}
	for _, l := range res.Listeners {
		ln, err := buildListener(l, routes)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if other, dup := sockets[ln.SocketKey()]; dup {
			errs = append(errs, fmt.Errorf("listeners %s and %s both bind %s", other, ln.Name, ln.SocketKey()))
			continue
		}
		sockets[ln.SocketKey()] = ln.Name
		snap.Listeners[ln.Name] = ln
		snap.ListenerNames = append(snap.ListenerNames, ln.Name)
	}
	sort.Strings(snap.ListenerNames)
	errs = append(errs, checkReferences(snap, failed)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return snap, nil
}

// checkReferences makes sure every cluster a listener or route names exists.
func checkReferences(s *Snapshot, failed map[string]bool) []error {
	var errs []error
	need := func(where, name string) {
		if name != "" && s.Clusters[name] == nil && !failed[name] {
			errs = append(errs, fmt.Errorf("%s: cluster %q is not defined", where, name))
		}
	}
	for _, name := range s.ListenerNames {
		l := s.Listeners[name]
		if l.Routes != nil {
			for _, vh := range l.Routes.VirtualHosts {
				for _, r := range vh.Routes {
					for _, b := range r.Backends {
						need("listener "+name+" route "+r.Name, b.Cluster)
					}
					for _, m := range r.Mirrors {
						need("listener "+name+" route "+r.Name+" mirror", m.Cluster)
					}
				}
			}
		}
		if l.TCP != nil {
			for _, b := range l.TCP.Backends {
				need("listener "+name, b.Cluster)
			}
		}
		for _, r := range l.SNI {
			for _, b := range r.Route.Backends {
				need("listener "+name+" sni "+r.Name, b.Cluster)
			}
		}
		if l.UDP != nil {
			need("listener "+name, l.UDP.Cluster)
		}
	}
	return errs
}
