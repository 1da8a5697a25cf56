// Package ipam allocates frontend addresses (VIPs) and ports for Fulcrum's
// control plane. It is pure logic with no I/O: the store reads the current
// allocations and the merged configuration at one etcd revision, calls Plan,
// and writes the result in the same compare-on-revision transaction as the
// objects. Because every apply is serialised by that transaction, Plan never
// has to guard against concurrent callers, and an address or port is never
// handed out twice.
//
// The rules:
//
//   - A frontend with an empty address gets a VIP from Options.VIPs. A VIP no
//     other frontend uses is preferred, so a virtual service gets an address
//     of its own (and can use well-known ports); only when every VIP is in
//     use is one shared, on a port that is free there.
//   - A frontend whose port is 0 gets the lowest free port of Options.Ports
//     for its (address, transport); tcp and udp are separate spaces, and a
//     wildcard address (0.0.0.0, ::) collides with every address of its
//     family.
//   - Explicit addresses and ports are recorded too, so that nothing is
//     allocated on top of them; an explicit claim on an address and port
//     already allocated to another frontend is an error on the claimer.
//   - An owner keeps its allocation across updates for as long as its
//     frontend still asks for the same thing: a re-apply never moves a
//     running service. Owners absent from the wants are released.
package ipam

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/fulcrumlb/fulcrum/api"
)

// Transports: tcp carries tcp, tls, http, https and grpc frontends.
const (
	TCP = "tcp"
	UDP = "udp"
)

// PortRange is an inclusive range of ports.
type PortRange struct {
	First int `json:"first"`
	Last  int `json:"last"`
}

// Options are the pools allocations come from.
type Options struct {
	// VIPs are the prefixes VIPs are taken from, in order. In IPv4 prefixes
	// of /30 and wider the network and broadcast addresses are skipped.
	VIPs []netip.Prefix
	// Ports is the range allocated ports come from.
	Ports PortRange
}

// DefaultVIPs is the default VIP pool: on Linux the whole of 127.0.0.0/8 is
// routed to the loopback interface, so these addresses can be bound on a
// single machine without any network configuration.
var DefaultVIPs = netip.MustParsePrefix("127.0.1.0/24")

// DefaultPorts is the default port range, the one Kubernetes uses for node
// ports: above the usual ephemeral-port floor of many systems and clear of
// well-known services.
var DefaultPorts = PortRange{First: 30000, Last: 32767}

// DefaultOptions returns the single-machine defaults: VIPs from
// 127.0.1.0/24 and ports 30000-32767.
func DefaultOptions() Options {
	return Options{VIPs: []netip.Prefix{DefaultVIPs}, Ports: DefaultPorts}
}

// WithDefaults fills an empty VIP list and an empty port range.
func (o Options) WithDefaults() Options {
	if len(o.VIPs) == 0 {
		o.VIPs = []netip.Prefix{DefaultVIPs}
	}
	if o.Ports == (PortRange{}) {
		o.Ports = DefaultPorts
	}
	return o
}

// Validate checks the pools.
func (o Options) Validate() error {
	for _, p := range o.VIPs {
		if !p.IsValid() {
			return fmt.Errorf("ipam: invalid VIP prefix %v", p)
		}
	}
	if o.Ports.First < 1 || o.Ports.Last > 65535 || o.Ports.First > o.Ports.Last {
		return fmt.Errorf("ipam: port range %d-%d must lie within 1-65535, first <= last", o.Ports.First, o.Ports.Last)
	}
	return nil
}

// Want is what one frontend asks for.
type Want struct {
	// Owner is the frontend's object, "Kind/name".
	Owner string
	// Path is the JSON path of the frontend, for errors: "spec.frontend"
	// for a Pool, "spec" for a Listener.
	Path string
	// Address is the explicit address, or "" to allocate a VIP.
	Address string
	// Port is the explicit port, or 0 to allocate one.
	Port int
	// Transport is TCP or UDP.
	Transport string
}

// Allocation is the address and port an owner holds.
type Allocation struct {
	Owner     string `json:"owner"`
	Address   string `json:"address"`
	Port      int    `json:"port"`
	Transport string `json:"transport"`
	// AddressAllocated and PortAllocated say which parts came from the
	// pools; the others were given explicitly.
	AddressAllocated bool `json:"addressAllocated,omitempty"`
	PortAllocated    bool `json:"portAllocated,omitempty"`
}

// TransportOf returns the transport of a frontend protocol.
func TransportOf(protocol string) string {
	if protocol == api.ProtocolUDP {
		return UDP
	}
	return TCP
}

// Plan returns the allocation of every want, keyed by owner. prev holds the
// allocations currently stored; owners in prev without a want are released
// (left out of the result). Errors name the owner and the field; on any
// error the result must not be used.
func Plan(opts Options, prev map[string]Allocation, wants []Want) (map[string]Allocation, api.ErrorList) {
	opts = opts.WithDefaults()
	wants = slices.Clone(wants)
	sort.Slice(wants, func(i, j int) bool { return wants[i].Owner < wants[j].Owner })
	t := &table{opts: opts, out: map[string]Allocation{}, used: map[netip.Addr]int{}}
	var list api.ErrorList
	var explicit, auto []Want
	// Incumbents first: an allocation that still matches its want is
	// kept, so that a newcomer can never displace a running service.
	for _, w := range wants {
		if p, ok := prev[w.Owner]; ok && t.keep(w, p) {
			continue
		}
		if w.Address != "" && w.Port != 0 {
			explicit = append(explicit, w)
		} else {
			auto = append(auto, w)
		}
	}
	for _, w := range explicit {
		if err := t.claimExplicit(w); err != nil {
			list = append(list, err)
		}
	}
	for _, w := range auto {
		if err := t.allocate(w, prev[w.Owner]); err != nil {
			list = append(list, err)
		}
	}
	if len(list) > 0 {
		return nil, list
	}
	return t.out, nil
}

// claim is one taken (address, port, transport).
type claim struct {
	owner     string
	addr      netip.Addr
	port      int
	transport string
}

// table is the state of one Plan call.
type table struct {
	opts   Options
	claims []claim
	out    map[string]Allocation
	used   map[netip.Addr]int // claims per address
}

func (t *table) add(a Allocation) {
	addr, _ := netip.ParseAddr(a.Address)
	t.claims = append(t.claims, claim{a.Owner, addr, a.Port, a.Transport})
	t.used[addr]++
	t.out[a.Owner] = a
}

// collides reports the owner of a claim that (addr, port, transport)
// would overlap, or "".
func (t *table) collides(addr netip.Addr, port int, transport string) string {
	for _, c := range t.claims {
		if c.port != port || c.transport != transport || c.addr.Is4() != addr.Is4() {
			continue
		}
		if c.addr == addr || c.addr.IsUnspecified() || addr.IsUnspecified() {
			return c.owner
		}
	}
	return ""
}

// keep re-claims a previous allocation when the want still matches it and
// nothing kept earlier overlaps it.
func (t *table) keep(w Want, p Allocation) bool {
	addr, err := netip.ParseAddr(p.Address)
	if err != nil || p.Transport != w.Transport {
		return false
	}
	if w.Address == "" && !p.AddressAllocated || w.Address != "" && !sameAddr(w.Address, addr) {
		return false
	}
	if w.Port == 0 && !p.PortAllocated || w.Port != 0 && w.Port != p.Port {
		return false
	}
	if t.collides(addr, p.Port, p.Transport) != "" {
		return false
	}
	t.add(Allocation{Owner: w.Owner, Address: addr.String(), Port: p.Port, Transport: w.Transport,
		AddressAllocated: w.Address == "", PortAllocated: w.Port == 0})
	return true
}

func sameAddr(s string, a netip.Addr) bool {
	b, err := netip.ParseAddr(s)
	return err == nil && b == a
}

func (t *table) claimExplicit(w Want) *api.FieldError {
	addr, err := netip.ParseAddr(w.Address)
	if err != nil {
		return fieldErr(w, ".address", "%q is not an IP address", w.Address)
	}
	if other := t.collides(addr, w.Port, w.Transport); other != "" {
		return fieldErr(w, ".port", "%s %s port %d is already allocated to %s", addr, w.Transport, w.Port, other)
	}
	t.add(Allocation{Owner: w.Owner, Address: addr.String(), Port: w.Port, Transport: w.Transport})
	return nil
}

// allocate fills in the address, the port or both. hint is the owner's
// previous allocation: its VIP is preferred, so a change of port or
// transport does not also move the service to another address.
func (t *table) allocate(w Want, hint Allocation) *api.FieldError {
	if w.Address != "" {
		addr, err := netip.ParseAddr(w.Address)
		if err != nil {
			return fieldErr(w, ".address", "%q is not an IP address", w.Address)
		}
		port, ok := t.freePort(addr, w.Transport)
		if !ok {
			return fieldErr(w, ".port", "no free %s port in %d-%d on %s", w.Transport, t.opts.Ports.First, t.opts.Ports.Last, addr)
		}
		t.add(Allocation{Owner: w.Owner, Address: addr.String(), Port: port, Transport: w.Transport, PortAllocated: true})
		return nil
	}
	addr, port, ok := t.pickVIP(w, hint)
	if !ok {
		if w.Port != 0 {
			return fieldErr(w, ".address", "no VIP in %v has %s port %d free", t.opts.VIPs, w.Transport, w.Port)
		}
		return fieldErr(w, ".address", "no VIP in %v has a free %s port", t.opts.VIPs, w.Transport)
	}
	t.add(Allocation{Owner: w.Owner, Address: addr.String(), Port: port, Transport: w.Transport,
		AddressAllocated: true, PortAllocated: w.Port == 0})
	return nil
}

// pickVIP chooses the VIP (and the port, when w.Port is 0): the hint's VIP
// if it still fits, else the first VIP nobody uses, else the first used VIP
// with room.
func (t *table) pickVIP(w Want, hint Allocation) (netip.Addr, int, bool) {
	fits := func(a netip.Addr) (int, bool) {
		if w.Port != 0 {
			return w.Port, t.collides(a, w.Port, w.Transport) == ""
		}
		return t.freePort(a, w.Transport)
	}
	if hint.AddressAllocated {
		if a, err := netip.ParseAddr(hint.Address); err == nil && t.inPools(a) {
			if port, ok := fits(a); ok {
				return a, port, true
			}
		}
	}
	if a, ok := t.firstUnused(); ok {
		if port, ok := fits(a); ok {
			return a, port, true
		}
	}
	var shared []netip.Addr
	for a := range t.used {
		if t.inPools(a) {
			shared = append(shared, a)
		}
	}
	slices.SortFunc(shared, netip.Addr.Compare)
	for _, a := range shared {
		if port, ok := fits(a); ok {
			return a, port, true
		}
	}
	return netip.Addr{}, 0, false
}

// firstUnused walks the pools in order; it stops after at most
// len(t.used)+1 usable addresses per prefix, so a /8 costs nothing.
func (t *table) firstUnused() (netip.Addr, bool) {
	for _, p := range t.opts.VIPs {
		p = p.Masked()
		for a := p.Addr(); p.Contains(a); a = a.Next() {
			if skipAddr(p, a) {
				continue
			}
			if t.used[a] == 0 {
				return a, true
			}
		}
	}
	return netip.Addr{}, false
}

// skipAddr leaves out the network and broadcast addresses of IPv4 prefixes
// that have them: some stacks treat them specially.
func skipAddr(p netip.Prefix, a netip.Addr) bool {
	if !a.Is4() || p.Bits() > 30 {
		return false
	}
	if a == p.Addr() {
		return true
	}
	return !p.Contains(a.Next()) // the last address of the prefix
}

func (t *table) inPools(a netip.Addr) bool {
	for _, p := range t.opts.VIPs {
		if p.Contains(a) && !skipAddr(p.Masked(), a) {
			return true
		}
	}
	return false
}

// freePort returns the lowest port of the range that no claim overlaps on
// (addr, transport).
func (t *table) freePort(addr netip.Addr, transport string) (int, bool) {
	taken := map[int]bool{}
	for _, c := range t.claims {
		if c.transport != transport || c.addr.Is4() != addr.Is4() {
			continue
		}
		if c.addr == addr || c.addr.IsUnspecified() || addr.IsUnspecified() {
			taken[c.port] = true
		}
	}
	for p := t.opts.Ports.First; p <= t.opts.Ports.Last; p++ {
		if !taken[p] {
			return p, true
		}
	}
	return 0, false
}

func fieldErr(w Want, field, format string, args ...any) *api.FieldError {
	return &api.FieldError{Ref: w.Owner, Path: w.Path + field, Reason: fmt.Sprintf(format, args...)}
}
