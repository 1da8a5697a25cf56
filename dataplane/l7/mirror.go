package l7

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/fulcrumlb/fulcrum/balancer"
	"github.com/fulcrumlb/fulcrum/dataplane/l7/http1"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
)

// maxMirrorBytes bounds a mirrored request (head and body): larger
// requests, and bodies not entirely buffered when the request is
// forwarded, are not mirrored, so that mirroring never holds a body back.
const maxMirrorBytes = 64 << 10

// mirrorTimeout bounds a mirrored exchange when the shadow pool sets no
// request timeout.
const mirrorTimeout = 10 * time.Second

// mirrorH1 sends fire-and-forget copies of the request in h.out (head and
// buffered body) to the route's shadow pools, by their share. Copies go
// out on their own goroutines, bounded per server; when all are busy the
// copy is dropped. The primary request never waits for a copy.
func (s *Server) mirrorH1(rs *reqState, h *h1conn, body *h1body) {
	for _, m := range rs.route.rt.Mirrors {
		if rand.Uint32N(1_000_000) >= m.PerMillion {
			continue
		}
		if (body.has && !body.buffered) || len(h.out) > maxMirrorBytes {
			s.f.metrics.mirrors.WithLabelValues(m.Cluster, "dropped").Inc()
			continue
		}
		if !s.mirrorSlot(m.Cluster) {
			continue
		}
		data := shadowHost(h.out)
		method := h.req.MethodID
		go func() {
			defer s.mirrorDone()
			s.sendMirrorH1(m.Cluster, data, method)
		}()
	}
}

// mirrorSlot takes a mirror slot, or counts the copy as dropped.
func (s *Server) mirrorSlot(pool string) bool {
	select {
	case s.mirrorSem <- struct{}{}:
		s.wg.Add(1)
		return true
	default:
		s.f.metrics.mirrors.WithLabelValues(pool, "dropped").Inc()
		return false
	}
}

func (s *Server) mirrorDone() {
	<-s.mirrorSem
	s.wg.Done()
}

// shadowHost copies a request head, suffixing the Host value with
// "-shadow" (before any port), as Envoy does, so shadows can tell copies
// from real traffic.
func shadowHost(req []byte) []byte {
	i := bytes.Index(req, []byte("\r\nHost: "))
	if i < 0 {
		return append([]byte(nil), req...)
	}
	start := i + len("\r\nHost: ")
	end := start + bytes.Index(req[start:], []byte("\r\n"))
	at := end
	if p := hostPort(req[start:end]); p >= 0 {
		at = start + p
	}
	out := make([]byte, 0, len(req)+7)
	out = append(out, req[:at]...)
	out = append(out, "-shadow"...)
	return append(out, req[at:]...)
}

// mirrorTarget picks a member of the shadow pool.
func (s *Server) mirrorTarget(pool string) (upstream.Pick, *memberState, *runtime.Cluster, bool) {
	cl := s.f.ups.Cluster(pool)
	if cl == nil {
		return upstream.Pick{}, nil, nil, false
	}
	p, err := cl.Pick(&balancer.PickInfo{})
	if err != nil {
		return upstream.Pick{}, nil, nil, false
	}
	ms := s.f.memberState(p.Member)
	if ms == nil {
		p.Done(upstream.Outcome{})
		return upstream.Pick{}, nil, nil, false
	}
	return p, ms, cl.Config(), true
}

func mirrorDeadline(cfg *runtime.Cluster) time.Time {
	d := cfg.RequestTimeout
	if d <= 0 || d > mirrorTimeout {
		d = mirrorTimeout
	}
	return time.Now().Add(d)
}

// sendMirrorH1 sends a copy to an HTTP/1.1 shadow and reads the response
// to its end, so the connection can be reused.
func (s *Server) sendMirrorH1(pool string, data []byte, method http1.Method) {
	p, ms, cfg, ok := s.mirrorTarget(pool)
	if !ok {
		s.f.metrics.mirrors.WithLabelValues(pool, "failed").Inc()
		return
	}
	if cfg.Protocol != runtime.UpstreamHTTP1 {
		p.Done(upstream.Outcome{})
		s.f.metrics.mirrors.WithLabelValues(pool, "dropped").Inc()
		return
	}
	start := time.Now()
	status, err := s.mirrorExchange(ms, cfg, data, method)
	p.Done(upstream.Outcome{Latency: time.Since(start), Status: status, Err: err})
	result := "sent"
	if err != nil {
		result = "failed"
	}
	s.f.metrics.mirrors.WithLabelValues(pool, result).Inc()
}

func (s *Server) mirrorExchange(ms *memberState, cfg *runtime.Cluster, data []byte, method http1.Method) (int, error) {
	uc := ms.get(time.Now())
	if uc == nil || !uc.alive() {
		if uc != nil {
			uc.close()
		}
		var err error
		if uc, err = ms.newUpConn(s.ctx, upstream.DialOptions{}); err != nil {
			return 0, err
		}
	}
	uc.c.SetDeadline(mirrorDeadline(cfg))
	uc.dl.forget()
	if _, err := uc.c.Write(data); err != nil {
		uc.close()
		return 0, err
	}
	var resp http1.Response
	for {
		n, err := http1.ParseResponse(uc.buf[uc.r:uc.w], &resp, method, nil)
		if err == nil && resp.Interim() {
			uc.r += n
			continue
		}
		if err == nil {
			uc.r += n
			break
		}
		if err != http1.ErrNeedMore || uc.w == len(uc.buf) {
			uc.close()
			return 0, errBadGateway
		}
		m, rerr := uc.rd.Read(uc.buf[uc.w:])
		uc.w += m
		if m == 0 && rerr != nil {
			uc.close()
			return 0, rerr
		}
	}
	var chunk http1.ChunkedParser
	reusable, _, rerr := streamBody(uc, &resp, io.Discard, false, &chunk, time.Until(mirrorDeadline(cfg)))
	if reusable && rerr == nil && !resp.Close && resp.Framing != http1.FramingTunnel {
		uc.c.SetDeadline(time.Time{})
		uc.dl = deadlines{}
		ms.put(uc, cfg, time.Now())
	} else {
		uc.close()
	}
	return resp.Status, rerr
}

// mirrorHTTP mirrors a request of the net/http path: only requests
// without a body are copied there (their bodies stream).
func (s *Server) mirrorHTTP(rs *reqState, r *http.Request) {
	for _, m := range rs.route.rt.Mirrors {
		if rand.Uint32N(1_000_000) >= m.PerMillion {
			continue
		}
		if r.ContentLength != 0 {
			s.f.metrics.mirrors.WithLabelValues(m.Cluster, "dropped").Inc()
			continue
		}
		if !s.mirrorSlot(m.Cluster) {
			continue
		}
		out := r.Clone(s.ctx)
		out.Body = http.NoBody
		if host, port, ok := splitHostPort(out.Host); ok {
			out.Host = host + "-shadow" + port
		}
		go func() {
			defer s.mirrorDone()
			s.sendMirrorHTTP(m.Cluster, out)
		}()
	}
}

func (s *Server) sendMirrorHTTP(pool string, out *http.Request) {
	p, ms, cfg, ok := s.mirrorTarget(pool)
	if !ok {
		s.f.metrics.mirrors.WithLabelValues(pool, "failed").Inc()
		return
	}
	deadline := mirrorDeadline(cfg)
	ctx, cancel := context.WithDeadline(out.Context(), deadline)
	defer cancel()
	out = out.WithContext(ctx)
	setTarget(out, ms, cfg)
	start := time.Now()
	var resp *http.Response
	var err error
	if cfg.Protocol == runtime.UpstreamHTTP1 {
		var res tryResult
		if resp, res = s.roundTripH1(ms, cfg, out, nil, deadline); resp == nil {
			err = res.err
			if err == nil {
				err = errBadGateway
			}
		}
	} else {
		resp, err = ms.roundTripper(cfg).RoundTrip(out)
	}
	status := 0
	if err == nil {
		status = resp.StatusCode
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	p.Done(upstream.Outcome{Latency: time.Since(start), Status: status, Err: err})
	result := "sent"
	if err != nil {
		result = "failed"
	}
	s.f.metrics.mirrors.WithLabelValues(pool, result).Inc()
}

// splitHostPort splits "host:port" into "host" and ":port".
func splitHostPort(h string) (string, string, bool) {
	if i := hostPort([]byte(h)); i >= 0 {
		return h[:i], h[i:], true
	}
	return h, "", h != ""
}
