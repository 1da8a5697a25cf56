package runtime

import (
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/health"
	"github.com/fulcrumlb/fulcrum/translator"
)

// HealthCheckOf returns the active check a Cluster configures (nil when it
// configures none), the probe port override (0: the member's port) and the
// check type for display. The control plane uses it on clusters translated
// with ActiveHealthChecks, so that it probes exactly as a standalone proxy
// would: one mapping from the API to the checker.
func HealthCheckOf(c *clusterv3.Cluster) (*health.Config, uint32, string, error) {
	md, err := translator.ClusterMeta(c)
	if err != nil {
		return nil, 0, "", err
	}
	var out Cluster
	if err := buildHealthCheck(c, md, &out); err != nil {
		return nil, 0, "", fmt.Errorf("cluster %s: %w", c.GetName(), err)
	}
	return out.HealthCheck, out.HealthCheckPort, out.HealthCheckType, nil
}

// buildHealthCheck reads Cluster.health_checks (present when the data plane
// probes members itself) and the Fulcrum-only extras from the metadata.
func buildHealthCheck(c *clusterv3.Cluster, md *translator.ClusterMetadata, out *Cluster) error {
	var spec api.HealthCheck
	if md.HealthCheck != nil {
		spec = *md.HealthCheck
	}
	out.HealthCheckType = spec.Type
	out.HealthCheckPort = uint32(spec.Port)
	hcs := c.GetHealthChecks()
	if len(hcs) == 0 {
		return nil
	}
	if len(hcs) > 1 {
		return fmt.Errorf("health_checks: Fulcrum runs one check per cluster, got %d", len(hcs))
	}
	hc := hcs[0]
	cfg := &health.Config{
		Interval:          durOf(hc.GetInterval()),
		Timeout:           durOf(hc.GetTimeout()),
		Jitter:            durOf(hc.GetIntervalJitter()),
		UnhealthyInterval: durOf(hc.GetUnhealthyInterval()),
		Rise:              int(hc.GetHealthyThreshold().GetValue()),
		Fall:              int(hc.GetUnhealthyThreshold().GetValue()),
	}
	if cfg.Jitter == 0 {
		cfg.Jitter = health.NoJitter
	}
	tlsCfg, err := checkTLS(spec.TLS)
	if err != nil {
		return fmt.Errorf("health_checks[0]: %w", err)
	}
	switch {
	case hc.GetHttpHealthCheck() != nil:
		cfg.Type = health.TypeHTTP
		cfg.HTTP, err = httpCheck(hc.GetHttpHealthCheck(), spec.Method, spec.Body, tlsCfg)
	case hc.GetTcpHealthCheck() != nil:
		cfg.Type = health.TypeTCP
		cfg.TCP, err = tcpCheck(hc.GetTcpHealthCheck(), spec.Expect)
	case hc.GetGrpcHealthCheck() != nil:
		g := hc.GetGrpcHealthCheck()
		cfg.Type = health.TypeGRPC
		cfg.GRPC = &health.GRPCCheck{Service: g.GetServiceName(), Authority: g.GetAuthority(), TLS: tlsCfg}
	case hc.GetCustomHealthCheck() != nil:
		cfg.Type = health.TypeMySQL
		cfg.MySQL, err = mysqlCheck(hc.GetCustomHealthCheck())
	default:
		return fmt.Errorf("health_checks[0]: no supported health checker")
	}
	if err != nil {
		return fmt.Errorf("health_checks[0]: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("health_checks[0]: %w", err)
	}
	out.HealthCheck = cfg
	return nil
}

func httpCheck(h *corev3.HealthCheck_HttpHealthCheck, method, bodyRegex string, t *health.TLS) (*health.HTTPCheck, error) {
	out := &health.HTTPCheck{Path: h.GetPath(), Host: h.GetHost(), BodyRegex: bodyRegex, TLS: t}
	if m := h.GetMethod(); m != corev3.RequestMethod_METHOD_UNSPECIFIED {
		out.Method = m.String()
	}
	if method != "" {
		out.Method = method // the metadata keeps methods Envoy's enum lacks
	}
	for _, hv := range h.GetRequestHeadersToAdd() {
		if out.Headers == nil {
			out.Headers = map[string]string{}
		}
		out.Headers[hv.GetHeader().GetKey()] = hv.GetHeader().GetValue()
	}
	for _, r := range h.GetExpectedStatuses() {
		out.ExpectedStatuses = append(out.ExpectedStatuses, health.StatusRange{Min: int(r.GetStart()), Max: int(r.GetEnd()) - 1})
	}
	return out, nil
}

func tcpCheck(t *corev3.HealthCheck_TcpHealthCheck, expect string) (*health.TCPCheck, error) {
	out := &health.TCPCheck{Expect: expect}
	if s := t.GetSend(); s != nil {
		switch p := s.GetPayload().(type) {
		case *corev3.HealthCheck_Payload_Text:
			b, err := hex.DecodeString(p.Text)
			if err != nil {
				return nil, fmt.Errorf("tcp_health_check.send.text: not hex: %w", err)
			}
			out.Send = string(b)
		case *corev3.HealthCheck_Payload_Binary:
			out.Send = string(p.Binary)
		}
	}
	if len(t.GetReceive()) > 0 {
		return nil, fmt.Errorf("tcp_health_check.receive: exact payloads are not supported; Fulcrum matches a regex (metadata fulcrum.healthCheck.expect)")
	}
	return out, nil
}

func mysqlCheck(c *corev3.HealthCheck_CustomHealthCheck) (*health.MySQLCheck, error) {
	if c.GetName() != translator.MySQLHealthCheckerName {
		return nil, fmt.Errorf("custom_health_check %q is not supported", c.GetName())
	}
	out := &health.MySQLCheck{}
	if tc := c.GetTypedConfig(); tc != nil {
		var s structpb.Struct
		if err := unpack(c.GetName(), tc, &s); err != nil {
			return nil, err
		}
		m := s.AsMap()
		out.User, _ = m["user"].(string)
		out.Password, _ = m["password"].(string)
	}
	return out, nil
}

// checkTLS converts a check's TLS settings, reading the CA bundle.
func checkTLS(t *api.UpstreamTLS) (*health.TLS, error) {
	if t == nil {
		return nil, nil
	}
	out := &health.TLS{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.caFile: %w", err)
		}
		out.CAPEM = strings.TrimSpace(string(pem))
	}
	return out, nil
}
