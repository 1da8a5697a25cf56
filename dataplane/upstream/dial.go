package upstream

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	proxyproto "github.com/pires/go-proxyproto"
)

// DialOptions describe one upstream connection.
type DialOptions struct {
	// Client and Local are the downstream connection's addresses, sent in a
	// PROXY protocol header when the cluster asks for one.
	Client, Local net.Addr
	// NextProtos overrides the ALPN list for TLS upstreams (e.g. "h2").
	NextProtos []string
}

// Dial opens a connection to a member with the cluster's connect timeout,
// writes a PROXY protocol header if configured, and performs the TLS
// handshake if the cluster speaks TLS. A failure is a connect failure: the
// caller may try another member. The returned connection is a
// *net.TCPConn when the cluster uses neither TLS nor a PROXY header, so
// that L4 copies can use splice.
func (m *Member) Dial(ctx context.Context, opt DialOptions) (net.Conn, error) {
	cfg := m.cluster.cfg.Load()
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.Address)
	if err != nil {
		return nil, fmt.Errorf("pool %s: connect to %s: %w", m.cluster.name, m.Address, err)
	}
	if cfg.ProxyProtocol != 0 && opt.Client != nil && opt.Local != nil {
		hdr := proxyproto.HeaderProxyFromAddrs(byte(cfg.ProxyProtocol), opt.Client, opt.Local)
		if _, err := hdr.WriteTo(conn); err != nil {
			conn.Close()
			return nil, fmt.Errorf("pool %s: PROXY header to %s: %w", m.cluster.name, m.Address, err)
		}
	}
	if cfg.TLS == nil {
		return conn, nil
	}
	tc := cfg.TLS.Clone()
	if tc.ServerName == "" {
		if host, _, err := net.SplitHostPort(m.Address); err == nil {
			tc.ServerName = host
		}
	}
	if opt.NextProtos != nil {
		tc.NextProtos = opt.NextProtos
	}
	tconn := tls.Client(conn, tc)
	if err := tconn.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("pool %s: TLS handshake with %s: %w", m.cluster.name, m.Address, err)
	}
	return tconn, nil
}
