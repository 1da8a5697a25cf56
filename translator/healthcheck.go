package translator

import (
	"encoding/hex"
	"sort"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/fulcrumlb/fulcrum/api"
)

// healthCheck translates an active health check for the standalone proxy,
// or returns nil for type none.
func healthCheck(hc *api.HealthCheck) *corev3.HealthCheck {
	if hc == nil || hc.Type == api.CheckNone || hc.Type == "" {
		return nil
	}
	out := &corev3.HealthCheck{
		Timeout:            dur(hc.Timeout.D()),
		Interval:           dur(hc.Interval.D()),
		HealthyThreshold:   u32(hc.Rise),
		UnhealthyThreshold: u32(hc.Fall),
	}
	if hc.Jitter > 0 {
		out.IntervalJitter = dur(hc.Jitter.D())
	}
	if hc.UnhealthyInterval > 0 {
		out.UnhealthyInterval = dur(hc.UnhealthyInterval.D())
	}
	switch hc.Type {
	case api.CheckHTTP:
		out.HealthChecker = &corev3.HealthCheck_HttpHealthCheck_{HttpHealthCheck: httpHealthCheck(hc)}
	case api.CheckTCP:
		tcp := &corev3.HealthCheck_TcpHealthCheck{}
		if hc.Send != "" {
			tcp.Send = &corev3.HealthCheck_Payload{Payload: &corev3.HealthCheck_Payload_Text{Text: hex.EncodeToString([]byte(hc.Send))}}
		}
		out.HealthChecker = &corev3.HealthCheck_TcpHealthCheck_{TcpHealthCheck: tcp}
	case api.CheckGRPC:
		out.HealthChecker = &corev3.HealthCheck_GrpcHealthCheck_{GrpcHealthCheck: &corev3.HealthCheck_GrpcHealthCheck{ServiceName: hc.Service}}
	case api.CheckMySQL:
		fields := map[string]*structpb.Value{}
		if hc.User != "" {
			fields["user"] = structpb.NewStringValue(hc.User)
		}
		if hc.Password != "" {
			fields["password"] = structpb.NewStringValue(hc.Password)
		}
		out.HealthChecker = &corev3.HealthCheck_CustomHealthCheck_{CustomHealthCheck: &corev3.HealthCheck_CustomHealthCheck{
			Name:       MySQLHealthCheckerName,
			ConfigType: &corev3.HealthCheck_CustomHealthCheck_TypedConfig{TypedConfig: typed(&structpb.Struct{Fields: fields})},
		}}
	default:
		return nil
	}
	return out
}

// httpHealthCheck maps path, host, method, headers and expected statuses.
func httpHealthCheck(hc *api.HealthCheck) *corev3.HealthCheck_HttpHealthCheck {
	path := hc.Path
	if path == "" {
		path = "/"
	}
	out := &corev3.HealthCheck_HttpHealthCheck{
		Host:   hc.Host,
		Path:   path,
		Method: healthCheckMethod(hc.Method),
	}
	keys := make([]string, 0, len(hc.Headers))
	for k := range hc.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out.RequestHeadersToAdd = append(out.RequestHeadersToAdd,
			header(k, hc.Headers[k], corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD))
	}
	for _, s := range hc.ExpectedStatuses {
		lo, hi, err := api.ParseStatusRange(s)
		if err != nil {
			continue // validation rejects these; nothing sensible to send
		}
		out.ExpectedStatuses = append(out.ExpectedStatuses, &typev3.Int64Range{Start: int64(lo), End: int64(hi) + 1})
	}
	return out
}

// healthCheckMethod maps a method to Envoy's enum. Envoy knows only the
// standard methods and refuses CONNECT in health checks; any other method
// is left unspecified (Envoy then sends GET) and only the metadata's
// healthCheck.method carries it.
func healthCheckMethod(m string) corev3.RequestMethod {
	if m == "CONNECT" {
		return corev3.RequestMethod_METHOD_UNSPECIFIED
	}
	if v, ok := corev3.RequestMethod_value[m]; ok {
		return corev3.RequestMethod(v)
	}
	return corev3.RequestMethod_METHOD_UNSPECIFIED
}

// metadataHealthCheck is the full Fulcrum health check for the metadata;
// the MySQL password travels only to a proxy that probes by itself.
func metadataHealthCheck(hc *api.HealthCheck, active bool) *api.HealthCheck {
	if hc == nil {
		return &api.HealthCheck{Type: api.CheckNone}
	}
	if active || hc.Password == "" {
		return hc
	}
	c := *hc
	c.Password = ""
	return &c
}
