package l7

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/balancer"
	"github.com/fulcrumlb/fulcrum/dataplane/runtime"
	"github.com/fulcrumlb/fulcrum/dataplane/upstream"
)

// sticky is a compiled sticky-session cookie: its name and the attributes
// appended after the value in Set-Cookie.
type sticky struct {
	cookie string
	// attrs is "; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure".
	attrs string
}

func newSticky(s *runtime.StickySession) *sticky {
	var b strings.Builder
	path := s.Path
	if path == "" {
		path = "/"
	}
	b.WriteString("; Path=" + path)
	if s.TTL > 0 {
		b.WriteString("; Max-Age=" + strconv.Itoa(int(s.TTL/time.Second)))
	}
	b.WriteString("; HttpOnly")
	if s.SameSite != "" {
		b.WriteString("; SameSite=" + s.SameSite)
	}
	if s.Secure {
		b.WriteString("; Secure")
	}
	return &sticky{cookie: cookieName(s), attrs: b.String()}
}

// cookieName is the sticky cookie's name, FULCRUM_STICKY by default.
func cookieName(s *runtime.StickySession) string {
	if s.Cookie == "" {
		return "FULCRUM_STICKY"
	}
	return s.Cookie
}

// stickyToken is the cookie value naming a member: the first 16 bytes of
// HMAC-SHA256(key, pool/address) in hex. It does not reveal the address; the
// proxy maps it back by comparing with the tokens of the pool's members,
// which are computed once per member.
func stickyToken(key []byte, pool, addr string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(pool))
	mac.Write([]byte{'/'})
	mac.Write([]byte(addr))
	return hex.EncodeToString(mac.Sum(nil)[:16])
}

// stickyMember returns the pick of the member a cookie names, if the
// member may still take the session (enabled or draining, and healthy).
func (f *Factory) stickyMember(c *upstream.Cluster, token []byte) (upstream.Pick, bool) {
	if len(token) != 32 {
		return upstream.Pick{}, false
	}
	for _, m := range c.Members() {
		if ms := f.memberState(m); ms != nil && ms.stickyToken == string(token) {
			return c.Lookup(m.Address)
		}
	}
	return upstream.Pick{}, false
}

// cookieValue finds a cookie in Cookie header values without allocating.
func cookieValue(header []byte, name string) ([]byte, bool) {
	for len(header) > 0 {
		var part []byte
		if i := indexByte(header, ';'); i >= 0 {
			part, header = header[:i], header[i+1:]
		} else {
			part, header = header, nil
		}
		for len(part) > 0 && part[0] == ' ' {
			part = part[1:]
		}
		if len(part) > len(name) && part[len(name)] == '=' && string(part[:len(name)]) == name {
			v := part[len(name)+1:]
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, true
		}
	}
	return nil, false
}

// requestCookie looks for a cookie in every Cookie field of the request.
func (v *reqView) cookie(name string) ([]byte, bool) {
	if v.hh != nil {
		for _, h := range v.hh["Cookie"] {
			if c, ok := cookieValue([]byte(h), name); ok {
				return c, true
			}
		}
		return nil, false
	}
	for i := range v.h1 {
		if nameIs(v.h1[i].Name, "cookie") {
			if c, ok := cookieValue(v.h1[i].Value, name); ok {
				return c, true
			}
		}
	}
	return nil, false
}

// isHashAlgorithm reports whether the cluster's algorithm uses PickInfo.Hash.
func isHashAlgorithm(alg string) bool {
	return alg == balancer.SourceHash || alg == balancer.RingHash || alg == balancer.Maglev
}

// affinityHash computes the request's hash from the route's hash policies
// (the first that yields a value wins), for hash algorithms.
func affinityHash(policies []runtime.HashPolicy, v *reqView, clientIP []byte) (uint64, bool) {
	for _, p := range policies {
		switch p.Kind {
		case runtime.HashSourceIP:
			if len(clientIP) > 0 {
				return balancer.HashBytes(clientIP), true
			}
		case runtime.HashHeader:
			canon := ""
			if v.hh != nil {
				canon = http.CanonicalHeaderKey(p.Name)
			}
			if val, ok := v.header(p.Name, canon); ok {
				return balancer.HashBytes(val), true
			}
		case runtime.HashCookie:
			if val, ok := v.cookie(p.Name); ok {
				return balancer.HashBytes(val), true
			}
		}
	}
	return 0, false
}

// setCookie renders the Set-Cookie value binding the client to a member.
func (s *sticky) setCookie(dst []byte, token string) []byte {
	dst = append(dst, s.cookie...)
	dst = append(dst, '=')
	dst = append(dst, token...)
	return append(dst, s.attrs...)
}
