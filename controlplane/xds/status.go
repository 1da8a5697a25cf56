package xds

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/peer"

	"github.com/fulcrumlb/fulcrum/internal/xdsproto"
)

// ProxyStatus is what the control plane knows about one data plane (xDS
// node): where it is, whether it is connected to this replica, and which
// configuration it runs.
type ProxyStatus struct {
	// Node is the node id (`fulcrum proxy --node`).
	Node string `json:"node"`
	// Zone is the node's locality.zone (`--zone`).
	Zone string `json:"zone,omitempty"`
	// Build is the data plane's build version (user_agent_version).
	Build string `json:"build,omitempty"`
	// Address is the remote address of its latest ADS stream.
	Address string `json:"address,omitempty"`
	// Replica identifies the control-plane replica that reports this status.
	Replica string `json:"replica"`
	// Connected is true while the node has an ADS stream to Replica.
	Connected bool `json:"connected"`
	// ConnectedSince is when its current (or last) connection began.
	ConnectedSince time.Time `json:"connectedSince"`
	// DisconnectedAt is when it lost its last stream; zero while connected.
	DisconnectedAt time.Time `json:"disconnectedAt,omitzero"`
	// Version is the newest snapshot version the node has acknowledged in
	// full (every resource type), empty until it has.
	Version string `json:"version,omitempty"`
	// VersionAt is when the node reached Version.
	VersionAt time.Time `json:"versionAt,omitzero"`
	// Acked is, per resource type, the version the node last reported as
	// applied (the version_info of its latest request).
	Acked xdsproto.Versions `json:"acked"`
	// LastNack is the last configuration the node rejected, or nil.
	LastNack *Nack `json:"lastNack,omitempty"`
}

// Nack is a configuration a data plane rejected.
type Nack struct {
	// Type is the resource type ("listeners", "routes", "clusters", "endpoints").
	Type string `json:"type"`
	// Version is the version that was rejected.
	Version string `json:"version"`
	// Error is the data plane's error_detail message.
	Error string    `json:"error"`
	At    time.Time `json:"at"`
}

// snapInfo describes the snapshot in force: its version, its order among
// snapshots, and each type's version and content digest.
type snapInfo struct {
	version string
	seq     uint64
	at      time.Time
	kinds   [xdsproto.NumKinds]kindInfo
}

type kindInfo struct {
	version string
	digest  [32]byte
	count   int
}

// matches reports whether a node that acknowledged acked runs exactly this
// snapshot. Routes and endpoints count only when the snapshot has some: a
// client subscribes to them by name and never acknowledges an empty set it
// does not need.
func (s *snapInfo) matches(acked *xdsproto.Versions) bool {
	for k := xdsproto.Kind(0); k < xdsproto.NumKinds; k++ {
		if _, child := k.Parent(); child && s.kinds[k].count == 0 {
			continue
		}
		if acked.Get(k) != s.kinds[k].version {
			return false
		}
	}
	return true
}

// maxVersions bounds the versions remembered for WaitForVersion.
const maxVersions = 4096

// tracker follows every node's streams, ACKs and NACKs. Its methods are
// called synchronously from go-control-plane's stream goroutines, so they
// only update memory under one mutex and never block on I/O: the sink runs
// on its own goroutine.
type tracker struct {
	replica string
	m       *metrics

	mu      sync.Mutex
	nodes   map[string]*nodeState
	streams map[int64]*streamState
	snap    *snapInfo
	seqs    map[string]uint64 // version → seq, for WaitForVersion
	order   []string          // versions in seqs, oldest first
	changed chan struct{}     // closed and replaced on every change
	binds   uint64            // streams bound to nodes so far: waitFor rescans when it moves
	dirty   map[string]bool   // nodes the sink has not seen since they changed
}

type nodeState struct {
	status  ProxyStatus
	acked   xdsproto.Versions // as on the wire ("version@seq"); status.Acked shows the versions
	streams int
	seq     uint64 // seq of status.Version
}

type streamState struct {
	node string
	peer string
	sent [xdsproto.NumKinds]sentResponse
}

// sentResponse is the last response of one type sent on a stream: a request
// is current only if it carries this nonce (go-control-plane ignores the
// others, and so must the status).
type sentResponse struct {
	nonce   string
	version string
}

func newTracker(replica string, m *metrics) *tracker {
	return &tracker{
		replica: replica, m: m,
		nodes: map[string]*nodeState{}, streams: map[int64]*streamState{},
		seqs: map[string]uint64{}, changed: make(chan struct{}), dirty: map[string]bool{},
	}
}

// broadcast wakes every waiter; called with mu held.
func (t *tracker) broadcast() {
	close(t.changed)
	t.changed = make(chan struct{})
}

func (t *tracker) streamOpen(ctx context.Context, id int64, typeURL string) error {
	if typeURL != "" {
		return fmt.Errorf("xds: only ADS is served, not %s streams", typeURL)
	}
	st := &streamState{}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		st.peer = p.Addr.String()
	}
	t.mu.Lock()
	t.streams[id] = st
	t.mu.Unlock()
	return nil
}

func (t *tracker) streamClosed(id int64, _ *corev3.Node) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.streams[id]
	delete(t.streams, id)
	if st == nil || st.node == "" {
		return
	}
	n := t.nodes[st.node]
	n.streams--
	if n.streams == 0 {
		n.status.Connected = false
		n.status.DisconnectedAt = time.Now()
		t.m.connected.Dec()
	}
	t.dirty[st.node] = true
	t.broadcast()
}

// request records a request and returns an error to end a stream without
// a node id. A NACK is rewritten to carry the rejected version: the cache
// then waits for a newer snapshot instead of resending, at once and
// forever, the configuration the node has just refused.
func (t *tracker) request(id int64, req *discoveryv3.DiscoveryRequest) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.streams[id]
	if st == nil {
		return nil
	}
	if st.node == "" {
		if err := t.bind(st, req.GetNode()); err != nil {
			return err
		}
		t.dirty[st.node] = true
		t.broadcast()
	}
	kind, ok := xdsproto.KindOf(req.GetTypeUrl())
	if !ok {
		return nil
	}
	sent := st.sent[kind]
	if sent.nonce != "" && req.GetResponseNonce() != sent.nonce {
		return nil // stale: superseded by a response the node has not seen yet
	}
	n := t.nodes[st.node]
	applied := req.GetVersionInfo()
	// Waiters are woken when a node reaches a version or refuses one, not
	// for every request: a thousand nodes acknowledging four types each
	// would wake them four thousand times.
	notify := false
	switch {
	case req.GetErrorDetail() != nil:
		n.status.LastNack = &Nack{Type: kind.String(), Version: xdsproto.DisplayVersion(sent.version), Error: req.GetErrorDetail().GetMessage(), At: time.Now()}
		t.m.nacks.WithLabelValues(kind.String()).Inc()
		if sent.nonce != "" {
			req.VersionInfo = sent.version
		}
		notify = true
	case sent.nonce != "" && applied == sent.version:
		t.m.acks.WithLabelValues(kind.String()).Inc()
	}
	n.acked.Set(kind, applied)
	n.status.Acked.Set(kind, xdsproto.DisplayVersion(applied))
	before := n.status.Version
	t.evaluate(n)
	t.dirty[st.node] = true
	if notify || n.status.Version != before {
		t.broadcast()
	}
	return nil
}

// bind ties a stream to the node named in its first request.
func (t *tracker) bind(st *streamState, node *corev3.Node) error {
	if node.GetId() == "" {
		return errors.New("xds: the first request must name a node id")
	}
	st.node = node.GetId()
	t.binds++
	n := t.nodes[st.node]
	if n == nil {
		n = &nodeState{status: ProxyStatus{Node: st.node}}
		t.nodes[st.node] = n
	}
	n.streams++
	if n.streams == 1 {
		t.m.connected.Inc()
		n.status.Connected = true
		n.status.ConnectedSince = time.Now()
		n.status.DisconnectedAt = time.Time{}
	}
	n.status.Zone = node.GetLocality().GetZone()
	n.status.Build = xdsproto.NodeBuild(node)
	n.status.Address = st.peer
	n.status.Replica = t.replica
	return nil
}

func (t *tracker) response(id int64, resp *discoveryv3.DiscoveryResponse) {
	kind, ok := xdsproto.KindOf(resp.GetTypeUrl())
	if !ok {
		return
	}
	// Every response names the replica that sent it, so that a data plane
	// can tell which control plane it follows.
	resp.ControlPlane = &corev3.ControlPlane{Identifier: t.replica}
	t.m.pushes.WithLabelValues(kind.String()).Inc()
	t.mu.Lock()
	if st := t.streams[id]; st != nil {
		st.sent[kind] = sentResponse{nonce: resp.GetNonce(), version: resp.GetVersionInfo()}
	}
	t.mu.Unlock()
}

// evaluate moves a node to the snapshot in force if it runs all of it;
// called with mu held.
func (t *tracker) evaluate(n *nodeState) {
	s := t.snap
	if s == nil {
		return
	}
	if s.matches(&n.acked) {
		if n.seq < s.seq {
			n.seq = s.seq
			n.status.Version = s.version
			n.status.VersionAt = time.Now()
			t.m.propagation.Observe(n.status.VersionAt.Sub(s.at).Seconds())
		}
		return
	}
	// A node that reports nothing applied for a type the snapshot has (a
	// restarted proxy) no longer runs the version it once acknowledged.
	for k := xdsproto.Kind(0); k < xdsproto.NumKinds; k++ {
		if n.acked.Get(k) == "" && s.kinds[k].count > 0 {
			n.seq, n.status.Version, n.status.VersionAt = 0, "", time.Time{}
			return
		}
	}
}

// setSnapshot makes s the snapshot in force and moves every node that
// already runs it (nothing changed for them) to its version.
func (t *tracker) setSnapshot(s *snapInfo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.snap = s
	t.seqs[s.version] = s.seq
	t.order = append(t.order, s.version)
	if len(t.order) > maxVersions {
		delete(t.seqs, t.order[0])
		t.order = t.order[1:]
	}
	for name, n := range t.nodes {
		before := n.seq
		t.evaluate(n)
		if n.seq != before {
			t.dirty[name] = true
		}
	}
	t.broadcast()
}

func (t *tracker) current() *snapInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.snap
}

func (t *tracker) proxies() []ProxyStatus {
	t.mu.Lock()
	out := make([]ProxyStatus, 0, len(t.nodes))
	for _, n := range t.nodes {
		out = append(out, n.status.clone())
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// clone copies a status so callers never share the tracker's Nack.
func (p ProxyStatus) clone() ProxyStatus {
	if p.LastNack != nil {
		nack := *p.LastNack
		p.LastNack = &nack
	}
	return p
}

// waitFor blocks until every named node (every connected node when none
// is named) has acknowledged version or a later snapshot.
//
// It is woken each time one node reaches a version, so after the first
// check it looks only at the nodes still behind: rescanning a thousand
// nodes a thousand times, with the lock every request needs, slowed
// propagation itself. With no nodes named it rescans all when a stream
// has connected since (a node that connects is waited for too).
func (t *tracker) waitFor(ctx context.Context, version string, nodes []string) error {
	var behind []string
	var binds uint64
	first := true
	for {
		t.mu.Lock()
		seq, known := t.seqs[version]
		switch {
		case first || (len(nodes) == 0 && binds != t.binds):
			behind = t.behind(seq, nodes, len(nodes) == 0)
		default:
			behind = t.behind(seq, behind, false)
		}
		first, binds = false, t.binds
		ch := t.changed
		t.mu.Unlock()
		if !known {
			return fmt.Errorf("xds: version %q was never published by this server", version)
		}
		if len(behind) == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			sort.Strings(behind)
			if len(behind) > 5 {
				behind = append(behind[:5], fmt.Sprintf("and %d more", len(behind)-5))
			}
			return fmt.Errorf("xds: waiting for version %s on %s: %w", version, strings.Join(behind, ", "), ctx.Err())
		}
	}
}

// behind lists the nodes that have not reached seq, among the connected
// ones if all is set, else among nodes; called with mu held.
func (t *tracker) behind(seq uint64, nodes []string, all bool) []string {
	var out []string
	if all {
		for name, n := range t.nodes {
			if n.status.Connected && n.seq < seq {
				out = append(out, name)
			}
		}
		return out
	}
	for _, name := range nodes {
		if n := t.nodes[name]; n == nil || n.seq < seq {
			out = append(out, name)
		}
	}
	return out
}
