package store

import (
	"context"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Watch returns a channel that receives a notification whenever objects,
// allocations or member health change. Notifications carry nothing and
// coalesce (at most one is pending): on each, re-read Config. The first
// arrives as soon as the etcd watch is established, so a consumer can
// simply loop "receive, then read" and miss nothing. When the watch breaks
// (etcd unreachable, member without a leader, compaction) it is
// re-established with backoff and notifies again once it is, because
// changes may have been missed meanwhile. The channel is closed when ctx
// ends or the store closes.
func (s *Store) Watch(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		close(ch)
		return ch
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(ch)
		defer stop()
		defer cancel()
		s.watchLoop(ctx, ch)
	}()
	return ch
}

func (s *Store) watchLoop(ctx context.Context, ch chan struct{}) {
	notify := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	// One range covers allocations/, health/, history/ and objects/: they
	// sort next to each other, and the relevance filter drops history.
	start, end := s.k.dir(dirAllocations), prefixEnd(s.k.dir(dirObjects))
	for attempt := 0; ctx.Err() == nil; attempt++ {
		w := s.cli.Watch(clientv3.WithRequireLeader(ctx), start, clientv3.WithRange(end),
			clientv3.WithKeysOnly(), clientv3.WithCreatedNotify())
		for resp := range w {
			if resp.Err() != nil {
				break
			}
			if resp.Created {
				// Everything before this point is visible to a read
				// that follows this notification; everything after
				// produces an event.
				attempt = 0
				notify()
			}
			for _, ev := range resp.Events {
				if s.relevant(string(ev.Kv.Key)) {
					notify()
					break
				}
			}
		}
		if sleep(ctx, backoff(min(attempt, 6))) != nil {
			return
		}
	}
}

func (s *Store) relevant(key string) bool {
	for _, d := range []string{dirObjects, dirAllocations, dirHealth} {
		if strings.HasPrefix(key, s.k.dir(d)) {
			return true
		}
	}
	return false
}
