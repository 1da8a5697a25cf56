package health

import (
	"fmt"
	"time"
)

// Status is the verdict on a target.
type Status uint8

// The statuses. A target starts Unknown (unless Target.Initial says
// otherwise) and leaves Unknown on its first probe.
const (
	StatusUnknown Status = iota
	StatusHealthy
	StatusUnhealthy
)

var statusNames = [...]string{"unknown", "healthy", "unhealthy"}

// String returns "unknown", "healthy" or "unhealthy".
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// MarshalText encodes the status as its name, for JSON and YAML.
func (s Status) MarshalText() ([]byte, error) {
	if int(s) >= len(statusNames) {
		return nil, fmt.Errorf("health: unknown status %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes a status name.
func (s *Status) UnmarshalText(b []byte) error {
	for i, n := range statusNames {
		if string(b) == n {
			*s = Status(i)
			return nil
		}
	}
	return fmt.Errorf("health: unknown status %q (want unknown, healthy or unhealthy)", b)
}

// Key identifies a target within a Checker: the address, the check type and
// a fingerprint of the effective configuration. Treat it as opaque; it is
// stable for the life of a Checker (and across processes, except for checks
// that carry a password, whose fingerprint is salted per Checker).
type Key string

// State is what the Checker knows about one target.
type State struct {
	// Key, Address and Type identify the target.
	Key     Key    `json:"key"`
	Address string `json:"address"`
	Type    Type   `json:"type"`
	// Status is the current verdict.
	Status Status `json:"status"`
	// ConsecutiveSuccesses and ConsecutiveFailures count the current run;
	// one of them is always zero.
	ConsecutiveSuccesses int `json:"consecutiveSuccesses"`
	ConsecutiveFailures  int `json:"consecutiveFailures"`
	// TotalSuccesses and TotalFailures count every probe since the target
	// was added.
	TotalSuccesses uint64 `json:"totalSuccesses"`
	TotalFailures  uint64 `json:"totalFailures"`
	// Transitions counts status changes, the first verdict included. A
	// subscriber compares it to order events against a snapshot.
	Transitions uint64 `json:"transitions"`
	// LastCheck is when the last probe started; zero before the first.
	LastCheck time.Time `json:"lastCheck"`
	// LastDuration is how long the last probe took.
	LastDuration time.Duration `json:"lastDuration"`
	// LastError is why the last probe failed, in words an operator
	// understands ("connection refused", "status 503 from /healthz"); empty
	// after a success.
	LastError string `json:"lastError,omitempty"`
	// LastTransition is when Status last changed; zero while it never has.
	LastTransition time.Time `json:"lastTransition"`
	// Owners lists who registered the target, sorted.
	Owners []string `json:"owners"`
}

// Healthy reports whether the status is StatusHealthy.
func (s State) Healthy() bool { return s.Status == StatusHealthy }

// record applies one probe result to the state and reports whether the
// status changed, and from what.
//
// The rules (documented in docs/health.md):
//   - Unknown: the first probe decides. A success makes the target healthy
//     and a failure unhealthy, so a new member is in service after one good
//     probe, as in Envoy, and a broken one is known to be broken at once.
//   - Healthy: Fall consecutive failures make it unhealthy.
//   - Unhealthy: Rise consecutive successes make it healthy.
func (s *State) record(ok bool, reason string, rise, fall int, start time.Time, d time.Duration) (from Status, changed bool) {
	from = s.Status
	s.LastCheck = start
	s.LastDuration = d
	if ok {
		s.ConsecutiveSuccesses++
		s.ConsecutiveFailures = 0
		s.TotalSuccesses++
		s.LastError = ""
	} else {
		s.ConsecutiveFailures++
		s.ConsecutiveSuccesses = 0
		s.TotalFailures++
		s.LastError = reason
	}
	to := from
	switch from {
	case StatusUnknown:
		to = StatusUnhealthy
		if ok {
			to = StatusHealthy
		}
	case StatusHealthy:
		if s.ConsecutiveFailures >= fall {
			to = StatusUnhealthy
		}
	case StatusUnhealthy:
		if s.ConsecutiveSuccesses >= rise {
			to = StatusHealthy
		}
	}
	if to == from {
		return from, false
	}
	s.Status = to
	s.LastTransition = start.Add(d)
	s.Transitions++
	return from, true
}

// Event tells a subscriber that a target changed status or was removed.
type Event struct {
	Key  Key    `json:"key"`
	From Status `json:"from"`
	To   Status `json:"to"`
	// State is the target's state right after the change.
	State State `json:"state"`
	// Removed says that the last owner removed the target; To is then
	// StatusUnknown and no further events follow for this key unless it is
	// added again.
	Removed bool `json:"removed,omitempty"`
	// Merged counts earlier events for this key that were folded into this
	// one because the subscriber had not drained them yet. From is the
	// status before the oldest of them, so From may equal To when the target
	// flapped and came back.
	Merged int `json:"merged,omitempty"`
}
