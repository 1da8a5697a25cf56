package console

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/apiclient"
)

// TestLiveUpdatesAreBounded: a change reaches the streams as the names of
// the pools it touched; heartbeats flow; a session's streams are capped
// (a new tab ends the oldest), all streams are capped (503 beyond), and a
// session ended elsewhere — here, its token deleted — closes its streams
// at the next heartbeat.
func TestLiveUpdatesAreBounded(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Heartbeat = 200 * time.Millisecond
		o.MaxStreamsPerSession = 2
		o.MaxStreams = 3
	})
	e.waitView()
	editor := e.login(apiclient.RoleEditor)
	s1, _ := editor.stream(t)
	s1.next(t, "heartbeat")
	e.apply(webPool)
	if ev := s1.next(t, "change"); !strings.Contains(ev, `"pools":["web"]`) || !strings.Contains(ev, `"kinds":["Pool"]`) {
		t.Fatalf("change event: %s", ev)
	}
	s2, _ := editor.stream(t)
	s2.next(t, "heartbeat")
	s3, _ := editor.stream(t)
	s1.next(t, "evicted")
	s1.ended(t)
	s3.next(t, "heartbeat")

	viewer := e.login(apiclient.RoleViewer)
	s4, status := viewer.stream(t)
	if status != http.StatusOK {
		t.Fatalf("a third stream: %d", status)
	}
	if _, status := e.login(apiclient.RoleAdmin).stream(t); status != http.StatusServiceUnavailable {
		t.Fatalf("a fourth stream beyond MaxStreams: %d, want 503", status)
	}

	admin := e.apiClient(e.secrets[apiclient.RoleAdmin])
	tokens, err := admin.Tokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tokens {
		if tk.Name == "viewer-1" {
			if err := admin.DeleteToken(context.Background(), tk.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	s4.next(t, "logout")
	s4.ended(t)
	s2.next(t, "heartbeat") // the editor's streams go on
}
