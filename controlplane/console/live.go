package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/apiclient"
)

// stream is one open live-update connection.
type stream struct {
	key  string
	done chan struct{} // closed when the stream must end
	// why says why done was closed: "logout" or "evicted".
	why string
}

// streams bounds the live-update connections: per session (a new tab
// ends the session's oldest stream) and in all.
type streams struct {
	mu         sync.Mutex
	perSession int
	total      int
	n          int
	bySession  map[string][]*stream // in opening order
}

func newStreams(perSession, total int) *streams {
	return &streams{perSession: perSession, total: total, bySession: map[string][]*stream{}}
}

// open registers a stream for a session, or reports false when the
// console holds as many streams as it may.
func (s *streams) open(key string) (*stream, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.bySession[key]
	if len(list) >= s.perSession {
		s.endLocked(list[0], "evicted")
		list = s.bySession[key]
	}
	if s.n >= s.total {
		return nil, false
	}
	st := &stream{key: key, done: make(chan struct{})}
	s.bySession[key] = append(list, st)
	s.n++
	return st, true
}

// endLocked removes a stream and tells it to end.
func (s *streams) endLocked(st *stream, why string) {
	list := s.bySession[st.key]
	for i, x := range list {
		if x == st {
			s.bySession[st.key] = append(list[:i:i], list[i+1:]...)
			if len(s.bySession[st.key]) == 0 {
				delete(s.bySession, st.key)
			}
			s.n--
			st.why = why
			close(st.done)
			return
		}
	}
}

// remove forgets a stream that ended by itself.
func (s *streams) remove(st *stream) {
	s.mu.Lock()
	s.endLocked(st, "")
	s.mu.Unlock()
}

// closeSession ends every stream of a session (at logout).
func (s *streams) closeSession(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range append([]*stream(nil), s.bySession[key]...) {
		s.endLocked(st, "logout")
	}
}

func (s *streams) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bySession[key])
}

// events is the live-update stream (server-sent events): "change" when
// the configuration or health changed (which pools), "metrics" when new
// chart points exist, "logout" when the session ended, "evicted" when
// another tab took this one's place; a comment line every heartbeat.
func (c *Console) events(w http.ResponseWriter, r *http.Request, s *session) error {
	st, ok := c.streams.open(s.key)
	if !ok {
		http.Error(w, "too many live-update streams", http.StatusServiceUnavailable)
		return nil
	}
	defer c.streams.remove(st)
	c.gauges.streams.Inc()
	defer c.gauges.streams.Dec()
	sub := c.hub.subscribe()
	defer c.hub.unsubscribe(sub)

	rc := http.NewResponseController(w)
	send := func(text string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second)) // unsupported writers have none
		if _, err := fmt.Fprint(w, text); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if !send("retry: 3000\n\n") {
		return nil
	}
	beat := time.NewTicker(c.beat)
	defer beat.Stop()
	life := time.NewTimer(maxStreamAge)
	defer life.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-c.ctx.Done():
			return nil
		case <-life.C:
			return nil
		case <-st.done:
			send("event: " + st.why + "\ndata: {}\n\n")
			return nil
		case <-sub.ready:
			ev, change, metrics := sub.take()
			if change {
				data, _ := json.Marshal(ev)
				if !send("event: change\ndata: " + string(data) + "\n\n") {
					return nil
				}
			}
			if metrics && !send("event: metrics\ndata: {}\n\n") {
				return nil
			}
		case <-beat.C:
			// The session may have ended elsewhere (logout in another
			// console, token deleted, expiry): check it again.
			if _, err := c.sessionOf(r); apiclient.HasCode(err, apiclient.CodeUnauthorized) {
				send("event: logout\ndata: {}\n\n")
				return nil
			}
			if !send(": heartbeat\n\n") {
				return nil
			}
		}
	}
}
