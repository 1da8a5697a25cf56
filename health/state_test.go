package health

import (
	"strings"
	"testing"
	"time"
)

// run feeds a sequence of results ('+' success, '-' failure) to a state and
// returns the status after each.
func run(st *State, rise, fall int, seq string) string {
	var b strings.Builder
	now := time.Unix(1000, 0)
	for _, r := range seq {
		st.record(r == '+', "boom", rise, fall, now, time.Millisecond)
		now = now.Add(time.Second)
		b.WriteByte("?HU"[st.Status])
	}
	return b.String()
}

func TestStateMachine(t *testing.T) {
	cases := []struct {
		initial    Status
		rise, fall int
		seq, want  string
	}{
		// The first probe decides an unknown target.
		{StatusUnknown, 2, 3, "+", "H"},
		{StatusUnknown, 2, 3, "-", "U"},
		// Healthy needs fall consecutive failures to go down.
		{StatusUnknown, 2, 3, "+--+---", "HHHHHHU"},
		// Unhealthy needs rise consecutive successes to come back.
		{StatusUnknown, 2, 3, "-+-++", "UUUUH"},
		{StatusUnknown, 3, 1, "+-++-+++", "HUUUUUUH"},
		// A seeded status follows the same rules from the start.
		{StatusHealthy, 2, 3, "--+---", "HHHHHU"},
		{StatusUnhealthy, 2, 3, "+-++", "UUUH"},
	}
	for _, tc := range cases {
		st := State{Status: tc.initial}
		if got := run(&st, tc.rise, tc.fall, tc.seq); got != tc.want {
			t.Errorf("initial %v rise %d fall %d %s: got %s, want %s", tc.initial, tc.rise, tc.fall, tc.seq, got, tc.want)
		}
	}
}

func TestStateCounters(t *testing.T) {
	st := State{}
	run(&st, 2, 2, "++-")
	if st.ConsecutiveFailures != 1 || st.ConsecutiveSuccesses != 0 || st.TotalSuccesses != 2 || st.TotalFailures != 1 {
		t.Errorf("counters: %+v", st)
	}
	if st.LastError != "boom" || st.Transitions != 1 || st.LastTransition.IsZero() {
		t.Errorf("state: %+v", st)
	}
	run(&st, 2, 2, "+")
	if st.LastError != "" {
		t.Errorf("LastError kept after a success: %q", st.LastError)
	}
}

// A target that alternates between success and failure never changes state
// once healthy when fall > 1, and changes at most once per fall (or rise)
// consecutive results in general.
func TestStateFlappingIsDamped(t *testing.T) {
	st := State{}
	run(&st, 2, 2, strings.Repeat("+-", 50))
	if st.Transitions != 1 {
		t.Errorf("alternating results made %d transitions, want 1 (the first verdict)", st.Transitions)
	}
	// Pairs of failures and pairs of successes: every pair may flip.
	st = State{}
	run(&st, 3, 3, strings.Repeat("++--", 25))
	if st.Transitions != 1 {
		t.Errorf("runs of 2 with rise=fall=3 made %d transitions, want 1", st.Transitions)
	}
}

func TestSubscriptionMergesAndOrders(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	sub := c.Subscribe()
	ev := func(k Key, from, to Status) Event {
		return Event{Key: k, From: from, To: to, State: State{Key: k, Status: to}}
	}
	c.mu.Lock()
	c.publishLocked(ev("a", StatusUnknown, StatusHealthy))
	c.publishLocked(ev("b", StatusUnknown, StatusHealthy))
	c.publishLocked(ev("a", StatusHealthy, StatusUnhealthy))
	c.publishLocked(ev("c", StatusUnknown, StatusUnhealthy))
	c.publishLocked(ev("a", StatusUnhealthy, StatusHealthy))
	c.mu.Unlock()
	select {
	case <-sub.Ready():
	default:
		t.Fatal("Ready did not fire")
	}
	got := sub.Drain()
	if len(got) != 3 {
		t.Fatalf("got %d events, want 3: %+v", len(got), got)
	}
	// a moved to the back with its latest change; its From is the oldest.
	if got[0].Key != "b" || got[1].Key != "c" || got[2].Key != "a" {
		t.Errorf("order %s %s %s, want b c a", got[0].Key, got[1].Key, got[2].Key)
	}
	if a := got[2]; a.From != StatusUnknown || a.To != StatusHealthy || a.Merged != 2 {
		t.Errorf("merged event %+v", a)
	}
	if len(sub.Drain()) != 0 {
		t.Error("second Drain returned events")
	}
	// A stalled subscriber costs memory bounded by the number of keys.
	c.mu.Lock()
	for i := range 10000 {
		c.publishLocked(ev("flappy", Status(1+i%2), Status(2-i%2)))
	}
	c.mu.Unlock()
	sub.mu.Lock()
	n := len(sub.order)
	sub.mu.Unlock()
	if n > 100 {
		t.Errorf("queue grew to %d entries for one key", n)
	}
	sub.Close()
	sub.Close()
	for range sub.Ready() { // ends only if Close closed Ready
	}
	c.mu.Lock()
	c.publishLocked(ev("a", StatusHealthy, StatusUnhealthy)) // must not panic
	c.mu.Unlock()
}
