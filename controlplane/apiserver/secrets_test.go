package apiserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
)

// selfSigned returns a PEM certificate and private key.
func selfSigned(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "web.test"},
		DNSNames: []string{"web.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

const mysqlPassword = "hunter2-s3cret-pw"

// secretObjects are a pool with a MySQL check password and a TLS
// frontend, and a listener with the same certificate.
func secretObjects(t *testing.T) (objs []api.Object, key string) {
	cert, key := selfSigned(t)
	tlsSettings := &api.TLSSettings{Certificates: []api.Certificate{{Cert: cert, Key: key}}}
	db := &api.Pool{TypeMeta: api.TypeMeta{APIVersion: api.APIVersion, Kind: api.KindPool}, Metadata: api.Metadata{Name: "db"},
		Spec: api.PoolSpec{Frontend: &api.Frontend{Protocol: api.ProtocolHTTPS, TLS: tlsSettings},
			Members:     []api.Member{{Address: "127.0.0.1:3306"}},
			HealthCheck: &api.HealthCheck{Type: api.CheckMySQL, User: "monitor", Password: mysqlPassword}}}
	l := &api.Listener{TypeMeta: api.TypeMeta{APIVersion: api.APIVersion, Kind: api.KindListener}, Metadata: api.Metadata{Name: "tls"},
		Spec: api.ListenerSpec{Frontend: api.Frontend{Protocol: api.ProtocolHTTPS, TLS: tlsSettings}, DefaultPool: ""}}
	return []api.Object{db, l}, key
}

// TestNoSecretInAnyResponse applies objects holding a private key and a
// MySQL password, then reads them back every way the API allows — get,
// list, apply and dry-run results, history, revisions, diffs, rollback,
// errors — and checks that no answer carries either secret. Then it
// re-applies what GET printed (redacted) and checks that this changes
// nothing and keeps the stored secrets.
func TestNoSecretInAnyResponse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	objs, key := secretObjects(t)
	keyBody := strings.Split(key, "\n")[1] // base64 of the key
	var bodies []string
	ed := e.tokens["editor"]
	record := func(a answer) answer {
		bodies = append(bodies, a.String())
		return a
	}
	js := mustJSON(t, objs)
	if a := record(e.do(call{method: "POST", path: "/api/v1/apply?dryRun=true", secret: ed, body: js})); a.status != 200 {
		t.Fatalf("dry run: %d %s", a.status, a.body)
	}
	if a := record(e.do(call{method: "POST", path: "/api/v1/apply", secret: ed, body: js})); a.status != 200 {
		t.Fatalf("apply: %d %s", a.status, a.body)
	}
	// The same key in another encoding: the diff must say that a secret
	// changed without showing either version.
	block, _ := pem.Decode([]byte(key))
	parsed, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(parsed)
	key2 := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	changed := strings.Replace(mustJSON(t, objs[1]), jsonString(t, key), jsonString(t, key2), 1)
	if a := record(e.do(call{method: "PUT", path: "/api/v1/listeners/tls", secret: ed, body: changed})); a.status != 200 {
		t.Fatalf("put with a re-encoded key: %d %s", a.status, a.body)
	}
	keyBody2 := strings.Split(key2, "\n")[1]
	for _, c := range []call{
		{method: "GET", path: "/api/v1/pools/db"}, {method: "GET", path: "/api/v1/pools"},
		{method: "GET", path: "/api/v1/listeners/tls"}, {method: "GET", path: "/api/v1/listeners"},
		{method: "GET", path: "/api/v1/history"}, {method: "GET", path: "/api/v1/history/1"},
		{method: "GET", path: "/api/v1/history?kind=Listener&name=tls"},
		{method: "POST", path: "/api/v1/rollback", body: `{"kind": "Listener", "name": "tls", "toRevision": 1}`},
		{method: "POST", path: "/api/v1/pools/db/members/127.0.0.1:3306/drain"},
		{method: "DELETE", path: "/api/v1/pools/db"},
		{method: "POST", path: "/api/v1/rollback", body: `{"kind": "Pool", "name": "db", "toRevision": 1}`},
	} {
		c.secret = ed
		if a := record(e.do(c)); a.status >= 300 {
			t.Fatalf("%s %s: %d %s", c.method, c.path, a.status, a.body)
		}
	}
	// A password that does not decode is quoted by the decoder; the
	// answer must not repeat it.
	bad := strings.Replace(webPool, "spec:\n", "spec:\n  healthCheck: {type: mysql, user: u, password: 918273645546}\n", 1)
	if a := record(e.do(call{method: "POST", path: "/api/v1/apply", secret: ed, body: bad})); a.status != 422 ||
		!hasDetail(ptr(a.apiErr(t)), "Pool/web", "spec.healthCheck.password") || strings.Contains(a.String(), "918273645546") {
		t.Fatalf("undecodable password: %d %s", a.status, a.body)
	}
	for i, b := range bodies {
		if strings.Contains(b, mysqlPassword) || strings.Contains(b, keyBody) || strings.Contains(b, keyBody2) || strings.Contains(b, "PRIVATE KEY") {
			t.Fatalf("answer %d carries a secret:\n%s", i, b)
		}
	}
	if !strings.Contains(strings.Join(bodies, ""), "only secret values changed") {
		t.Error("a key change is not visible in its diff")
	}

	checkRedactedRoundTrip(t, e, key)
}

// checkRedactedRoundTrip re-applies what GET printed: it changes nothing
// and keeps the stored secrets; a redacted value with nothing stored to
// keep is an error with its path.
func checkRedactedRoundTrip(t *testing.T, e *env, key string) {
	t.Helper()
	ctx := context.Background()
	ed := e.tokens["editor"]
	c := e.client(ed)
	var docs []string
	for _, kind := range []string{api.KindPool, api.KindListener} {
		items, err := c.ListAll(ctx, kind)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range items {
			y, _ := yaml.Marshal(o)
			docs = append(docs, string(y))
		}
	}
	res, err := c.Apply(ctx, []byte(strings.Join(docs, "---\n")), apiclient.ApplyOptions{})
	if err != nil || res.Revision != 0 || res.Counts()["unchanged"] != 2 {
		t.Fatalf("re-applying the redacted output: %+v %v", res, err)
	}
	stored, _ := e.st.Get(ctx, api.KindPool, "db")
	if p := stored.(*api.Pool); p.Spec.HealthCheck.Password != mysqlPassword || p.Spec.Frontend.TLS.Certificates[0].Key != key {
		t.Fatal("re-applying redacted output changed the stored secrets")
	}
	if l, _ := e.st.Get(ctx, api.KindListener, "tls"); l.(*api.Listener).Spec.TLS.Certificates[0].Key != key { // rolled back to revision 1
		t.Fatal("re-applying redacted output changed the stored secrets")
	}
	_, err = c.Apply(ctx, []byte(strings.Replace(docs[0], "name: db", "name: db2", 1)), apiclient.ApplyOptions{})
	var apiErr *apiclient.Error
	if !asErr(err, &apiErr) || apiErr.Code != apiclient.CodeInvalid || !hasDetail(apiErr, "Pool/db2", "spec.healthCheck.password") ||
		!hasDetail(apiErr, "Pool/db2", "spec.frontend.tls.certificates[0].key") {
		t.Fatalf("redacted values for a new object: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func hasDetail(e *apiclient.Error, ref, path string) bool {
	for _, d := range e.Details {
		if d.Ref == ref && d.Path == path {
			return true
		}
	}
	return false
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func jsonString(t *testing.T, s string) string {
	t.Helper()
	q := mustJSON(t, s)
	return q[1 : len(q)-1]
}
