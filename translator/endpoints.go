package translator

import (
	"fmt"
	"net"
	"sort"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/fulcrumlb/fulcrum/api"
)

// endpoints translates a pool's members into its ClusterLoadAssignment:
// one locality per zone (sorted, the empty zone first), endpoints sorted by
// address, disabled members left out.
func (t *translation) endpoints(p *api.Pool) *endpointv3.ClusterLoadAssignment {
	status := map[string]api.MemberStatus{}
	if p.Status != nil {
		for _, ms := range p.Status.Members {
			status[ms.Address] = ms
		}
	}
	hcPort := 0
	if hc := p.Spec.HealthCheck; hc != nil && hc.Type != api.CheckNone {
		hcPort = hc.Port
	}
	type member struct {
		address string
		ep      *endpointv3.LbEndpoint
	}
	byZone := map[string][]member{}
	for i, m := range p.Spec.Members {
		if m.State == api.StateDisabled {
			continue
		}
		ep, err := lbEndpoint(m, status[m.Address], hcPort)
		if err != nil {
			t.fail(p, fmt.Sprintf("spec.members[%d].address", i), nil, "%v", err)
			continue
		}
		byZone[m.Zone] = append(byZone[m.Zone], member{m.Address, ep})
	}
	zones := make([]string, 0, len(byZone))
	for z := range byZone {
		zones = append(zones, z)
	}
	sort.Strings(zones)
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: ClusterName(p.Metadata.Name)}
	for _, z := range zones {
		ms := byZone[z]
		sort.SliceStable(ms, func(i, j int) bool { return ms[i].address < ms[j].address })
		loc := &endpointv3.LocalityLbEndpoints{Locality: &corev3.Locality{Zone: z}}
		for _, m := range ms {
			loc.LbEndpoints = append(loc.LbEndpoints, m.ep)
		}
		cla.Endpoints = append(cla.Endpoints, loc)
	}
	return cla
}

// lbEndpoint translates one enabled or draining member.
func lbEndpoint(m api.Member, st api.MemberStatus, hcPort int) (*endpointv3.LbEndpoint, error) {
	host, portStr, err := net.SplitHostPort(m.Address)
	if err != nil {
		return nil, fmt.Errorf("%q is not host:port", m.Address)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("%q has no valid port", m.Address)
	}
	ep := &endpointv3.Endpoint{
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address:       host,
			PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)},
		}}},
		Hostname: m.Address,
	}
	if hcPort > 0 {
		ep.HealthCheckConfig = &endpointv3.Endpoint_HealthCheckConfig{PortValue: clampU32(hcPort)}
	}
	out := &endpointv3.LbEndpoint{
		HostIdentifier:      &endpointv3.LbEndpoint_Endpoint{Endpoint: ep},
		HealthStatus:        healthStatus(m.State, st.Health),
		LoadBalancingWeight: u32(max(m.Weight, 1)),
		Metadata:            toMetadata(&EndpointMetadata{HealthReason: st.Reason}),
	}
	return out, nil
}

// healthStatus combines the member's state with the control plane's check.
func healthStatus(state, health string) corev3.HealthStatus {
	if state == api.StateDrain {
		return corev3.HealthStatus_DRAINING
	}
	switch health {
	case api.HealthHealthy:
		return corev3.HealthStatus_HEALTHY
	case api.HealthUnhealthy:
		return corev3.HealthStatus_UNHEALTHY
	}
	return corev3.HealthStatus_UNKNOWN
}
