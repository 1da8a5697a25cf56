// Package balancer implements every load-balancing algorithm Fulcrum offers behind one
// Picker interface. The L7 and L4 data planes, the Go client library and the XDP Maglev
// table builder all use it, so it imports no other Fulcrum package.
//
// The model is grpc-go's Balancer → Picker split. A Picker is an immutable snapshot of a
// pool, built by New from a Config; when anything changes (members, weights, admin state,
// health, ejections by outlier detection) the owner builds a new Picker and publishes it
// with an atomic pointer swap. Live per-member counters (outstanding picks, latency EWMA,
// failures) live outside the snapshot, in a Registry keyed by address, so a rebuild keeps
// them; Registry entries are reference-counted by the pickers that use them.
//
// Typical use by a data plane:
//
//	reg, _ := balancer.NewRegistry(balancer.RegistryOptions{Registerer: promReg})
//	p, err := balancer.New(balancer.Config{Algorithm: balancer.PeakEWMA, Members: ms}, reg)
//	current.Store(&p) // atomic.Pointer
//
//	// per request
//	info := balancer.PickInfo{Hash: balancer.HashString(clientIP), HasHash: true}
//	for attempt := 0; attempt < 3; attempt++ {
//		pk, err := (*current.Load()).Pick(info)
//		if err != nil { ... 503 ... }
//		status, latency, err := send(pk.Member.Address)
//		pk.Done(balancer.Result{Latency: latency, Status: status, Err: err})
//		if !retryable(status, err) { break }
//		info.Tried.Add(pk) // the retry goes elsewhere
//	}
//
//	// on a change
//	np, err := balancer.New(newCfg, reg) // same registry: counters carry over
//	old := current.Swap(&np)
//	(*old).Close()
//
// See docs/balancing.md for each algorithm, drain and panic behaviour, and measured
// figures.
package balancer
