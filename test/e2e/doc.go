// Package e2e holds Fulcrum's process-level end-to-end tests: the real
// fulcrum binary, built once per run, started as control planes, proxies
// and client commands on 127.0.0.1, with in-process HTTP backends and a
// constant-rate load generator.
//
//	go test ./test/e2e/                       # the whole battery: about 45 s, 30 s of it an outage
//	go test ./test/e2e/ -run TestServeDemo -v
//
// Environment:
//
//	FULCRUM_E2E_OUTAGE=5s     the control-plane outage of TestControlPlaneOutage (default 30s, 5s with -short)
//	FULCRUM_E2E_BINARY=PATH   test this fulcrum binary instead of building ./cmd/fulcrum
//	FULCRUM_E2E_RACE=1        build the fulcrum binary with -race (a data race fails the test)
//	FULCRUM_REQUIRE_PEERS=1   fail, instead of skipping, the tests that need Debian's etcd
//
// TestServeDemo binds the demo's fixed ports (8080, 9081-9083) and runs
// alone; the other tests run in parallel, each control plane with a VIP
// pool of its own so that their proxies never compete for a frontend.
package e2e
