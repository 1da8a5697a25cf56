// Package console is Fulcrum's web console: server-rendered pages for the
// on-call operator — which members are down, why and since when, drain a
// member — and for everyone who changes configuration: pools with search,
// filters and server-side paging, a pool form with errors next to their
// fields, a YAML editor with dry run and a diff preview, the operation log
// with diffs and rollback, the connected data planes, listeners and routes,
// and live charts of each pool's traffic.
//
// # Mounting
//
// The console shares the REST API's listener and its authentication: it
// is mounted at "/" beside the API at "/api/":
//
//	srv, _ := apiserver.New(apiserver.Options{Store: st, ...})
//	ui, err := console.New(ctx, console.Options{Store: st, API: srv, Logger: log,
//		MetricsTargets: []string{adminAddr}})
//	mux := http.NewServeMux()
//	mux.Handle("/api/", srv)
//	mux.Handle("/", ui)
//
// ctx bounds the console's background work (the store watch, the metrics
// scraper and every live-update stream): cancel it before shutting the
// HTTP server down, or Shutdown waits for the streams.
//
// # How it works
//
// Every mutation — forms, YAML, member actions, rollback, delete, login and
// logout — is a call of the REST API's own handler, in process, with the
// user's session cookie and CSRF token: the same validation, the same
// actor (the token's name) in the operation log, the same redaction and the
// same audit line as a REST call. Pages are read from a snapshot of the
// store kept current by its Watch; history lists read the store directly.
// No page shows a secret: objects pass through api.Redact.
//
// Live updates are server-sent events (GET /events): the snapshot's changes
// are pushed as the names of the pools whose row or members changed, and
// the page's small script (static/console.js, no framework) re-fetches the
// fragments that show them. docs/console.md describes every page, the
// security model and where the chart numbers come from.
package console
