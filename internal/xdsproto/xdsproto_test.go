package xdsproto_test

import (
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/testutil/xdstest"
	"github.com/fulcrumlb/fulcrum/internal/xdsproto"
)

func TestVersions(t *testing.T) {
	for _, c := range []struct {
		in      string
		version string
		seq     uint64
		ok      bool
	}{
		{xdsproto.FormatVersion("v9", 9), "v9", 9, true},
		{xdsproto.FormatVersion("a@b", 3), "a@b", 3, true},
		{"42", "42", 0, false},
		{"x@y", "x@y", 0, false},
		{"", "", 0, false},
	} {
		v, seq, ok := xdsproto.ParseVersion(c.in)
		if v != c.version || seq != c.seq || ok != c.ok {
			t.Errorf("ParseVersion(%q) = %q, %d, %v", c.in, v, seq, ok)
		}
		if xdsproto.DisplayVersion(c.in) != c.version {
			t.Errorf("DisplayVersion(%q) = %q", c.in, xdsproto.DisplayVersion(c.in))
		}
	}
}

func TestKinds(t *testing.T) {
	for k := xdsproto.Kind(0); k < xdsproto.NumKinds; k++ {
		if got, ok := xdsproto.KindOf(k.TypeURL()); !ok || got != k {
			t.Errorf("KindOf(%s) = %v, %v", k.TypeURL(), got, ok)
		}
		var v xdsproto.Versions
		v.Set(k, k.String())
		if v.Get(k) != k.String() {
			t.Errorf("Versions.Set/Get %s", k)
		}
	}
	if _, ok := xdsproto.KindOf("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"); ok {
		t.Error("secrets are not served")
	}
	if p, ok := xdsproto.Routes.Parent(); !ok || p != xdsproto.Listeners {
		t.Error("routes are named by listeners")
	}
	if p, ok := xdsproto.Endpoints.Parent(); !ok || p != xdsproto.Clusters {
		t.Error("endpoints are named by clusters")
	}
	if _, ok := xdsproto.Listeners.Parent(); ok {
		t.Error("listeners are a wildcard type")
	}
}

// TestReferences reads real translator output: the route configurations of
// http listeners (not of tcp ones) and the endpoints of every EDS cluster.
func TestReferences(t *testing.T) {
	res := xdstest.Resources(t, xdstest.Pool("web", "http", 18080, "127.0.0.1:9")+
		xdstest.Pool("db", "tcp", 18081, "127.0.0.1:10")+
		xdstest.Listener("main", 18082)+xdstest.Route("r", "main", "/", "web"))
	if got := strings.Join(xdsproto.RouteNames(res.Listeners), ","); got != "listener/main,pool/web" {
		t.Errorf("route names %s", got)
	}
	if got := strings.Join(xdsproto.EndpointNames(res.Clusters), ","); got != "db,web" {
		t.Errorf("endpoint names %s", got)
	}
}

func TestNewNode(t *testing.T) {
	n := xdsproto.NewNode("n1", "z1", "1.2.3")
	if n.GetId() != "n1" || n.GetLocality().GetZone() != "z1" || n.GetUserAgentName() != "fulcrum" || xdsproto.NodeBuild(n) != "1.2.3" {
		t.Errorf("node %v", n)
	}
	if xdsproto.NewNode("n2", "", "b").GetLocality() != nil {
		t.Error("a node without zone has a locality")
	}
}
