// Package store is the control plane's configuration store, on etcd: the
// objects (Pool, Listener, Route), every mutation as a numbered revision
// with who, when and the before/after of each object, rollback, VIP and
// port allocations, member health written by the leader's checker, API
// tokens, and the ephemeral status of connected data planes.
//
// # Opening
//
// The store runs an embedded single-member etcd in a data directory
// (`fulcrum serve --data-dir`) or connects to an external cluster
// (`--etcd URL,...`):
//
//	s, err := store.Open(ctx, store.Options{DataDir: dir, Logger: log})           // embedded
//	s, err := store.Open(ctx, store.Options{Endpoints: urls, Logger: log})        // external
//	defer s.Close()
//
// # Changing the configuration
//
// Every mutation goes through one path: read the whole configuration at one
// etcd revision, merge the change, apply defaults and validate the merged
// result with api.Validate (so references to stored objects resolve and
// frontend conflicts with stored objects are caught), allocate missing
// frontend addresses and ports (package ipam), and write objects,
// allocations, the revision record and the history index in one etcd
// transaction guarded by the revision counter. If another control plane
// wrote first, the attempt is recomputed from a fresh read.
//
//	res, err := s.Apply(ctx, store.ApplyRequest{Objects: loaded.Objects, Sources: loaded.Sources, Actor: token.Name})
//	switch {
//	case errors.As(err, &verr):                    // *store.ValidationError: 422, verr.Errors has the paths
//	case errors.Is(err, store.ErrConflict):        // 409 (412 for If-Match)
//	case errors.Is(err, store.ErrNotFound):        // 404
//	case errors.Is(err, store.ErrUnavailable):     // 503: not committed, or unknown — never 2xx
//	}
//	for _, c := range res.Changes { /* c.Op, api.Redact(c.Before), api.Redact(c.After) */ }
//
// A non-zero metadata.revision in an applied object (or Ref.Revision in a
// delete) is a precondition, for ETag/If-Match. Objects whose content is
// unchanged make no revision; a request that changes nothing is a no-op
// (res.NoOp()). DryRun validates and reports without writing. Delete,
// Rollback and SetMemberState are mutations like Apply and return the same
// result.
//
// # Reading
//
// Get and List return objects with status (frontend allocation, member
// health); History pages through revisions, per object or globally;
// Config returns everything at one etcd revision. Watch notifies (coalesced)
// when objects, allocations or health change; consumers then re-read
// Config:
//
//	for range s.Watch(ctx) {
//		snap, err := s.Config(ctx)          // snap.EtcdRevision never goes backwards: use it as the xDS version
//		...
//	}
//
// # Health and leadership
//
// The health checker runs on the elected leader only. Its writes are fenced
// by the election key, so a deposed leader's late write is rejected by etcd
// itself:
//
//	sess, _ := concurrency.NewSession(s.Client())
//	e := concurrency.NewElection(sess, s.Prefix()+"elections/health")
//	_ = e.Campaign(ctx, replicaName)
//	err := s.WriteHealth(ctx, store.Fence{Key: e.Key(), Rev: e.Rev()}, statuses) // ErrFenced once deposed
//
// docs/store.md describes the key layout, the transaction, the concurrency
// model, the IPAM rules and defaults, and the errors.
package store
