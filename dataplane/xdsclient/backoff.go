package xdsclient

import (
	"math"
	"time"
)

// Backoff paces reconnections to the control plane: exponential, jittered
// so that a fleet of proxies that lost the same control plane does not
// reconnect in step, capped, and reset after a stable connection.
type Backoff struct {
	// Initial is the first delay's ceiling. Default 250ms.
	Initial time.Duration
	// Max caps every delay. Default 8s: the reliability battery (T2)
	// wants every proxy on the latest version within 10 s of the control
	// plane's return, so a proxy must never sleep much longer than that.
	Max time.Duration
	// Multiplier grows the ceiling per failed attempt. Default 2.
	Multiplier float64
	// Jitter is the fraction of each delay that is random: a delay is
	// drawn uniformly from [(1-Jitter)·c, c] where c is the ceiling.
	// Default 0.5; it never exceeds the ceiling, so Max holds exactly.
	Jitter float64
	// StableAfter is how long a stream must have lasted for the next
	// failure to start again from Initial. Default 5s.
	StableAfter time.Duration
}

// withDefaults fills in the zero fields.
func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = 250 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 8 * time.Second
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.Multiplier < 1 {
		b.Multiplier = 2
	}
	if b.Jitter <= 0 || b.Jitter > 1 {
		b.Jitter = 0.5
	}
	if b.StableAfter <= 0 {
		b.StableAfter = 5 * time.Second
	}
	return b
}

// Delay returns the wait before reconnection attempt number attempt
// (0 for the first retry), given r uniform in [0, 1).
func (b Backoff) Delay(attempt int, r float64) time.Duration {
	b = b.withDefaults()
	ceiling := float64(b.Max)
	// Past ~60 doublings the float overflows; the cap was reached long before.
	if attempt < 64 {
		ceiling = math.Min(ceiling, float64(b.Initial)*math.Pow(b.Multiplier, float64(attempt)))
	}
	return time.Duration(ceiling * (1 - b.Jitter*r))
}
