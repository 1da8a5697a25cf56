package l7

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
)

// defaultAccessLogFields are written when a listener enables the access
// log without naming fields.
var defaultAccessLogFields = []string{"time", "listener", "route", "pool", "member", "client", "method",
	"host", "path", "protocol", "status", "bytes_in", "bytes_out", "duration_ms", "upstream_ms",
	"request_id", "user_agent", "retries", "error"}

// accessLog writes one record per request for a listener that enables it.
type accessLog struct {
	log    *slog.Logger
	fields []string
}

func (f *Factory) newAccessLog(l *runtime.Listener) *accessLog {
	if !l.AccessLog.Enabled {
		return nil
	}
	fields := l.AccessLog.Fields
	if len(fields) == 0 {
		fields = defaultAccessLogFields
	}
	return &accessLog{log: f.accessLog, fields: fields}
}

// logEntry is what a record needs besides reqState.
type logEntry struct {
	client    netip.Addr
	method    []byte
	host      []byte
	path      []byte
	protocol  string
	userAgent []byte
}

func (a *accessLog) write(rs *reqState, e *logEntry, end time.Time) {
	attrs := make([]slog.Attr, 0, len(a.fields))
	for _, f := range a.fields {
		if at, ok := logField(f, rs, e, end); ok {
			attrs = append(attrs, at)
		}
	}
	a.log.LogAttrs(context.Background(), slog.LevelInfo, "access", attrs...)
}

func logField(f string, rs *reqState, e *logEntry, end time.Time) (slog.Attr, bool) {
	switch f {
	case "time":
		return slog.Time(f, rs.start), true
	case "listener":
		return slog.String(f, rs.cfg.name), true
	case "route":
		if rs.route != nil {
			return slog.String(f, rs.route.name), true
		}
	case "pool":
		if rs.cluster != nil {
			return slog.String(f, rs.cluster.Name()), true
		}
	case "member":
		if rs.member != "" {
			return slog.String(f, rs.member), true
		}
	case "client":
		return slog.String(f, e.client.String()), true
	case "method":
		return slog.String(f, string(e.method)), true
	case "host":
		return slog.String(f, string(e.host)), true
	case "path":
		return slog.String(f, string(e.path)), true
	case "protocol":
		return slog.String(f, e.protocol), true
	case "status":
		return slog.Int(f, rs.status), true
	case "bytes_in":
		return slog.Int64(f, rs.bytesIn), true
	case "bytes_out":
		return slog.Int64(f, rs.bytesOut), true
	case "duration_ms":
		return slog.Float64(f, float64(end.Sub(rs.start).Microseconds())/1000), true
	case "upstream_ms":
		return slog.Float64(f, float64(rs.upstreamDur.Microseconds())/1000), true
	case "request_id":
		if len(rs.reqID) > 0 {
			return slog.String(f, string(rs.reqID)), true
		}
	case "user_agent":
		if len(e.userAgent) > 0 {
			return slog.String(f, string(e.userAgent)), true
		}
	case "retries":
		return slog.Int(f, rs.retries), true
	case "error":
		if rs.err != nil {
			return slog.String(f, rs.err.Error()), true
		}
	}
	return slog.Attr{}, false
}

// observe counts a finished request in the route's metrics.
func observe(rs *reqState, end time.Time) {
	r := rs.route
	if r == nil {
		rs.cfg.notFound.codes[0][classOf(rs.status)].Inc()
		return
	}
	idx := len(r.metrics.codes) - 1
	if rs.bidx >= 0 {
		idx = rs.bidx
	}
	r.metrics.codes[idx][classOf(rs.status)].Inc()
	r.metrics.duration.Observe(end.Sub(rs.start).Seconds())
}

// record counts and logs the request that just ended on the HTTP/1.1 path.
func (h *h1conn) record() {
	rs := &h.rs
	if rs.recorded {
		return
	}
	rs.recorded = true
	end := time.Now()
	observe(rs, end)
	if lg := rs.cfg.log; lg != nil {
		proto := "HTTP/1.1"
		if h.req.Minor == 0 {
			proto = "HTTP/1.0"
		}
		lg.write(rs, &logEntry{client: h.ip, method: h.req.Method, host: h.req.Host, path: h.req.Path,
			protocol: proto, userAgent: h.req.Headers.Get("user-agent")}, end)
	}
}
