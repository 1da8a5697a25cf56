package xdsclient

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fulcrumlb/fulcrum/internal/xdsproto"
	"github.com/fulcrumlb/fulcrum/translator"
)

// kindState is the client's view of one resource type. The applied fields
// survive reconnections; the others describe the current stream.
//
// The version_info of every request is the applied version: a request
// never claims what the data plane does not run. A response is held (not
// answered) until the set it belongs to is complete and applied (ACK) or
// refused (NACK), so the server cannot push a newer one of the same type
// into the middle of an assembly.
type kindState struct {
	applied    *content // in force
	appliedV   string
	hasApplied bool

	latest  *content // newest received (or applied, at stream start)
	latestV string
	have    bool   // latest is meaningful
	seq     uint64 // arrival order of latest on this stream; 0 if from applied
	nonce   string // of the last response of this type on this stream
	pending bool   // the last response has not been answered

	subscribed bool     // a request for this type was sent on this stream
	names      []string // route or endpoint names requested (children only)
	passedV    string   // latest version already passed back once (see passStale)
}

// startStream forgets what the previous stream received but not applied:
// a new server (or the same one restarted) knows only what the requests
// say, and they carry the applied versions.
func (k *kindState) startStream() {
	*k = kindState{applied: k.applied, appliedV: k.appliedV, hasApplied: k.hasApplied,
		latest: k.applied, latestV: k.appliedV, have: k.hasApplied}
}

// choice selects, per type, the applied content (true) or the latest.
type choice [xdsproto.NumKinds]bool

// session is one ADS stream.
type session struct {
	c        *Client
	stream   discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	kinds    *[xdsproto.NumKinds]kindState
	seq      uint64
	nodeSent bool
	stall    *time.Timer // armed while the latest set is incomplete
	stalling bool        // stall is armed
	retry    *time.Timer // armed while a rejected set could be retried
}

// run serves the stream until it fails or ctx ends; cancel ends the
// stream (and its receiving goroutine, which run waits for).
func (s *session) run(ctx context.Context, cancel context.CancelFunc) error {
	recv := make(chan *discoveryv3.DiscoveryResponse, 16)
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			resp, err := s.stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case recv <- resp:
			case <-ctx.Done():
				return
			}
		}
	}()
	s.stall, s.retry = stoppedTimer(), stoppedTimer()
	defer func() {
		cancel()
		<-done
		s.stall.Stop()
		s.retry.Stop()
	}()
	if err := s.start(); err != nil {
		return err
	}
	s.c.setLink(true, nil)
	for {
		var err error
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err = <-errc:
			return fmt.Errorf("xdsclient: stream: %w", err)
		case resp := <-recv:
			err = s.receive(resp)
			// Take every response already here before assembling, so that
			// the types of one snapshot are applied together.
			for more := true; more && err == nil; {
				select {
				case resp = <-recv:
					err = s.receive(resp)
				default:
					more = false
				}
			}
			if err == nil {
				err = s.evaluate(false)
			}
		case <-s.stall.C:
			s.stalling = false
			err = s.unstall()
		case <-s.retry.C:
			err = s.evaluate(true)
		}
		if err != nil {
			return err
		}
	}
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// start subscribes to every cluster and listener and to the endpoints and
// route configurations they name, with the versions in force: the server
// learns what the data plane runs. (go-control-plane sends every type
// again on a new stream anyway; types that arrive at the versions in force
// are acknowledged without being applied again.)
func (s *session) start() error {
	for k := range s.kinds {
		s.kinds[k].startStream()
	}
	for _, k := range []xdsproto.Kind{xdsproto.Clusters, xdsproto.Listeners} {
		if err := s.send(k, s.kinds[k].appliedV, nil); err != nil {
			return err
		}
	}
	rn, en := s.needs(choice{})
	return s.subscribe(rn, en)
}

// send sends a request for kind: it answers the last response of that
// type (if any) and states the names wanted.
// A non-nil nack makes it a NACK carrying the error text.
func (s *session) send(kind xdsproto.Kind, version string, nack error) error {
	k := &s.kinds[kind]
	req := &discoveryv3.DiscoveryRequest{VersionInfo: version, TypeUrl: kind.TypeURL(), ResponseNonce: k.nonce}
	if nack != nil {
		msg := nack.Error()
		if len(msg) > maxDetail {
			msg = msg[:maxDetail] + "…"
		}
		req.ErrorDetail = status.New(codes.InvalidArgument, msg).Proto()
	}
	if _, child := kind.Parent(); child {
		req.ResourceNames = k.names
	}
	if !s.nodeSent {
		req.Node = s.c.node
		s.nodeSent = true
	}
	k.pending = false
	k.subscribed = true
	if err := s.stream.Send(req); err != nil {
		return fmt.Errorf("xdsclient: sending a %s request: %w", kind, err)
	}
	return nil
}

// receive records a response; one that cannot even be decoded is refused
// at once.
func (s *session) receive(resp *discoveryv3.DiscoveryResponse) error {
	kind, ok := xdsproto.KindOf(resp.GetTypeUrl())
	if !ok {
		s.c.log.Debug("xdsclient: ignoring a response of a type never requested", "type", resp.GetTypeUrl())
		return nil
	}
	s.c.m.responses.WithLabelValues(kind.String()).Inc()
	s.c.setControlPlane(resp.GetControlPlane().GetIdentifier())
	k := &s.kinds[kind]
	k.nonce = resp.GetNonce()
	if s.c.log.Enabled(context.Background(), slog.LevelDebug) {
		s.c.log.Debug("xdsclient: response", "type", kind.String(), "version", resp.GetVersionInfo(), "resources", len(resp.GetResources()))
	}
	set, err := decode(kind, resp.GetResources(), k.latest)
	if err != nil {
		err = fmt.Errorf("%s version %s: %w", kind, resp.GetVersionInfo(), err)
		s.c.rejected(resp.GetVersionInfo(), err)
		s.c.m.nacks.WithLabelValues(kind.String()).Inc()
		return s.send(kind, k.appliedV, err)
	}
	s.seq++
	k.latest, k.latestV, k.seq, k.have, k.pending = set, resp.GetVersionInfo(), s.seq, true, true
	return nil
}

// needs returns the route configuration and endpoint names that the
// chosen listeners and clusters reference.
func (s *session) needs(c choice) (routes, endpoints []string) {
	return s.content(xdsproto.Listeners, c).references(), s.content(xdsproto.Clusters, c).references()
}

func (s *session) content(kind xdsproto.Kind, c choice) *content {
	if c[kind] {
		return s.kinds[kind].applied
	}
	return s.kinds[kind].latest
}

// subscribe asks for the route configurations and endpoints now needed,
// if that changed (as Envoy does: a new cluster's endpoints are requested
// once the cluster arrives, a new listener's routes once it arrives).
func (s *session) subscribe(routes, endpoints []string) error {
	for _, w := range []struct {
		kind  xdsproto.Kind
		names []string
	}{{xdsproto.Endpoints, endpoints}, {xdsproto.Routes, routes}} {
		k := &s.kinds[w.kind]
		if k.subscribed && slices.Equal(k.names, w.names) || !k.subscribed && len(w.names) == 0 {
			continue
		}
		k.names = w.names
		if err := s.send(w.kind, k.appliedV, nil); err != nil {
			return err
		}
	}
	return nil
}

// assemble builds the set Apply receives from the chosen content: every
// listener and cluster and the route configurations and endpoints they
// name, each list sorted by name as the translator sorts it. Resources
// nobody names are left out. It also returns what is named but missing.
func (s *session) assemble(c choice) (*translator.Resources, []string) {
	res := &translator.Resources{}
	lds, cds := s.content(xdsproto.Listeners, c), s.content(xdsproto.Clusters, c)
	for _, m := range lds.list() {
		res.Listeners = append(res.Listeners, m.(*listenerv3.Listener))
	}
	for _, m := range cds.list() {
		res.Clusters = append(res.Clusters, m.(*clusterv3.Cluster))
	}
	var missing []string
	routes, eps := s.content(xdsproto.Routes, c), s.content(xdsproto.Endpoints, c)
	for _, n := range lds.references() {
		if r, ok := routes.get(n); ok {
			res.Routes = append(res.Routes, r.(*routev3.RouteConfiguration))
		} else {
			missing = append(missing, "route configuration "+n)
		}
	}
	for _, n := range cds.references() {
		if e, ok := eps.get(n); ok {
			res.Endpoints = append(res.Endpoints, e.(*endpointv3.ClusterLoadAssignment))
		} else {
			missing = append(missing, "endpoints "+n)
		}
	}
	return res, missing
}

// relevant reports whether a type takes part in the set: listeners and
// clusters always, routes and endpoints once subscribed.
func (s *session) relevant(kind xdsproto.Kind) bool {
	_, child := kind.Parent()
	k := &s.kinds[kind]
	return !child || k.subscribed || k.pending
}

// evaluate applies the latest set if it is complete and new. retry is set
// by the retry timer: nothing new arrived, but a set refused earlier is
// tried again (a port freed on the host heals without a control-plane
// change).
func (s *session) evaluate(retry bool) error {
	if err := s.subscribe(s.needs(choice{})); err != nil {
		return err
	}
	if !s.kinds[xdsproto.Listeners].have || !s.kinds[xdsproto.Clusters].have {
		return nil // the first listeners and clusters have not arrived yet
	}
	res, missing := s.assemble(choice{})
	if len(missing) > 0 {
		if s.c.log.Enabled(context.Background(), slog.LevelDebug) {
			s.c.log.Debug("xdsclient: waiting for referenced resources", "missing", strings.Join(missing, ", "))
		}
		// Armed once per wait: responses that keep arriving without
		// completing the set must not postpone it.
		if !s.stalling {
			s.stalling = true
			s.stall.Reset(s.c.opts.WarmingTimeout)
		}
		return s.passStale()
	}
	s.stalling = false
	s.stall.Stop()
	pending, changed := s.dirty()
	if !changed {
		if pending {
			// The same versions again (a new stream resends everything):
			// nothing to apply, but each response needs its answer.
			return s.accept(choice{}, "", false)
		}
		return nil
	}
	if retry && pending {
		return nil
	}
	label := s.label(choice{})
	err := s.c.opts.Apply(label, res)
	if err == nil {
		return s.accept(choice{}, label, true)
	}
	if !pending {
		s.retry.Reset(s.c.opts.RetryRejected)
		return nil // a retry that failed again: nothing new to refuse
	}
	// Types refused earlier keep their applied content, and what just
	// arrived is tried on top of it: a listener one host cannot bind must
	// not stop endpoint updates on that host.
	var fb choice
	for kind := range s.kinds {
		k := &s.kinds[kind]
		fb[kind] = !k.pending && k.latestV != k.appliedV && s.relevant(xdsproto.Kind(kind))
	}
	if fb != (choice{}) {
		if res2, missing2 := s.assemble(fb); len(missing2) == 0 {
			if label2 := s.label(fb); s.c.opts.Apply(label2, res2) == nil {
				return s.accept(fb, label2, true)
			}
		}
	}
	return s.reject(label, err)
}

// dirty reports whether a response awaits an answer and whether the latest
// set differs from the applied one. A version string names content (the
// xDS contract), so a type received again at the version in force is
// unchanged.
func (s *session) dirty() (pending, changed bool) {
	for kind := range s.kinds {
		k := &s.kinds[kind]
		if !s.relevant(xdsproto.Kind(kind)) {
			continue
		}
		pending = pending || k.pending
		changed = changed || k.latestV != k.appliedV
	}
	return pending, changed
}

// label names a set: the configuration version of its type that changed
// last. Fulcrum's server numbers its snapshots in each version_info
// ("v9@9"), so a client that connects late still labels the set "v9" when
// the listeners last changed in v3. With another server, the newest
// response names the set.
func (s *session) label(c choice) string {
	best, bestSeq := "", uint64(0)
	for kind := range s.kinds {
		if !s.relevant(xdsproto.Kind(kind)) {
			continue
		}
		v := s.kinds[kind].latestV
		if c[kind] {
			v = s.kinds[kind].appliedV
		}
		if name, seq, ok := xdsproto.ParseVersion(v); ok && seq > bestSeq {
			best, bestSeq = name, seq
		}
	}
	if best != "" {
		return best
	}
	var newest *kindState
	for kind := range s.kinds {
		k := &s.kinds[kind]
		if !c[kind] && s.relevant(xdsproto.Kind(kind)) && k.seq > 0 && (newest == nil || k.seq > newest.seq) {
			newest = k
		}
	}
	if newest == nil {
		return s.c.Status().Version
	}
	return newest.latestV
}

// accept records an applied set (applied is false when the responses only
// repeated the versions in force) and acknowledges every type whose
// applied version changed or whose response awaits an answer (a type
// refused earlier and accepted now is acknowledged too, so the server
// learns the node runs it).
func (s *session) accept(c choice, label string, applied bool) error {
	s.retry.Stop()
	for kind := range s.kinds {
		k := &s.kinds[kind]
		if c[kind] {
			s.retry.Reset(s.c.opts.RetryRejected)
			continue
		}
		if !s.relevant(xdsproto.Kind(kind)) || !k.pending && k.latestV == k.appliedV {
			continue
		}
		k.applied, k.appliedV, k.hasApplied, k.passedV = k.latest, k.latestV, true, ""
		if err := s.send(xdsproto.Kind(kind), k.latestV, nil); err != nil {
			return err
		}
	}
	if applied {
		s.c.applied(label, s.appliedVersions())
	}
	return nil
}

// reject refuses every response awaiting an answer, with the error text.
func (s *session) reject(label string, err error) error {
	s.c.rejected(label, err)
	s.retry.Reset(s.c.opts.RetryRejected)
	for kind := range s.kinds {
		if s.kinds[kind].pending {
			s.c.m.nacks.WithLabelValues(xdsproto.Kind(kind).String()).Inc()
			if serr := s.send(xdsproto.Kind(kind), s.kinds[kind].appliedV, err); serr != nil {
				return serr
			}
		}
	}
	return nil
}

func (s *session) appliedVersions() xdsproto.Versions {
	var v xdsproto.Versions
	for kind := range s.kinds {
		v.Set(xdsproto.Kind(kind), xdsproto.DisplayVersion(s.kinds[kind].appliedV))
	}
	return v
}

// passStale handles a route or endpoint response that lacks a name the
// held listener or cluster response needs. A consistent server sends every
// route configuration (endpoint set) of its snapshot, so the held parent is
// older than the server's snapshot; it is answered without an ACK (the
// applied version, no error), and the server sends its current one. Each
// parent version is passed once, so a server that really lacks the
// resource is waited for, not asked in a loop.
func (s *session) passStale() error {
	rn, en := s.needs(choice{})
	for _, w := range []struct {
		child xdsproto.Kind
		names []string
	}{{xdsproto.Routes, rn}, {xdsproto.Endpoints, en}} {
		k := &s.kinds[w.child]
		if !k.pending || !k.latest.lacks(w.names) {
			continue
		}
		parent, _ := w.child.Parent()
		p := &s.kinds[parent]
		if !p.pending || p.passedV == p.latestV {
			continue
		}
		p.passedV = p.latestV
		if err := s.send(parent, p.appliedV, nil); err != nil {
			return err
		}
	}
	return nil
}

// unstall runs when a set stayed incomplete for WarmingTimeout: every held
// response is answered without an ACK and every missing type is requested
// again, so that whatever the server dropped it sends again.
func (s *session) unstall() error {
	_, missing := s.assemble(choice{})
	if len(missing) == 0 {
		return nil
	}
	s.c.log.Warn("xdsclient: configuration still incomplete; asking again", "missing", strings.Join(missing, ", "))
	rn, en := s.needs(choice{})
	for kind := range s.kinds {
		k := &s.kinds[kind]
		again := k.pending
		switch xdsproto.Kind(kind) {
		case xdsproto.Routes:
			again = again || k.subscribed && k.latest.lacks(rn)
		case xdsproto.Endpoints:
			again = again || k.subscribed && k.latest.lacks(en)
		}
		if again {
			if err := s.send(xdsproto.Kind(kind), k.appliedV, nil); err != nil {
				return err
			}
		}
	}
	s.stalling = true
	s.stall.Reset(s.c.opts.WarmingTimeout)
	return nil
}

// maxDetail bounds the error text of a NACK.
const maxDetail = 16 << 10
