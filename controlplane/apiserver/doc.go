// Package apiserver is the control plane's REST API under /api/v1:
// configuration objects (list, get, put, delete, multi-document apply with
// dry run and diffs), history and rollback, member state, the data planes,
// API tokens, console sessions, and its own OpenAPI document.
//
// # Mounting
//
// New returns a plain http.Handler for every path under /api/v1; the
// control plane serves it (with TLS when configured) on a loopback address
// unless told otherwise:
//
//	if secret, created, err := apiserver.Bootstrap(ctx, st); err != nil {
//		return err
//	} else if created {
//		fmt.Fprintf(os.Stderr, "admin token (shown once): %s\n", secret)
//	}
//	srv, err := apiserver.New(apiserver.Options{Store: st, Logger: log, Registerer: reg,
//		Proxies: func(ctx context.Context) ([]apiserver.ProxyView, error) { ... }})
//	mux := http.NewServeMux()
//	mux.Handle("/api/", srv)
//	ui, _ := console.New(ctx, console.Options{Store: st, API: srv, MetricsTargets: []string{adminAddr}})
//	mux.Handle("/", ui)
//
// # Security
//
// Every route but login needs a bearer token (Authorization: Bearer ...)
// or a console session cookie; tokens have a role — viewer, editor or
// admin — and the token's name is the actor of every change it makes.
// Cookie-authenticated mutations also need the session's CSRF token in
// X-CSRF-Token. There are no default credentials: Bootstrap creates the
// first admin token. Errors are always JSON {code, message, details}.
// docs/api.md describes every route with examples.
package apiserver
