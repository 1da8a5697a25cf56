package health

import "sync"

// Subscription receives the status changes of a Checker's targets.
//
// Delivery never blocks the Checker: events are queued in the subscription
// and the subscriber takes them with Drain when Ready fires. The queue holds
// at most one event per target, so it stays bounded however slow the
// subscriber is: when a target changes again before its previous event was
// drained, the two are merged (From of the first, To and State of the last,
// Merged counting the folded events) and the merged event moves to the back
// of the queue. Drain therefore returns events in the order of each target's
// latest change, and the last event seen for a key always carries the
// target's current status.
type Subscription struct {
	c     *Checker
	ready chan struct{}

	mu      sync.Mutex
	closed  bool
	seq     uint64
	pending map[Key]pendingEvent
	order   []orderEntry
}

type pendingEvent struct {
	ev  Event
	seq uint64
}

type orderEntry struct {
	key Key
	seq uint64
}

// Subscribe returns a new subscription. To start from a consistent picture,
// subscribe first and then read States: an event whose State.Transitions is
// not greater than the snapshot's is already reflected in it.
func (c *Checker) Subscribe() *Subscription {
	s := &Subscription{c: c, ready: make(chan struct{}, 1), pending: make(map[Key]pendingEvent)}
	c.mu.Lock()
	c.subs[s] = struct{}{}
	c.mu.Unlock()
	return s
}

// Ready receives a value when events are waiting to be drained. It is
// closed by Close, so `for range sub.Ready()` ends when the subscription does.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Drain returns the waiting events, oldest first, and empties the queue.
func (s *Subscription) Drain() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		s.order = s.order[:0]
		return nil
	}
	out := make([]Event, 0, len(s.pending))
	for _, o := range s.order {
		if p, ok := s.pending[o.key]; ok && p.seq == o.seq {
			out = append(out, p.ev)
		}
	}
	clear(s.pending)
	s.order = s.order[:0]
	return out
}

// Close ends the subscription and closes Ready. It is safe to call twice.
func (s *Subscription) Close() {
	s.c.mu.Lock()
	delete(s.c.subs, s)
	s.c.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.ready)
		s.pending = nil
		s.order = nil
	}
}

// push queues ev, merging it with a waiting event for the same key. It never
// blocks; the Checker calls it with c.mu held.
func (s *Subscription) push(ev Event) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.seq++
	if p, ok := s.pending[ev.Key]; ok {
		ev.From = p.ev.From
		ev.Merged = p.ev.Merged + 1
	}
	s.pending[ev.Key] = pendingEvent{ev: ev, seq: s.seq}
	s.order = append(s.order, orderEntry{key: ev.Key, seq: s.seq})
	// Merged events leave stale entries behind; compact before they can
	// outnumber the live ones, so a stalled subscriber costs O(targets).
	if len(s.order) > 2*len(s.pending)+64 {
		live := s.order[:0]
		for _, o := range s.order {
			if p, ok := s.pending[o.key]; ok && p.seq == o.seq {
				live = append(live, o)
			}
		}
		s.order = live
	}
	// Signal under the lock so that Close cannot close ready in between.
	select {
	case s.ready <- struct{}{}:
	default:
	}
	s.mu.Unlock()
}
