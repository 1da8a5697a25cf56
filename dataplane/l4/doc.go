// Package l4 is Fulcrum's layer-4 data plane: it serves tcp, tls
// (passthrough, routed by SNI) and udp listeners for the proxy core
// (dataplane/proxy) through the runtime.ServerFactory contract.
//
// TCP connections are relayed with splice(2) between the two raw sockets, so
// payload bytes never enter user space; the relay loop is Fulcrum's own (not
// io.Copy) because it must see every transfer to enforce the idle timeout
// and feed the byte counters. A PROXY protocol header is parsed only from
// the listener's trusted CIDRs; a tls listener peeks the ClientHello, picks
// a route by its server name and replays the peeked bytes to the member.
//
// UDP is served by one reader goroutine per listener and one goroutine per
// session, parked on the session's connected upstream socket; sessions are
// keyed by client address, capped, and evicted least recently used first.
//
// docs/l4.md describes the behaviour, the defaults, the metrics and the
// measured B5 figures.
package l4
