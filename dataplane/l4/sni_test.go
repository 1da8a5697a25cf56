package l4

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// testCA issues certificates for TLS members.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func (ca *testCA) leaf(t *testing.T, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		DNSNames: names, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsBackend terminates TLS with its own certificate, then says its name
// and echoes.
func tlsBackend(t *testing.T, name string, cert tls.Certificate) *backend {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	return serveBackend(t, name, ln, helloEcho)
}

func tlsPool(name string, members ...*backend) string {
	var ms []string
	for _, m := range members {
		ms = append(ms, fmt.Sprintf("{address: %q}", m.addr))
	}
	return fmt.Sprintf("apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: %s}\nspec:\n  members: [%s]\n---\n", name, strings.Join(ms, ", "))
}

// TestSNIRouting: real crypto/tls clients verify each member's own
// certificate through the proxy, which proves the proxy left TLS alone,
// and reach the pool their server name selects.
func TestSNIRouting(t *testing.T) {
	ca := newCA(t)
	a := tlsBackend(t, "a", ca.leaf(t, "a.example.com"))
	w := tlsBackend(t, "w", ca.leaf(t, "*.w.example.com", "deep.x.w.example.com"))
	d := tlsBackend(t, "default", ca.leaf(t, "zzz.example.org", "a.example.com"))
	port, strict := freePort(t, "tcp"), freePort(t, "tcp")
	yaml := tlsPool("pa", a) + tlsPool("pw", w) + tlsPool("pd", d) + fmt.Sprintf(`apiVersion: fulcrum/v1
kind: Listener
metadata: {name: edge}
spec: {port: %d, protocol: tls, defaultPool: pd}
---
apiVersion: fulcrum/v1
kind: Listener
metadata: {name: strict}
spec: {port: %d, protocol: tls}
---
apiVersion: fulcrum/v1
kind: Route
metadata: {name: ra}
spec: {listener: edge, hosts: [a.example.com], backends: [{pool: pa}]}
---
apiVersion: fulcrum/v1
kind: Route
metadata: {name: rw}
spec: {listener: edge, hosts: ["*.w.example.com"], backends: [{pool: pw}]}
---
apiVersion: fulcrum/v1
kind: Route
metadata: {name: sa}
spec: {listener: strict, hosts: [a.example.com], backends: [{pool: pa}]}
`, port, strict)
	h := startProxy(t, yaml)
	dial := func(port int, sni string) (string, error) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{ServerName: sni, RootCAs: ca.pool})
		if err != nil {
			return "", err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		echoOnce(t, c, br, "through TLS")
		return strings.TrimSpace(line), nil
	}
	for sni, want := range map[string]string{"a.example.com": "a", "x.w.example.com": "w",
		"deep.x.w.example.com": "w", "zzz.example.org": "default"} {
		got, err := dial(port, sni)
		if err != nil || got != want {
			t.Errorf("SNI %s: reached %q (%v), want %q", sni, got, err, want)
		}
	}
	if got, err := dial(strict, "a.example.com"); got != "a" {
		t.Errorf("strict listener, known name: %q %v", got, err)
	}
	if got, err := dial(strict, "zzz.example.org"); err == nil {
		t.Errorf("strict listener without a default pool served an unknown name (reached %s)", got)
	}
	if n := h.metric("fulcrum_l4_rejected_total", "listener", "listener/strict", "reason", reasonNoRoute); n != 1 {
		t.Errorf("no_route rejections: %v", n)
	}
}

// clientHello records the first flight of a real crypto/tls client.
func clientHello(t *testing.T, sni string) []byte {
	t.Helper()
	cli, srv := net.Pipe()
	defer srv.Close()
	go func() {
		c := tls.Client(cli, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
		_ = c.Handshake()
		cli.Close()
	}()
	_ = srv.SetDeadline(time.Now().Add(5 * time.Second))
	buf, name, err := peekClientHello(srv, nil, 5*time.Second)
	if err != nil || name != strings.ToLower(strings.TrimSuffix(sni, ".")) {
		t.Fatalf("peek: %q %v", name, err)
	}
	return buf
}

// rerecord splits the handshake payload of hello into records of n bytes.
func rerecord(hello []byte, n int) []byte {
	payload := hello[5:]
	var out []byte
	for len(payload) > 0 {
		k := min(n, len(payload))
		out = append(out, 22, 3, 1, byte(k>>8), byte(k))
		out = append(out, payload[:k]...)
		payload = payload[k:]
	}
	return out
}

func TestClientHelloParser(t *testing.T) {
	hello := clientHello(t, "Api.Example.COM.")
	if name, more, err := parseHelloRecords(hello); name != "api.example.com" || more || err != nil {
		t.Errorf("whole: %q %v %v", name, more, err)
	}
	for _, n := range []int{1, 7, 100} {
		frag := rerecord(hello, n)
		if name, more, err := parseHelloRecords(frag); name != "api.example.com" || more || err != nil {
			t.Errorf("records of %d bytes: %q %v %v", n, name, more, err)
		}
		if _, more, _ := parseHelloRecords(frag[:len(frag)-1]); !more {
			t.Errorf("records of %d bytes, truncated: not asking for more", n)
		}
	}
	// Byte by byte over a connection.
	cli, srv := net.Pipe()
	defer srv.Close()
	go func() {
		defer cli.Close()
		for i := range hello {
			if _, err := cli.Write(hello[i : i+1]); err != nil {
				return
			}
		}
	}()
	buf, name, err := peekClientHello(srv, nil, 5*time.Second)
	if err != nil || name != "api.example.com" || string(buf) != string(hello) {
		t.Errorf("byte by byte: %q %v (%d of %d bytes kept)", name, err, len(buf), len(hello))
	}

	noSNI := clientHello(t, "")
	if name, _, err := parseHelloRecords(noSNI); name != "" || err != nil {
		t.Errorf("no SNI: %q %v", name, err)
	}
	bad := map[string][]byte{
		"not a handshake record": {23, 3, 1, 0, 1, 0},
		"bad version":            {22, 9, 1, 0, 1, 0},
		"empty record":           {22, 3, 1, 0, 0},
		"server hello":           {22, 3, 1, 0, 4, 2, 0, 0, 0},
		"oversized":              {22, 3, 1, 0, 4, 1, 0x10, 0, 0},
		"truncated body":         {22, 3, 1, 0, 6, 1, 0, 0, 2, 3, 3},
	}
	for what, b := range bad {
		if _, more, err := parseHelloRecords(b); err == nil {
			t.Errorf("%s: accepted (more=%v)", what, more)
		}
	}
	// Corrupting any length inside the real ClientHello must not panic.
	for i := 5; i < len(hello); i++ {
		c := append([]byte(nil), hello...)
		c[i] ^= 0xff
		_, _, _ = parseHelloRecords(c)
	}
}

func TestPeekClientHelloEdges(t *testing.T) {
	run := func(send []byte, timeout time.Duration) ([]byte, string, error) {
		cli, srv := net.Pipe()
		done := make(chan struct{})
		defer func() { srv.Close(); <-done }()
		go func() {
			defer close(done)
			defer cli.Close()
			if send != nil {
				if _, err := cli.Write(send); err != nil {
					return
				}
			}
			_, _ = io.Copy(io.Discard, cli)
		}()
		return peekClientHello(srv, nil, timeout)
	}
	if buf, name, err := run([]byte("GET / HTTP/1.1\r\n"), time.Second); err != nil || name != "" || string(buf) != "GET / HTTP/1.1\r\n" {
		t.Errorf("not TLS: %q %q %v; want the bytes back and no name", buf, name, err)
	}
	if _, _, err := run(nil, 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "within") {
		t.Errorf("silent client: %v", err)
	}
	if _, _, err := run([]byte{22, 3, 1, 0}, 100*time.Millisecond); err == nil {
		t.Error("a partial record then silence was accepted")
	}
	// A stream of tiny records that never completes is cut off by size.
	huge := []byte{22, 3, 1, 0, 4, 1, 0, 0xff, 0xff}
	for len(huge) < maxPeekBytes+64 {
		huge = append(huge, 22, 3, 1, 0, 1, 0)
	}
	if _, _, err := run(huge, 5*time.Second); !errors.Is(err, errHelloTooLarge) {
		t.Errorf("endless ClientHello: %v", err)
	}
}

func FuzzParseHelloRecords(f *testing.F) {
	f.Add([]byte{22, 3, 1, 0, 1, 0})
	f.Add(rerecordSeed())
	f.Fuzz(func(t *testing.T, b []byte) {
		name, _, err := parseHelloRecords(b)
		if err == nil && name != strings.ToLower(name) {
			t.Errorf("name %q not normalised", name)
		}
	})
}

// rerecordSeed is a minimal valid ClientHello with SNI "a.b".
func rerecordSeed() []byte {
	sni := []byte{0, 0, 0, 8, 0, 6, 0, 0, 3, 'a', '.', 'b'}
	body := append([]byte{3, 3}, make([]byte, 32)...)
	body = append(body, 0, 0, 2, 0x13, 0x01, 1, 0, 0, byte(len(sni)))
	body = append(body, sni...)
	hs := append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{22, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}
