package api

import (
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// maxRegexLen bounds user regexes; RE2 is linear-time, but a megabyte
// pattern still costs memory on every data plane.
const maxRegexLen = 1024

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// checkName validates an object name: a DNS subdomain, as Kubernetes does,
// so names are safe in URLs, metric labels and xDS resource names.
func checkName(e errs, path, name string) {
	switch {
	case name == "":
		e.add(path, "required")
	case len(name) > 253:
		e.add(path, "must be at most 253 characters")
	case !nameRE.MatchString(name):
		e.add(path, "%q is not a valid name: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit", name)
	}
}

// checkRef validates the name of a referenced object (the reference itself
// is resolved across the whole configuration later).
func checkRef(e errs, path, name string) {
	if name == "" {
		e.add(path, "required")
	}
}

func checkMetadata(e errs, m *Metadata) {
	checkName(e, "metadata.name", m.Name)
	for _, k := range sortedStringKeys(m.Labels) {
		if !labelKeyRE.MatchString(k) || len(k) > 253 {
			e.add(key("metadata.labels", k), "%q is not a valid label key", k)
		}
		if v := m.Labels[k]; len(v) > 63 || v != "" && !labelValueRE.MatchString(v) {
			e.add(key("metadata.labels", k), "%q is not a valid label value: at most 63 letters, digits, '-', '_' or '.'", v)
		}
	}
	for _, k := range sortedStringKeys(m.Annotations) {
		if len(m.Annotations[k]) > 64<<10 {
			e.add(key("metadata.annotations", k), "must be at most 64 KiB")
		}
	}
}

var (
	labelKeyRE   = regexp.MustCompile(`^([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	labelValueRE = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
)

func checkPort(e errs, path string, port int, allowZero bool) {
	if port == 0 && allowZero {
		return
	}
	if port < 1 || port > 65535 {
		e.add(path, "must be between 1 and 65535")
	}
}

// checkHostPort validates "host:port" where host is an IP or a DNS name.
func checkHostPort(e errs, path, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		e.add(path, "%q must be host:port (IPv6 in brackets: [::1]:80)", addr)
		return
	}
	checkHost(e, path, host)
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		e.add(path, "port %q must be between 1 and 65535", port)
	}
}

func checkHost(e errs, path, host string) {
	if _, err := netip.ParseAddr(host); err == nil {
		return
	}
	if !isDNSName(host) {
		e.add(path, "%q is neither an IP address nor a DNS name", host)
	}
}

func checkIP(e errs, path, addr string) {
	if addr == "" {
		return
	}
	if a, err := netip.ParseAddr(addr); err != nil || a.Zone() != "" {
		e.add(path, "%q is not an IP address", addr)
	}
}

func checkCIDRs(e errs, path string, cidrs []string) {
	for i, c := range cidrs {
		if _, err := netip.ParsePrefix(c); err != nil {
			if _, err2 := netip.ParseAddr(c); err2 != nil {
				e.add(index(path, i), "%q is not a CIDR such as 10.0.0.0/8 or an IP address", c)
			}
		}
	}
}

func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// checkHostPattern validates a route host: a DNS name, or "*." and a DNS name.
func checkHostPattern(e errs, path, h string) {
	name := strings.TrimPrefix(h, "*.")
	if h == "*" || !isDNSName(name) || strings.Contains(name, "*") {
		e.add(path, "%q is not a host name or a wildcard such as *.example.com", h)
	}
}

func checkRegex(e errs, path, re string) {
	if len(re) > maxRegexLen {
		e.add(path, "regex is %d characters; the limit is %d", len(re), maxRegexLen)
		return
	}
	if _, err := regexp.Compile(re); err != nil {
		e.add(path, "invalid regex: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
}

// isToken reports whether s is an RFC 9110 token (header names, methods,
// cookie names).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// maxHeaderField bounds header names and values written in configuration,
// as Envoy does (16 KiB).
const maxHeaderField = 16 << 10

func checkHeaderName(e errs, path, name string) {
	switch {
	case len(name) > maxHeaderField:
		e.add(path, "header name is %d bytes; the limit is %d", len(name), maxHeaderField)
	case !isToken(name):
		e.add(path, "%q is not a valid header name", name)
	}
}

// checkHeaderValue rejects control characters, which would let a config
// author (or a template) smuggle a second header into every request.
func checkHeaderValue(e errs, path, v string) {
	if len(v) > maxHeaderField {
		e.add(path, "is %d bytes; the limit is %d", len(v), maxHeaderField)
		return
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			e.add(path, "must not contain control characters")
			return
		}
	}
}

func checkEnum(e errs, path, v string, allowed []string) bool {
	if slices.Contains(allowed, v) {
		return true
	}
	if v == "" {
		e.add(path, "required: one of %s", strings.Join(allowed, ", "))
	} else {
		e.add(path, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	return false
}

func checkRange(e errs, path string, v, lo, hi int) {
	if v < lo || v > hi {
		e.add(path, "must be between %d and %d", lo, hi)
	}
}

func checkPositive(e errs, path string, d Duration) {
	if d <= 0 {
		e.add(path, "must be greater than 0")
	}
}

func sortedStringKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkURLPath validates a path written in configuration: it starts with /
// and holds no query, fragment or control character.
func checkURLPath(e errs, path, v string) {
	switch {
	case !strings.HasPrefix(v, "/"):
		e.add(path, "%q must start with /", v)
	case strings.ContainsAny(v, "?#"):
		e.add(path, "%q must be a path only, without ? or #", v)
	case len(v) > 4096:
		e.add(path, "is %d bytes; the limit is 4096", len(v))
	default:
		checkHeaderValue(e, path, v)
	}
}

// checkServerName validates a TLS server name (SNI).
func checkServerName(e errs, path, name string) {
	if name != "" && !isDNSName(name) {
		if _, err := netip.ParseAddr(name); err != nil {
			e.add(path, "%q is not a DNS name or IP address", name)
		}
	}
}
