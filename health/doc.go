// Package health is Fulcrum's active health checker: it probes backend
// members over HTTP, TCP, the MySQL protocol and the gRPC health protocol, and
// turns the probe results into a healthy/unhealthy verdict per member with
// rise/fall hysteresis.
//
// It is a library with no dependency on other Fulcrum packages. The control
// plane runs one Checker (on the leader) and publishes the verdicts; a
// standalone data plane runs its own. Both map their configuration onto this
// package's Config and Target types.
//
// A Checker is driven by one scheduler goroutine (a timer heap) and a bounded
// pool of probe workers; there is never a goroutine per target. Targets are
// registered by owners (for example one owner per pool): a target with the
// same address and the same settings registered by several owners is probed
// once, and stops being probed when its last owner removes it.
//
// Typical use:
//
//	c, err := health.New(health.Options{Logger: log, Registerer: reg})
//	go c.Run(ctx)
//	sub := c.Subscribe()
//	defer sub.Close()
//	keys, err := c.Set("pool/web", []health.Target{{Address: "10.0.0.1:80", Config: cfg}})
//	for range sub.Ready() {
//		for _, ev := range sub.Drain() {
//			// ev.Key moved from ev.From to ev.To; ev.State.LastError says why.
//		}
//	}
//
// See docs/health.md for the state machine, the reasons a check reports, the
// scheduling rules and the metrics.
package health
