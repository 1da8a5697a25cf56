package l4

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
)

// Limits of the ClientHello peek. A real ClientHello is a few hundred
// bytes to a few KiB (post-quantum key shares add about 1.2 KiB); 64 KiB
// is the most a handshake message may claim here, and 128 KiB the most
// read while looking for it (records can be as small as one byte).
const (
	maxHelloSize = 64 << 10
	maxPeekBytes = 128 << 10
	maxRecord    = 16384 + 2048 // TLSCiphertext's limit, generous for plaintext
)

var (
	errHelloTooLarge = errors.New("tls: ClientHello too large")
	errNotHello      = errors.New("tls: first handshake message is not a ClientHello")
	errBadHello      = errors.New("tls: malformed ClientHello")
)

// peekClientHello reads the client's first TLS handshake message without
// terminating TLS and returns every byte read (to replay to the member)
// and the server name it asks for. pending holds bytes already read (past
// a PROXY header). A client that does not start with a TLS handshake
// record gets an empty name, so it goes to the default route as in
// Envoy's tls_inspector; a malformed, oversized or late ClientHello is an
// error.
func peekClientHello(c net.Conn, pending []byte, timeout time.Duration) ([]byte, string, error) {
	buf := make([]byte, len(pending), max(4096, len(pending)+4096))
	copy(buf, pending)
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, "", err
	}
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	for {
		if len(buf) > 0 {
			if buf[0] != recordHandshake {
				return buf, "", nil
			}
			name, more, err := parseHelloRecords(buf)
			if err != nil {
				return nil, "", err
			}
			if !more {
				return buf, name, nil
			}
		}
		if len(buf) >= maxPeekBytes {
			return nil, "", errHelloTooLarge
		}
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*cap(buf), maxPeekBytes))
			copy(grown, buf)
			buf = grown
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil && n == 0 {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil, "", fmt.Errorf("tls: no complete ClientHello within %v", timeout)
			}
			return nil, "", fmt.Errorf("tls: reading ClientHello: %w", err)
		}
	}
}

const (
	recordHandshake    = 22
	handshakeHello     = 1
	extServerName      = 0
	serverNameHostName = 0
)

// parseHelloRecords reassembles the handshake message from the TLS
// records at the start of b. It reports more=true while b ends before the
// ClientHello does.
func parseHelloRecords(b []byte) (name string, more bool, err error) {
	var hs []byte
	for off := 0; ; {
		if len(b)-off < 5 {
			return "", true, nil
		}
		if b[off] != recordHandshake || b[off+1] != 3 {
			return "", false, errBadHello
		}
		n := int(b[off+3])<<8 | int(b[off+4])
		if n == 0 || n > maxRecord {
			return "", false, errBadHello
		}
		if len(b)-off-5 < n {
			return "", true, nil
		}
		frag := b[off+5 : off+5+n]
		off += 5 + n
		if hs == nil {
			hs = frag[:n:n] // a full slice: appending must not write into b
		} else {
			hs = append(hs, frag...)
		}
		if len(hs) < 4 {
			continue
		}
		if hs[0] != handshakeHello {
			return "", false, errNotHello
		}
		size := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
		if size > maxHelloSize {
			return "", false, errHelloTooLarge
		}
		if len(hs)-4 >= size {
			name, err := parseClientHello(hs[4 : 4+size])
			return name, false, err
		}
	}
}

// cursor reads big-endian fields with bounds checks.
type cursor struct {
	b  []byte
	ok bool
}

func (c *cursor) bytes(n int) []byte {
	if !c.ok || n < 0 || len(c.b) < n {
		c.ok = false
		return nil
	}
	v := c.b[:n]
	c.b = c.b[n:]
	return v
}

func (c *cursor) u8() int {
	v := c.bytes(1)
	if v == nil {
		return 0
	}
	return int(v[0])
}

func (c *cursor) u16() int {
	v := c.bytes(2)
	if v == nil {
		return 0
	}
	return int(v[0])<<8 | int(v[1])
}

// parseClientHello returns the host_name of the server_name extension of
// a ClientHello body (RFC 8446 4.1.2, RFC 6066 3), lower-cased and without
// a trailing dot, or "" when there is none.
func parseClientHello(body []byte) (string, error) {
	c := cursor{b: body, ok: true}
	c.bytes(2 + 32)   // legacy_version, random
	c.bytes(c.u8())   // legacy_session_id
	suites := c.u16() // cipher_suites
	if suites < 2 || suites%2 != 0 {
		return "", errBadHello
	}
	c.bytes(suites)
	comp := c.u8() // legacy_compression_methods: at least one
	c.bytes(comp)
	if !c.ok || comp == 0 {
		return "", errBadHello
	}
	if len(c.b) == 0 {
		return "", nil // no extensions
	}
	exts := cursor{b: c.bytes(c.u16()), ok: c.ok}
	if !c.ok {
		return "", errBadHello
	}
	name := ""
	for len(exts.b) > 0 {
		typ := exts.u16()
		data := exts.bytes(exts.u16())
		if !exts.ok {
			return "", errBadHello
		}
		if typ != extServerName {
			continue
		}
		n, err := parseServerName(data)
		if err != nil {
			return "", err
		}
		name = n
	}
	return name, nil
}

func parseServerName(data []byte) (string, error) {
	c := cursor{b: data, ok: true}
	list := cursor{b: c.bytes(c.u16()), ok: true}
	if !c.ok || len(c.b) != 0 {
		return "", errBadHello
	}
	for len(list.b) > 0 {
		typ := list.u8()
		name := list.bytes(list.u16())
		if !list.ok {
			return "", errBadHello
		}
		if typ != serverNameHostName {
			continue
		}
		return normalizeName(name)
	}
	return "", nil
}

// normalizeName checks a host name's characters and lower-cases it.
func normalizeName(b []byte) (string, error) {
	if len(b) > 0 && b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	if len(b) == 0 || len(b) > 253 {
		return "", errBadHello
	}
	out := make([]byte, len(b))
	for i, ch := range b {
		switch {
		case ch >= 'A' && ch <= 'Z':
			ch += 'a' - 'A'
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', ch == '-', ch == '.', ch == '_':
		default:
			return "", errBadHello
		}
		out[i] = ch
	}
	return string(out), nil
}

// sniTable routes server names: exact names first, then the longest
// matching "*.suffix" wildcard (which covers any depth below the suffix,
// not the suffix itself), as for HTTP hosts.
type sniTable struct {
	exact map[string]*runtime.SNIRoute
	wild  []wildRoute
}

type wildRoute struct {
	suffix string // ".example.com"
	route  *runtime.SNIRoute
}

func newSNITable(routes []*runtime.SNIRoute) *sniTable {
	t := &sniTable{exact: map[string]*runtime.SNIRoute{}}
	seen := map[string]bool{}
	for _, r := range routes {
		for _, n := range r.ServerNames {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
			if seen[n] {
				continue // the first route to claim a name keeps it
			}
			seen[n] = true
			if suffix, ok := strings.CutPrefix(n, "*"); ok {
				t.wild = append(t.wild, wildRoute{suffix: suffix, route: r})
			} else {
				t.exact[n] = r
			}
		}
	}
	sort.SliceStable(t.wild, func(i, j int) bool { return len(t.wild[i].suffix) > len(t.wild[j].suffix) })
	return t
}

// match returns the route for a server name, or nil.
func (t *sniTable) match(name string) *runtime.SNIRoute {
	if name == "" {
		return nil
	}
	if r := t.exact[name]; r != nil {
		return r
	}
	for _, w := range t.wild {
		if len(name) > len(w.suffix) && strings.HasSuffix(name, w.suffix) {
			return w.route
		}
	}
	return nil
}
