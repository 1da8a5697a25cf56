package xds

import (
	"context"
	"time"
)

// StatusSink receives proxy status changes so that they can be shared
// between control-plane replicas (the lead stores them in etcd, so that
// `fulcrum get proxies` shows the nodes of every replica). Calls come from
// one goroutine, debounced (at most one Put per node per
// Options.SinkInterval), never from an xDS stream: a slow sink delays the
// status it publishes, not the configuration.
//
// Each replica reports the nodes it has seen, so a node that moved from
// replica A to replica B has two entries, one disconnected: key them by
// (Node, Replica) and prefer the connected one.
type StatusSink interface {
	// PutProxyStatus stores the latest status of a node as seen by this
	// replica. An error is logged and the status is retried later.
	PutProxyStatus(ctx context.Context, st ProxyStatus) error
	// DeleteProxyStatus forgets a node this replica has not seen for
	// Options.Retention.
	DeleteProxyStatus(ctx context.Context, node, replica string) error
}

// sinkTimeout bounds one round of sink calls.
const sinkTimeout = 5 * time.Second

// loop publishes dirty statuses to the sink and forgets nodes disconnected
// for longer than the retention, every interval, until stop is closed;
// then it publishes once more (streams closed by Stop mark their nodes
// disconnected).
func (s *Server) loop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(s.opts.SinkInterval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			s.flush()
			return
		case <-tick.C:
			s.expire(time.Now())
			s.flush()
		}
	}
}

// expire forgets nodes disconnected for longer than the retention.
func (s *Server) expire(now time.Time) {
	t := s.tracker
	var gone []string
	t.mu.Lock()
	for name, n := range t.nodes {
		if !n.status.Connected && now.Sub(n.status.DisconnectedAt) > s.opts.Retention {
			delete(t.nodes, name)
			delete(t.dirty, name)
			gone = append(gone, name)
		}
	}
	if len(gone) > 0 {
		t.broadcast()
	}
	t.mu.Unlock()
	if s.opts.Sink == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sinkTimeout)
	defer cancel()
	for _, name := range gone {
		if err := s.opts.Sink.DeleteProxyStatus(ctx, name, s.opts.Replica); err != nil {
			s.log.Warn("xds: forgetting proxy status", "node", name, "error", err)
		}
	}
}

// flush hands every changed status to the sink; a failed Put stays dirty
// and is retried on the next round.
func (s *Server) flush() {
	t := s.tracker
	t.mu.Lock()
	if s.opts.Sink == nil {
		clear(t.dirty)
		t.mu.Unlock()
		return
	}
	batch := make([]ProxyStatus, 0, len(t.dirty))
	for name := range t.dirty {
		if n := t.nodes[name]; n != nil {
			batch = append(batch, n.status.clone())
		}
	}
	clear(t.dirty)
	t.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sinkTimeout)
	defer cancel()
	var failed int
	var lastErr error
	for _, st := range batch {
		if err := s.opts.Sink.PutProxyStatus(ctx, st); err != nil {
			failed++
			lastErr = err
			t.mu.Lock()
			if t.nodes[st.Node] != nil {
				t.dirty[st.Node] = true
			}
			t.mu.Unlock()
		}
	}
	if failed > 0 {
		s.log.Warn("xds: publishing proxy status", "failed", failed, "of", len(batch), "error", lastErr)
	}
}
